"""The SQL unit of work and its repositories: the domain's ports over one database connection.

Repositories are bound to the tenant of their unit of work and remember every aggregate they
hand out. ``commit`` writes those with pending events (an insert, or an update guarded by the
version that was loaded), their history and outbox rows, in one transaction, with the Teams
activity claimed around it (``storage.activities.claim_on_commit``); a guarded update that
matches nothing means someone else committed first, which is a ``Conflict``.

Reads run outside any transaction: the version guards, not a snapshot, keep the writes right,
and under READ COMMITTED every statement took its own snapshot anyway. The write transaction
opens at the first write (``commit``, or taking a lead number) and ends with the commit.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache, lru_cache, partial
from types import TracebackType
from typing import Any, Self, TypeVar, cast

from sqlalchemy import (
    CompoundSelect,
    Connection,
    CursorResult,
    Delete,
    Engine,
    Executable,
    Insert,
    Integer,
    Select,
    Table,
    Update,
    and_,
    bindparam,
    create_engine,
    delete,
    exists,
    func,
    insert,
    literal_column,
    null,
    or_,
    select,
    union_all,
    update,
)
from sqlalchemy.exc import IntegrityError

from domain.accounts import Account
from domain.common import Aggregate
from domain.contacts import Contact
from domain.errors import AlreadyApplied, Conflict
from domain.events import DomainEvent
from domain.ids import AccountId, ContactId, LeadId, TenantId, UserId
from domain.leads import Comment, Lead, Reminder
from domain.ports import (
    AccountRepository,
    CommentRepository,
    ContactRepository,
    LeadFact,
    LeadRepository,
    PipelineRepository,
    ReminderRepository,
    SettingsRepository,
    UserRepository,
)
from domain.settings import Pipeline, TenantSettings
from domain.statuses import LeadStatus
from domain.users import Role, User
from storage import mapping
from storage.activities import PendingClaim, claim_statement, pending_claim
from storage.dialects import dialect_insert, greatest
from storage.errors import StorageError, translated
from storage.rows import (
    AccountLabelRow,
    AccountRow,
    Base,
    CommentRow,
    ContactRow,
    ContactTagRow,
    HistoryRow,
    LeadCounterRow,
    LeadFollowerRow,
    LeadParticipantRow,
    LeadRow,
    LeadTagRow,
    OutboxRow,
    PipelineRow,
    ProcessedActivityRow,
    ReminderRow,
    SettingsRow,
    UserRow,
)

A = TypeVar("A", bound=Aggregate)

# What opens a unit of work's write transaction: PostgreSQL's connections run in autocommit,
# and on SQLite too the unit of work opens (and ends) it itself rather than leave it to
# pysqlite's guess at the first INSERT, UPDATE or DELETE. IMMEDIATE: SQLite's write lock at
# once (after this process's turn, ``storage.sqlite``), never a late failure to upgrade to it.
_BEGIN = {"postgresql": "BEGIN", "sqlite": "BEGIN IMMEDIATE"}

# Written in this order so rows that others point to exist first.
WRITE_ORDER = ("user", "settings", "pipeline", "account", "contact", "lead", "reminder", "comment")


@dataclass(slots=True)
class _Tracked:
    """An aggregate handed out by this unit of work and what it looked like when loaded.

    What it looked like is worked out only if it is written: most units of work only read,
    and taking a snapshot of every user, contact and comment a card shows was a measurable
    share of a read. ``reload`` builds the aggregate again from the row it was loaded from.
    """

    kind: str
    aggregate: Aggregate
    loaded_version: int
    reload: Callable[[], Aggregate] | None = None  # None: new in this unit of work
    _snapshot: tuple[object, dict[str, Any] | None] | None = None

    @property
    def new(self) -> bool:
        return self.reload is None

    def _loaded(self) -> tuple[object, dict[str, Any] | None]:
        if self._snapshot is None:
            if self.reload is None:
                self._snapshot = (None, None)
            else:
                loaded = self.reload()
                state = _INDEX_STATE.get(self.kind, _no_state)(loaded)
                self._snapshot = (state, _VALUES[self.kind](loaded))
        return self._snapshot

    @property
    def index_state(self) -> object:
        return self._loaded()[0]

    @property
    def loaded_values(self) -> dict[str, Any] | None:
        return self._loaded()[1]


def history_values(event: DomainEvent) -> dict[str, Any]:
    """Account events index under their own account, so an account's timeline includes them."""
    account_id = getattr(event, "account_id", None)
    if event.subject_kind == "account":
        account_id = event.subject_id
    return {
        "tenant_id": event.tenant_id,
        "subject_kind": event.subject_kind,
        "subject_id": event.subject_id,
        "account_id": account_id,
        "event_name": event.name,
        "actor_id": event.actor_id,
        "occurred_at": event.occurred_at,
        "payload": event.as_record(),
    }


def outbox_values(event: DomainEvent, now: datetime) -> dict[str, Any]:
    return {
        "tenant_id": event.tenant_id,
        "event_name": event.name,
        "payload": event.as_record(),
        "created_at": now,
        "status": "pending",
        "attempts": 0,
        "available_at": now,
    }


def unit_of_work_engine(engine: Engine, **options: Any) -> Engine:
    """Where units of work read outside a transaction: on PostgreSQL, an engine of its own whose
    connections stay in autocommit (a BEGIN and a ROLLBACK were two of a read-only use case's
    round trips; switching pooled connections in and out of autocommit per checkout, as
    ``execution_options`` does, cost about 0.1 ms of Python each time, several times a turn).
    pysqlite's legacy transaction handling never opens one for a SELECT, and leaving its mode
    costs a PRAGMA each time, so SQLite's connections serve as they are. ``options``: the
    engine's own (``create_engine``'s), for the new one."""
    if engine.dialect.name == "postgresql":
        return create_engine(engine.url, isolation_level="AUTOCOMMIT", **options)
    return engine


class SqlUnitOfWork:
    """One use case; leaving the ``with`` block without ``commit`` rolls back what it wrote.

    ``engine`` is ``unit_of_work_engine(...)``'s: its connections run each statement on its
    own until ``writing`` sends BEGIN, and the unit of work ends that transaction itself.
    """

    def __init__(
        self,
        engine: Engine,
        tenant_id: TenantId,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.tenant_id = tenant_id
        self.dialect = engine.dialect.name
        self._engine = engine
        self._connection: Connection | None = None
        self._writing = False
        self._clock = clock or (lambda: datetime.now(UTC))
        self._seen: dict[tuple[str, str], _Tracked] = {}
        # Typed as the port: the Protocol's attributes are invariant, and callers need no more.
        self.users: UserRepository = SqlUsers(self)
        self.settings: SettingsRepository = SqlSettings(self)
        self.pipelines: PipelineRepository = SqlPipelines(self)
        self.accounts: AccountRepository = SqlAccounts(self)
        self.contacts: ContactRepository = SqlContacts(self)
        self.leads: LeadRepository = SqlLeads(self)
        self.comments: CommentRepository = SqlComments(self)
        self.reminders: ReminderRepository = SqlReminders(self)

    # --- the context manager and the transaction --------------------------------------------

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            self.rollback()
        finally:
            if self._connection is not None:
                self._connection.close()
                self._connection = None

    def rollback(self) -> None:
        self._seen.clear()
        with translated():
            self._end("ROLLBACK")

    def commit(self) -> None:
        changed = sorted(
            (t for t in self._seen.values() if t.aggregate.events),
            key=lambda t: WRITE_ORDER.index(t.kind),
        )
        events = [event for tracked in changed for event in tracked.aggregate.events]
        kind = changed[0].kind if changed else "record"
        claim = pending_claim(self.tenant_id)
        if not changed and claim is None and not self._writing:
            self._seen.clear()
            return  # nothing to write: no transaction at all
        try:
            with translated(kind):
                if self._one_lead_update(changed):
                    self._commit_lead_update(changed[0], events, claim)
                else:
                    # The claim first: a redelivery then waits on the first delivery's row
                    # (PostgreSQL) and stops before it writes anything or meets a Conflict.
                    if claim is not None and not self._claim(claim.activity_id):
                        raise AlreadyApplied(claim.activity_id)
                    for tracked in changed:
                        _WRITERS[tracked.kind](self, tracked)
                    if events:
                        self._record(events)
                    self._end("COMMIT")
        except BaseException:
            # The first error says what went wrong; if the rollback fails too, the connection
            # is broken and the pool discards it.
            with suppress(StorageError):
                self.rollback()
            raise
        # Only now: a failed commit leaves the aggregates as they were, events and all, and
        # the claim pending, so running the use case again claims it again.
        if claim is not None:
            claim.done = True
        for tracked in changed:
            tracked.aggregate.pull_events()
            tracked.aggregate.version += 1
        self._seen.clear()

    def _record(self, events: list[DomainEvent]) -> None:
        """Each event's history and outbox rows, with Core inserts (the ORM's bulk path costs
        more than the rows themselves); on PostgreSQL both in one statement per event."""
        now = self._clock()
        if self.dialect == "postgresql":
            rows = [(history_values(e), outbox_values(e, now)) for e in events]
            statement = _history_and_outbox(tuple(rows[0][0]), tuple(rows[0][1]))
            params = [
                {**{f"h_{k}": v for k, v in h.items()}, **{f"o_{k}": v for k, v in o.items()}}
                for h, o in rows
            ]
            self.execute(statement, params)
            return
        self.execute(_insert(HistoryRow), [history_values(e) for e in events])
        self.execute(_insert(OutboxRow), [outbox_values(e, now) for e in events])

    def _one_lead_update(self, changed: list[_Tracked]) -> bool:
        """Whether ``changed`` is one loaded lead whose own row is all that changes (its
        followers, tags and participants as loaded), with no transaction open: then
        PostgreSQL commits it in one statement (``_commit_lead_update``)."""
        if self.dialect != "postgresql" or self._writing or len(changed) != 1:
            return False
        tracked = changed[0]
        return (
            tracked.kind == "lead"
            and not tracked.new
            and tracked.aggregate.tenant_id == self.tenant_id
            and tracked.index_state == _lead_index(tracked.aggregate)
        )

    def _commit_lead_update(
        self, tracked: _Tracked, events: list[DomainEvent], claim: PendingClaim | None
    ) -> None:
        """The commonest commit on PostgreSQL (a lead's own fields changed: stage, status,
        owner...) as one statement in autocommit: the guarded update in a data-modifying WITH,
        the claim, history and outbox rows written only if it matched. One round trip where
        BEGIN, claim, update, history and outbox, COMMIT took five.

        A redelivery waits on the lead's row instead of the claim's, then matches nothing
        (the version moved): the claim is looked up only then, to tell it from a Conflict."""
        lead = cast(Lead, tracked.aggregate)
        changed = _changed(tracked, mapping.lead_values(lead))
        columns = tuple(changed)
        now = self._clock()
        history = [history_values(e) for e in events]
        outbox = [outbox_values(e, now) for e in events]
        params: dict[str, Any] = {f"u_{c}": v for c, v in changed.items()}
        params |= {
            "u_version": tracked.loaded_version + 1,
            "w_tenant": self.tenant_id,
            "w_key": lead.id,
            "w_version": tracked.loaded_version,
        }
        for prefix, rows in (("h", history), ("o", outbox)):
            for i, row in enumerate(rows):
                params |= {f"{prefix}{i}_{k}": v for k, v in row.items()}
        if claim is not None:
            params |= {"c_activity": claim.activity_id, "c_at": now}
        statement = _lead_update_commit(
            columns, tuple(history[0]), tuple(outbox[0]), len(events), claim is not None
        )
        try:
            matched = self._connect().execute(statement, params).scalar_one()
        except IntegrityError as error:
            if claim is not None and ProcessedActivityRow.__tablename__ in str(error.orig):
                raise AlreadyApplied(claim.activity_id) from error
            raise
        if matched != 1:
            if claim is not None and self._claimed(claim.activity_id):
                raise AlreadyApplied(claim.activity_id)
            raise Conflict(tracked.kind, id=lead.id, expected=tracked.loaded_version)

    def _claimed(self, activity_id: str) -> bool:
        params = {"tenant_id": self.tenant_id, "activity_id": activity_id}
        return bool(self._connect().execute(_claim_lookup(), params).first())

    def _claim(self, activity_id: str) -> bool:
        """False if an earlier commit recorded ``activity_id``."""
        params = {
            "tenant_id": self.tenant_id,
            "activity_id": activity_id,
            "processed_at": self._clock(),
        }
        return self.execute(claim_statement(self.dialect), params).first() is not None

    def _connect(self) -> Connection:
        if self._connection is None:
            with translated():
                self._connection = self._engine.connect()
        return self._connection

    def writing(self) -> Connection:
        """The connection inside the write transaction, opened now if it is not yet."""
        connection = self._connect()
        if not self._writing:
            connection.exec_driver_sql(_BEGIN[self.dialect])
            self._writing = True
        return connection

    def _end(self, statement: str) -> None:
        """COMMIT or ROLLBACK the write transaction, if there is one."""
        if self._writing and self._connection is not None:
            self._writing = False
            self._connection.exec_driver_sql(statement)

    # --- helpers for the repositories -------------------------------------------------------

    def rows(self, statement: Executable, params: dict[str, Any] | None = None) -> Sequence[Any]:
        """Core ``Row``s: ``mapping`` only reads attributes named like the columns, so ORM
        objects (instance state, identity map) would be work for nothing."""
        with translated():
            return self._connect().execute(statement, params).all()

    def execute(
        self, statement: Executable, params: dict[str, Any] | list[dict[str, Any]] | None = None
    ) -> CursorResult[Any]:
        """A write, inside the write transaction (callers translate errors)."""
        return self.writing().execute(statement, params)

    def tracked(self, kind: str, key: str) -> Aggregate | None:
        found = self._seen.get((kind, key))
        return found.aggregate if found else None

    def remember(self, kind: str, key: str, aggregate: A) -> A:
        """A new aggregate, written at commit."""
        existing = self._seen.get((kind, key))
        if existing is not None:
            return cast(A, existing.aggregate)
        self._seen[(kind, key)] = _Tracked(kind, aggregate, aggregate.version)
        return aggregate

    def remember_loaded(self, kind: str, key: str, build: Callable[[], A]) -> A:
        """An aggregate built from a row by ``build``, which can build it again as loaded for
        the commit to compare with; the one already handed out when this unit of work has it."""
        existing = self._seen.get((kind, key))
        if existing is not None:
            return cast(A, existing.aggregate)
        aggregate = build()
        self._seen[(kind, key)] = _Tracked(kind, aggregate, aggregate.version, build)
        return aggregate

    def pending(self, kind: str) -> list[Aggregate]:
        return [t.aggregate for (k, _), t in self._seen.items() if k == kind]

    # --- writers ----------------------------------------------------------------------------

    def _guarded_update(self, row: type[Base], tracked: _Tracked, values: dict[str, Any]) -> None:
        key = values["tenant_id" if row is SettingsRow else "id"]
        # Only the columns that changed: fewer index entries to rewrite, and on PostgreSQL an
        # update that touches no indexed column can stay on its page (a HOT update). The SET
        # clause comes from the parameters' names, so the statement itself is built once.
        params = {
            **_changed(tracked, values),
            "version": tracked.loaded_version + 1,
            "w_tenant": self.tenant_id,
            "w_key": key,
            "w_version": tracked.loaded_version,
        }
        result = self.execute(_guarded(row), params)
        if result.rowcount != 1:
            raise Conflict(tracked.kind, id=key, expected=tracked.loaded_version)

    def _write_row(self, row: type[Base], tracked: _Tracked, values: dict[str, Any]) -> None:
        if values["tenant_id"] != self.tenant_id:
            # A repository bound to one tenant never writes another's rows.
            raise Conflict(tracked.kind, reason="tenant")
        if tracked.new:
            self.execute(_insert(row), {**values, "version": 1})
        else:
            self._guarded_update(row, tracked, values)

    def _replace_children(
        self,
        row: type[Base],
        *,
        parent_column: str,
        parent_id: str,
        old: set[tuple[Any, ...]],
        new: set[tuple[Any, ...]],
        columns: tuple[str, ...],
        extra: dict[str, Any],
        rewrite: bool,
    ) -> None:
        """Bring an index table in line with the aggregate: only the difference, unless the
        copied sort key changed (``rewrite``), which touches every row of that parent."""
        removed, added = (old, new) if rewrite else (old - new, new - old)
        parent = {"w_tenant": self.tenant_id, "w_parent": parent_id}
        if rewrite and old:
            self.execute(_delete_children(row, parent_column, ()), parent)
        elif removed:
            self.execute(
                _delete_children(row, parent_column, columns),
                [
                    {**parent, **{f"w_{c}": v for c, v in zip(columns, item, strict=True)}}
                    for item in removed
                ],
            )
        if added:
            self.execute(
                _insert(row),
                [
                    {
                        "tenant_id": self.tenant_id,
                        parent_column: parent_id,
                        **dict(zip(columns, item, strict=True)),
                        **extra,
                    }
                    for item in added
                ],
            )

    def write_user(self, tracked: _Tracked) -> None:
        self._write_row(UserRow, tracked, mapping.user_values(cast(User, tracked.aggregate)))

    def write_settings(self, tracked: _Tracked) -> None:
        settings = cast(TenantSettings, tracked.aggregate)
        self._write_row(SettingsRow, tracked, mapping.settings_values(settings))

    def write_pipeline(self, tracked: _Tracked) -> None:
        pipeline = cast(Pipeline, tracked.aggregate)
        self._write_row(PipelineRow, tracked, mapping.pipeline_values(pipeline))

    def write_account(self, tracked: _Tracked) -> None:
        account = cast(Account, tracked.aggregate)
        values = mapping.account_values(account)
        self._write_row(AccountRow, tracked, values)
        old_key, old_labels = cast(
            tuple[str, set[tuple[str, str]]], tracked.index_state or ("", set())
        )
        self._replace_children(
            AccountLabelRow,
            parent_column="account_id",
            parent_id=account.id,
            old=old_labels,
            new=mapping.account_labels(account),
            columns=("kind", "value"),
            extra={"name_key": values["name_key"]},
            rewrite=not tracked.new and old_key != values["name_key"],
        )

    def write_contact(self, tracked: _Tracked) -> None:
        contact = cast(Contact, tracked.aggregate)
        values = mapping.contact_values(contact)
        self._write_row(ContactRow, tracked, values)
        old_key, old_tags = cast(tuple[str, set[tuple[str]]], tracked.index_state or ("", set()))
        self._replace_children(
            ContactTagRow,
            parent_column="contact_id",
            parent_id=contact.id,
            old=old_tags,
            new={(tag,) for tag in contact.tags},
            columns=("tag",),
            extra={"name_key": values["name_key"]},
            rewrite=not tracked.new and old_key != values["name_key"],
        )

    def write_lead(self, tracked: _Tracked) -> None:
        lead = cast(Lead, tracked.aggregate)
        self._write_row(LeadRow, tracked, mapping.lead_values(lead))
        empty: tuple[set[Any], set[Any], set[Any]] = (set(), set(), set())
        followers, tags, participants = cast(
            tuple[set[Any], set[Any], set[Any]], tracked.index_state or empty
        )
        number = {"number": lead.number}
        self._replace_children(
            LeadFollowerRow,
            parent_column="lead_id",
            parent_id=lead.id,
            old=followers,
            new=_lead_index(lead)[0],
            columns=("user_id",),
            extra=number,
            rewrite=False,
        )
        self._replace_children(
            LeadTagRow,
            parent_column="lead_id",
            parent_id=lead.id,
            old=tags,
            new=_lead_index(lead)[1],
            columns=("tag",),
            extra=number,
            rewrite=False,
        )
        self._replace_children(
            LeadParticipantRow,
            parent_column="lead_id",
            parent_id=lead.id,
            old=participants,
            new=_lead_index(lead)[2],
            columns=("contact_id",),
            extra=number,
            rewrite=False,
        )

    def write_comment(self, tracked: _Tracked) -> None:
        """A comment is activity on its lead, but not a change of it: the lead's version stays,
        so people commenting never make a concurrent edit of the lead fail."""
        comment = cast(Comment, tracked.aggregate)
        self._write_row(CommentRow, tracked, mapping.comment_values(comment))
        if tracked.new:
            self.execute(
                _LEAD_ACTIVITY,
                {"w_tenant": self.tenant_id, "w_lead": comment.lead_id, "w_at": comment.created_at},
            )

    def write_reminder(self, tracked: _Tracked) -> None:
        reminder = cast(Reminder, tracked.aggregate)
        self._write_row(ReminderRow, tracked, mapping.reminder_values(reminder))


def _changed(tracked: _Tracked, values: dict[str, Any]) -> dict[str, Any]:
    """The columns whose values differ from what was loaded; the version is the writer's."""
    loaded = tracked.loaded_values or {}
    return {n: v for n, v in values.items() if n != "version" and loaded.get(n) != v}


def _no_state(aggregate: Aggregate) -> object:
    return None


def _account_index(aggregate: Aggregate) -> object:
    account = cast(Account, aggregate)
    return (mapping.sort_key(account.name), mapping.account_labels(account))


def _contact_index(aggregate: Aggregate) -> object:
    contact = cast(Contact, aggregate)
    return (mapping.sort_key(contact.name), {(tag,) for tag in contact.tags})


def _lead_index(aggregate: Aggregate) -> tuple[set[Any], set[Any], set[Any]]:
    lead = cast(Lead, aggregate)
    return (
        {(user_id,) for user_id in lead.follower_ids},
        {(tag,) for tag in lead.tags},
        {(p.contact_id,) for p in lead.participants},
    )


_INDEX_STATE: dict[str, Callable[[Aggregate], object]] = {
    "account": _account_index,
    "contact": _contact_index,
    "lead": _lead_index,
}

_VALUES: dict[str, Callable[[Any], dict[str, Any]]] = {
    "user": mapping.user_values,
    "settings": mapping.settings_values,
    "pipeline": mapping.pipeline_values,
    "account": mapping.account_values,
    "contact": mapping.contact_values,
    "lead": mapping.lead_values,
    "comment": mapping.comment_values,
    "reminder": mapping.reminder_values,
}

_WRITERS: dict[str, Callable[[SqlUnitOfWork, _Tracked], None]] = {
    "user": SqlUnitOfWork.write_user,
    "settings": SqlUnitOfWork.write_settings,
    "pipeline": SqlUnitOfWork.write_pipeline,
    "account": SqlUnitOfWork.write_account,
    "contact": SqlUnitOfWork.write_contact,
    "lead": SqlUnitOfWork.write_lead,
    "comment": SqlUnitOfWork.write_comment,
    "reminder": SqlUnitOfWork.write_reminder,
}


# --- statements ------------------------------------------------------------------------------
#
# Built once, values bound at execution: building a statement and its cache key costs more
# than running it by key. All Core, on tables: every row read is a plain ``Row`` of columns.


def _table(row: type[Base]) -> Table:
    return cast(Table, row.__table__)


@cache
def _by_id(row: type[Base]) -> Select[Any]:
    table = _table(row)
    return select(*table.c).where(
        table.c.tenant_id == bindparam("tenant_id"), table.c.id == bindparam("key")
    )


@cache
def _by_ids(row: type[Base]) -> Select[Any]:
    table = _table(row)
    return select(*table.c).where(
        table.c.tenant_id == bindparam("tenant_id"),
        table.c.id.in_(bindparam("keys", expanding=True)),
    )


@cache
def _insert(row: type[Base]) -> Insert:
    """Columns come from the parameters' names."""
    return insert(_table(row))


@cache
def _history_and_outbox(
    history_columns: tuple[str, ...], outbox_columns: tuple[str, ...]
) -> Insert:
    """The history row in a data-modifying WITH, the outbox row in the statement itself: one
    round trip for both (PostgreSQL only). Parameters are the columns prefixed ``h_``, ``o_``."""
    history, outbox = _table(HistoryRow), _table(OutboxRow)
    written = (
        insert(history)
        .values({c: bindparam(f"h_{c}", type_=history.c[c].type) for c in history_columns})
        .cte("written_history")
    )
    return (
        insert(outbox)
        .values({c: bindparam(f"o_{c}", type_=outbox.c[c].type) for c in outbox_columns})
        .add_cte(written)
    )


@lru_cache(maxsize=256)
def _lead_update_commit(
    columns: tuple[str, ...],
    history_columns: tuple[str, ...],
    outbox_columns: tuple[str, ...],
    events: int,
    claim: bool,
) -> Select[Any]:
    """``WITH updated AS (UPDATE leads ... RETURNING), [claimed AS (INSERT ... WHERE EXISTS
    updated),] history AS (...), outbox AS (...) SELECT count(*) FROM updated`` (PostgreSQL).
    Parameters: ``u_<column>`` (the changed columns and version), ``w_tenant``, ``w_key``,
    ``w_version``, ``c_activity``, ``c_at``, and ``h<i>_<column>`` / ``o<i>_<column>`` for
    event ``i``'s history and outbox rows."""
    leads = _table(LeadRow)
    updated = (
        _guarded(LeadRow)
        .values({c: bindparam(f"u_{c}", type_=leads.c[c].type) for c in (*columns, "version")})
        .returning(leads.c.id)
        .cte("updated")
    )
    matched = exists().select_from(updated)
    written: list[Any] = []
    if claim:
        processed = _table(ProcessedActivityRow)
        claimed = select(
            bindparam("w_tenant", type_=processed.c.tenant_id.type),
            bindparam("c_activity", type_=processed.c.activity_id.type),
            bindparam("c_at", type_=processed.c.processed_at.type),
        ).where(matched)
        written.append(
            insert(processed)
            .from_select(["tenant_id", "activity_id", "processed_at"], claimed)
            .cte("claimed")
        )
    for table, prefix, names in (
        (_table(HistoryRow), "h", history_columns),
        (_table(OutboxRow), "o", outbox_columns),
    ):
        rows = [
            select(*(bindparam(f"{prefix}{i}_{c}", type_=table.c[c].type) for c in names)).where(
                matched
            )
            for i in range(events)
        ]
        source = rows[0] if events == 1 else union_all(*rows)
        written.append(insert(table).from_select(list(names), source).cte(f"written_{prefix}"))
    statement = select(func.count()).select_from(updated)
    for cte in written:
        statement = statement.add_cte(cte)
    return statement


@cache
def _claim_lookup() -> Select[Any]:
    processed = _table(ProcessedActivityRow)
    return select(processed.c.activity_id).where(
        processed.c.tenant_id == bindparam("tenant_id"),
        processed.c.activity_id == bindparam("activity_id"),
    )


@cache
def _guarded(row: type[Base]) -> Update:
    """The SET clause comes from the parameters' names; the WHERE names start with ``w_`` so
    they never clash with a column's."""
    table = _table(row)
    key = table.c.tenant_id if row is SettingsRow else table.c.id
    return update(table).where(
        table.c.tenant_id == bindparam("w_tenant"),
        key == bindparam("w_key"),
        table.c.version == bindparam("w_version"),
    )


@cache
def _delete_children(row: type[Base], parent_column: str, columns: tuple[str, ...]) -> Delete:
    """All of a parent's index rows (no ``columns``), or one of them by its ``columns``."""
    table = _table(row)
    return delete(table).where(
        table.c.tenant_id == bindparam("w_tenant"),
        table.c[parent_column] == bindparam("w_parent"),
        *(table.c[name] == bindparam(f"w_{name}") for name in columns),
    )


_users, _settings, _pipelines = _table(UserRow), _table(SettingsRow), _table(PipelineRow)
_leads, _contacts, _comments = _table(LeadRow), _table(ContactRow), _table(CommentRow)
_participants, _counters = _table(LeadParticipantRow), _table(LeadCounterRow)

_LEAD_ACTIVITY = (
    update(_leads)
    .where(
        _leads.c.tenant_id == bindparam("w_tenant"),
        _leads.c.id == bindparam("w_lead"),
        or_(
            _leads.c.last_activity_at.is_(None),
            _leads.c.last_activity_at < bindparam("w_at", type_=_leads.c.last_activity_at.type),
        ),
    )
    .values(last_activity_at=bindparam("w_at", type_=_leads.c.last_activity_at.type))
)


@cache
def _take_number(dialect: str) -> Any:
    """One more than the counter, or than the tenant's highest lead number if that is higher:
    leads written without the counter (an import, a restored backup) never make it collide.
    ``max(number)`` is a seek on the unique (tenant_id, number) index."""
    highest = (
        select(func.coalesce(func.max(_leads.c.number), 0))
        .where(_leads.c.tenant_id == bindparam("w_tenant"))
        .scalar_subquery()
    )
    statement = dialect_insert(dialect, _counters).values(
        tenant_id=bindparam("w_tenant"), last_number=highest + 1
    )
    # The counter's column is the row as locked (PostgreSQL) or written (SQLite) when this one
    # gets its turn, so racing creations still queue on it; ``excluded`` carries the max.
    return statement.on_conflict_do_update(
        index_elements=[_counters.c.tenant_id],
        set_={
            "last_number": greatest(
                dialect, _counters.c.last_number + 1, statement.excluded.last_number
            )
        },
    ).returning(_counters.c.last_number)


# --- repositories ----------------------------------------------------------------------------


class _Repository:
    """Loads by id within the tenant, through the unit of work's identity map."""

    kind: str
    row: type[Base]
    from_row: Callable[[Any], Any]

    def __init__(self, uow: SqlUnitOfWork) -> None:
        self._uow = uow
        self._tenant_id = uow.tenant_id

    def _track(self, rows: Iterable[Any]) -> list[Any]:
        return [
            self._uow.remember_loaded(self.kind, row.id, partial(self.from_row, row))
            for row in rows
        ]

    def get(self, key: str) -> Any:
        found = self._uow.tracked(self.kind, key)
        if found is not None:
            return found
        rows = self._uow.rows(_by_id(self.row), {"tenant_id": self._tenant_id, "key": key})
        tracked = self._track(rows)
        return tracked[0] if tracked else None

    def get_many(self, keys: Iterable[str]) -> dict[Any, Any]:
        wanted = list(dict.fromkeys(keys))
        result: dict[str, Any] = {}
        missing = []
        for key in wanted:
            found = self._uow.tracked(self.kind, key)
            if found is not None:
                result[key] = found
            else:
                missing.append(key)
        if missing:
            rows = self._uow.rows(
                _by_ids(self.row), {"tenant_id": self._tenant_id, "keys": missing}
            )
            for item in self._track(rows):
                result[item.id] = item
        return {key: result[key] for key in wanted if key in result}

    def add(self, aggregate: Any) -> None:
        self._uow.remember(self.kind, aggregate.id, aggregate)


class SqlUsers(_Repository):
    kind, row, from_row = "user", UserRow, staticmethod(mapping.user_from)

    _count = (
        select(func.count()).select_from(_users).where(_users.c.tenant_id == bindparam("tenant_id"))
    )
    _team = (
        select(_users.c.id)
        .where(
            _users.c.tenant_id == bindparam("tenant_id"),
            _users.c.manager_id == bindparam("manager_id"),
        )
        .order_by(_users.c.id)
    )
    _admins = (
        select(_users.c.id)
        .where(_users.c.tenant_id == bindparam("tenant_id"), _users.c.role == Role.ADMIN.value)
        .order_by(_users.c.id)
    )

    def get(self, user_id: str) -> User | None:
        return cast(User | None, super().get(user_id))

    def get_many(self, user_ids: Iterable[str]) -> dict[UserId, User]:
        return cast(dict[UserId, User], super().get_many(user_ids))

    def add(self, user: User) -> None:
        super().add(user)

    def count(self) -> int:
        return int(self._uow.rows(self._count, {"tenant_id": self._tenant_id})[0][0])

    def team_of(self, manager_id: UserId) -> list[UserId]:
        params = {"tenant_id": self._tenant_id, "manager_id": manager_id}
        return [UserId(row.id) for row in self._uow.rows(self._team, params)]

    def admins(self) -> list[UserId]:
        params = {"tenant_id": self._tenant_id}
        return [UserId(row.id) for row in self._uow.rows(self._admins, params)]


class SqlSettings:
    _get = select(*_settings.c).where(_settings.c.tenant_id == bindparam("tenant_id"))

    def __init__(self, uow: SqlUnitOfWork) -> None:
        self._uow = uow

    def get(self) -> TenantSettings | None:
        tenant_id = self._uow.tenant_id
        found = self._uow.tracked("settings", tenant_id)
        if found is not None:
            return cast(TenantSettings, found)
        rows = self._uow.rows(self._get, {"tenant_id": tenant_id})
        if not rows:
            return None
        return self._uow.remember_loaded(
            "settings", tenant_id, partial(mapping.settings_from, rows[0])
        )

    def add(self, settings: TenantSettings) -> None:
        self._uow.remember("settings", settings.tenant_id, settings)


@cache
def _pipelines_with_settings() -> Select[Any]:
    """The tenant's pipelines as ``SqlPipelines._list`` orders them, each with the tenant's
    settings as ``s_<column>`` (NULL without any)."""
    return (
        select(*_pipelines.c, *(c.label(f"s_{c.name}") for c in _settings.c))
        .select_from(
            _pipelines.outerjoin(_settings, _settings.c.tenant_id == _pipelines.c.tenant_id)
        )
        .where(_pipelines.c.tenant_id == bindparam("tenant_id"))
        .order_by(_pipelines.c.is_default.desc(), _pipelines.c.name, _pipelines.c.id)
    )


class SqlPipelines(_Repository):
    kind, row, from_row = "pipeline", PipelineRow, staticmethod(mapping.pipeline_from)

    _default = (
        select(*_pipelines.c)
        .where(_pipelines.c.tenant_id == bindparam("tenant_id"), _pipelines.c.is_default.is_(True))
        .order_by(_pipelines.c.id)
        .limit(1)
    )
    _list = (
        select(*_pipelines.c)
        .where(_pipelines.c.tenant_id == bindparam("tenant_id"))
        .order_by(_pipelines.c.is_default.desc(), _pipelines.c.name, _pipelines.c.id)
    )

    def get(self, pipeline_id: str) -> Pipeline | None:
        return cast(Pipeline | None, super().get(pipeline_id))

    def add(self, pipeline: Pipeline) -> None:
        super().add(pipeline)

    def default(self) -> Pipeline | None:
        rows = self._uow.rows(self._default, {"tenant_id": self._tenant_id})
        if rows:
            return cast(Pipeline, self._track(rows)[0])
        pending = cast(list[Pipeline], self._uow.pending("pipeline"))
        return next((p for p in pending if p.is_default), None)

    def list(self, *, with_settings: bool = False) -> list[Pipeline]:
        tenant_id = self._tenant_id
        if not with_settings or self._uow.tracked("settings", tenant_id) is not None:
            rows = self._uow.rows(self._list, {"tenant_id": tenant_id})
            return cast(list[Pipeline], self._track(rows))
        rows = self._uow.rows(_pipelines_with_settings(), {"tenant_id": tenant_id})
        if rows and rows[0].s_tenant_id is not None:
            settings: Any = _Prefixed(rows[0], "s_")
            self._uow.remember_loaded(
                "settings", tenant_id, partial(mapping.settings_from, settings)
            )
        return cast(list[Pipeline], self._track(rows))


class SqlAccounts(_Repository):
    kind, row, from_row = "account", AccountRow, staticmethod(mapping.account_from)

    def get(self, account_id: str) -> Account | None:
        return cast(Account | None, super().get(account_id))

    def get_many(self, account_ids: Iterable[str]) -> dict[AccountId, Account]:
        return cast(dict[AccountId, Account], super().get_many(account_ids))

    def add(self, account: Account) -> None:
        super().add(account)


@cache
def _contacts_and_first_of_account() -> CompoundSelect[Any]:
    """Contacts by id (``part`` 0), then an account's first contacts by name (``part`` 1), in
    that order: the names a lead card shows and its pickers' choices in one read."""
    first = (
        select(*_contacts.c)
        .where(
            _contacts.c.tenant_id == bindparam("tenant_id"),
            _contacts.c.account_id == bindparam("account_id"),
        )
        .order_by(_contacts.c.name_key, _contacts.c.id)
        .limit(bindparam("first", type_=Integer()))
        .subquery("first_of_account")
    )
    named = select(*_contacts.c, literal_column("0").label("part")).where(
        _contacts.c.tenant_id == bindparam("tenant_id"),
        _contacts.c.id.in_(bindparam("keys", expanding=True)),
    )
    both = union_all(named, select(*first.c, literal_column("1").label("part")))
    columns = both.selected_columns
    return both.order_by(columns.part, columns.name_key, columns.id)


class SqlContacts(_Repository):
    kind, row, from_row = "contact", ContactRow, staticmethod(mapping.contact_from)

    def get(self, contact_id: str) -> Contact | None:
        return cast(Contact | None, super().get(contact_id))

    def get_many(self, contact_ids: Iterable[str]) -> dict[ContactId, Contact]:
        return cast(dict[ContactId, Contact], super().get_many(contact_ids))

    def get_many_with_account(
        self, contact_ids: Iterable[str], account_id: AccountId, first: int
    ) -> tuple[dict[ContactId, Contact], list[Contact]]:
        wanted = list(dict.fromkeys(contact_ids))
        missing = [key for key in wanted if self._uow.tracked(self.kind, key) is None]
        params = {
            "tenant_id": self._tenant_id,
            "keys": missing,
            "account_id": account_id,
            "first": first,
        }
        listed: list[Contact] = []
        for row in self._uow.rows(_contacts_and_first_of_account(), params):
            contact = self._uow.remember_loaded(self.kind, row.id, partial(self.from_row, row))
            if row.part == 1:
                listed.append(contact)
        found = {key: self._uow.tracked(self.kind, key) for key in wanted}
        return {ContactId(k): cast(Contact, c) for k, c in found.items() if c is not None}, listed

    def add(self, contact: Contact) -> None:
        super().add(contact)


def _lead_facts(condition: Any) -> Select[Any]:
    return (
        select(_leads.c.id, _leads.c.status, _leads.c.contact_id)
        .where(_leads.c.tenant_id == bindparam("tenant_id"), condition)
        .order_by(_leads.c.number)
    )


class _Prefixed:
    """One table's columns of a joined row, read by their own names (``mapping`` reads
    attributes named like the columns)."""

    __slots__ = ("_prefix", "_row")

    def __init__(self, row: Any, prefix: str) -> None:
        self._row = row
        self._prefix = prefix

    def __getattr__(self, name: str) -> Any:
        return getattr(self._row, self._prefix + name)


_LEAD_CONTEXT: tuple[tuple[str, str, Callable[[Any], Any]], ...] = (
    ("account", "a_", mapping.account_from),
    ("pipeline", "p_", mapping.pipeline_from),
)


@cache
def _lead_in_context(with_user: bool = False) -> Select[Any]:
    """A lead's row, its account's columns as ``a_<column>`` (NULL without one) and its
    pipeline's as ``p_<column>``; ``with_user``: also the user bound as ``user_id`` as
    ``u_<column>`` (NULL if unknown)."""
    accounts, pipelines = _table(AccountRow), _table(PipelineRow)
    joined = _leads.outerjoin(
        accounts,
        and_(accounts.c.tenant_id == _leads.c.tenant_id, accounts.c.id == _leads.c.account_id),
    ).outerjoin(
        pipelines,
        and_(pipelines.c.tenant_id == _leads.c.tenant_id, pipelines.c.id == _leads.c.pipeline_id),
    )
    columns = [
        *_leads.c,
        *(c.label(f"a_{c.name}") for c in accounts.c),
        *(c.label(f"p_{c.name}") for c in pipelines.c),
    ]
    if with_user:
        joined = joined.outerjoin(
            _users,
            and_(_users.c.tenant_id == _leads.c.tenant_id, _users.c.id == bindparam("user_id")),
        )
        columns += [c.label(f"u_{c.name}") for c in _users.c]
    return (
        select(*columns)
        .select_from(joined)
        .where(_leads.c.tenant_id == bindparam("tenant_id"), _leads.c.id == bindparam("key"))
    )


class SqlLeads(_Repository):
    kind, row, from_row = "lead", LeadRow, staticmethod(mapping.lead_from)

    _by_number = select(*_leads.c).where(
        _leads.c.tenant_id == bindparam("tenant_id"), _leads.c.number == bindparam("number")
    )
    _facts_for_contact = _lead_facts(_leads.c.contact_id == bindparam("contact_id"))
    _facts_for_account = _lead_facts(
        _leads.c.contact_id.in_(
            select(_contacts.c.id).where(
                _contacts.c.tenant_id == bindparam("tenant_id"),
                _contacts.c.account_id == bindparam("account_id"),
            )
        )
    )
    _works_with = (
        select(_leads.c.id)
        .where(
            _leads.c.tenant_id == bindparam("tenant_id"),
            _leads.c.owner_id.in_(bindparam("scope", expanding=True)),
            or_(
                _leads.c.contact_id == bindparam("contact_id"),
                _leads.c.id.in_(
                    select(_participants.c.lead_id).where(
                        _participants.c.tenant_id == bindparam("tenant_id"),
                        _participants.c.contact_id == bindparam("contact_id"),
                    )
                ),
            ),
        )
        .limit(1)
    )

    def __init__(self, uow: SqlUnitOfWork) -> None:
        super().__init__(uow)
        self._last_number = 0

    def get(self, lead_id: str, *, with_user: str | None = None) -> Lead | None:
        """The lead with its account and pipeline, in one statement: every use case that
        loads a lead goes on to load both (access rules, stage names), and they were two
        more round trips. They join the identity map, unless this unit of work has them."""
        found = self._uow.tracked(self.kind, lead_id)
        if found is not None:
            return cast(Lead, found)
        params = {"tenant_id": self._tenant_id, "key": lead_id}
        context = _LEAD_CONTEXT
        if with_user is not None and self._uow.tracked("user", with_user) is None:
            params["user_id"] = with_user
            context = (*context, ("user", "u_", mapping.user_from))
        rows = self._uow.rows(_lead_in_context("user_id" in params), params)
        if not rows:
            return None
        row = rows[0]
        for kind, prefix, from_row in context:
            key = getattr(row, f"{prefix}id")
            if key is not None:
                self._uow.remember_loaded(kind, key, partial(from_row, _Prefixed(row, prefix)))
        return self._uow.remember_loaded(self.kind, row.id, partial(mapping.lead_from, row))

    def add(self, lead: Lead) -> None:
        super().add(lead)

    def by_number(self, number: int) -> Lead | None:
        rows = self._uow.rows(self._by_number, {"tenant_id": self._tenant_id, "number": number})
        return cast(Lead, self._track(rows)[0]) if rows else None

    def next_number(self) -> int:
        """Taken from the tenant's counter in the write transaction, which opens here and holds
        the counter until the commit: a concurrent creation waits for the row (PostgreSQL) or
        the write lock (SQLite) instead of taking the same number."""
        params = {"w_tenant": self._tenant_id}
        with translated():
            number = int(self._uow.execute(_take_number(self._uow.dialect), params).scalar_one())
        self._last_number = number
        return number

    def _facts(self, statement: Select[Any], params: dict[str, Any]) -> list[LeadFact]:
        return [
            LeadFact(
                lead_id=LeadId(lead_id),
                status=LeadStatus(status),
                contact_id=ContactId(contact_id) if contact_id else None,
            )
            for lead_id, status, contact_id in self._uow.rows(
                statement, {"tenant_id": self._tenant_id, **params}
            )
        ]

    def facts_for_contact(self, contact_id: ContactId) -> list[LeadFact]:
        return self._facts(self._facts_for_contact, {"contact_id": contact_id})

    def facts_for_account(self, account_id: AccountId) -> list[LeadFact]:
        return self._facts(self._facts_for_account, {"account_id": account_id})

    def scope_works_with_contact(self, contact_id: ContactId, scope: frozenset[UserId]) -> bool:
        params = {"tenant_id": self._tenant_id, "contact_id": contact_id, "scope": sorted(scope)}
        return bool(self._uow.rows(self._works_with, params))


_LATEST_COMMENTS = (
    select(*_comments.c)
    .where(
        _comments.c.tenant_id == bindparam("tenant_id"),
        _comments.c.lead_id == bindparam("lead_id"),
    )
    .order_by(_comments.c.created_at.desc(), _comments.c.id.desc())
    .limit(bindparam("limit", type_=Integer()))
)


@cache
def _latest_with_users() -> CompoundSelect[Any]:
    """A lead's latest comments with their authors (``c_<column>``, ``u_<column>``; the user's
    NULL if unknown), then more users by id (the comment's columns NULL): one read for what a
    lead card shows of comments and people."""
    latest = _LATEST_COMMENTS.subquery("latest")
    users = [c.label(f"u_{c.name}") for c in _users.c]
    authored = select(*(latest.c[c.name].label(f"c_{c.name}") for c in _comments.c), *users)
    authored = authored.select_from(
        latest.outerjoin(
            _users,
            and_(_users.c.tenant_id == latest.c.tenant_id, _users.c.id == latest.c.author_id),
        )
    )
    named = select(*(null().cast(c.type).label(f"c_{c.name}") for c in _comments.c), *users)
    named = named.where(
        _users.c.tenant_id == bindparam("tenant_id"),
        _users.c.id.in_(bindparam("user_ids", expanding=True)),
    )
    return union_all(authored, named)


class SqlComments(_Repository):
    kind, row, from_row = "comment", CommentRow, staticmethod(mapping.comment_from)

    _latest = _LATEST_COMMENTS

    def add(self, comment: Comment) -> None:
        super().add(comment)

    def latest(
        self, lead_id: LeadId, limit: int, *, with_users: Iterable[UserId] = ()
    ) -> list[Comment]:
        params: dict[str, Any] = {"tenant_id": self._tenant_id, "lead_id": lead_id, "limit": limit}
        if not with_users:
            return [mapping.comment_from(row) for row in self._uow.rows(self._latest, params)]
        params["user_ids"] = [
            u for u in dict.fromkeys(with_users) if not self._uow.tracked("user", u)
        ]
        comments = []
        for row in self._uow.rows(_latest_with_users(), params):
            # Each table's columns read by their own names (``mapping`` reads attributes).
            user: Any = _Prefixed(row, "u_")
            comment: Any = _Prefixed(row, "c_")
            if row.u_id is not None:
                self._uow.remember_loaded("user", row.u_id, partial(mapping.user_from, user))
            if row.c_id is not None:
                comments.append(mapping.comment_from(comment))
        # The union keeps no order: newest first again, as the plain read gives them.
        comments.sort(key=lambda comment: (comment.created_at, comment.id), reverse=True)
        return comments


class SqlReminders(_Repository):
    kind, row, from_row = "reminder", ReminderRow, staticmethod(mapping.reminder_from)

    def get(self, reminder_id: str) -> Reminder | None:
        return cast(Reminder | None, super().get(reminder_id))

    def add(self, reminder: Reminder) -> None:
        super().add(reminder)
