"""Persistence of the domain with SQLAlchemy: SQLite by default, PostgreSQL in production.

The composition root builds one ``Database`` and hands out what it makes:
``CRM(database.uow)`` for use cases, ``database.queries(tenant)`` for lists and search,
``database.key_value_store(partition)`` for botbuilder state, ``database.conversations(tenant)``
and ``database.activities(tenant)`` for proactive messages and redelivery, and
``database.outbox()`` for the notification worker.
"""

from storage.database import Database
from storage.errors import StorageError, StorageUnavailable

__all__ = ["Database", "StorageError", "StorageUnavailable"]
