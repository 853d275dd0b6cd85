"""Applied activity ids are forgotten once Teams can no longer redeliver them, by the process
that delivers notifications, on its own schedule."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from sqlalchemy import select

from bot import app as app_module
from bot.housekeeping import Schedule, housekeeping
from storage.database import Database
from storage.errors import StorageUnavailable
from storage.rows import ProcessedActivityRow
from tests.bot.conftest import settings_for, start_service
from tests.domain.fakes import FakeClock
from tests.storage.conftest import TENANT
from tests.storage.test_notifications import LEASE, fan_out, sent, stage_change
from tests.storage.test_outbox import enqueue
from tests.support.connector import StandInConnector

QUICK = Schedule(
    first_after=0.0,
    every=0.05,
    keep_activity_ids=timedelta(days=2),
    keep_settled_outbox=timedelta(days=7),
    keep_settled_notifications=timedelta(days=30),
)


async def _until(condition: object, seconds: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not condition():  # type: ignore[operator]
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.02)


def _stored(database: Database, tenant: str) -> set[str]:
    with database.sessions() as session:
        rows = session.execute(
            select(ProcessedActivityRow.activity_id).where(ProcessedActivityRow.tenant_id == tenant)
        )
        return set(rows.scalars())


async def test_old_ids_and_settled_outbox_rows_go_recent_ones_stay(
    database: Database, clock: FakeClock
) -> None:
    database.activities("t1").claim("old")
    enqueue(database, clock, 2)
    old, recent = database.outbox().claim("w1", limit=2)
    database.outbox().mark_done(old.id, "w1")
    clock.advance(days=8)
    database.outbox().mark_done(recent.id, "w1")
    database.activities("t1").claim("recent")
    stop = asyncio.Event()
    with ThreadPoolExecutor(1) as executor:
        task = asyncio.create_task(housekeeping(database, executor, stop, QUICK))
        await _until(lambda: database.outbox().counts() == {"done": 1})
        await _until(lambda: "old" not in _stored(database, "t1"))
        stop.set()
        await asyncio.wait_for(task, timeout=2)
    assert _stored(database, "t1") == {"recent"}


async def test_notifications_settled_a_month_ago_go(database: Database, clock: FakeClock) -> None:
    fan_out(database, clock, ["aad-old"], stage_change(clock, "s1"))
    store = database.notifications()
    (old,) = store.claim("w1", limit=1, lease=LEASE)
    store.settle("w1", [sent(old)])
    clock.advance(days=31)
    fan_out(database, clock, ["aad-new"], stage_change(clock, "s2"))
    (recent,) = store.claim("w1", limit=1, lease=LEASE)
    store.settle("w1", [sent(recent)])
    stop = asyncio.Event()
    with ThreadPoolExecutor(1) as executor:
        task = asyncio.create_task(housekeeping(database, executor, stop, QUICK))
        await _until(lambda: store.for_recipient(TENANT, "aad-old") == [])
        stop.set()
        await asyncio.wait_for(task, timeout=2)
    assert [row["status"] for row in store.for_recipient(TENANT, "aad-new")] == ["sent"]


class _Flaky:
    """Down once, then up: housekeeping must keep going after a failure."""

    def __init__(self) -> None:
        self.calls = 0

    def purge_processed_activities(self, older_than: timedelta) -> int:
        self.calls += 1
        if self.calls == 1:
            raise StorageUnavailable("database down")
        return 0

    def purge_settled_outbox(self, older_than: timedelta) -> int:
        return 0

    def purge_settled_notifications(self, older_than: timedelta) -> int:
        return 0


async def test_a_database_that_is_down_is_tried_again() -> None:
    flaky, stop = _Flaky(), asyncio.Event()
    with ThreadPoolExecutor(1) as executor:
        task = asyncio.create_task(housekeeping(flaky, executor, stop, QUICK))
        await _until(lambda: flaky.calls >= 3)
        stop.set()
        await asyncio.wait_for(task, timeout=2)


async def test_it_waits_before_the_first_purge_and_stops_at_once() -> None:
    flaky, stop = _Flaky(), asyncio.Event()
    with ThreadPoolExecutor(1) as executor:
        task = asyncio.create_task(housekeeping(flaky, executor, stop, Schedule(first_after=30)))
        await asyncio.sleep(0.1)
        stop.set()
        await asyncio.wait_for(task, timeout=1)
    assert flaky.calls == 0


async def test_the_service_that_delivers_notifications_purges(
    database: Database, connector: StandInConnector, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Through the real service: its own claim stays, a claim from long ago goes."""
    monkeypatch.setattr(app_module, "HOUSEKEEPING", QUICK)
    database.activities("tenant-hk").claim("long-ago")  # the test clock is months behind
    service, runner = await start_service(
        settings_for(database, run_dispatcher=True), connector, "tenant-hk"
    )
    try:
        await service.say("help")
        await _until(lambda: "long-ago" not in _stored(database, "tenant-hk"))
        assert len(_stored(database, "tenant-hk")) == 1  # the message just claimed
    finally:
        await service.http.close()
        await runner.cleanup()


async def test_a_service_that_leaves_delivery_to_workers_does_not_purge(
    database: Database, connector: StandInConnector, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(app_module, "HOUSEKEEPING", QUICK)
    database.activities("tenant-hk").claim("long-ago")
    service, runner = await start_service(settings_for(database), connector, "tenant-hk")
    try:
        await service.say("help")
        await asyncio.sleep(0.3)
        assert "long-ago" in _stored(database, "tenant-hk")
        assert len(_stored(database, "tenant-hk")) == 2
    finally:
        await service.http.close()
        await runner.cleanup()
