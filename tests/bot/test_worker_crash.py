"""A real ``teamcrm worker`` process killed mid-delivery and started again: every follower gets
their card; only the cards in flight at the kill may arrive twice."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections import Counter

from cards import verbs
from storage.database import Database
from tests.bot.conftest import ALICE, settings_for, start_service, url_of
from tests.support.activities import Person
from tests.support.cards import action_data, choices, has_action
from tests.support.connector import StandInConnector

FOLLOWERS = 12
WORKER = "from bot.cli import main; raise SystemExit(main(['worker']))"


def _start_worker(database: Database) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "TEAMCRM_DATABASE_URL": url_of(database),
        "TEAMCRM_AUTO_MIGRATE": "0",
        "TEAMCRM_NOTIFY_LEASE_SECONDS": "2",
        "MicrosoftAppId": "",
    }
    return subprocess.Popen(  # noqa: S603 - our own interpreter running our own CLI
        [sys.executable, "-c", WORKER],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _notices(connector: StandInConnector) -> Counter[str]:
    return Counter(
        sent.conversation_id
        for sent in connector.sent
        if sent.method == "POST" and any(has_action(c, verbs.NOTIFY_LEAD) for c in sent.cards)
    )


async def _wait(condition: object, timeout: float) -> bool:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        if condition():  # type: ignore[operator]
            return True
        await asyncio.sleep(0.05)
    return False


async def test_a_killed_worker_loses_nothing(
    database: Database,
    connector: StandInConnector,
) -> None:
    service, runner = await start_service(
        settings_for(database, run_dispatcher=False), connector, "tenant-crash"
    )
    worker = restarted = None
    try:
        await service.say("help", user=ALICE)
        people = [
            Person(f"aad-c{i}", f"Colleague {i}", f"c{i}@x.example") for i in range(FOLLOWERS)
        ]
        for person in people:
            await service.say("help", user=person)
        card = await service.say("new lead Crash-proof deal")
        for person in people:
            card = await service.press(
                verbs.LEAD_ADD_FOLLOWER,
                {
                    **action_data(card, verbs.LEAD_ADD_FOLLOWER),
                    verbs.IN_FOLLOWER_USER_ID: person.aad_object_id,
                },
            )
        stage = next(v for t, v in choices(card, verbs.IN_STAGE_ID).items() if "50" in t)
        await service.press(
            verbs.LEAD_CHANGE_STAGE,
            {**action_data(card, verbs.LEAD_CHANGE_STAGE), verbs.IN_STAGE_ID: stage},
        )
        # Each send takes a while, one after the other: the kill lands mid-delivery (sends
        # go out 16 at a time, so a delay alone would land all 12 together).
        connector.delay = 0.4
        connector.serial = True

        worker = _start_worker(database)
        assert await _wait(lambda: sum(_notices(connector).values()) >= 2, 30)
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=10)
        delivered_before_kill = sum(_notices(connector).values())
        assert delivered_before_kill < FOLLOWERS, "the worker finished before it was killed"

        connector.delay = 0.0
        connector.serial = False
        restarted = _start_worker(database)
        expected = {f"a:personal-{p.aad_object_id}" for p in people}
        store = database.notifications()

        def settled() -> bool:
            # Sends the dead worker had in flight may still land at the connector; the
            # database only calls them done once the new worker has delivered them again.
            counts = store.counts()
            unsettled = counts.get("pending", 0) + counts.get("processing", 0)
            return unsettled == 0 and expected <= set(_notices(connector))

        assert await _wait(settled, 60)
        restarted.send_signal(signal.SIGTERM)
        assert restarted.wait(timeout=20) == 0

        counts = _notices(connector)
        assert set(counts) == expected
        # Only what the killed worker had in flight may have been sent twice.
        assert sum(counts.values()) - FOLLOWERS <= 16
    finally:
        for process in (worker, restarted):
            if process is not None and process.poll() is None:
                process.kill()
                process.wait(timeout=10)
        await service.http.close()
        await runner.cleanup()
