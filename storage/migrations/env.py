"""Alembic's entry point: runs migrations on the engine ``storage.migrate`` hands over."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Engine

from storage.rows import metadata

config = context.config


def run_migrations_online() -> None:
    engine: Engine = config.attributes["engine"]
    with engine.begin() as connection:
        context.configure(
            connection=connection,
            target_metadata=metadata,
            # SQLite alters tables by copying them; batch mode does that for us.
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    raise SystemExit("offline (SQL script) migrations are not supported; run teamcrm db upgrade")
run_migrations_online()
