"""One exception tree with stable codes, so the bot can say each refusal in the user's language.

    DomainError
    ├── NotFound            (<kind>.not_found)
    ├── AccessDenied        (<kind>.access_denied)
    ├── InvalidInput        (input.invalid, input.too_long, input.required, ...)
    ├── RuleViolation       (lead.closed, lead.stage_not_in_pipeline, contact.status..., ...)
    └── Conflict            (<kind>.conflict: someone else changed the record first)

Every error carries ``code`` and ``params``; the domain never formats a user-facing sentence.
"""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """Base of every refusal the domain can express."""

    default_code = "domain.error"

    def __init__(self, code: str | None = None, **params: Any) -> None:
        self.code = code or self.default_code
        self.params: dict[str, Any] = params
        detail = ", ".join(f"{key}={value!r}" for key, value in sorted(params.items()))
        super().__init__(f"{self.code}({detail})" if detail else self.code)


class NotFound(DomainError):
    """The record does not exist in this tenant (a foreign id looks exactly like a missing one)."""

    default_code = "record.not_found"

    def __init__(self, kind: str, **params: Any) -> None:
        super().__init__(f"{kind}.not_found", kind=kind, **params)
        self.kind = kind


class AccessDenied(DomainError):
    """The acting user may not see or change the record."""

    default_code = "record.access_denied"

    def __init__(self, kind: str, **params: Any) -> None:
        super().__init__(f"{kind}.access_denied", kind=kind, **params)
        self.kind = kind


class InvalidInput(DomainError):
    """A value is missing, malformed or too long."""

    default_code = "input.invalid"


class RuleViolation(DomainError):
    """The request is well formed but a business rule forbids it."""

    default_code = "rule.violation"


class Conflict(DomainError):
    """Someone else changed the record since it was read; the caller should reload and retry."""

    default_code = "record.conflict"

    def __init__(self, kind: str, **params: Any) -> None:
        super().__init__(f"{kind}.conflict", kind=kind, **params)
        self.kind = kind


class AlreadyApplied(Exception):
    """A commit carried a command's idempotency key that an earlier commit already recorded:
    nothing was written. Not a ``DomainError``: no one retries it and no card explains it;
    whoever sent the key answers as if the first delivery had just been applied."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key
