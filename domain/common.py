"""Building blocks shared by every aggregate: versions, pending events, time stamps, clocks."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

from domain.errors import InvalidInput
from domain.events import DomainEvent
from domain.ids import TenantId, UserId


@dataclass(frozen=True, slots=True, kw_only=True)
class Stamp:
    """Who acts and when: every mutation takes one so its event can say both."""

    actor_id: UserId | None
    at: datetime

    def __post_init__(self) -> None:
        if self.at.tzinfo is None:
            raise InvalidInput("input.naive_datetime", field="at")


@dataclass(slots=True, kw_only=True)
class Aggregate:
    """A consistency boundary: loaded, changed and saved whole, guarded by ``version``."""

    tenant_id: TenantId
    version: int = 0
    events: list[DomainEvent] = field(default_factory=list, compare=False, repr=False)

    def record(self, event: DomainEvent) -> None:
        self.events.append(event)

    def pull_events(self) -> list[DomainEvent]:
        """Hand the pending events to the unit of work, once."""
        pending, self.events = self.events, []
        return pending


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    """The real clock, always in UTC."""

    def now(self) -> datetime:
        return datetime.now(UTC)
