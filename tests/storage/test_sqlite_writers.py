"""SQLite writers in one process take turns for the write lock rather than meet SQLite's: with
its busy timeout at zero, any two that met would fail at once with 'database is locked'."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, text

from domain.services import CRM
from storage.database import Database
from storage.sqlite import WriteTurns, serialized_connections, turns_for
from tests.storage.conftest import ADMIN, ALICE, BOB, TENANT

WRITERS = 12
ROUNDS = 4


@pytest.fixture
def impatient(database: Database) -> Iterator[Database]:
    """SQLite's own busy handler off: a writer that meets another's lock fails at once."""
    if database.dialect != "sqlite":
        yield database
        return

    def no_busy_wait(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.execute("PRAGMA busy_timeout=0")

    database.engine.dispose()  # connections made from now on get the listener
    event.listen(database.engine, "connect", no_busy_wait)
    yield database
    event.remove(database.engine, "connect", no_busy_wait)


def test_concurrent_writers_in_one_process_all_commit(crm: CRM, impatient: Database) -> None:
    """Use cases (new leads on the shared counter, stage changes, comments) and bot state
    written from many threads at once: every one commits, none meets a Conflict or a storage
    error (on PostgreSQL too, where the rows are different and nobody waits)."""
    stages = [stage.id for stage in crm.pipelines(TENANT)[0].stages]
    state = impatient.key_value_store(TENANT)
    start = threading.Barrier(WRITERS)

    def work(index: int) -> list[int]:
        actor = (ADMIN, ALICE, BOB)[index % 3]
        start.wait()
        numbers = []
        for round_ in range(ROUNDS):
            lead = crm.create_lead(TENANT, actor, title=f"Deal {index}.{round_}")
            crm.change_stage(TENANT, actor, lead.id, stages[1 + round_ % 3])
            crm.comment(TENANT, actor, lead.id, "on it")
            state.write({f"writer-{index}": ({"round": round_}, "*")})
            numbers.append(lead.number)
        return numbers

    with ThreadPoolExecutor(max_workers=WRITERS) as pool:
        numbers = sorted(n for mine in pool.map(work, range(WRITERS)) for n in mine)
    assert numbers == list(range(1, WRITERS * ROUNDS + 1))


def test_turns_are_handed_over_in_arrival_order() -> None:
    turns = WriteTurns()
    assert turns.acquire(timeout=1)
    order: list[int] = []

    def wait_for_turn(index: int) -> None:
        assert turns.acquire(timeout=10)
        order.append(index)
        turns.release()

    threads = []
    for index in range(5):
        thread = threading.Thread(target=wait_for_turn, args=(index,))
        thread.start()
        threads.append(thread)
        time.sleep(0.02)  # queued one after another
    turns.release()
    for thread in threads:
        thread.join(timeout=10)
    assert order == [0, 1, 2, 3, 4]
    assert turns.acquire(timeout=0)


def test_a_writer_that_waits_too_long_is_told_the_database_is_locked(tmp_path: Path) -> None:
    """Like SQLite's busy timeout: a Conflict for the caller, not a hang."""
    path = str(tmp_path / "turns.db")
    factory = serialized_connections(path, wait_seconds=0.05)
    first = sqlite3.connect(path, factory=factory, check_same_thread=False)
    second = sqlite3.connect(path, factory=factory, check_same_thread=False)
    try:
        first.execute("CREATE TABLE t (x INTEGER)")
        first.execute("INSERT INTO t VALUES (1)")  # begins: the turn is first's
        with pytest.raises(sqlite3.OperationalError, match="database is locked"):
            second.execute("INSERT INTO t VALUES (2)")
        first.commit()
        second.execute("INSERT INTO t VALUES (2)")
        second.commit()
        assert second.execute("SELECT count(*) FROM t").fetchone() == (2,)
    finally:
        first.close()
        second.close()


@pytest.mark.parametrize(
    "end",
    ["commit", "rollback", "close", "COMMIT", "ROLLBACK", "failed statement"],
)
def test_the_turn_is_given_back_whenever_the_transaction_ends(tmp_path: Path, end: str) -> None:
    path = str(tmp_path / "turns.db")
    connection = sqlite3.connect(path, factory=serialized_connections(path, wait_seconds=5))
    connection.execute("CREATE TABLE t (x INTEGER PRIMARY KEY)")
    turns = turns_for(path)
    for begin in ("INSERT INTO t VALUES (1)", "BEGIN IMMEDIATE"):
        connection.execute(begin)
        assert connection.in_transaction
        assert not turns.acquire(timeout=0)  # taken by the open write transaction
        if end in ("commit", "rollback"):
            getattr(connection, end)()
        elif end in ("COMMIT", "ROLLBACK"):
            connection.execute(end)
        elif end == "failed statement":
            connection.rollback()
            connection.execute("BEGIN IMMEDIATE")
            with pytest.raises(sqlite3.OperationalError):
                connection.execute("ROLLBACK TO no_such_savepoint")
            connection.rollback()
        else:
            connection.close()
            connection = sqlite3.connect(path, factory=serialized_connections(path, 5))
        assert turns.acquire(timeout=0)
        turns.release()
    connection.close()


def test_engines_on_one_file_share_its_turns(tmp_path: Path) -> None:
    path = tmp_path / "shared.db"
    first, second = Database(f"sqlite:///{path}"), Database(f"sqlite:///{path}")
    try:
        first.upgrade()
        with first.engine.connect() as one, second.engine.connect() as other:
            one.execute(text("DELETE FROM processed_activities"))  # a write transaction
            turns = turns_for(str(path))
            assert not turns.acquire(timeout=0)
            one.commit()
            other.execute(text("DELETE FROM processed_activities"))
            assert not turns.acquire(timeout=0)
            other.rollback()
            assert turns.acquire(timeout=0)
            turns.release()
    finally:
        first.dispose()
        second.dispose()
