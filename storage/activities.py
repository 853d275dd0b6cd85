"""Activity ids already applied, so a redelivered activity (Teams retries) is applied once.

A message or card action that changes something is claimed inside the change's own
transaction (``claim_on_commit``), so the change and its claim are written together or not at
all. A message that changes nothing is claimed on its own (``ProcessedActivities.claim``) once
its answer is ready, so a redelivery is not answered twice.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any, cast

from sqlalchemy import CursorResult, Engine, Table, bindparam, delete
from sqlalchemy.orm import Session, sessionmaker

from storage.dialects import dialect_insert
from storage.errors import translated
from storage.rows import ProcessedActivityRow


@dataclass(slots=True)
class PendingClaim:
    """An activity id that the next commit of its tenant's unit of work records; ``done`` once
    a commit did, so later commits in the same block leave it alone."""

    tenant_id: str
    activity_id: str
    done: bool = False


# Per thread (and per task): the use case runs synchronously inside the ``with`` block, and
# the units of work it opens find the claim here without the domain passing it along.
_pending: ContextVar[PendingClaim | None] = ContextVar("teamcrm_pending_claim", default=None)


@contextmanager
def claim_on_commit(tenant_id: str, activity_id: str) -> Iterator[PendingClaim]:
    """Within the block, the first successful commit of a ``tenant_id`` unit of work also
    records ``activity_id``; if it was recorded before, that commit writes nothing and raises
    ``domain.errors.AlreadyApplied``."""
    claim = PendingClaim(tenant_id, activity_id)
    token = _pending.set(claim)
    try:
        yield claim
    finally:
        _pending.reset(token)


def pending_claim(tenant_id: str) -> PendingClaim | None:
    """The claim a commit in ``tenant_id`` has to record, if any."""
    claim = _pending.get()
    if claim is None or claim.done or claim.tenant_id != tenant_id:
        return None
    return claim


@cache
def claim_statement(dialect: str) -> Any:
    """Insert the id unless it is there; RETURNING says which happened (psycopg reports no
    rowcount for a skipped conflict). Built once per dialect, values bound at execution."""
    table = cast(Table, ProcessedActivityRow.__table__)
    return (
        dialect_insert(dialect, table)
        .values(
            tenant_id=bindparam("tenant_id"),
            activity_id=bindparam("activity_id"),
            processed_at=bindparam("processed_at", type_=table.c.processed_at.type),
        )
        .on_conflict_do_nothing(index_elements=["tenant_id", "activity_id"])
        .returning(table.c.activity_id)
    )


class ProcessedActivities:
    """``engine``: a unit of work's (``storage.uow.unit_of_work_engine``). On PostgreSQL it
    runs the claim as one statement in autocommit, one round trip instead of three; pysqlite
    opens the write transaction itself (taking the process's write turn)."""

    def __init__(self, engine: Engine, tenant_id: str, clock: Callable[[], datetime]) -> None:
        self._engine = engine
        self._tenant_id = tenant_id
        self._clock = clock

    def claim(self, activity_id: str) -> bool:
        """True for the first caller only: the insert is the lock, so two workers racing on the
        same redelivery cannot both win."""
        statement = claim_statement(self._engine.dialect.name)
        params = {
            "tenant_id": self._tenant_id,
            "activity_id": activity_id,
            "processed_at": self._clock(),
        }
        with translated("activity"), self._engine.connect() as connection:
            claimed = connection.execute(statement, params).first() is not None
            connection.commit()
            return claimed


def purge_processed_activities(sessions: sessionmaker[Session], before: datetime) -> int:
    """Forget ids older than ``before`` (in every tenant); Teams redelivers within minutes."""
    statement = delete(ProcessedActivityRow).where(ProcessedActivityRow.processed_at < before)
    with translated(), sessions() as session, session.begin():
        result = session.execute(statement.execution_options(synchronize_session=False))
        return cast(CursorResult[Any], result).rowcount
