"""What the service tidies by itself, in the process that delivers notifications.

Every message and every card press that changes something records its Teams activity id, so a
redelivery is applied once, and every change leaves an outbox row for the notifications it
causes, and every notification a card per person. Teams redelivers within minutes and the history
table keeps every event; without this, these tables grew by a row per turn for ever.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import Executor
from contextlib import suppress
from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol

from storage.errors import StorageError

logger = logging.getLogger(__name__)


class Purges(Protocol):
    def purge_processed_activities(self, older_than: timedelta) -> int: ...
    def purge_settled_outbox(self, older_than: timedelta) -> int: ...
    def purge_settled_notifications(self, older_than: timedelta) -> int: ...


@dataclass(frozen=True, slots=True)
class Schedule:
    first_after: float = 60.0  # not at start-up: a restart loop must not mean a purge loop
    every: float = 3600.0
    keep_activity_ids: timedelta = timedelta(days=2)
    keep_settled_outbox: timedelta = timedelta(days=7)
    # Long enough to answer "why didn't I get it?" about last month's cards.
    keep_settled_notifications: timedelta = timedelta(days=30)


async def housekeeping(
    database: Purges, executor: Executor, stop: asyncio.Event, schedule: Schedule = Schedule()
) -> None:
    """Until ``stop``: purge, wait, purge again. A database that is down is tried next time."""
    loop = asyncio.get_running_loop()
    wait = schedule.first_after
    while not await _stopped(stop, wait):
        wait = schedule.every
        try:
            ids = await loop.run_in_executor(
                executor, database.purge_processed_activities, schedule.keep_activity_ids
            )
            outbox = await loop.run_in_executor(
                executor, database.purge_settled_outbox, schedule.keep_settled_outbox
            )
            cards = await loop.run_in_executor(
                executor,
                database.purge_settled_notifications,
                schedule.keep_settled_notifications,
            )
        except StorageError as error:
            logger.warning("housekeeping: could not purge (%s); trying again later", error)
            continue
        except Exception:
            logger.exception("housekeeping failed; trying again later")
            continue
        if ids or outbox or cards:
            logger.info(
                "housekeeping: forgot %d activity ids, %d outbox rows and %d notifications",
                ids,
                outbox,
                cards,
            )


async def _stopped(stop: asyncio.Event, seconds: float) -> bool:
    with suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)
    return stop.is_set()
