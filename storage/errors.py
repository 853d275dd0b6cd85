"""Where database failures become the errors callers can act on.

Callers of ``storage`` never see SQLAlchemy: a lost race (unique key taken, row changed under
us, a lock or serialization failure) is a domain ``Conflict`` the user can retry; anything else
means the database cannot serve us and is a ``StorageUnavailable`` the bot answers with a 503.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError, SQLAlchemyError

from domain.errors import Conflict

# PostgreSQL SQLSTATEs that mean "someone else got there first; try again".
_PG_RETRYABLE = frozenset({"40001", "40P01", "55P03"})


class StorageError(Exception):
    """The database failed in a way no retry of the same request would fix."""

    code = "storage.error"


class StorageUnavailable(StorageError):
    """The database cannot be reached or refused the work; the caller may try again later."""

    code = "storage.unavailable"


def _is_contention(error: DBAPIError) -> bool:
    original = error.orig
    sqlstate = getattr(original, "sqlstate", None)
    if sqlstate in _PG_RETRYABLE:
        return True
    text = str(original).lower()
    return "database is locked" in text or "database is busy" in text


@contextmanager
def translated(kind: str = "record") -> Iterator[None]:
    """Run database work, turning SQLAlchemy exceptions into domain or storage errors."""
    try:
        yield
    except IntegrityError as error:
        raise Conflict(kind, reason="integrity") from error
    except OperationalError as error:
        if _is_contention(error):
            raise Conflict(kind, reason="busy") from error
        raise StorageUnavailable(str(error.orig)) from error
    except DBAPIError as error:
        if _is_contention(error):
            raise Conflict(kind, reason="busy") from error
        raise StorageError(str(error.orig)) from error
    except SQLAlchemyError as error:
        raise StorageError(str(error)) from error
