"""A long-lived process copies SQLite's write-ahead log back from a thread of its own, so no
turn's commit pays for the copy and its sync (storage.sqlite.Checkpointer)."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

from sqlalchemy import text

from domain.services import CRM
from storage.database import Database
from storage.sqlite import Checkpointer
from tests.storage.conftest import ALICE, TENANT

THREAD = "teamcrm-sqlite-checkpoint"


def _checkpointers() -> int:
    return sum(t.name == THREAD for t in threading.enumerate())


def _autocheckpoint(database: Database) -> int:
    with database.engine.connect() as connection:
        return int(connection.execute(text("PRAGMA wal_autocheckpoint")).scalar_one())


def _wal_frames(path: Path) -> tuple[int, int] | None:
    """(frames in the log, frames copied back) as a checkpoint reports them; None while the
    thread's own checkpoint is running (SQLite then answers busy, -1, -1)."""
    with sqlite3.connect(path) as connection:
        busy, log, copied = connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    return None if busy else (int(log), int(copied))


def test_writers_leave_checkpoints_to_the_thread_which_copies_the_log_back(
    tmp_path: Path,
) -> None:
    path = tmp_path / "crm.db"
    database = Database(f"sqlite:///{path}")
    database.upgrade()
    assert _autocheckpoint(database) == 1000  # SQLite's default: the committing turn copies
    before = _checkpointers()
    try:
        assert database.checkpoint_in_background(interval=0.05)
        assert _checkpointers() == before + 1
        assert _autocheckpoint(database) == 0
        crm = CRM(database.uow)
        crm.register_user(TENANT, ALICE, display_name="Alice", email="alice@example.com")
        leads = [crm.create_lead(TENANT, ALICE, title=f"Lead {n}") for n in range(30)]
        deadline = time.monotonic() + 10
        frames = _wal_frames(path)
        while (frames is None or frames[0] != frames[1]) and time.monotonic() < deadline:
            time.sleep(0.05)
            frames = _wal_frames(path)
        assert frames is not None
        log, copied = frames
        assert log > 0
        assert copied == log  # everything written is in the database file too
    finally:
        database.dispose()
    assert _checkpointers() == before  # dispose stopped it
    again = Database(f"sqlite:///{path}")
    try:
        assert CRM(again.uow).get_lead(TENANT, ALICE, leads[-1].id).title == "Lead 29"
    finally:
        again.dispose()


def test_nothing_to_do_in_memory() -> None:
    memory = Database("sqlite:///:memory:")
    try:
        assert not memory.checkpoint_in_background()
    finally:
        memory.dispose()


def test_a_failed_checkpoint_is_logged_and_the_thread_goes_on(tmp_path: Path) -> None:
    path = tmp_path / "plain.db"
    sqlite3.connect(path).close()
    checkpointer = Checkpointer(str(path), interval=0.01)
    try:
        broken = sqlite3.connect(path)
        broken.close()
        checkpointer.checkpoint(broken)  # a closed connection: an error, logged, not raised
        time.sleep(0.05)
        assert checkpointer.running
    finally:
        checkpointer.stop()
    assert not checkpointer.running
