"""SQLite write transactions one at a time within a process, each handed the turn in order.

SQLite lets one writer in at a time; the others wait in its busy handler, which sleeps 1, 2, 5
... 100 ms between tries, so a writer can sleep far longer than the transaction ahead of it
took. Within one process, connections to a file queue for the turn instead, and the commit or
rollback that ends a write transaction wakes the next writer at once. Write transactions begin
with BEGIN IMMEDIATE, so one never fails late on upgrading its lock. Other processes on the
same file still meet SQLite's own lock and its busy timeout.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any, Self, TypeVar, cast, overload
from weakref import WeakValueDictionary

_C = TypeVar("_C", bound=sqlite3.Cursor)

logger = logging.getLogger(__name__)

# The statements pysqlite opens a transaction for, when it is left to (legacy handling).
_WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE")


class WriteTurns:
    """A first-come, first-served lock: ``release`` hands the turn to the longest waiter,
    which wakes at once; no one polls."""

    def __init__(self) -> None:
        self._mutex = threading.Lock()
        self._waiting: deque[threading.Lock] = deque()
        self._taken = False

    def acquire(self, timeout: float) -> bool:
        with self._mutex:
            if not self._taken:
                self._taken = True
                return True
            waiter = threading.Lock()
            waiter.acquire()
            self._waiting.append(waiter)
        if waiter.acquire(timeout=timeout):
            return True
        with self._mutex:
            if waiter in self._waiting:
                self._waiting.remove(waiter)
                return False
        return True  # handed over between the timeout and the mutex: ours after all

    def release(self) -> None:
        """From any thread: a connection may be rolled back by whoever returns it."""
        with self._mutex:
            if self._waiting:
                self._waiting.popleft().release()  # still taken: now by that waiter
            else:
                self._taken = False


# One queue per database file in this process, whichever engine its connections come from.
_TURNS: WeakValueDictionary[str, WriteTurns] = WeakValueDictionary()
_TURNS_MUTEX = threading.Lock()


def turns_for(path: str) -> WriteTurns:
    key = os.path.realpath(path)
    with _TURNS_MUTEX:
        turns = _TURNS.get(key)
        if turns is None:
            turns = _TURNS[key] = WriteTurns()
        return turns


class SerializedConnection(sqlite3.Connection):
    """A pysqlite connection that waits for its process's turn before it writes.

    The turn is taken where a write transaction begins: an explicit BEGIN, or the first INSERT,
    UPDATE, DELETE or REPLACE outside a transaction (begun here with BEGIN IMMEDIATE rather
    than pysqlite's deferred BEGIN). It is given back as soon as no transaction is open after
    a statement, a commit, a rollback or a close. In autocommit (``isolation_level`` None)
    single statements are not serialized, nor is ``executescript``: nothing writes that way.
    """

    turns: WriteTurns
    wait_seconds: float

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._has_turn = False

    @overload
    def cursor(self, factory: None = None) -> sqlite3.Cursor: ...
    @overload
    def cursor(self, factory: Callable[[sqlite3.Connection], _C]) -> _C: ...
    def cursor(self, factory: Any = None) -> Any:
        return super().cursor(factory or _Cursor)

    # The shortcuts too: pysqlite's own would make a cursor without the factory above.
    def execute(self, sql: str, parameters: Any = (), /) -> sqlite3.Cursor:
        return self.cursor().execute(sql, parameters)

    def executemany(self, sql: str, seq_of_parameters: Iterable[Any], /) -> sqlite3.Cursor:
        return self.cursor().executemany(sql, seq_of_parameters)

    def before(self, cursor: sqlite3.Cursor, sql: str) -> None:
        """Take the turn if ``sql`` begins a write transaction."""
        if self._has_turn or self.in_transaction:
            return
        head = sql.lstrip()[:7].upper()
        begins = head.startswith("BEGIN")
        implicit = not begins and self.isolation_level is not None and head.startswith(_WRITES)
        if not (begins or implicit):
            return
        if not self.turns.acquire(self.wait_seconds):
            # What SQLite says when its busy timeout runs out: translated to a Conflict.
            raise sqlite3.OperationalError("database is locked")
        self._has_turn = True
        if implicit:
            sqlite3.Cursor.execute(cursor, "BEGIN IMMEDIATE")

    def after(self) -> None:
        """Give the turn back once no transaction is open (SQLite may also have ended one
        by itself after an error)."""
        if self._has_turn and not self.in_transaction:
            self._has_turn = False
            self.turns.release()

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            self.after()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self.after()

    def close(self) -> None:
        try:
            super().close()
        finally:
            if self._has_turn:
                self._has_turn = False
                self.turns.release()


class _Cursor(sqlite3.Cursor):
    def execute(self, sql: str, parameters: Any = (), /) -> Self:
        connection = cast(SerializedConnection, self.connection)
        try:
            connection.before(self, sql)
            return super().execute(sql, parameters)
        finally:
            connection.after()

    def executemany(self, sql: str, seq_of_parameters: Iterable[Any], /) -> Self:
        connection = cast(SerializedConnection, self.connection)
        try:
            connection.before(self, sql)
            return super().executemany(sql, seq_of_parameters)
        finally:
            connection.after()


def serialized_connections(path: str, wait_seconds: float) -> type[SerializedConnection]:
    """The ``factory`` for ``sqlite3.connect``: connections to ``path`` that take turns, each
    waiting at most ``wait_seconds`` (like SQLite's busy timeout) before 'database is locked'."""
    return cast(
        type[SerializedConnection],
        type(
            "SerializedConnection",
            (SerializedConnection,),
            {"turns": turns_for(path), "wait_seconds": wait_seconds},
        ),
    )


class Checkpointer:
    """Copies the write-ahead log back into the database file from a thread of its own.

    Left to SQLite, the commit that takes the log past 1,000 pages does it: under load that is
    a write turn every second or so that also copies 4 MB into the file and syncs it, while
    the turns queued behind it wait. Here a PASSIVE checkpoint runs every ``interval`` seconds
    beside the writers (it never waits for them, nor they for it; SQLite's C code runs without
    the GIL), and writers restart the log from its beginning once it has all been copied.
    Connections that leave checkpoints to this thread set ``PRAGMA wal_autocheckpoint=0``.
    """

    def __init__(self, path: str, interval: float = 1.0) -> None:
        self.path = path
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name="teamcrm-sqlite-checkpoint", daemon=True
        )
        self._thread.start()

    def checkpoint(self, connection: sqlite3.Connection) -> None:
        try:
            connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        except sqlite3.Error as error:  # the next round tries again
            logger.warning("SQLite checkpoint failed: %s", error)

    def _run(self) -> None:
        connection = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        try:
            while not self._stop.wait(self.interval):
                self.checkpoint(connection)
            self.checkpoint(connection)  # what the last writes left, before the file is closed
        finally:
            connection.close()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def running(self) -> bool:
        return self._thread.is_alive()
