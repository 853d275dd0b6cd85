"""One storage suite, run on every engine: SQLite always, PostgreSQL when
``TEAMCRM_TEST_POSTGRES_URL`` is set.

Isolation: each SQLite test gets a fresh copy of a file migrated once per session; PostgreSQL
tests share a schema created and migrated once per session (dropped at the end, so concurrent
runs never meet) and empty every table before each test.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine, delete, event
from sqlalchemy.engine import URL
from sqlalchemy.schema import CreateSchema, DropSchema

from domain.ids import TenantId, UserId
from domain.services import CRM
from storage.database import Database, normalize_url
from storage.rows import metadata
from tests.domain.fakes import FakeClock

POSTGRES_ENV = "TEAMCRM_TEST_POSTGRES_URL"
ENGINES = ("sqlite", "postgresql")

TENANT = TenantId("tenant-a")
OTHER_TENANT = TenantId("tenant-b")
ADMIN = UserId("aad-admin")
ALICE = UserId("aad-alice")
BOB = UserId("aad-bob")


def postgres_base_url() -> URL | None:
    raw = os.environ.get(POSTGRES_ENV)
    return normalize_url(raw) if raw else None


class PostgresSchemas:
    """Creates throw-away schemas and URLs whose search_path points at them."""

    def __init__(self, base: URL) -> None:
        self.base = base
        self.engine = create_engine(base)
        self.created: list[str] = []

    def create(self) -> URL:
        name = f"teamcrm_test_{uuid.uuid4().hex[:12]}"
        with self.engine.begin() as connection:
            connection.execute(CreateSchema(name))
        self.created.append(name)
        return self.base.update_query_dict({"options": f"-csearch_path={name}"})

    def drop_all(self) -> None:
        with self.engine.begin() as connection:
            for name in self.created:
                connection.execute(DropSchema(name, cascade=True))
        self.engine.dispose()


@pytest.fixture(scope="session")
def postgres_schemas() -> Iterator[PostgresSchemas]:
    base = postgres_base_url()
    if base is None:
        pytest.skip(f"set {POSTGRES_ENV} to run the storage suite on PostgreSQL")
    schemas = PostgresSchemas(base)
    yield schemas
    schemas.drop_all()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "teamcrm.db"
    database = Database(f"sqlite:///{path}")
    database.upgrade()
    database.dispose()
    return path


@pytest.fixture(scope="session")
def postgres_url(postgres_schemas: PostgresSchemas) -> URL:
    url = postgres_schemas.create()
    database = Database(url)
    database.upgrade()
    database.dispose()
    return url


def empty_tables(database: Database) -> None:
    with database.engine.begin() as connection:
        for table in reversed(metadata.sorted_tables):
            connection.execute(delete(table))


@pytest.fixture(params=ENGINES)
def engine_name(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def database(
    engine_name: str, request: pytest.FixtureRequest, tmp_path: Path, clock: FakeClock
) -> Iterator[Database]:
    if engine_name == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        path = tmp_path / "teamcrm.db"
        shutil.copyfile(template, path)
        database = Database(f"sqlite:///{path}", clock=clock.now)
    else:
        url: URL = request.getfixturevalue("postgres_url")
        database = Database(url, clock=clock.now)
        empty_tables(database)
    yield database
    database.dispose()


@pytest.fixture
def crm(database: Database, clock: FakeClock) -> CRM:
    """A tenant with an admin (first user) and two members."""
    service = CRM(database.uow, clock)
    service.register_user(TENANT, ADMIN, display_name="Ada Admin", email="ada@example.com")
    service.register_user(TENANT, ALICE, display_name="Alice Seller", email="alice@example.com")
    service.register_user(TENANT, BOB, display_name="Bob Seller", email="bob@example.com")
    return service


def url_of(database: Database) -> str:
    return database.url.render_as_string(hide_password=False)


@contextmanager
def statements(database: Database) -> Iterator[list[str]]:
    """The SQL sent to the database while the block runs (round trips, for the tests that
    count them)."""
    seen: list[str] = []

    def record(*args: object) -> None:
        seen.append(str(args[2]))

    for engine in database.engines:
        event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        for engine in database.engines:
            event.remove(engine, "before_cursor_execute", record)
