"""Consuming the transactional outbox: claim a batch under a lease, then settle each message.

Rows are written by the unit of work with the change they describe. A worker claims pending
rows (and rows whose lease ran out, so a crashed worker's batch is picked up again), then marks
each done, to retry at a later time, or undeliverable. Settling checks the lease holder, so a
worker whose lease expired cannot settle a message someone else now owns.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, cast

from sqlalchemy import CursorResult, and_, delete, func, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from storage.errors import translated
from storage.rows import OutboxRow

DEFAULT_LEASE = timedelta(seconds=60)


class OutboxStatus(StrEnum):
    PENDING = "pending"
    PROCESSING = "processing"
    DONE = "done"
    UNDELIVERABLE = "undeliverable"


@dataclass(frozen=True, slots=True, kw_only=True)
class OutboxMessage:
    id: int
    tenant_id: str
    event_name: str
    payload: dict[str, Any]
    attempts: int
    created_at: datetime


class Outbox:
    def __init__(
        self, sessions: sessionmaker[Session], dialect: str, clock: Callable[[], datetime]
    ) -> None:
        self._sessions = sessions
        self._dialect = dialect
        self._clock = clock

    def _claimable(self, now: datetime) -> Any:
        return or_(
            and_(OutboxRow.status == OutboxStatus.PENDING.value, OutboxRow.available_at <= now),
            and_(OutboxRow.status == OutboxStatus.PROCESSING.value, OutboxRow.locked_until < now),
        )

    def claim(
        self, worker_id: str, *, limit: int = 50, lease: timedelta = DEFAULT_LEASE
    ) -> list[OutboxMessage]:
        """Oldest first. PostgreSQL skips rows another worker holds (``SKIP LOCKED``); SQLite
        has one writer at a time, so a single UPDATE ... RETURNING is already exclusive."""
        now = self._clock()
        candidates = (
            select(OutboxRow.id).where(self._claimable(now)).order_by(OutboxRow.id).limit(limit)
        )
        if self._dialect == "postgresql":
            candidates = candidates.with_for_update(skip_locked=True)
        # A CTE, evaluated once: as an IN (subquery) PostgreSQL may rescan it while updating,
        # and SKIP LOCKED then hands out more rows than the limit.
        chosen = candidates.cte("chosen").prefix_with("MATERIALIZED", dialect="postgresql")
        claim = (
            update(OutboxRow)
            .where(OutboxRow.id == chosen.c.id, self._claimable(now))
            .values(
                status=OutboxStatus.PROCESSING.value,
                locked_by=worker_id,
                locked_until=now + lease,
                attempts=OutboxRow.attempts + 1,
            )
            .returning(
                OutboxRow.id,
                OutboxRow.tenant_id,
                OutboxRow.event_name,
                OutboxRow.payload,
                OutboxRow.attempts,
                OutboxRow.created_at,
            )
            .execution_options(synchronize_session=False)
        )
        with translated("outbox"), self._sessions() as session, session.begin():
            rows = session.execute(claim).all()
        messages = [
            OutboxMessage(
                id=row.id,
                tenant_id=row.tenant_id,
                event_name=row.event_name,
                payload=row.payload,
                attempts=row.attempts,
                created_at=row.created_at,
            )
            for row in rows
        ]
        return sorted(messages, key=lambda m: m.id)

    def _settle(self, message_id: int, worker_id: str, **values: Any) -> bool:
        statement = (
            update(OutboxRow)
            .where(
                OutboxRow.id == message_id,
                OutboxRow.status == OutboxStatus.PROCESSING.value,
                OutboxRow.locked_by == worker_id,
            )
            .values(locked_by=None, locked_until=None, **values)
            .execution_options(synchronize_session=False)
        )
        with translated("outbox"), self._sessions() as session, session.begin():
            return cast(CursorResult[Any], session.execute(statement)).rowcount == 1

    def mark_done(self, message_id: int, worker_id: str) -> bool:
        """False when the lease was lost: someone else may deliver it again."""
        return self._settle(
            message_id, worker_id, status=OutboxStatus.DONE.value, done_at=self._clock()
        )

    def retry_at(self, message_id: int, worker_id: str, at: datetime, error: str) -> bool:
        return self._settle(
            message_id,
            worker_id,
            status=OutboxStatus.PENDING.value,
            available_at=at,
            last_error=error[:2000],
        )

    def mark_undeliverable(self, message_id: int, worker_id: str, error: str) -> bool:
        """Never retried (a user blocked the bot, a payload the notifier cannot render)."""
        return self._settle(
            message_id,
            worker_id,
            status=OutboxStatus.UNDELIVERABLE.value,
            last_error=error[:2000],
            done_at=self._clock(),
        )

    def purge_settled(self, before: datetime) -> int:
        """Forget messages done or undeliverable before ``before``: the history table keeps
        every event; a settled outbox row is only worth a look while it is recent."""
        statement = (
            delete(OutboxRow)
            .where(
                OutboxRow.status.in_([OutboxStatus.DONE.value, OutboxStatus.UNDELIVERABLE.value]),
                OutboxRow.done_at < before,
            )
            .execution_options(synchronize_session=False)
        )
        with translated("outbox"), self._sessions() as session, session.begin():
            return cast(CursorResult[Any], session.execute(statement)).rowcount

    def counts(self) -> dict[str, int]:
        """Messages per status, for health checks and tests."""
        statement = select(OutboxRow.status, func.count()).group_by(OutboxRow.status)
        with translated(), self._sessions() as session:
            return {status: int(count) for status, count in session.execute(statement)}
