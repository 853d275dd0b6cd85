"""A key/value store with e_tags, the plain-Python ground for botbuilder's ``Storage``.

It follows botbuilder's ``MemoryStorage``: a write whose e_tag is ``None`` or ``"*"``
overwrites, a write of a new key succeeds, a write whose e_tag no longer matches raises an
error whose message contains ``Etag conflict`` (the SSO middleware matches that text), and a
read leaves missing keys out. The adapter class itself lives in ``bot/``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, delete, select, update
from sqlalchemy.orm import Session, sessionmaker

from storage.dialects import upsert_insert
from storage.errors import translated
from storage.rows import BotStateRow

ANY_ETAG = "*"


class EtagConflict(Exception):
    """The stored item changed since it was read (or was written by someone else)."""

    def __init__(self, key: str, expected: str, current: str | None) -> None:
        super().__init__(f"Etag conflict. key={key!r} expected={expected!r} current={current!r}")
        self.key = key
        self.expected = expected
        self.current = current


class KeyValueStore:
    """Items under one partition (a tenant id, or a fixed name for state the SDK keys itself)."""

    def __init__(
        self, sessions: sessionmaker[Session], partition: str, clock: Callable[[], datetime]
    ) -> None:
        self._sessions = sessions
        self._partition = partition
        self._clock = clock

    def read(self, keys: Iterable[str]) -> dict[str, tuple[dict[str, Any], str]]:
        """The stored value and e_tag of each key that exists."""
        wanted = list(dict.fromkeys(keys))
        if not wanted:
            return {}
        statement = select(BotStateRow.key, BotStateRow.value, BotStateRow.etag).where(
            BotStateRow.tenant_id == self._partition, BotStateRow.key.in_(wanted)
        )
        with translated(), self._sessions() as session:
            return {key: (value, etag) for key, value, etag in session.execute(statement)}

    def write(self, changes: Mapping[str, tuple[dict[str, Any], str | None]]) -> dict[str, str]:
        """Write every ``key: (value, expected e_tag)`` or none of them; return the new e_tags."""
        written: dict[str, str] = {}
        with translated("bot_state"), self._sessions() as session, session.begin():
            for key, (value, expected) in changes.items():
                if expected == "":
                    raise ValueError("an empty e_tag is not an e_tag: use None or '*'")
                written[key] = self._write_one(session, key, value, expected)
        return written

    def _write_one(
        self, session: Session, key: str, value: dict[str, Any], expected: str | None
    ) -> str:
        etag = uuid.uuid4().hex
        now = self._clock()
        if expected is not None and expected != ANY_ETAG:
            guarded = (
                update(BotStateRow)
                .where(
                    BotStateRow.tenant_id == self._partition,
                    BotStateRow.key == key,
                    BotStateRow.etag == expected,
                )
                .values(value=value, etag=etag, updated_at=now)
                .execution_options(synchronize_session=False)
            )
            if cast(CursorResult[Any], session.execute(guarded)).rowcount == 1:
                return etag
            current = session.execute(
                select(BotStateRow.etag).where(
                    BotStateRow.tenant_id == self._partition, BotStateRow.key == key
                )
            ).scalar_one_or_none()
            if current is not None:
                raise EtagConflict(key, expected, current)
            # Like MemoryStorage: an e_tag on a key that does not exist yet is no conflict.
        statement = upsert_insert(session, BotStateRow).values(
            tenant_id=self._partition, key=key, value=value, etag=etag, updated_at=now
        )
        session.execute(
            statement.on_conflict_do_update(
                index_elements=["tenant_id", "key"],
                set_={"value": value, "etag": etag, "updated_at": now},
            )
        )
        return etag

    def delete(self, keys: Iterable[str]) -> None:
        """Deleting a missing key is not an error (as in MemoryStorage)."""
        wanted = list(dict.fromkeys(keys))
        if not wanted:
            return
        with translated(), self._sessions() as session, session.begin():
            session.execute(
                delete(BotStateRow)
                .where(BotStateRow.tenant_id == self._partition, BotStateRow.key.in_(wanted))
                .execution_options(synchronize_session=False)
            )
