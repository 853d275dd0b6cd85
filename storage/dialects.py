"""The one statement SQL never standardised: insert-or-update. Both engines spell it
``ON CONFLICT``; SQLAlchemy keeps it in each dialect's module, so pick by dialect name."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session


def dialect_insert(dialect: str, row: Any) -> Any:
    """An INSERT that offers ``on_conflict_do_update`` / ``on_conflict_do_nothing``."""
    if dialect == "postgresql":
        return postgresql.insert(row)
    return sqlite.insert(row)


def upsert_insert(session: Session, row: Any) -> Any:
    return dialect_insert(session.get_bind().dialect.name, row)


def greatest(dialect: str, *values: Any) -> Any:
    """The largest of its arguments: PostgreSQL's ``greatest``, SQLite's many-argument ``max``."""
    if dialect == "postgresql":
        return func.greatest(*values)
    return func.max(*values)
