"""Follower notifications on the database: preferences, the cards to deliver, every attempt.

The dispatcher turns outbox events into notification rows (``fan_out``) in the same
transaction that settles the event, so a crash can't make it fan out twice. Changes by one
actor to one lead within the grouping window join the same row while it waits, or a new row
that *replaces* the card already sent (delivered as an in-place update), so a follower sees one
card. Delivery claims rows under a lease (``SKIP LOCKED`` on PostgreSQL) like the outbox,
extends it while a slow batch is sent, and writes how many sends ended in one transaction.
A change followed by a thousand people is a handful of statements, not a thousand.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from functools import cache
from typing import Any, cast

from sqlalchemy import (
    ARRAY,
    Column,
    CursorResult,
    Row,
    Table,
    and_,
    any_,
    bindparam,
    column,
    delete,
    func,
    insert,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Session, sessionmaker

from domain.errors import Conflict
from domain.ids import LeadId, TenantId, UserId
from domain.notifications import NotificationKind, NotificationPreferences
from storage.conversations import ConversationRef, ConversationType
from storage.dialects import upsert_insert
from storage.errors import translated
from storage.outbox import OutboxStatus
from storage.rows import (
    ChannelSubscriptionRow,
    ConversationReferenceRow,
    NotificationAttemptRow,
    NotificationPreferencesRow,
    NotificationRow,
    OutboxRow,
    ReminderRow,
)

# Rows that are only read are selected as the table's columns: Core rows carry the same
# attributes without building ORM objects. Rows changed through the ORM (grouping, due
# reminders) are still loaded as objects.
_PREFERENCES = cast(Table, NotificationPreferencesRow.__table__)
_NOTIFICATIONS = cast(Table, NotificationRow.__table__)
_ATTEMPTS = cast(Table, NotificationAttemptRow.__table__)
_REFERENCES = cast(Table, ConversationReferenceRow.__table__)
# notification_attempts.outcome is String(16): "undeliverable:lost_lease" would not fit.
LOST_LEASE = "lost_lease"


class NotificationStatus(StrEnum):
    PENDING = "pending"
    PROCESSING = "processing"
    WAITING = "waiting"  # nobody can reach the person yet: wakes when they talk to the bot
    SENT = "sent"
    UNDELIVERABLE = "undeliverable"


@dataclass(frozen=True, slots=True, kw_only=True)
class NewNotification:
    recipient_id: UserId
    lead_id: LeadId
    actor_id: UserId | None
    change: dict[str, Any]
    at: datetime
    grouped: bool = True  # channel posts are never merged: each deal is its own post


@dataclass(frozen=True, slots=True, kw_only=True)
class NotificationJob:
    """A claimed card to deliver; ``replaces`` is the sent card it updates, if any."""

    id: int
    tenant_id: TenantId
    recipient_id: UserId
    lead_id: LeadId
    actor_id: UserId | None
    changes: list[dict[str, Any]]
    attempts: int
    first_event_at: datetime
    replaces_conversation_id: str | None
    replaces_activity_id: str | None
    replaces_pending: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class Settlement:
    """How one delivery attempt ended; the dispatcher writes many in one transaction
    (``NotificationStore.settle``) rather than one transaction per card."""

    job: NotificationJob
    outcome: str
    status_code: int | None = None
    detail: str | None = None
    values: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def sent(
        cls, job: NotificationJob, *, conversation_id: str, activity_id: str | None
    ) -> Settlement:
        values = {
            "status": NotificationStatus.SENT.value,
            "conversation_id": conversation_id,
            "activity_id": activity_id,
        }
        return cls(job=job, outcome="sent", values=values)

    @classmethod
    def retry(
        cls, job: NotificationJob, at: datetime, *, status_code: int | None, detail: str
    ) -> Settlement:
        values = {
            "status": NotificationStatus.PENDING.value,
            "available_at": at,
            "last_error": detail[:2000],
        }
        return cls(job=job, outcome="retry", status_code=status_code, detail=detail, values=values)

    @classmethod
    def waiting(cls, job: NotificationJob, detail: str) -> Settlement:
        """Nobody can reach the person yet; ``wake`` releases it when they show up."""
        values = {"status": NotificationStatus.WAITING.value, "last_error": detail[:2000]}
        return cls(job=job, outcome="waiting", detail=detail, values=values)

    @classmethod
    def undeliverable(
        cls, job: NotificationJob, *, status_code: int | None, detail: str
    ) -> Settlement:
        values = {"status": NotificationStatus.UNDELIVERABLE.value, "last_error": detail[:2000]}
        return cls(
            job=job, outcome="undeliverable", status_code=status_code, detail=detail, values=values
        )


@dataclass(slots=True)
class _Group:
    """The latest card of one group key while a fan-out writes: a stored row (``row_id``) or
    one written by this same fan-out (``new_row``)."""

    status: str
    changes: list[dict[str, Any]]
    first_event_at: datetime
    row_id: int | None = None
    new_row: dict[str, Any] | None = None


def _held_by(worker_id: Any) -> Any:
    return and_(
        _NOTIFICATIONS.c.status == NotificationStatus.PROCESSING.value,
        _NOTIFICATIONS.c.locked_by == worker_id,
    )


@cache
def _settle_statement(shape: tuple[str, ...]) -> Any:
    """Settle one claimed row (executemany-ready: ids and values are bound by name); the lease
    is checked again, so a row another worker took over is left alone."""
    return (
        update(_NOTIFICATIONS)
        .where(_NOTIFICATIONS.c.id == bindparam("settled_id"), _held_by(bindparam("worker_id")))
        .values(
            locked_by=None,
            locked_until=None,
            **{name: bindparam(f"v_{name}", type_=_NOTIFICATIONS.c[name].type) for name in shape},
        )
    )


def _shape(params: Mapping[str, Any]) -> tuple[str, ...]:
    """The columns a settlement sets (its ``v_`` parameters), to group like statements."""
    return tuple(sorted(key[2:] for key in params if key.startswith("v_")))


class _LeaseLost(Exception):
    """A batch settle found a row no longer held: redo it one row at a time."""


# What a settlement may set besides the lease; each is left as it was where a settlement
# gives no value (none of them is ever set back to NULL).
_SETTLED = ("status", "conversation_id", "activity_id", "sent_at", "available_at", "last_error")
_ATTEMPTED = ("notification_id", "tenant_id", "outcome", "status_code", "detail")


def _unnest(name: str, columns: Sequence[Column[Any]]) -> Any:
    """PostgreSQL: rows from one array parameter per column (``a_<column>``), as table
    ``name``: a statement of constant text for any number of rows."""
    return (
        func.unnest(*(bindparam(f"a_{c.name}", type_=ARRAY(c.type)) for c in columns))
        .table_valued(*(column(c.name, c.type) for c in columns))
        .render_derived(name=name)
    )


@cache
def _pg_settle_statement() -> Any:
    """PostgreSQL: settle many rows at once, returning those this worker still held."""
    n = _NOTIFICATIONS
    given = _unnest("given", [n.c.id, *(n.c[name] for name in _SETTLED)])
    return (
        update(n)
        .where(n.c.id == given.c.id, _held_by(bindparam("worker_id")))
        .values(
            locked_by=None,
            locked_until=None,
            status=given.c.status,
            **{
                name: func.coalesce(given.c[name], n.c[name])
                for name in _SETTLED
                if name != "status"
            },
        )
        .returning(n.c.id)
    )


@cache
def _pg_attempts_statement() -> Any:
    """PostgreSQL: many attempt rows in one statement."""
    a = _ATTEMPTS
    given = _unnest("given", [a.c[name] for name in _ATTEMPTED])
    return insert(a).from_select(
        [*_ATTEMPTED, "at"],
        select(*(given.c[name] for name in _ATTEMPTED), bindparam("at", type_=a.c.at.type)),
    )


_APPEND = (
    update(_NOTIFICATIONS)
    .where(_NOTIFICATIONS.c.id == bindparam("row_id"))
    .values(changes=bindparam("v_changes", type_=_NOTIFICATIONS.c.changes.type))
)


# What a claimed row's job needs (reading every column costs four more timestamps per row).
_JOB_COLUMNS = (
    "id",
    "tenant_id",
    "recipient_id",
    "lead_id",
    "actor_id",
    "changes",
    "attempts",
    "first_event_at",
    "replaces_id",
)


def _prefs_from_row(row: NotificationPreferencesRow | Row[Any]) -> NotificationPreferences:
    """From a Core row of the table (typed with the row class, so mypy checks the names)."""
    settings = row.settings or {}
    return NotificationPreferences(
        tenant_id=TenantId(row.tenant_id),
        user_id=UserId(row.user_id),
        version=row.version,
        defaults=frozenset(NotificationKind(k) for k in settings.get("defaults", [])),
        lead_kinds={
            LeadId(lead): frozenset(NotificationKind(k) for k in kinds)
            for lead, kinds in settings.get("lead_kinds", {}).items()
        },
        muted_leads=frozenset(LeadId(lead) for lead in settings.get("muted_leads", [])),
        muted_all=bool(settings.get("muted_all", False)),
    )


def _prefs_to_json(preferences: NotificationPreferences) -> dict[str, Any]:
    return {
        "defaults": sorted(k.value for k in preferences.defaults),
        "lead_kinds": {
            lead: sorted(k.value for k in kinds) for lead, kinds in preferences.lead_kinds.items()
        },
        "muted_leads": sorted(preferences.muted_leads),
        "muted_all": preferences.muted_all,
    }


class NotificationStore:
    def __init__(
        self, sessions: sessionmaker[Session], dialect: str, clock: Callable[[], datetime]
    ) -> None:
        self._sessions = sessions
        self._dialect = dialect
        self._clock = clock

    def _among(self, column: Any, values: Iterable[Any]) -> Any:
        """``column IN (values)``; on PostgreSQL ``= ANY`` of one array parameter, which a
        thousand-id list costs half as much to send, parse and plan as a thousand parameters."""
        if self._dialect == "postgresql":
            return column == any_(literal(list(values), type_=ARRAY(column.type)))
        return column.in_(list(values))

    # --- preferences ------------------------------------------------------------------------

    def preferences(
        self, tenant_id: str, user_ids: Iterable[str]
    ) -> dict[UserId, NotificationPreferences]:
        wanted = list(dict.fromkeys(user_ids))
        if not wanted:
            return {}
        statement = select(_PREFERENCES).where(
            _PREFERENCES.c.tenant_id == tenant_id,
            self._among(_PREFERENCES.c.user_id, wanted),
        )
        with translated(), self._sessions() as session:
            rows = session.execute(statement).all()
            return {UserId(row.user_id): _prefs_from_row(row) for row in rows if row.version > 0}

    def preferences_of(self, tenant_id: str, user_id: str) -> NotificationPreferences:
        """Stored choices, or the defaults (every kind, nothing muted) for someone new."""
        found = self.preferences(tenant_id, [user_id]).get(UserId(user_id))
        return found or NotificationPreferences(
            tenant_id=TenantId(tenant_id), user_id=UserId(user_id)
        )

    def save_preferences(self, preferences: NotificationPreferences) -> None:
        """Version-checked, like every aggregate; the events are dropped (history of
        preferences is not kept)."""
        if not preferences.pull_events():
            return
        now = self._clock()
        values = {
            "settings": _prefs_to_json(preferences),
            "version": preferences.version + 1,
            "updated_at": now,
        }
        with translated("notification_preferences"), self._sessions() as session, session.begin():
            if preferences.version == 0:
                existing = session.get(
                    NotificationPreferencesRow, (preferences.tenant_id, preferences.user_id)
                )
                if existing is None:
                    session.add(
                        NotificationPreferencesRow(
                            tenant_id=preferences.tenant_id,
                            user_id=preferences.user_id,
                            locale=None,
                            **values,
                        )
                    )
                    preferences.version = 1
                    return
            statement = (
                update(NotificationPreferencesRow)
                .where(
                    NotificationPreferencesRow.tenant_id == preferences.tenant_id,
                    NotificationPreferencesRow.user_id == preferences.user_id,
                    NotificationPreferencesRow.version == preferences.version,
                )
                .values(**values)
            )
            if cast(CursorResult[Any], session.execute(statement)).rowcount != 1:
                raise Conflict("notification_preferences", user_id=preferences.user_id)
            preferences.version += 1

    def set_locale(self, tenant_id: str, user_id: str, locale: str) -> None:
        """The language notifications are written in: the last one the person used."""
        now = self._clock()
        with translated(), self._sessions() as session, session.begin():
            statement = upsert_insert(session, NotificationPreferencesRow).values(
                tenant_id=tenant_id,
                user_id=user_id,
                settings={},
                locale=locale[:20],
                version=0,
                updated_at=now,
            )
            session.execute(
                statement.on_conflict_do_update(
                    index_elements=["tenant_id", "user_id"], set_={"locale": locale[:20]}
                )
            )

    def locales(self, tenant_id: str, user_ids: Iterable[str]) -> dict[str, str]:
        wanted = list(dict.fromkeys(user_ids))
        statement = select(_PREFERENCES.c.user_id, _PREFERENCES.c.locale).where(
            _PREFERENCES.c.tenant_id == tenant_id, self._among(_PREFERENCES.c.user_id, wanted)
        )
        with translated(), self._sessions() as session:
            return {user: locale for user, locale in session.execute(statement) if locale}

    # --- channel subscriptions --------------------------------------------------------------

    def subscribe_channel(
        self,
        *,
        tenant_id: str,
        conversation_id: str,
        target: str,
        service_url: str,
        bot_id: str,
        created_by: str,
    ) -> None:
        """``target`` is ``pipeline:<id>`` or ``tag:<tag>``; subscribing twice is harmless."""
        now = self._clock()
        values = {"service_url": service_url, "bot_id": bot_id, "created_by": created_by}
        with translated("channel_subscription"), self._sessions() as session, session.begin():
            statement = upsert_insert(session, ChannelSubscriptionRow).values(
                tenant_id=tenant_id,
                conversation_id=conversation_id,
                target=target,
                created_at=now,
                **values,
            )
            session.execute(
                statement.on_conflict_do_update(
                    index_elements=["tenant_id", "conversation_id", "target"], set_=values
                )
            )

    def unsubscribe_channel(self, tenant_id: str, conversation_id: str) -> int:
        statement = delete(ChannelSubscriptionRow).where(
            ChannelSubscriptionRow.tenant_id == tenant_id,
            ChannelSubscriptionRow.conversation_id == conversation_id,
        )
        with translated(), self._sessions() as session, session.begin():
            return cast(CursorResult[Any], session.execute(statement)).rowcount

    def channels_for(self, tenant_id: str, targets: Iterable[str]) -> list[tuple[str, str]]:
        """(conversation id, subscriber) of the channels that hear about any of ``targets``."""
        wanted = list(dict.fromkeys(targets))
        statement = (
            select(ChannelSubscriptionRow.conversation_id, ChannelSubscriptionRow.created_by)
            .where(
                ChannelSubscriptionRow.tenant_id == tenant_id,
                ChannelSubscriptionRow.target.in_(wanted),
            )
            .order_by(ChannelSubscriptionRow.conversation_id)
        )
        with translated(), self._sessions() as session:
            found: dict[str, str] = {}
            for conversation_id, created_by in session.execute(statement):
                found.setdefault(conversation_id, created_by)
            return list(found.items())

    def channel(self, tenant_id: str, conversation_id: str) -> tuple[str, str, str] | None:
        """(service URL, bot id, subscriber) to post into a subscribed channel."""
        statement = (
            select(
                ChannelSubscriptionRow.service_url,
                ChannelSubscriptionRow.bot_id,
                ChannelSubscriptionRow.created_by,
            )
            .where(
                ChannelSubscriptionRow.tenant_id == tenant_id,
                ChannelSubscriptionRow.conversation_id == conversation_id,
            )
            .limit(1)
        )
        with translated(), self._sessions() as session:
            row = session.execute(statement).first()
            return (row[0], row[1], row[2]) if row else None

    # --- fan-out ----------------------------------------------------------------------------

    def fan_out(
        self,
        *,
        tenant_id: str,
        outbox_id: int,
        worker_id: str,
        entries: Iterable[NewNotification],
        window: timedelta,
    ) -> bool:
        """Write the notifications of one outbox event and settle the event, atomically.

        False when the event's lease was lost (another worker owns it now): nothing written.
        """
        now = self._clock()
        with translated("notification"), self._sessions() as session, session.begin():
            settled = session.execute(
                update(OutboxRow)
                .where(
                    OutboxRow.id == outbox_id,
                    OutboxRow.status == OutboxStatus.PROCESSING.value,
                    OutboxRow.locked_by == worker_id,
                )
                .values(
                    status=OutboxStatus.DONE.value, locked_by=None, locked_until=None, done_at=now
                )
                .execution_options(synchronize_session=False)
            )
            if cast(CursorResult[Any], settled).rowcount != 1:
                return False
            self._write(session, tenant_id, list(entries), window, now)
        return True

    @staticmethod
    def _key(entry: NewNotification) -> str:
        return f"{entry.lead_id}:{entry.actor_id or '-'}:{entry.recipient_id}"

    def _latest(self, session: Session, tenant_id: str, keys: set[str]) -> dict[str, _Group]:
        """The newest row of each group key, in one query (a change followed by a thousand
        people must not look up a thousand groups one by one); locked on PostgreSQL so a
        worker claiming it waits until this fan-out has added its change."""
        if not keys:
            return {}
        newest = (
            select(func.max(_NOTIFICATIONS.c.id))
            .where(
                _NOTIFICATIONS.c.tenant_id == tenant_id,
                self._among(_NOTIFICATIONS.c.group_key, keys),
            )
            .group_by(_NOTIFICATIONS.c.group_key)
        )
        query = select(
            _NOTIFICATIONS.c.id,
            _NOTIFICATIONS.c.group_key,
            _NOTIFICATIONS.c.status,
            _NOTIFICATIONS.c.changes,
            _NOTIFICATIONS.c.first_event_at,
        ).where(_NOTIFICATIONS.c.id.in_(newest))
        if self._dialect == "postgresql":
            query = query.with_for_update()
        return {
            row.group_key: _Group(
                status=row.status,
                changes=list(row.changes),
                first_event_at=row.first_event_at,
                row_id=row.id,
            )
            for row in session.execute(query)
        }

    def _write(
        self,
        session: Session,
        tenant_id: str,
        entries: list[NewNotification],
        window: timedelta,
        now: datetime,
    ) -> None:
        """Each entry joins the card still waiting for its group, or becomes a new card (one
        that replaces the card already sent, when the group's burst is still going)."""
        groups = self._latest(session, tenant_id, {self._key(e) for e in entries if e.grouped})
        appended: dict[int, list[dict[str, Any]]] = {}
        new_rows: list[dict[str, Any]] = []
        waiting = {NotificationStatus.PENDING.value, NotificationStatus.WAITING.value}
        gone = {NotificationStatus.SENT.value, NotificationStatus.PROCESSING.value}
        for entry in entries:
            key = self._key(entry)
            latest = groups.get(key) if entry.grouped else None
            row: dict[str, Any]
            if latest is not None and latest.first_event_at >= entry.at - window:
                if latest.status in waiting:
                    latest.changes = [*latest.changes, entry.change]
                    if latest.new_row is not None:
                        latest.new_row["changes"] = latest.changes
                    elif latest.row_id is not None:
                        appended[latest.row_id] = latest.changes
                    continue
                if latest.status in gone:
                    row = self._row(
                        tenant_id,
                        entry,
                        key,
                        now,
                        changes=[*latest.changes, entry.change],
                        first_event_at=latest.first_event_at,
                        replaces_id=latest.row_id,
                    )
                    new_rows.append(row)
                    groups[key] = _Group(
                        status=row["status"],
                        changes=row["changes"],
                        first_event_at=row["first_event_at"],
                        new_row=row,
                    )
                    continue
            row = self._row(
                tenant_id, entry, key, now, changes=[entry.change], first_event_at=entry.at
            )
            new_rows.append(row)
            if entry.grouped:
                groups[key] = _Group(
                    status=row["status"],
                    changes=row["changes"],
                    first_event_at=row["first_event_at"],
                    new_row=row,
                )
        if appended:
            session.execute(
                _APPEND, [{"row_id": i, "v_changes": changes} for i, changes in appended.items()]
            )
        if new_rows:
            session.execute(insert(_NOTIFICATIONS), new_rows)

    @staticmethod
    def _row(
        tenant_id: str,
        entry: NewNotification,
        key: str,
        now: datetime,
        *,
        changes: list[dict[str, Any]],
        first_event_at: datetime,
        replaces_id: int | None = None,
    ) -> dict[str, Any]:
        return {
            "tenant_id": tenant_id,
            "recipient_id": entry.recipient_id,
            "lead_id": entry.lead_id,
            "actor_id": entry.actor_id,
            "group_key": key,
            "changes": changes,
            "status": NotificationStatus.PENDING.value,
            "attempts": 0,
            "available_at": now,
            "first_event_at": first_event_at,
            "created_at": now,
            "replaces_id": replaces_id,
        }

    def queue_due_reminders(self, *, limit: int = 100) -> int:
        """Due reminders become notifications for their assignee, once: ``notified_at`` is set
        in the same transaction (PostgreSQL workers skip the rows another one holds)."""
        now = self._clock()
        due = (
            select(ReminderRow)
            .where(
                ReminderRow.done.is_(False),
                ReminderRow.notified_at.is_(None),
                ReminderRow.due_at <= now,
            )
            .order_by(ReminderRow.due_at)
            .limit(limit)
        )
        if self._dialect == "postgresql":
            due = due.with_for_update(skip_locked=True)
        with translated("reminder"), self._sessions() as session, session.begin():
            reminders = session.scalars(due).all()
            for reminder in reminders:
                change = {
                    "event": "lead.reminder_due",
                    "text": reminder.text,
                    "due_at": reminder.due_at.isoformat(),
                }
                entry = NewNotification(
                    recipient_id=UserId(reminder.assignee_id),
                    lead_id=LeadId(reminder.lead_id),
                    actor_id=UserId(reminder.created_by) if reminder.created_by else None,
                    change=change,
                    at=now,
                    grouped=False,
                )
                key = f"reminder:{reminder.id}"
                session.add(
                    NotificationRow(
                        **self._row(
                            reminder.tenant_id,
                            entry,
                            key,
                            now,
                            changes=[change],
                            first_event_at=now,
                        )
                    )
                )
                reminder.notified_at = now
            return len(reminders)

    # --- delivery ---------------------------------------------------------------------------

    def _claimable(self, now: datetime) -> Any:
        return or_(
            and_(
                NotificationRow.status == NotificationStatus.PENDING.value,
                NotificationRow.available_at <= now,
            ),
            and_(
                NotificationRow.status == NotificationStatus.PROCESSING.value,
                NotificationRow.locked_until < now,
            ),
        )

    def claim(self, worker_id: str, *, limit: int, lease: timedelta) -> list[NotificationJob]:
        now = self._clock()
        candidates = (
            select(NotificationRow.id)
            .where(self._claimable(now))
            .order_by(NotificationRow.id)
            .limit(limit)
        )
        if self._dialect == "postgresql":
            candidates = candidates.with_for_update(skip_locked=True)
        chosen = candidates.cte("chosen").prefix_with("MATERIALIZED", dialect="postgresql")
        # The chosen rows are taken by id alone: they were chosen (and, on PostgreSQL, locked)
        # by this same statement. Repeating the claimable test here made PostgreSQL, which
        # expects one row from a table just filled, compare every chosen id with every
        # claimable row: a thousand-card claim took 150 ms instead of a few.
        claim = (
            update(_NOTIFICATIONS)
            .where(_NOTIFICATIONS.c.id.in_(select(chosen.c.id)))
            .values(
                status=NotificationStatus.PROCESSING.value,
                locked_by=worker_id,
                locked_until=now + lease,
                attempts=_NOTIFICATIONS.c.attempts + 1,
            )
            .returning(*(_NOTIFICATIONS.c[name] for name in _JOB_COLUMNS))
        )
        with translated("notification"), self._sessions() as session, session.begin():
            rows = session.execute(claim).all()
            if not rows:
                return []
            replaced_ids = {row.replaces_id for row in rows if row.replaces_id is not None}
            replaced = (
                {
                    row.id: row
                    for row in session.execute(
                        select(
                            _NOTIFICATIONS.c.id,
                            _NOTIFICATIONS.c.status,
                            _NOTIFICATIONS.c.conversation_id,
                            _NOTIFICATIONS.c.activity_id,
                        ).where(_NOTIFICATIONS.c.id.in_(replaced_ids))
                    ).all()
                }
                if replaced_ids
                else {}
            )
            jobs = []
            for row in sorted(rows, key=lambda r: r.id):
                previous = replaced.get(row.replaces_id) if row.replaces_id else None
                jobs.append(
                    NotificationJob(
                        id=row.id,
                        tenant_id=TenantId(row.tenant_id),
                        recipient_id=UserId(row.recipient_id),
                        lead_id=LeadId(row.lead_id),
                        actor_id=UserId(row.actor_id) if row.actor_id else None,
                        changes=list(row.changes),
                        attempts=row.attempts,
                        first_event_at=row.first_event_at,
                        replaces_conversation_id=previous.conversation_id if previous else None,
                        replaces_activity_id=previous.activity_id if previous else None,
                        replaces_pending=bool(
                            previous is not None
                            and previous.status == NotificationStatus.PROCESSING.value
                        ),
                    )
                )
            return jobs

    def extend_lease(self, worker_id: str, ids: Sequence[int], lease: timedelta) -> int:
        """Keep the rows this worker is still delivering: a batch may outlast one lease (rate
        limits, a slow connector); a dead worker stops extending and its rows come free."""
        if not ids:
            return 0
        statement = (
            update(_NOTIFICATIONS)
            .where(self._among(_NOTIFICATIONS.c.id, ids), _held_by(worker_id))
            .values(locked_until=self._clock() + lease)
        )
        with translated("notification"), self._sessions() as session, session.begin():
            return cast(CursorResult[Any], session.execute(statement)).rowcount

    def settle(self, worker_id: str, settlements: Sequence[Settlement]) -> list[bool]:
        """Write how these attempts ended, with one attempt row each, in one transaction; per
        settlement, whether this worker still held the row (a row whose lease ran out and
        another worker took is left to that worker; the attempt says ``lost_lease``)."""
        if not settlements:
            return []
        now = self._clock()
        with translated("notification"):
            if self._dialect == "postgresql":
                return self._settle_postgresql(worker_id, settlements, now)
            params = []
            for settlement in settlements:
                values = {f"v_{name}": value for name, value in settlement.values.items()}
                if settlement.outcome == "sent":
                    values["v_sent_at"] = now  # the store's clock, as for every other time
                params.append({"settled_id": settlement.job.id, "worker_id": worker_id, **values})
            try:
                return self._settle_sqlite(settlements, params, now, exact=False)
            except _LeaseLost:
                # Some row was taken over: settle one by one to learn which (rare).
                return self._settle_sqlite(settlements, params, now, exact=True)

    def _settle_postgresql(
        self, worker_id: str, settlements: Sequence[Settlement], now: datetime
    ) -> list[bool]:
        """Two statements whatever the count: the outcomes go as one array per column
        (``unnest``), and the update returns the rows this worker still held."""
        columns: dict[str, list[Any]] = {name: [] for name in _SETTLED}
        for settlement in settlements:
            values = settlement.values
            for name, items in columns.items():
                items.append(values.get(name))
            if settlement.outcome == "sent":
                columns["sent_at"][-1] = now
        params: dict[str, Any] = {f"a_{name}": items for name, items in columns.items()}
        params.update(a_id=[s.job.id for s in settlements], worker_id=worker_id)
        with self._sessions() as session, session.begin():
            held = set(session.scalars(_pg_settle_statement(), params))
            settled = [s.job.id in held for s in settlements]
            rows = self._attempt_rows(settlements, settled, now)
            attempts = {f"a_{name}": [row[name] for row in rows] for name in _ATTEMPTED}
            session.execute(_pg_attempts_statement(), {**attempts, "at": now})
        return settled

    def _settle_sqlite(
        self,
        settlements: Sequence[Settlement],
        params: list[dict[str, Any]],
        now: datetime,
        *,
        exact: bool,
    ) -> list[bool]:
        with self._sessions() as session, session.begin():
            if exact:
                # One statement per row: each rowcount says whether that row was still held.
                settled = [
                    cast(
                        CursorResult[Any], session.execute(_settle_statement(_shape(p)), p)
                    ).rowcount
                    == 1
                    for p in params
                ]
            else:
                # SQLite runs in-process: one executemany per kind of outcome, counted; every
                # row still held is the usual case, and anything else is redone row by row.
                by_shape: dict[tuple[str, ...], list[dict[str, Any]]] = defaultdict(list)
                for row in params:
                    by_shape[_shape(row)].append(row)
                updated = sum(
                    cast(
                        CursorResult[Any], session.execute(_settle_statement(names), rows)
                    ).rowcount
                    for names, rows in by_shape.items()
                )
                if updated != len(settlements):
                    raise _LeaseLost
                settled = [True] * len(settlements)
            session.execute(insert(_ATTEMPTS), self._attempt_rows(settlements, settled, now))
        return settled

    @staticmethod
    def _attempt_rows(
        settlements: Sequence[Settlement], settled: list[bool], now: datetime
    ) -> list[dict[str, Any]]:
        return [
            {
                "notification_id": s.job.id,
                "tenant_id": s.job.tenant_id,
                "at": now,
                "outcome": s.outcome if held_it else LOST_LEASE,
                "status_code": s.status_code,
                "detail": ((s.detail or "") if held_it else f"{s.outcome}: {s.detail or ''}")[:2000]
                or None,
            }
            for s, held_it in zip(settlements, settled, strict=True)
        ]

    def personal_chats(self, tenant_id: str, user_ids: Iterable[str]) -> dict[str, ConversationRef]:
        """Each person's active 1:1 chat with the bot (the most recently heard from), for a
        whole batch of recipients in one query (``ConversationReferences.personal_for_user``
        answers for one). Only what a send needs is read: ``updated_at`` is left out."""
        wanted = list(dict.fromkeys(user_ids))
        if not wanted:
            return {}
        r = _REFERENCES
        statement = (
            select(
                r.c.aad_object_id,
                r.c.conversation_id,
                r.c.service_url,
                r.c.channel_id,
                r.c.bot_id,
                r.c.user_id,
            )
            .where(
                r.c.tenant_id == tenant_id,
                self._among(r.c.aad_object_id, wanted),
                r.c.conversation_type == ConversationType.PERSONAL.value,
                r.c.active.is_(True),
            )
            .order_by(r.c.updated_at)
        )
        with translated(), self._sessions() as session:
            # Ascending: the latest reference of each person is the one kept.
            return {
                row.aad_object_id: ConversationRef(
                    conversation_id=row.conversation_id,
                    conversation_type=ConversationType.PERSONAL,
                    service_url=row.service_url,
                    channel_id=row.channel_id,
                    bot_id=row.bot_id,
                    user_id=row.user_id,
                    aad_object_id=row.aad_object_id,
                )
                for row in session.execute(statement).all()
            }

    def wake(self, tenant_id: str, user_id: str) -> int:
        """The person can be reached now: their waiting notifications go out."""
        statement = (
            update(NotificationRow)
            .where(
                NotificationRow.tenant_id == tenant_id,
                NotificationRow.recipient_id == user_id,
                NotificationRow.status == NotificationStatus.WAITING.value,
            )
            .values(status=NotificationStatus.PENDING.value, available_at=self._clock())
            .execution_options(synchronize_session=False)
        )
        with translated(), self._sessions() as session, session.begin():
            return cast(CursorResult[Any], session.execute(statement)).rowcount

    def purge_settled(self, before: datetime) -> int:
        """Forget cards sent or given up on before ``before``, with their attempts: one row per
        person per burst of changes, kept for ever otherwise. A card still waiting that was
        to update a forgotten one posts a new card instead (as for a card deleted in Teams).
        ``available_at`` comes before ``sent_at``, so the status index narrows the rows."""
        settled = (
            _NOTIFICATIONS.c.status.in_(
                [NotificationStatus.SENT.value, NotificationStatus.UNDELIVERABLE.value]
            ),
            _NOTIFICATIONS.c.available_at < before,
            func.coalesce(_NOTIFICATIONS.c.sent_at, _NOTIFICATIONS.c.available_at) < before,
        )
        old = select(_NOTIFICATIONS.c.id).where(*settled)
        attempts = delete(NotificationAttemptRow).where(
            NotificationAttemptRow.notification_id.in_(old)
        )
        cards = delete(NotificationRow).where(*settled)
        with translated("notification"), self._sessions() as session, session.begin():
            session.execute(attempts.execution_options(synchronize_session=False))
            result = session.execute(cards.execution_options(synchronize_session=False))
            return cast(CursorResult[Any], result).rowcount

    # --- inspection -------------------------------------------------------------------------

    def counts(self) -> dict[str, int]:
        statement = select(NotificationRow.status, func.count()).group_by(NotificationRow.status)
        with translated(), self._sessions() as session:
            return {status: int(count) for status, count in session.execute(statement)}

    def for_recipient(self, tenant_id: str, user_id: str) -> list[Mapping[str, Any]]:
        statement = (
            select(_NOTIFICATIONS)
            .where(
                _NOTIFICATIONS.c.tenant_id == tenant_id, _NOTIFICATIONS.c.recipient_id == user_id
            )
            .order_by(_NOTIFICATIONS.c.id)
        )
        with translated(), self._sessions() as session:
            return [
                {
                    "id": row.id,
                    "status": row.status,
                    "changes": row.changes,
                    "attempts": row.attempts,
                    "replaces_id": row.replaces_id,
                    "activity_id": row.activity_id,
                }
                for row in session.execute(statement).all()
            ]

    def attempts(self, notification_id: int) -> list[tuple[str, int | None]]:
        statement = (
            select(NotificationAttemptRow.outcome, NotificationAttemptRow.status_code)
            .where(NotificationAttemptRow.notification_id == notification_id)
            .order_by(NotificationAttemptRow.id)
        )
        with translated(), self._sessions() as session:
            return [(outcome, code) for outcome, code in session.execute(statement)]
