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
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    Engine,
    Table,
    and_,
    exists,
    func,
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


def _starts_with(column: Any, prefix: str) -> ColumnElement[bool]:
    key = sort_key(prefix.strip()) or ""
    return and_(column >= key, column < key + TOP)


class SqlQueries:
    """``domain.queries.Queries`` for one tenant."""

    def __init__(self, engine: Engine, tenant_id: TenantId) -> None:
        """``engine``: one in autocommit, as each read is a single statement."""
        self.tenant_id = tenant_id
        self._engine = engine

    def _all(self, statement: Any) -> list[Any]:
        """Core rows on a plain connection: the read side never needs the ORM's session."""
        with translated(), self._engine.connect() as connection:
            return list(connection.execute(statement).all())

    # --- access rules as SQL (the counterpart of domain.access) ------------------------------
    #
    # For anyone but an admin, each rule is "id IN (the ids the viewer's scope reaches)", the
    # union of a few index range reads. A member reaches a few thousand rows out of hundreds of
    # thousands, so the database reads those instead of testing every row of the list in turn.
    # Tables inside are aliased so they never correlate with the list's own tables.

    def _scope_accounts(self, viewer: Viewer) -> Any:
        label = _labels.alias("scope_label")
        return select(label.c.account_id).where(
            label.c.tenant_id == self.tenant_id,
            label.c.kind == "responsible",
            label.c.value.in_(sorted(viewer.scope)),
        )

    def account_visible(self, viewer: Viewer) -> ColumnElement[bool]:
        if viewer.is_admin:
            return true()
        return _accounts.c.id.in_(self._scope_accounts(viewer))

    def _scope_lead_numbers(self, viewer: Viewer) -> Any:
        """Leads the scope owns, follows, or that belong to the scope's accounts."""
        scope = sorted(viewer.scope)
        owned = _leads.alias("scope_owned")
        of_accounts = _leads.alias("scope_of_accounts")
        follower = _followers.alias("scope_follower")
        return union_all(
            select(owned.c.number).where(
                owned.c.tenant_id == self.tenant_id, owned.c.owner_id.in_(scope)
            ),
            select(of_accounts.c.number).where(
                of_accounts.c.tenant_id == self.tenant_id,
                of_accounts.c.account_id.in_(self._scope_accounts(viewer)),
            ),
            select(follower.c.number).where(
                follower.c.tenant_id == self.tenant_id, follower.c.user_id.in_(scope)
            ),
        )

    def lead_visible(self, viewer: Viewer, number: Any = _leads.c.number) -> ColumnElement[bool]:
        """``number``: a list driven by an index table tests that table's copy of the number,
        so rows the viewer may not see are skipped without reading the lead."""
        if viewer.is_admin:
            return true()
        visible: ColumnElement[bool] = number.in_(self._scope_lead_numbers(viewer))
        return visible

    def contact_visible(self, viewer: Viewer) -> ColumnElement[bool]:
        """Employees of the scope's accounts, contacts the scope created without an account,
        and people on leads the scope owns (as Contact or as participant)."""
        if viewer.is_admin:
            return true()
        scope = sorted(viewer.scope)
        employee = _contacts.alias("scope_employee")
        created = _contacts.alias("scope_created")
        owned = _leads.alias("scope_owned")
        participant = _participants.alias("scope_participant")
        worked = _leads.alias("scope_worked")
        reachable = union_all(
            select(employee.c.id).where(
                employee.c.tenant_id == self.tenant_id,
                employee.c.account_id.in_(self._scope_accounts(viewer)),
            ),
            select(created.c.id).where(
                created.c.tenant_id == self.tenant_id,
                created.c.account_id.is_(None),
                created.c.created_by.in_(scope),
            ),
            select(owned.c.contact_id).where(
                owned.c.tenant_id == self.tenant_id,
                owned.c.owner_id.in_(scope),
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
            .where(participant.c.tenant_id == self.tenant_id, worked.c.owner_id.in_(scope)),
        )
        return _contacts.c.id.in_(reachable)

    # --- who is asking ----------------------------------------------------------------------

    def viewer(self, user_id: UserId) -> Viewer:
        rows = self._all(
            select(_users.c.id, _users.c.role, _users.c.manager_id).where(
                _users.c.tenant_id == self.tenant_id,
                or_(_users.c.id == user_id, _users.c.manager_id == user_id),
            )
        )
        me = next((row for row in rows if row.id == user_id), None)
        if me is None:
            raise NotFound("user", user_id=user_id)
        role = Role(me.role)
        scope = {UserId(user_id)}
        if role is Role.MANAGER:
            scope.update(UserId(row.id) for row in rows if row.manager_id == user_id)
        return Viewer(user_id=UserId(user_id), role=role, scope=frozenset(scope))

    # --- accounts ---------------------------------------------------------------------------

    def _account_statement(self, viewer: Viewer, where: AccountFilter) -> tuple[Any, Any, Any]:
        labels = [
            (kind, value)
            for kind, value in (
                ("responsible", where.responsible_id),
                ("tag", sort_key(where.tag)),
                ("characteristic", where.characteristic),
                ("interest", where.interest),
            )
            if value is not None
        ]
        statement = select(_accounts)
        name_key, row_id = _accounts.c.name_key, _accounts.c.id
        if labels:
            # The first label drives: its index is already in name order.
            kind, value = labels.pop(0)
            driver = _labels
            statement = statement.select_from(driver).join(
                _accounts,
                and_(
                    _accounts.c.tenant_id == driver.c.tenant_id,
                    _accounts.c.id == driver.c.account_id,
                ),
            )
            statement = statement.where(
                driver.c.tenant_id == self.tenant_id, driver.c.kind == kind, driver.c.value == value
            )
            name_key, row_id = driver.c.name_key, driver.c.account_id
        for kind, value in labels:
            other = _labels.alias()
            statement = statement.where(
                exists().where(
                    other.c.tenant_id == self.tenant_id,
                    other.c.account_id == _accounts.c.id,
                    other.c.kind == kind,
                    other.c.value == value,
                )
            )
        statement = statement.where(_accounts.c.tenant_id == self.tenant_id)
        if where.classification is not None:
            statement = statement.where(_accounts.c.classification == where.classification.value)
        if where.name_prefix:
            statement = statement.where(_starts_with(name_key, where.name_prefix))
        return statement.where(self.account_visible(viewer)), name_key, row_id

    def accounts(
        self,
        viewer: Viewer,
        where: AccountFilter = AccountFilter(),  # noqa: B008 - frozen, so a shared default is safe
        *,
        limit: int = PAGE_SIZE,
        cursor: str | None = None,
    ) -> Page[AccountSummary]:
        statement, name_key, row_id = self._account_statement(viewer, where)
        if cursor is not None:
            key, last_id = decode_cursor("accounts", cursor)
            statement = statement.where(tuple_(name_key, row_id) > tuple_(key, last_id))
        rows = self._all(statement.order_by(name_key, row_id).limit(_limit(limit) + 1))
        items = [_account_summary(row) for row in rows[:limit]]
        next_cursor = None
        if len(rows) > limit:
            last = rows[limit - 1]
            next_cursor = encode_cursor("accounts", [last.name_key, last.id])
        return Page(items=tuple(items), next_cursor=next_cursor)

    # --- contacts ---------------------------------------------------------------------------

    def _contact_statement(
        self, viewer: Viewer, where: ContactFilter, phase: str
    ) -> tuple[Any, tuple[Any, Any]]:
        """The list for one phase: ``name`` (by name) or ``email`` (by email, the contacts
        whose email but not name starts with the text). Each reads its own index in order."""
        statement = select(_contacts, _accounts.c.name.label("account_name"))
        sort: tuple[Any, Any] = (_contacts.c.name_key, _contacts.c.id)
        tag = sort_key(where.tag)
        if tag is not None and phase == "name":
            driver = _contact_tags
            statement = statement.select_from(driver).join(
                _contacts,
                and_(
                    _contacts.c.tenant_id == driver.c.tenant_id,
                    _contacts.c.id == driver.c.contact_id,
                ),
            )
            statement = statement.where(driver.c.tenant_id == self.tenant_id, driver.c.tag == tag)
            sort = (driver.c.name_key, driver.c.contact_id)
        elif tag is not None:
            statement = statement.where(
                _contacts.c.id.in_(
                    select(_contact_tags.c.contact_id).where(
                        _contact_tags.c.tenant_id == self.tenant_id, _contact_tags.c.tag == tag
                    )
                )
            )
        statement = statement.outerjoin(
            _accounts,
            and_(
                _accounts.c.tenant_id == _contacts.c.tenant_id,
                _accounts.c.id == _contacts.c.account_id,
            ),
        ).where(_contacts.c.tenant_id == self.tenant_id)
        if where.prospect_status is not None:
            statement = statement.where(_contacts.c.prospect_status == where.prospect_status.value)
        if where.customer_status is not None:
            statement = statement.where(_contacts.c.customer_status == where.customer_status.value)
        if where.account_id is not None:
            statement = statement.where(_contacts.c.account_id == where.account_id)
        if where.text_prefix and phase == "name":
            statement = statement.where(_starts_with(sort[0], where.text_prefix))
        elif where.text_prefix:
            statement = statement.where(
                _starts_with(_contacts.c.email_key, where.text_prefix),
                ~_starts_with(_contacts.c.name_key, where.text_prefix),
            )
            sort = (_contacts.c.email_key, _contacts.c.id)
        return statement.where(self.contact_visible(viewer)), sort

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
        wanted = _limit(limit)
        items: list[ContactSummary] = []
        while True:
            statement, sort = self._contact_statement(viewer, where, phase)
            if after:
                statement = statement.where(tuple_(*sort) > tuple_(*after))
            rows = self._all(statement.order_by(*sort).limit(wanted - len(items) + 1))
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
                probe, _sort = self._contact_statement(viewer, where, "email")
                more = self._all(probe.with_only_columns(_contacts.c.id).limit(1))
                following = encode_cursor("contacts", ["email"]) if more else None
                return Page(items=tuple(items), next_cursor=following)

    # --- leads ------------------------------------------------------------------------------

    def _lead_base(self, viewer: Viewer) -> Any:
        return (
            select(_leads, _accounts.c.name.label("account_name"))
            .outerjoin(
                _accounts,
                and_(
                    _accounts.c.tenant_id == _leads.c.tenant_id,
                    _accounts.c.id == _leads.c.account_id,
                ),
            )
            .where(_leads.c.tenant_id == self.tenant_id, self.lead_visible(viewer))
        )

    def _lead_page(
        self, statement: Any, number: Any, kind: str, limit: int, cursor: str | None
    ) -> Page[LeadSummary]:
        if cursor is not None:
            (last_number,) = decode_cursor(kind, cursor)
            statement = statement.where(number < last_number)
        rows = self._all(statement.order_by(number.desc()).limit(_limit(limit) + 1))
        items = [_lead_summary(row) for row in rows[:limit]]
        next_cursor = None
        if len(rows) > limit:
            next_cursor = encode_cursor(kind, [rows[limit - 1].number])
        return Page(items=tuple(items), next_cursor=next_cursor)

    def leads(
        self,
        viewer: Viewer,
        where: LeadFilter = LeadFilter(),  # noqa: B008 - frozen, so a shared default is safe
        *,
        limit: int = PAGE_SIZE,
        cursor: str | None = None,
    ) -> Page[LeadSummary]:
        statement = select(_leads, _accounts.c.name.label("account_name"))
        number: Any = _leads.c.number
        driver: Any = None
        if where.tag is not None:
            driver, condition = _lead_tags, _lead_tags.c.tag == sort_key(where.tag)
        elif where.follower_id is not None:
            driver, condition = _followers, _followers.c.user_id == where.follower_id
        elif where.participant_id is not None:
            driver = _participants
            condition = _participants.c.contact_id == where.participant_id
        if driver is not None:
            statement = (
                statement.select_from(driver)
                .join(
                    _leads,
                    and_(_leads.c.tenant_id == driver.c.tenant_id, _leads.c.id == driver.c.lead_id),
                )
                .where(driver.c.tenant_id == self.tenant_id, condition)
            )
            number = driver.c.number
        statement = statement.outerjoin(
            _accounts,
            and_(
                _accounts.c.tenant_id == _leads.c.tenant_id, _accounts.c.id == _leads.c.account_id
            ),
        ).where(_leads.c.tenant_id == self.tenant_id, self.lead_visible(viewer, number))
        if where.tag is not None and driver is not _lead_tags:
            statement = statement.where(
                _leads.c.id.in_(self._lead_ids(_lead_tags.c.tag, sort_key(where.tag), _lead_tags))
            )
        if where.follower_id is not None and driver is not _followers:
            statement = statement.where(
                _leads.c.id.in_(self._lead_ids(_followers.c.user_id, where.follower_id, _followers))
            )
        if where.participant_id is not None and driver is not _participants:
            statement = statement.where(
                _leads.c.id.in_(
                    self._lead_ids(_participants.c.contact_id, where.participant_id, _participants)
                )
            )
        for column, value in (
            (_leads.c.pipeline_id, where.pipeline_id),
            (_leads.c.stage_id, where.stage_id),
            (_leads.c.status, where.status.value if where.status else None),
            (_leads.c.account_id, where.account_id),
            (_leads.c.owner_id, where.owner_id),
        ):
            if value is not None:
                statement = statement.where(column == value)
        return self._lead_page(statement, number, "leads", limit, cursor)

    def _lead_ids(self, column: Any, value: Any, table: Any) -> Any:
        return select(table.c.lead_id).where(table.c.tenant_id == self.tenant_id, column == value)

    def my_leads(
        self, viewer: Viewer, *, limit: int = PAGE_SIZE, cursor: str | None = None
    ) -> Page[LeadSummary]:
        """Two keyset phases, open then closed, so "open first" needs no sort of all my leads."""
        phase, last_number = ("open", None)
        if cursor is not None:
            phase, last_number = decode_cursor("mine", cursor)
        mine = union(
            select(_followers.c.number).where(
                _followers.c.tenant_id == self.tenant_id,
                _followers.c.user_id == viewer.user_id,
            ),
            select(_leads.c.number).where(
                _leads.c.tenant_id == self.tenant_id, _leads.c.owner_id == viewer.user_id
            ),
        )
        wanted = _limit(limit)
        items: list[LeadSummary] = []
        while True:
            status = (
                _leads.c.status == LeadStatus.OPEN.value
                if phase == "open"
                else _leads.c.status != LeadStatus.OPEN.value
            )
            statement = self._lead_base(viewer).where(_leads.c.number.in_(mine), status)
            if last_number is not None:
                statement = statement.where(_leads.c.number < last_number)
            rows = self._all(
                statement.order_by(_leads.c.number.desc()).limit(wanted - len(items) + 1)
            )
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
                probe = self._lead_base(viewer).where(
                    _leads.c.number.in_(mine), _leads.c.status != LeadStatus.OPEN.value
                )
                more = self._all(probe.with_only_columns(_leads.c.number).limit(1))
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
        cutoff = now - timedelta(days=idle_days)
        statement = self._lead_base(viewer).where(
            _leads.c.status == LeadStatus.OPEN.value, _leads.c.last_activity_at < cutoff
        )
        if cursor is not None:
            at, last_id = decode_cursor("stale", cursor)
            statement = statement.where(
                tuple_(_leads.c.last_activity_at, _leads.c.id)
                > tuple_(datetime.fromisoformat(at), last_id)
            )
        rows = self._all(
            statement.order_by(_leads.c.last_activity_at, _leads.c.id).limit(_limit(limit) + 1)
        )
        items = [_lead_summary(row) for row in rows[:limit]]
        next_cursor = None
        if len(rows) > limit:
            last = rows[limit - 1]
            next_cursor = encode_cursor("stale", [last.last_activity_at.isoformat(), last.id])
        return Page(items=tuple(items), next_cursor=next_cursor)

    def pipeline_summary(self, viewer: Viewer, pipeline_id: PipelineId) -> PipelineSummary:
        statement = (
            select(
                _leads.c.stage_id,
                _leads.c.currency,
                func.count(),
                func.coalesce(func.sum(_leads.c.amount_cents), 0),
            )
            .where(
                _leads.c.tenant_id == self.tenant_id,
                _leads.c.pipeline_id == pipeline_id,
                _leads.c.status == LeadStatus.OPEN.value,
                self.lead_visible(viewer),
            )
            .group_by(_leads.c.stage_id, _leads.c.currency)
        )
        stages = self._all(
            select(_pipelines.c.stages).where(
                _pipelines.c.tenant_id == self.tenant_id, _pipelines.c.id == pipeline_id
            )
        )
        if not stages:
            raise NotFound("pipeline", pipeline_id=pipeline_id)
        order = {stage["id"]: index for index, stage in enumerate(stages[0][0])}
        totals = sorted(
            (
                StageTotal(
                    stage_id=StageId(stage_id),
                    currency=currency,
                    count=int(count),
                    amount=cents_to_amount(int(cents)) or cents_to_amount(0),  # type: ignore[arg-type]
                )
                for stage_id, currency, count, cents in self._all(statement)
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
        lead_statement = self._lead_base(viewer)
        condition = _starts_with(_leads.c.title_key, query)
        if number is not None:
            condition = or_(_leads.c.number == int(number.group(1)), condition)
        rows = self._all(
            lead_statement.where(condition).order_by(_leads.c.number.desc()).limit(_limit(limit))
        )
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
        statement = select(_users).where(_users.c.tenant_id == self.tenant_id)
        if name_prefix:
            statement = statement.where(_starts_with(_users.c.name_key, name_prefix))
        if cursor is not None:
            key, last_id = decode_cursor("users", cursor)
            statement = statement.where(
                tuple_(_users.c.name_key, _users.c.id) > tuple_(key, last_id)
            )
        rows = self._all(
            statement.order_by(_users.c.name_key, _users.c.id).limit(_limit(limit) + 1)
        )
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
        checks: dict[str, tuple[Any, Any, ColumnElement[bool]]] = {
            "lead": (_leads, _leads.c.id, self.lead_visible(viewer)),
            "account": (_accounts, _accounts.c.id, self.account_visible(viewer)),
            "contact": (_contacts, _contacts.c.id, self.contact_visible(viewer)),
        }
        if kind not in checks:
            return viewer.is_admin
        table, column, visible = checks[kind]
        found = self._all(
            select(column, visible).where(table.c.tenant_id == self.tenant_id, column == subject_id)
        )
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
        statement = select(_history).where(
            _history.c.tenant_id == self.tenant_id,
            _history.c.subject_kind == subject_kind,
            _history.c.subject_id == subject_id,
        )
        if cursor is not None:
            (last_id,) = decode_cursor("history", cursor)
            statement = statement.where(_history.c.id < last_id)
        rows = self._all(statement.order_by(_history.c.id.desc()).limit(_limit(limit) + 1))
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
