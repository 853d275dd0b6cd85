"""Activity ids already applied, so a redelivered activity (Teams retries) is applied once."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, delete
from sqlalchemy.orm import Session, sessionmaker

from storage.dialects import upsert_insert
from storage.errors import translated
from storage.rows import ProcessedActivityRow


class ProcessedActivities:
    def __init__(
        self, sessions: sessionmaker[Session], tenant_id: str, clock: Callable[[], datetime]
    ) -> None:
        self._sessions = sessions
        self._tenant_id = tenant_id
        self._clock = clock

    def claim(self, activity_id: str) -> bool:
        """True for the first caller only: the insert is the lock, so two workers racing on the
        same redelivery cannot both win."""
        with translated("activity"), self._sessions() as session, session.begin():
            statement = (
                upsert_insert(session, ProcessedActivityRow)
                .values(
                    tenant_id=self._tenant_id, activity_id=activity_id, processed_at=self._clock()
                )
                .on_conflict_do_nothing(index_elements=["tenant_id", "activity_id"])
                .returning(ProcessedActivityRow.activity_id)
            )
            # RETURNING, not rowcount: psycopg reports no rowcount for a skipped conflict.
            return session.execute(statement).first() is not None


def purge_processed_activities(sessions: sessionmaker[Session], before: datetime) -> int:
    """Forget ids older than ``before`` (in every tenant); Teams redelivers within minutes."""
    statement = delete(ProcessedActivityRow).where(ProcessedActivityRow.processed_at < before)
    with translated(), sessions() as session, session.begin():
        result = session.execute(statement.execution_options(synchronize_session=False))
        return cast(CursorResult[Any], result).rowcount
