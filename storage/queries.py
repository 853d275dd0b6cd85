"""The read side in SQL: lists with the access rules of ``domain.access`` as WHERE clauses.

Each list reads one index in its sort order and stops after a page: filters on membership
(tag, responsible, follower, participant) start from the narrow index table that carries the
sort key, and the cursor is the last row's sort key, so page 500 costs what page 1 does.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from functools import cache
from typing import Any, cast

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Engine,
    Integer,
    Table,
    and_,
    bindparam,
    exists,
    func,
    literal_column,
    or_,
    select,
    true,
    tuple_,
    union,
    union_all,
)

from domain.access import Viewer
from domain.accounts import Classification
from domain.errors import AccessDenied, InvalidInput, NotFound
from domain.ids import AccountId, ContactId, LeadId, PipelineId, StageId, TenantId, UserId
from domain.queries import (
    PAGE_SIZE,
    PAGE_SIZE_MAX,
    AccountFilter,
    AccountSummary,
    ContactFilter,
    ContactSummary,
    HistoryEntry,
    LeadFilter,
    LeadSummary,
    Page,
    PipelineSummary,
    SearchResults,
    StageTotal,
    UserSummary,
)
from domain.statuses import CustomerStatus, LeadStatus, ProspectStatus
from domain.users import Role
from storage.errors import translated
from storage.mapping import cents_to_amount, sort_key
from storage.rows import (
    AccountLabelRow,
    AccountRow,
    Base,
    ContactRow,
    ContactTagRow,
    HistoryRow,
    LeadFollowerRow,
    LeadParticipantRow,
    LeadRow,
    LeadTagRow,
    PipelineRow,
    UserRow,
)


def _table(row: type[Base]) -> Table:
    return cast(Table, row.__table__)


_users, _accounts, _labels = _table(UserRow), _table(AccountRow), _table(AccountLabelRow)
_contacts, _contact_tags, _history = _table(ContactRow), _table(ContactTagRow), _table(HistoryRow)
_leads, _lead_tags, _followers = _table(LeadRow), _table(LeadTagRow), _table(LeadFollowerRow)
_participants, _pipelines = _table(LeadParticipantRow), _table(PipelineRow)

# Above every character, so [prefix, prefix + TOP) is exactly "starts with prefix" in a
# code-point (binary / C) collation, and an index range scan answers it.
TOP = "\U0010ffff"
_NUMBER = re.compile(r"^#?(\d{1,9})$")


def encode_cursor(kind: str, values: Sequence[Any]) -> str:
    raw = json.dumps([kind, *values], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(kind: str, cursor: str) -> list[Any]:
    """Refuse a cursor from another list or one that was tampered with, as bad input."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, binascii.Error):
        raise InvalidInput("input.invalid_cursor", field="cursor") from None
    if not isinstance(data, list) or not data or data[0] != kind:
        raise InvalidInput("input.invalid_cursor", field="cursor")
    return data[1:]


def _limit(limit: int) -> int:
    if not 1 <= limit <= PAGE_SIZE_MAX:
        raise InvalidInput("input.invalid_limit", field="limit", max=PAGE_SIZE_MAX)
    return limit


# --- statements, built once per shape ----------------------------------------------------------
#
# A list's statement depends on its shape (admin or not, which filters, which phase, whether a
# cursor follows) and never on values: those are bound at execution. Building a statement and
# its cache key costs more than running it, so each builder is cached by its arguments. They
# are booleans and names from a fixed set, never input, so the caches stay small.

_TENANT: BindParameter[Any] = bindparam("tenant_id")
_SCOPE: BindParameter[Any] = bindparam("scope", expanding=True)
_LIMIT: BindParameter[int] = bindparam("limit", type_=Integer())


def _starts_with(column: Any, name: str) -> ColumnElement[bool]:
    """``column`` starts with the text bound by ``_prefix(name, text)``."""
    return and_(column >= bindparam(f"{name}_from"), column < bindparam(f"{name}_to"))


def _prefix(name: str, text: str) -> dict[str, str]:
    key = sort_key(text.strip()) or ""
    return {f"{name}_from": key, f"{name}_to": key + TOP}


def _after(*columns: Any) -> ColumnElement[bool]:
    """After the cursor bound as ``after_0``, ``after_1``..., in the order of ``columns``."""
    bound = (bindparam(f"after_{i}", type_=column.type) for i, column in enumerate(columns))
    return tuple_(*columns) > tuple_(*bound)


def _cursor(*values: Any) -> dict[str, Any]:
    return {f"after_{i}": value for i, value in enumerate(values)}


# --- access rules as SQL (the counterpart of domain.access) ----------------------------------
#
# For anyone but an admin, each rule is "id IN (the ids the viewer's scope reaches)", the
# union of a few index range reads. A member reaches a few thousand rows out of hundreds of
# thousands, so the database reads those instead of testing every row of the list in turn.
# Tables inside are aliased so they never correlate with the list's own tables. The scope is
# bound as ``scope``, the tenant as ``tenant_id``.


def _scope_accounts() -> Any:
    label = _labels.alias("scope_label")
    return select(label.c.account_id).where(
        label.c.tenant_id == _TENANT,
        label.c.kind == "responsible",
        label.c.value.in_(_SCOPE),
    )


def _account_visible(admin: bool) -> ColumnElement[bool]:
    if admin:
        return true()
    return _accounts.c.id.in_(_scope_accounts())


def _scope_lead_numbers() -> Any:
    """Leads the scope owns, follows, or that belong to the scope's accounts."""
    owned = _leads.alias("scope_owned")
    of_accounts = _leads.alias("scope_of_accounts")
    follower = _followers.alias("scope_follower")
    return union_all(
        select(owned.c.number).where(owned.c.tenant_id == _TENANT, owned.c.owner_id.in_(_SCOPE)),
        select(of_accounts.c.number).where(
            of_accounts.c.tenant_id == _TENANT,
            of_accounts.c.account_id.in_(_scope_accounts()),
        ),
        select(follower.c.number).where(
            follower.c.tenant_id == _TENANT, follower.c.user_id.in_(_SCOPE)
        ),
    )


def _lead_visible(admin: bool, number: Any = _leads.c.number) -> ColumnElement[bool]:
    """``number``: a list driven by an index table tests that table's copy of the number,
    so rows the viewer may not see are skipped without reading the lead."""
    if admin:
        return true()
    visible: ColumnElement[bool] = number.in_(_scope_lead_numbers())
    return visible


def _contact_visible(admin: bool) -> ColumnElement[bool]:
    """Employees of the scope's accounts, contacts the scope created without an account,
    and people on leads the scope owns (as Contact or as participant)."""
    if admin:
        return true()
    employee = _contacts.alias("scope_employee")
    created = _contacts.alias("scope_created")
    owned = _leads.alias("scope_owned")
    participant = _participants.alias("scope_participant")
    worked = _leads.alias("scope_worked")
    reachable = union_all(
        select(employee.c.id).where(
            employee.c.tenant_id == _TENANT,
            employee.c.account_id.in_(_scope_accounts()),
        ),
        select(created.c.id).where(
            created.c.tenant_id == _TENANT,
            created.c.account_id.is_(None),
            created.c.created_by.in_(_SCOPE),
        ),
        select(owned.c.contact_id).where(
            owned.c.tenant_id == _TENANT,
            owned.c.owner_id.in_(_SCOPE),
            owned.c.contact_id.is_not(None),
        ),
        select(participant.c.contact_id)
        .join(
            worked,
            and_(
                worked.c.tenant_id == participant.c.tenant_id,
                worked.c.id == participant.c.lead_id,
            ),
        )
        .where(participant.c.tenant_id == _TENANT, worked.c.owner_id.in_(_SCOPE)),
    )
    return _contacts.c.id.in_(reachable)


# --- the lists' statements -------------------------------------------------------------------

_VIEWER = select(_users.c.id, _users.c.role, _users.c.manager_id).where(
    _users.c.tenant_id == _TENANT,
    or_(_users.c.id == bindparam("user_id"), _users.c.manager_id == bindparam("user_id")),
)

_ACCOUNT_LABELS = ("responsible", "tag", "characteristic", "interest")


def _columns(table: Table, names: str) -> tuple[Any, ...]:
    """Lists select what a list row shows (the ``_*_summary`` functions below) and what its
    keyset cursor needs, not the whole row: an account's relationships, documents and custom
    fields, a lead's participants and description were sent, decoded and dropped for every
    row of every list (JSON decoding was 5% of a search turn's time on PostgreSQL)."""
    return tuple(table.c[name] for name in names.split())


_ACCOUNT_LISTED = _columns(
    _accounts,
    "id name name_key classification prospect_status customer_status tags responsible_ids version",
)
_CONTACT_LISTED = _columns(
    _contacts,
    "id name name_key email email_key job_title account_id prospect_status customer_status version",
)
_LEAD_LISTED = _columns(
    _leads,
    "id number title account_id contact_id pipeline_id stage_id status amount_cents currency "
    "owner_id close_date last_activity_at version",
)


@cache
def _accounts_statement(
    admin: bool, kinds: tuple[str, ...], classification: bool, prefix: bool, after: bool
) -> Any:
    """``kinds``: the labels filtered on, each bound as ``label_<kind>``."""
    statement = select(*_ACCOUNT_LISTED)
    name_key, row_id = _accounts.c.name_key, _accounts.c.id
    if kinds:
        # The first label drives: its index is already in name order.
        driver = _labels
        statement = statement.select_from(driver).join(
            _accounts,
            and_(
                _accounts.c.tenant_id == driver.c.tenant_id,
                _accounts.c.id == driver.c.account_id,
            ),
        )
        statement = statement.where(
            driver.c.tenant_id == _TENANT,
            driver.c.kind == kinds[0],
            driver.c.value == bindparam(f"label_{kinds[0]}"),
        )
        name_key, row_id = driver.c.name_key, driver.c.account_id
    for kind in kinds[1:]:
        other = _labels.alias()
        statement = statement.where(
            exists().where(
                other.c.tenant_id == _TENANT,
                other.c.account_id == _accounts.c.id,
                other.c.kind == kind,
                other.c.value == bindparam(f"label_{kind}"),
            )
        )
    statement = statement.where(_accounts.c.tenant_id == _TENANT)
    if classification:
        statement = statement.where(_accounts.c.classification == bindparam("classification"))
    if prefix:
        statement = statement.where(_starts_with(name_key, "name"))
    statement = statement.where(_account_visible(admin))
    if after:
        statement = statement.where(_after(name_key, row_id))
    return statement.order_by(name_key, row_id).limit(_LIMIT)


_CONTACT_FILTERS = ("tag", "prospect_status", "customer_status", "account_id")


def _contacts_base(
    admin: bool, phase: str, filters: tuple[str, ...], prefix: bool
) -> tuple[Any, tuple[Any, Any]]:
    """The list for one phase: ``name`` (by name) or ``email`` (by email, the contacts
    whose email but not name starts with the text). Each reads its own index in order."""
    statement = select(*_CONTACT_LISTED, _accounts.c.name.label("account_name"))
    sort: tuple[Any, Any] = (_contacts.c.name_key, _contacts.c.id)
    if "tag" in filters and phase == "name":
        driver = _contact_tags
        statement = statement.select_from(driver).join(
            _contacts,
            and_(
                _contacts.c.tenant_id == driver.c.tenant_id,
                _contacts.c.id == driver.c.contact_id,
            ),
        )
        statement = statement.where(driver.c.tenant_id == _TENANT, driver.c.tag == bindparam("tag"))
        sort = (driver.c.name_key, driver.c.contact_id)
    elif "tag" in filters:
        statement = statement.where(
            _contacts.c.id.in_(
                select(_contact_tags.c.contact_id).where(
                    _contact_tags.c.tenant_id == _TENANT, _contact_tags.c.tag == bindparam("tag")
                )
            )
        )
    statement = statement.outerjoin(
        _accounts,
        and_(
            _accounts.c.tenant_id == _contacts.c.tenant_id,
            _accounts.c.id == _contacts.c.account_id,
        ),
    ).where(_contacts.c.tenant_id == _TENANT)
    for name in ("prospect_status", "customer_status", "account_id"):
        if name in filters:
            statement = statement.where(_contacts.c[name] == bindparam(name))
    if prefix and phase == "name":
        statement = statement.where(_starts_with(sort[0], "text"))
    elif prefix:
        statement = statement.where(
            _starts_with(_contacts.c.email_key, "text"),
            ~_starts_with(_contacts.c.name_key, "text"),
        )
        sort = (_contacts.c.email_key, _contacts.c.id)
    return statement.where(_contact_visible(admin)), sort


@cache
def _contacts_page(
    admin: bool, phase: str, filters: tuple[str, ...], prefix: bool, after: bool
) -> Any:
    statement, sort = _contacts_base(admin, phase, filters, prefix)
    if after:
        statement = statement.where(_after(*sort))
    return statement.order_by(*sort).limit(_LIMIT)


@cache
def _contacts_probe(admin: bool, filters: tuple[str, ...], prefix: bool) -> Any:
    """Is there an email phase to follow?"""
    statement, _sort = _contacts_base(admin, "email", filters, prefix)
    return statement.with_only_columns(_contacts.c.id).limit(1)


def _lead_base(admin: bool) -> Any:
    return (
        select(*_LEAD_LISTED, _accounts.c.name.label("account_name"))
        .outerjoin(
            _accounts,
            and_(
                _accounts.c.tenant_id == _leads.c.tenant_id,
                _accounts.c.id == _leads.c.account_id,
            ),
        )
        .where(_leads.c.tenant_id == _TENANT, _lead_visible(admin))
    )


# Membership filters, each with its index table; the first one given drives the list.
_LEAD_MEMBERSHIP = {
    "tag": (_lead_tags, _lead_tags.c.tag),
    "follower_id": (_followers, _followers.c.user_id),
    "participant_id": (_participants, _participants.c.contact_id),
}
_LEAD_COLUMNS = ("pipeline_id", "stage_id", "status", "account_id", "owner_id")


@cache
def _leads_statement(admin: bool, filters: tuple[str, ...], after: bool) -> Any:
    """``filters``: the names of the filters given, each bound under its own name."""
    statement = select(*_LEAD_LISTED, _accounts.c.name.label("account_name"))
    number: Any = _leads.c.number
    driver_name = next((name for name in _LEAD_MEMBERSHIP if name in filters), None)
    if driver_name is not None:
        driver, column = _LEAD_MEMBERSHIP[driver_name]
        statement = (
            statement.select_from(driver)
            .join(
                _leads,
                and_(_leads.c.tenant_id == driver.c.tenant_id, _leads.c.id == driver.c.lead_id),
            )
            .where(driver.c.tenant_id == _TENANT, column == bindparam(driver_name))
        )
        number = driver.c.number
    statement = statement.outerjoin(
        _accounts,
        and_(_accounts.c.tenant_id == _leads.c.tenant_id, _accounts.c.id == _leads.c.account_id),
    ).where(_leads.c.tenant_id == _TENANT, _lead_visible(admin, number))
    for name, (table, column) in _LEAD_MEMBERSHIP.items():
        if name in filters and name != driver_name:
            statement = statement.where(
                _leads.c.id.in_(
                    select(table.c.lead_id).where(
                        table.c.tenant_id == _TENANT, column == bindparam(name)
                    )
                )
            )
    for name in _LEAD_COLUMNS:
        if name in filters:
            statement = statement.where(_leads.c[name] == bindparam(name))
    if after:
        statement = statement.where(number < bindparam("after_0"))
    return statement.order_by(number.desc()).limit(_LIMIT)


def _my_leads_filter(statement: Any, open_phase: bool) -> Any:
    """Leads I follow or own, open ones or the others."""
    mine = union(
        select(_followers.c.number).where(
            _followers.c.tenant_id == _TENANT, _followers.c.user_id == bindparam("user_id")
        ),
        select(_leads.c.number).where(
            _leads.c.tenant_id == _TENANT, _leads.c.owner_id == bindparam("user_id")
        ),
    )
    status = (
        _leads.c.status == LeadStatus.OPEN.value
        if open_phase
        else _leads.c.status != LeadStatus.OPEN.value
    )
    return statement.where(_leads.c.number.in_(mine), status)


@cache
def _my_leads_statement(admin: bool, open_phase: bool, after: bool) -> Any:
    statement = _my_leads_filter(_lead_base(admin), open_phase)
    if after:
        statement = statement.where(_leads.c.number < bindparam("after_0"))
    return statement.order_by(_leads.c.number.desc()).limit(_LIMIT)


@cache
def _my_leads_probe(admin: bool) -> Any:
    statement = _my_leads_filter(_lead_base(admin), open_phase=False)
    return statement.with_only_columns(_leads.c.number).limit(1)


@cache
def _stale_statement(admin: bool, after: bool) -> Any:
    statement = _lead_base(admin).where(
        _leads.c.status == LeadStatus.OPEN.value,
        _leads.c.last_activity_at < bindparam("cutoff"),
    )
    if after:
        statement = statement.where(_after(_leads.c.last_activity_at, _leads.c.id))
    return statement.order_by(_leads.c.last_activity_at, _leads.c.id).limit(_LIMIT)


_STAGES = select(_pipelines.c.stages).where(
    _pipelines.c.tenant_id == _TENANT, _pipelines.c.id == bindparam("pipeline_id")
)


@cache
def _summary_statement(admin: bool) -> Any:
    return (
        select(
            _leads.c.stage_id,
            _leads.c.currency,
            func.count(),
            func.coalesce(func.sum(_leads.c.amount_cents), 0),
        )
        .where(
            _leads.c.tenant_id == _TENANT,
            _leads.c.pipeline_id == bindparam("pipeline_id"),
            _leads.c.status == LeadStatus.OPEN.value,
            _lead_visible(admin),
        )
        .group_by(_leads.c.stage_id, _leads.c.currency)
    )


@cache
def _found_leads_statement(admin: bool, number: bool, sqlite: bool = False) -> Any:
    """Leads whose title starts with the text bound as ``title``, or numbered ``number``.

    Newest first, so every match is sorted: a four-letter prefix matches about a thousand of
    110,000 leads. The account's name is joined to the leads shown only (joined first, it was
    looked up for every match: 3 of PostgreSQL's 5 ms for such a search). On SQLite the
    matches are picked from the title index alone (it holds the number and the rowid) and
    only the rows shown are read: every turn writes, which empties the other connections'
    page caches, so reading a thousand rows was a thousand page reads.
    """
    condition = _starts_with(_leads.c.title_key, "title")
    if number:
        condition = or_(_leads.c.number == bindparam("number"), condition)
    newest = _leads.c.number.desc()
    if not sqlite:
        found = (
            select(_leads.c.tenant_id, *_LEAD_LISTED)
            .where(_leads.c.tenant_id == _TENANT, _lead_visible(admin), condition)
            .order_by(newest)
            .limit(_LIMIT)
            .subquery("found")
        )
        named = found.outerjoin(
            _accounts,
            and_(_accounts.c.tenant_id == found.c.tenant_id, _accounts.c.id == found.c.account_id),
        )
        return (
            select(found, _accounts.c.name.label("account_name"))
            .select_from(named)
            .order_by(found.c.number.desc())
        )
    rowid: ColumnElement[int] = literal_column("leads.rowid")
    picked = (
        select(rowid)
        .select_from(_leads)
        .where(_leads.c.tenant_id == _TENANT, _lead_visible(admin), condition)
        .order_by(newest)
        .limit(_LIMIT)
    )
    return _lead_base(admin).where(rowid.in_(picked)).order_by(newest)


@cache
def _users_statement(prefix: bool, after: bool) -> Any:
    statement = select(_users).where(_users.c.tenant_id == _TENANT)
    if prefix:
        statement = statement.where(_starts_with(_users.c.name_key, "name"))
    if after:
        statement = statement.where(_after(_users.c.name_key, _users.c.id))
    return statement.order_by(_users.c.name_key, _users.c.id).limit(_LIMIT)


_SUBJECTS: dict[str, tuple[Table, Callable[[bool], ColumnElement[bool]]]] = {
    "lead": (_leads, _lead_visible),
    "account": (_accounts, _account_visible),
    "contact": (_contacts, _contact_visible),
}


@cache
def _subject_statement(kind: str, admin: bool) -> Any:
    """The subject's id and whether the viewer may see it."""
    table, visible = _SUBJECTS[kind]
    return select(table.c.id, visible(admin)).where(
        table.c.tenant_id == _TENANT, table.c.id == bindparam("subject_id")
    )


@cache
def _history_statement(after: bool) -> Any:
    statement = select(_history).where(
        _history.c.tenant_id == _TENANT,
        _history.c.subject_kind == bindparam("subject_kind"),
        _history.c.subject_id == bindparam("subject_id"),
    )
    if after:
        statement = statement.where(_history.c.id < bindparam("after_0"))
    return statement.order_by(_history.c.id.desc()).limit(_LIMIT)


class SqlQueries:
    """``domain.queries.Queries`` for one tenant."""

    def __init__(self, engine: Engine, tenant_id: TenantId) -> None:
        """``engine``: one in autocommit, as each read is a single statement."""
        self.tenant_id = tenant_id
        self._engine = engine

    def _all(self, statement: Any, params: dict[str, Any]) -> list[Any]:
        """Core rows on a plain connection: the read side never needs the ORM's session."""
        with translated(), self._engine.connect() as connection:
            return list(connection.execute(statement, params).all())

    def _params(self, viewer: Viewer | None = None, **values: Any) -> dict[str, Any]:
        """The tenant, the viewer's scope (what the access rules test) and ``values``."""
        params = {"tenant_id": self.tenant_id, **values}
        if viewer is not None and not viewer.is_admin:
            params["scope"] = sorted(viewer.scope)
        return params

    # --- who is asking ----------------------------------------------------------------------

    def viewer(self, user_id: UserId) -> Viewer:
        rows = self._all(_VIEWER, self._params(user_id=user_id))
        me = next((row for row in rows if row.id == user_id), None)
        if me is None:
            raise NotFound("user", user_id=user_id)
        role = Role(me.role)
        scope = {UserId(user_id)}
        if role is Role.MANAGER:
            scope.update(UserId(row.id) for row in rows if row.manager_id == user_id)
        return Viewer(user_id=UserId(user_id), role=role, scope=frozenset(scope))

    # --- accounts ---------------------------------------------------------------------------

    def accounts(
        self,
        viewer: Viewer,
        where: AccountFilter = AccountFilter(),  # noqa: B008 - frozen, so a shared default is safe
        *,
        limit: int = PAGE_SIZE,
        cursor: str | None = None,
    ) -> Page[AccountSummary]:
        labels = {
            kind: value
            for kind, value in zip(
                _ACCOUNT_LABELS,
                (where.responsible_id, sort_key(where.tag), where.characteristic, where.interest),
                strict=True,
            )
            if value is not None
        }
        params = self._params(viewer, **{f"label_{kind}": v for kind, v in labels.items()})
        if where.classification is not None:
            params["classification"] = where.classification.value
        if where.name_prefix:
            params.update(_prefix("name", where.name_prefix))
        if cursor is not None:
            key, last_id = decode_cursor("accounts", cursor)
            params.update(_cursor(key, last_id))
        params["limit"] = _limit(limit) + 1
        statement = _accounts_statement(
            viewer.is_admin,
            tuple(labels),
            where.classification is not None,
            bool(where.name_prefix),
            cursor is not None,
        )
        rows = self._all(statement, params)
        items = [_account_summary(row) for row in rows[:limit]]
        next_cursor = None
        if len(rows) > limit:
            last = rows[limit - 1]
            next_cursor = encode_cursor("accounts", [last.name_key, last.id])
        return Page(items=tuple(items), next_cursor=next_cursor)

    # --- contacts ---------------------------------------------------------------------------

    def contacts(
        self,
        viewer: Viewer,
        where: ContactFilter = ContactFilter(),  # noqa: B008 - frozen, so a shared default is safe
        *,
        limit: int = PAGE_SIZE,
        cursor: str | None = None,
    ) -> Page[ContactSummary]:
        """By name; with ``text_prefix``, name matches first, then email-only matches."""
        phase, after = "name", None
        if cursor is not None:
            phase, *after = decode_cursor("contacts", cursor)
            if phase not in {"name", "email"} or (phase == "email" and not where.text_prefix):
                raise InvalidInput("input.invalid_cursor", field="cursor")
            if after and len(after) != 2:
                raise InvalidInput("input.invalid_cursor", field="cursor")
        wanted = _limit(limit)
        values = {
            "tag": sort_key(where.tag),
            "prospect_status": where.prospect_status.value if where.prospect_status else None,
            "customer_status": where.customer_status.value if where.customer_status else None,
            "account_id": where.account_id,
        }
        filters = tuple(name for name in _CONTACT_FILTERS if values[name] is not None)
        params = self._params(viewer, **{name: values[name] for name in filters})
        prefix = bool(where.text_prefix)
        if where.text_prefix:
            params.update(_prefix("text", where.text_prefix))
        items: list[ContactSummary] = []
        while True:
            statement = _contacts_page(viewer.is_admin, phase, filters, prefix, bool(after))
            page = {**params, **_cursor(*(after or ())), "limit": wanted - len(items) + 1}
            rows = self._all(statement, page)
            taken = rows[: wanted - len(items)]
            items.extend(_contact_summary(row) for row in taken)
            if len(rows) > len(taken):
                last = taken[-1]
                key = last.name_key if phase == "name" else last.email_key
                return Page(
                    items=tuple(items),
                    next_cursor=encode_cursor("contacts", [phase, key, last.id]),
                )
            if phase == "email" or not where.text_prefix:
                return Page(items=tuple(items))
            phase, after = "email", None
            if len(items) == wanted:
                # The name phase filled the page exactly: is there anything in the next one?
                probe = _contacts_probe(viewer.is_admin, filters, prefix)
                more = self._all(probe, params)
                following = encode_cursor("contacts", ["email"]) if more else None
                return Page(items=tuple(items), next_cursor=following)

    # --- leads ------------------------------------------------------------------------------

    def leads(
        self,
        viewer: Viewer,
        where: LeadFilter = LeadFilter(),  # noqa: B008 - frozen, so a shared default is safe
        *,
        limit: int = PAGE_SIZE,
        cursor: str | None = None,
    ) -> Page[LeadSummary]:
        values = {
            "tag": sort_key(where.tag),
            "follower_id": where.follower_id,
            "participant_id": where.participant_id,
            "pipeline_id": where.pipeline_id,
            "stage_id": where.stage_id,
            "status": where.status.value if where.status else None,
            "account_id": where.account_id,
            "owner_id": where.owner_id,
        }
        filters = tuple(name for name, value in values.items() if value is not None)
        params = self._params(viewer, **{name: values[name] for name in filters})
        if cursor is not None:
            (last_number,) = decode_cursor("leads", cursor)
            params.update(_cursor(last_number))
        params["limit"] = _limit(limit) + 1
        statement = _leads_statement(viewer.is_admin, filters, cursor is not None)
        rows = self._all(statement, params)
        items = [_lead_summary(row) for row in rows[:limit]]
        next_cursor = None
        if len(rows) > limit:
            next_cursor = encode_cursor("leads", [rows[limit - 1].number])
        return Page(items=tuple(items), next_cursor=next_cursor)

    def my_leads(
        self, viewer: Viewer, *, limit: int = PAGE_SIZE, cursor: str | None = None
    ) -> Page[LeadSummary]:
        """Two keyset phases, open then closed, so "open first" needs no sort of all my leads."""
        phase, last_number = ("open", None)
        if cursor is not None:
            phase, last_number = decode_cursor("mine", cursor)
        params = self._params(viewer, user_id=viewer.user_id)
        wanted = _limit(limit)
        items: list[LeadSummary] = []
        while True:
            after = last_number is not None
            statement = _my_leads_statement(viewer.is_admin, phase == "open", after)
            page = {**params, "limit": wanted - len(items) + 1}
            if after:
                page.update(_cursor(last_number))
            rows = self._all(statement, page)
            taken = rows[: wanted - len(items)]
            items.extend(_lead_summary(row) for row in taken)
            if len(rows) > len(taken):
                return Page(
                    items=tuple(items),
                    next_cursor=encode_cursor("mine", [phase, items[-1].number]),
                )
            if phase == "closed":
                return Page(items=tuple(items))
            phase, last_number = "closed", None
            if len(items) == wanted:
                # The open phase ended exactly on a full page: closed leads may still follow.
                more = self._all(_my_leads_probe(viewer.is_admin), params)
                cursor_next = encode_cursor("mine", ["closed", None]) if more else None
                return Page(items=tuple(items), next_cursor=cursor_next)

    def stale_leads(
        self,
        viewer: Viewer,
        *,
        idle_days: int,
        now: datetime,
        limit: int = PAGE_SIZE,
        cursor: str | None = None,
    ) -> Page[LeadSummary]:
        params = self._params(viewer, cutoff=now - timedelta(days=idle_days))
        if cursor is not None:
            at, last_id = decode_cursor("stale", cursor)
            params.update(_cursor(datetime.fromisoformat(at), last_id))
        params["limit"] = _limit(limit) + 1
        rows = self._all(_stale_statement(viewer.is_admin, cursor is not None), params)
        items = [_lead_summary(row) for row in rows[:limit]]
        next_cursor = None
        if len(rows) > limit:
            last = rows[limit - 1]
            next_cursor = encode_cursor("stale", [last.last_activity_at.isoformat(), last.id])
        return Page(items=tuple(items), next_cursor=next_cursor)

    def pipeline_summary(self, viewer: Viewer, pipeline_id: PipelineId) -> PipelineSummary:
        params = self._params(viewer, pipeline_id=pipeline_id)
        stages = self._all(_STAGES, params)
        if not stages:
            raise NotFound("pipeline", pipeline_id=pipeline_id)
        order = {stage["id"]: index for index, stage in enumerate(stages[0][0])}
        statement = _summary_statement(viewer.is_admin)
        totals = sorted(
            (
                StageTotal(
                    stage_id=StageId(stage_id),
                    currency=currency,
                    count=int(count),
                    amount=cents_to_amount(int(cents)) or cents_to_amount(0),  # type: ignore[arg-type]
                )
                for stage_id, currency, count, cents in self._all(statement, params)
            ),
            key=lambda t: (order.get(t.stage_id, len(order)), t.currency),
        )
        return PipelineSummary(pipeline_id=pipeline_id, stages=tuple(totals))

    # --- search -----------------------------------------------------------------------------

    def find(self, viewer: Viewer, text: str, *, limit: int = 5) -> SearchResults:
        """A number ("42", "#42") is a lead number: people's names and emails are not searched
        for it, which keeps the chat's most common lookup to one cheap query per kind."""
        query = text.strip()
        if not query:
            return SearchResults()
        number = _NUMBER.match(query)
        accounts = self.accounts(viewer, AccountFilter(name_prefix=query), limit=limit).items
        contacts: tuple[ContactSummary, ...] = ()
        if number is None:
            contacts = self.contacts(viewer, ContactFilter(text_prefix=query), limit=limit).items
        params = self._params(viewer, **_prefix("title", query), limit=_limit(limit))
        if number is not None:
            params["number"] = int(number.group(1))
        statement = _found_leads_statement(
            viewer.is_admin, number is not None, self._engine.dialect.name == "sqlite"
        )
        rows = self._all(statement, params)
        leads = tuple(_lead_summary(row) for row in rows)
        if number is not None:
            # The exact number first: that is what someone typing "#42" wants.
            exact = int(number.group(1))
            leads = tuple(sorted(leads, key=lambda lead: lead.number != exact))
        return SearchResults(accounts=accounts, contacts=contacts, leads=leads)

    # --- users ------------------------------------------------------------------------------

    def users(
        self,
        *,
        name_prefix: str | None = None,
        limit: int = PAGE_SIZE,
        cursor: str | None = None,
    ) -> Page[UserSummary]:
        params = self._params()
        if name_prefix:
            params.update(_prefix("name", name_prefix))
        if cursor is not None:
            key, last_id = decode_cursor("users", cursor)
            params.update(_cursor(key, last_id))
        params["limit"] = _limit(limit) + 1
        statement = _users_statement(bool(name_prefix), cursor is not None)
        rows = self._all(statement, params)
        items = [
            UserSummary(
                id=UserId(row.id),
                display_name=row.display_name,
                email=row.email,
                role=Role(row.role),
            )
            for row in rows[:limit]
        ]
        next_cursor = None
        if len(rows) > limit:
            last = rows[limit - 1]
            next_cursor = encode_cursor("users", [last.name_key, last.id])
        return Page(items=tuple(items), next_cursor=next_cursor)

    # --- history ----------------------------------------------------------------------------

    def _subject_visible(self, viewer: Viewer, kind: str, subject_id: str) -> bool | None:
        """``None`` when the subject does not exist in this tenant."""
        if kind not in _SUBJECTS:
            return viewer.is_admin
        statement = _subject_statement(kind, viewer.is_admin)
        found = self._all(statement, self._params(viewer, subject_id=subject_id))
        return bool(found[0][1]) if found else None

    def history(
        self,
        viewer: Viewer,
        subject_kind: str,
        subject_id: str,
        *,
        limit: int = PAGE_SIZE,
        cursor: str | None = None,
    ) -> Page[HistoryEntry]:
        visible = self._subject_visible(viewer, subject_kind, subject_id)
        if visible is None:
            raise NotFound(subject_kind, id=subject_id)
        if not visible:
            raise AccessDenied(subject_kind, id=subject_id)
        params = self._params(subject_kind=subject_kind, subject_id=subject_id)
        if cursor is not None:
            (last_id,) = decode_cursor("history", cursor)
            params.update(_cursor(last_id))
        params["limit"] = _limit(limit) + 1
        rows = self._all(_history_statement(cursor is not None), params)
        items = [
            HistoryEntry(
                id=row.id,
                event_name=row.event_name,
                subject_kind=row.subject_kind,
                subject_id=row.subject_id,
                account_id=AccountId(row.account_id) if row.account_id else None,
                actor_id=UserId(row.actor_id) if row.actor_id else None,
                occurred_at=row.occurred_at,
                payload=row.payload,
            )
            for row in rows[:limit]
        ]
        next_cursor = encode_cursor("history", [items[-1].id]) if len(rows) > limit else None
        return Page(items=tuple(items), next_cursor=next_cursor)


def _account_summary(row: Any) -> AccountSummary:
    return AccountSummary(
        id=AccountId(row.id),
        name=row.name,
        classification=Classification(row.classification),
        prospect_status=ProspectStatus(row.prospect_status),
        customer_status=CustomerStatus(row.customer_status),
        tags=frozenset(row.tags),
        responsible_ids=frozenset(UserId(v) for v in row.responsible_ids),
        version=row.version,
    )


def _contact_summary(row: Any) -> ContactSummary:
    """``row``: the contact's columns and its account's name as ``account_name``."""
    return ContactSummary(
        id=ContactId(row.id),
        name=row.name,
        email=row.email,
        job_title=row.job_title,
        account_id=AccountId(row.account_id) if row.account_id else None,
        account_name=row.account_name,
        prospect_status=ProspectStatus(row.prospect_status),
        customer_status=CustomerStatus(row.customer_status),
        version=row.version,
    )


def _lead_summary(row: Any) -> LeadSummary:
    """``row``: the lead's columns and its account's name as ``account_name``."""
    return LeadSummary(
        id=LeadId(row.id),
        number=row.number,
        title=row.title,
        account_id=AccountId(row.account_id) if row.account_id else None,
        account_name=row.account_name,
        contact_id=ContactId(row.contact_id) if row.contact_id else None,
        pipeline_id=PipelineId(row.pipeline_id),
        stage_id=StageId(row.stage_id),
        status=LeadStatus(row.status),
        amount=cents_to_amount(row.amount_cents),
        currency=row.currency,
        owner_id=UserId(row.owner_id),
        close_date=row.close_date,
        last_activity_at=row.last_activity_at,
        version=row.version,
    )


__all__ = ["SqlQueries", "decode_cursor", "encode_cursor"]
