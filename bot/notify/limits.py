"""Teams' send limits, kept on our side so the bot is never throttled in the first place.

Per bot and conversation: 7 per second, 8 per 2 s, 60 per 30 s, 1800 per hour; per app and
tenant: 30 per second (configurable). Sliding windows of send times, per key, in process: with
several workers each keeps its own count, so give each a share of the tenant limit.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

Window = tuple[int, float]  # (at most N sends, per so many seconds)

CONVERSATION_WINDOWS: tuple[Window, ...] = ((7, 1.0), (8, 2.0), (60, 30.0), (1800, 3600.0))
TENANT_PER_SECOND = 30


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

    def delay(self, key: str) -> float:
        sent = self._sent.get(key)
        if not sent:
            return 0.0
        now = self._clock()
        wait = 0.0
        for count, seconds in self._windows:
            if len(sent) >= count:
                # The count-th most recent send must leave the window first.
                oldest_that_counts = sent[-count]
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

    async def acquire(self, tenant_id: str, conversation_id: str) -> None:
        """Wait until one more send to that conversation fits both limits, then count it."""
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
