"""The schema comes from the migrations, the models agree with it, and upgrades keep data."""

from __future__ import annotations

import importlib.resources
from decimal import Decimal
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import insert

from bot.cli import main
from domain.common import Stamp
from domain.leads import Lead
from domain.services import CRM
from storage.database import Database, auto_migrate_enabled
from storage.mapping import lead_values
from storage.migrate import current_revision, head_revision
from storage.rows import LeadRow, metadata
from tests.domain.fakes import FakeClock
from tests.storage.conftest import ADMIN, TENANT, PostgresSchemas


@pytest.fixture
def blank_database(engine_name: str, request: pytest.FixtureRequest, tmp_path: Path) -> Database:
    """An empty database (no tables at all) on the engine under test."""
    if engine_name == "sqlite":
        return Database(f"sqlite:///{tmp_path / 'blank.db'}")
    schemas: PostgresSchemas = request.getfixturevalue("postgres_schemas")
    return Database(schemas.create())


def test_models_and_migrations_agree(database: Database) -> None:
    with database.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, metadata) == []


def test_upgrade_from_the_first_revision_keeps_the_data(blank_database: Database) -> None:
    blank_database.upgrade("0001")
    assert current_revision(blank_database.engine) == "0001"
    crm = CRM(blank_database.uow, FakeClock())
    crm.register_user(TENANT, ADMIN, display_name="Ada Admin")
    account = crm.create_account(TENANT, ADMIN, name="Acme")
    # Leads as 0001 stored them, written row by row: today's code numbers new leads with a
    # table 0001 doesn't have yet.
    pipeline = crm.pipelines(TENANT)[0]
    stamp = Stamp(actor_id=ADMIN, at=FakeClock().now())
    leads = [
        Lead.create(
            tenant_id=TENANT,
            number=number,
            title=f"Deal {number}",
            owner_id=ADMIN,
            pipeline=pipeline,
            account_id=account.id,
            amount=Decimal("10.00"),
            stamp=stamp,
        )
        for number in (1, 2, 3)
    ]
    with blank_database.engine.begin() as connection:
        for lead in leads:
            connection.execute(insert(LeadRow).values({**lead_values(lead), "version": 1}))

    blank_database.upgrade()

    assert current_revision(blank_database.engine) == head_revision()
    again = crm.get_lead(TENANT, ADMIN, leads[0].id)
    assert (again.title, again.account_id, str(again.amount)) == ("Deal 1", account.id, "10.00")
    assert blank_database.key_value_store("bot").read(["k"]) == {}
    # The lead counter starts where 0001's numbers stopped.
    assert crm.create_lead(TENANT, ADMIN, title="After the upgrade").number == 4
    blank_database.dispose()


def test_upgrade_twice_is_harmless(database: Database) -> None:
    database.upgrade()
    assert current_revision(database.engine) == head_revision()


def test_db_upgrade_command_migrates_the_given_database(tmp_path: Path) -> None:
    target = tmp_path / "cli.db"
    assert main(["db", "upgrade", "--url", f"sqlite:///{target}"]) == 0
    database = Database(f"sqlite:///{target}")
    assert current_revision(database.engine) == head_revision()
    database.dispose()


def test_default_database_is_a_sqlite_file_in_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TEAMCRM_DATABASE_URL", raising=False)
    database = Database.from_env()
    assert database.dialect == "sqlite"
    assert database.upgrade_if_enabled({}) is True
    assert (tmp_path / "teamcrm.db").exists()
    with database.engine.connect() as connection:
        pragmas = {
            name: connection.exec_driver_sql(f"PRAGMA {name}").scalar()
            for name in ("foreign_keys", "journal_mode", "busy_timeout")
        }
    assert pragmas == {"foreign_keys": 1, "journal_mode": "wal", "busy_timeout": 5000}
    database.dispose()


def test_auto_migration_can_be_switched_off(tmp_path: Path) -> None:
    database = Database(f"sqlite:///{tmp_path / 'off.db'}")
    assert database.upgrade_if_enabled({"TEAMCRM_AUTO_MIGRATE": "0"}) is False
    assert current_revision(database.engine) is None
    assert auto_migrate_enabled({}) is True
    database.dispose()


@pytest.mark.parametrize(
    ("given", "driver"),
    [
        ("postgresql://user@db.example/crm", "postgresql+psycopg"),
        ("postgres://user@db.example/crm", "postgresql+psycopg"),
        ("sqlite:///relative.db", "sqlite+pysqlite"),
    ],
)
def test_plain_urls_get_our_drivers(given: str, driver: str) -> None:
    from storage.database import normalize_url  # noqa: PLC0415 - the unit under test

    url = normalize_url(given)
    assert url.drivername == driver
    if url.get_backend_name() == "sqlite":
        assert url.database is not None
        assert Path(url.database).is_absolute()


@pytest.mark.parametrize("given", ["not a url", "mysql://u@h/db"])
def test_unusable_urls_are_refused_plainly(given: str) -> None:
    from storage.database import normalize_url  # noqa: PLC0415 - the unit under test

    with pytest.raises(ValueError, match="sqlite"):
        normalize_url(given)


def test_migrations_ship_inside_the_package() -> None:
    versions = importlib.resources.files("storage.migrations.versions")
    names = {entry.name for entry in versions.iterdir()}
    assert {"0001_core_schema.py", "0002_bot_state.py"} <= names
    assert importlib.resources.files("storage.migrations").joinpath("env.py").is_file()
