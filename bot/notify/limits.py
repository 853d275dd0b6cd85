"""Teams' send limits, kept on our side so the bot is never throttled in the first place.

Per bot and conversation: 7 per second, 8 per 2 s, 60 per 30 s, 1800 per hour; per app and
tenant: 30 per second (configurable). Sliding windows of send times, per key, in process: with
several workers each keeps its own count, so give each a share of the tenant limit.

Teams counts sends when they arrive, and we cannot know when that is, only when a send starts
and when it is answered. So a send holds a place in every window from its start until it is
answered, and then stays counted for the window's length from the answer: however slow or
fast each send is, no window ever sees one too many (``sending``).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

Window = tuple[int, float]  # (at most N sends, per so many seconds)

CONVERSATION_WINDOWS: tuple[Window, ...] = ((7, 1.0), (8, 2.0), (60, 30.0), (1800, 3600.0))
TENANT_PER_SECOND = 30
# How often to look again when every place in a window is held by a send still under way.
IN_FLIGHT_POLL_SECONDS = 0.005


@dataclass(frozen=True, slots=True)
class Limits:
    conversation: tuple[Window, ...] = CONVERSATION_WINDOWS
    tenant: tuple[Window, ...] = ((TENANT_PER_SECOND, 1.0),)
    enabled: bool = True


class SlidingWindows:
    """Send times per key; ``delay`` says how long until one more send fits every window."""

    def __init__(self, windows: tuple[Window, ...], clock: Callable[[], float]) -> None:
        self._windows = windows
        self._clock = clock
        self._longest = max((n for n, _ in windows), default=0)
        self._sent: dict[str, deque[float]] = {}

    def delay(self, key: str, in_flight: int = 0) -> float:
        """``in_flight`` sends under way count as sent just now."""
        sent = self._sent.get(key) or ()
        if not sent and not in_flight:
            return 0.0
        now = self._clock()
        wait = 0.0
        for count, seconds in self._windows:
            room = count - in_flight
            if room <= 0:
                wait = max(wait, IN_FLIGHT_POLL_SECONDS)
            elif len(sent) >= room:
                # The room-th most recent send must leave the window first.
                oldest_that_counts = sent[-room]
                wait = max(wait, oldest_that_counts + seconds - now)
        return max(wait, 0.0)

    def record(self, key: str) -> None:
        sent = self._sent.setdefault(key, deque(maxlen=self._longest))
        sent.append(self._clock())


class RateLimiter:
    def __init__(self, limits: Limits, clock: Callable[[], float] = time.monotonic) -> None:
        self._limits = limits
        self._conversations = SlidingWindows(limits.conversation, clock)
        self._tenants = SlidingWindows(limits.tenant, clock)
        self._lock = asyncio.Lock()
        self._in_flight: dict[tuple[str, str], int] = {}

    @asynccontextmanager
    async def sending(self, tenant_id: str, conversation_id: str) -> AsyncIterator[None]:
        """Wait until one more send fits both limits, hold its place while it runs, and count
        it from the moment it was answered (or failed): see the module docstring."""
        if not self._limits.enabled:
            yield
            return
        keys = (("tenant", tenant_id), ("conversation", conversation_id))
        while True:
            async with self._lock:
                wait = max(
                    self._conversations.delay(conversation_id, self._in_flight.get(keys[1], 0)),
                    self._tenants.delay(tenant_id, self._in_flight.get(keys[0], 0)),
                )
                if wait <= 0:
                    for key in keys:
                        self._in_flight[key] = self._in_flight.get(key, 0) + 1
                    break
            await asyncio.sleep(wait)
        try:
            yield
        finally:
            for key in keys:
                left = self._in_flight.get(key, 1) - 1
                if left > 0:
                    self._in_flight[key] = left
                else:
                    self._in_flight.pop(key, None)
            self._conversations.record(conversation_id)
            self._tenants.record(tenant_id)

    async def acquire(self, tenant_id: str, conversation_id: str) -> None:
        """Wait until one more send to that conversation fits both limits, then count it from
        now (prefer ``sending``, which counts from the answer)."""
        if not self._limits.enabled:
            return
        while True:
            async with self._lock:
                wait = max(
                    self._conversations.delay(conversation_id), self._tenants.delay(tenant_id)
                )
                if wait <= 0:
                    self._conversations.record(conversation_id)
                    self._tenants.record(tenant_id)
                    return
            await asyncio.sleep(wait)
