"""``teamcrm db``: database chores from the command line (``teamcrm db upgrade``)."""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any

from storage.database import DATABASE_URL_ENV, Database
from storage.errors import StorageError
from storage.migrate import current_revision, head_revision

logger = logging.getLogger(__name__)


def _upgrade(args: argparse.Namespace) -> int:
    database = Database(args.url) if args.url else Database.from_env()
    try:
        database.upgrade(args.revision)
        revision = current_revision(database.engine)
    except StorageError:
        logger.exception("migration failed", extra={"database": repr(database)})
        return 1
    finally:
        database.dispose()
    sys.stdout.write(f"database at revision {revision} (head: {head_revision()})\n")
    return 0


def register(subparsers: Any) -> None:
    """Add ``db`` and its subcommands to the ``teamcrm`` parser."""
    db = subparsers.add_parser("db", help="manage the database")
    db.set_defaults(handler=lambda _args: _help(db))
    commands = db.add_subparsers(dest="db_command", metavar="DB_COMMAND")
    upgrade = commands.add_parser("upgrade", help="apply the schema migrations")
    upgrade.add_argument("revision", nargs="?", default="head", help="target (default: head)")
    upgrade.add_argument("--url", help=f"database URL (default: ${DATABASE_URL_ENV} or SQLite)")
    upgrade.set_defaults(handler=_upgrade)


def _help(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2
