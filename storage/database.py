"""The one object the composition root builds: engine, sessions, migrations and factories.

Everything here is synchronous on purpose. The bot runs use cases with ``asyncio.to_thread``,
so database I/O never blocks the event loop while the domain stays plain, testable Python.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, select
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.orm import sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry

from domain.ids import TenantId
from storage.activities import ProcessedActivities, purge_processed_activities
from storage.conversations import ConversationReferences
from storage.errors import StorageUnavailable, translated
from storage.kv import KeyValueStore
from storage.notifications import NotificationStore
from storage.outbox import Outbox
from storage.queries import SqlQueries
from storage.sqlite import Checkpointer, serialized_connections
from storage.uow import SqlUnitOfWork, unit_of_work_engine

logger = logging.getLogger(__name__)

DATABASE_URL_ENV = "TEAMCRM_DATABASE_URL"
AUTO_MIGRATE_ENV = "TEAMCRM_AUTO_MIGRATE"
DEFAULT_SQLITE_FILE = "teamcrm.db"
SQLITE_BUSY_TIMEOUT_MS = 5000


def normalize_url(raw: str | URL | None) -> URL:
    """Accept the URLs people write and pick our drivers: stdlib sqlite3 and psycopg 3.

    A relative SQLite path is made absolute against the working directory, so the file does not
    move when something later changes directory.
    """
    if raw is None or raw == "":
        raw = f"sqlite:///{Path.cwd() / DEFAULT_SQLITE_FILE}"
    try:
        url = make_url(raw) if isinstance(raw, str) else raw
    except ArgumentError:
        raise ValueError("not a database URL (use sqlite:///path or postgresql://...)") from None
    backend = url.get_backend_name()
    if backend in {"postgres", "postgresql"}:
        return url.set(drivername="postgresql+psycopg")
    if backend == "sqlite":
        url = url.set(drivername="sqlite+pysqlite")
        if url.database and url.database != ":memory:" and not Path(url.database).is_absolute():
            url = url.set(database=str(Path.cwd() / url.database))
        return url
    raise ValueError(f"unsupported database: {backend} (use sqlite:/// or postgresql://)")


def _sqlite_on_connect(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
    """Foreign keys are off and the journal is rollback by default in SQLite, per connection."""
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        # With WAL, NORMAL still never corrupts; it only may lose the last commits on power loss.
        cursor.execute("PRAGMA synchronous=NORMAL")
    finally:
        cursor.close()


def build_engine(url: URL, **options: Any) -> Engine:
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
            # This process's writers take turns rather than sleep in the busy handler; other
            # processes on the file still meet the busy timeout.
            factory = serialized_connections(url.database, SQLITE_BUSY_TIMEOUT_MS / 1000)
            options["connect_args"] = {"factory": factory, **options.get("connect_args", {})}
        engine = create_engine(url, **options)
        event.listen(engine, "connect", _sqlite_on_connect)
        return engine
    # No pre-ping: it is a round trip on every checkout. A connection the server dropped fails
    # one request (StorageUnavailable) and SQLAlchemy then discards the pool's connections.
    return create_engine(url, **options)


def auto_migrate_enabled(environ: Mapping[str, str] | None = None) -> bool:
    env = os.environ if environ is None else environ
    return env.get(AUTO_MIGRATE_ENV, "1").strip().lower() not in {"0", "false", "no", "off"}


class Database:
    """Engine and session factory for one database, and the factories the bot needs."""

    def __init__(
        self,
        url: str | URL | None = None,
        *,
        clock: Callable[[], datetime] | None = None,
        **engine_options: Any,
    ) -> None:
        self.url = normalize_url(url)
        self.engine = build_engine(self.url, **engine_options)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        # Lists are one statement each and units of work begin their own transactions, so
        # both read through ``unit_of_work_engine``: on PostgreSQL an engine in autocommit
        # (reads skip BEGIN and ROLLBACK, two of the four round trips a read otherwise costs),
        # on SQLite the engine itself (switching its connections to autocommit and back cost a
        # PRAGMA per read, a quarter of a search's CPU: measured).
        self.read_engine = unit_of_work_engine(self.engine, **engine_options)
        self._uow_engine = self.read_engine
        self._clock = clock or (lambda: datetime.now(UTC))
        self._checkpointer: Checkpointer | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Database:
        env = os.environ if environ is None else environ
        return cls(env.get(DATABASE_URL_ENV))

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    # --- what the bot and the worker use ----------------------------------------------------

    def uow(self, tenant_id: TenantId) -> SqlUnitOfWork:
        """A unit of work for one tenant: ``CRM(database.uow)`` is the whole wiring."""
        return SqlUnitOfWork(self._uow_engine, tenant_id, self._clock)

    def queries(self, tenant_id: TenantId) -> SqlQueries:
        return SqlQueries(self.read_engine, tenant_id)

    def key_value_store(self, partition: str) -> KeyValueStore:
        """Bot state under ``partition`` (a tenant id, or a fixed name for SDK-wide state)."""
        return KeyValueStore(self.sessions, partition, self._clock)

    def conversations(self, tenant_id: str) -> ConversationReferences:
        return ConversationReferences(self.sessions, tenant_id, self._clock)

    def activities(self, tenant_id: str) -> ProcessedActivities:
        return ProcessedActivities(self._uow_engine, tenant_id, self._clock)

    def purge_processed_activities(self, older_than: timedelta) -> int:
        """Housekeeping for every tenant's claimed activity ids; returns how many went."""
        return purge_processed_activities(self.sessions, self._clock() - older_than)

    def purge_settled_outbox(self, older_than: timedelta) -> int:
        """Housekeeping for the outbox: messages settled (done, undeliverable) long ago."""
        return self.outbox().purge_settled(self._clock() - older_than)

    def purge_settled_notifications(self, older_than: timedelta) -> int:
        """Housekeeping for follower notifications: cards settled long ago."""
        return self.notifications().purge_settled(self._clock() - older_than)

    def notifications(self) -> NotificationStore:
        """Across tenants, like the outbox: follower notifications and their preferences."""
        return NotificationStore(self.sessions, self.dialect, self._clock)

    def outbox(self) -> Outbox:
        """Across tenants: one worker drains everyone's notifications."""
        return Outbox(self.sessions, self.dialect, self._clock)

    # --- operations -------------------------------------------------------------------------

    def ping(self) -> bool:
        """Readiness: can we run a query right now?"""
        try:
            with translated(), self.engine.connect() as connection:
                connection.execute(select(1)).scalar_one()
        except StorageUnavailable:
            logger.warning("database ping failed", extra={"dialect": self.dialect})
            return False
        return True

    def upgrade(self, revision: str = "head") -> None:
        """Bring the schema to ``revision`` with the migrations shipped in this package."""
        from storage.migrate import upgrade  # noqa: PLC0415 - Alembic loads only when migrating

        upgrade(self.engine, revision)

    def upgrade_if_enabled(self, environ: Mapping[str, str] | None = None) -> bool:
        """The service's start-up hook; ``TEAMCRM_AUTO_MIGRATE=0`` leaves the schema alone
        (for deployments that migrate in a separate step)."""
        if not auto_migrate_enabled(environ):
            logger.info("automatic migration disabled", extra={"env": AUTO_MIGRATE_ENV})
            return False
        self.upgrade()
        return True

    def checkpoint_in_background(self, interval: float = 1.0) -> bool:
        """SQLite file: its write-ahead log is copied back by a thread of its own, not by
        whichever turn's commit crosses SQLite's threshold (``storage.sqlite.Checkpointer``).
        For long-lived processes (the service, the worker); ``dispose`` stops the thread.
        False where there is nothing to do (PostgreSQL, in-memory SQLite)."""
        path = self.url.database
        if self.dialect != "sqlite" or not path or path == ":memory:":
            return False
        if self._checkpointer is None:

            def leave_checkpoints(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
                dbapi_connection.execute("PRAGMA wal_autocheckpoint=0")

            event.listen(self.engine, "connect", leave_checkpoints)
            self.engine.dispose()  # pooled connections were opened with SQLite's default
            self._checkpointer = Checkpointer(path, interval)
        return True

    @property
    def engines(self) -> tuple[Engine, ...]:
        """Every engine statements go through (one on SQLite, two on PostgreSQL)."""
        if self.read_engine is self.engine:
            return (self.engine,)
        return (self.engine, self.read_engine)

    def dispose(self) -> None:
        for engine in self.engines:
            engine.dispose()
        if self._checkpointer is not None:
            self._checkpointer.stop()
            self._checkpointer = None

    def __repr__(self) -> str:
        return f"Database({self.url.render_as_string(hide_password=True)!r})"
