"""The service end to end over HTTP: probes, the help card, and bad requests."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import threading
from collections.abc import Iterator

import pytest
from aiohttp import web
from sqlalchemy import event

from bot.app import create_app
from bot.serve import serving
from cards import verbs
from domain.errors import DomainError
from storage.database import Database
from tests.bot.conftest import ALICE, Service, database, settings_for, start_service  # noqa: F401
from tests.support import activities
from tests.support.cards import action_data, texts
from tests.support.connector import StandInConnector


async def test_healthz_answers_ok(service: Service) -> None:
    response = await service.http.get(f"{service.url}/healthz")
    assert response.status == 200
    assert (await response.json())["status"] == "ok"


async def test_readyz_reports_the_database_reachable(service: Service) -> None:
    response = await service.http.get(f"{service.url}/readyz")
    assert response.status == 200
    assert (await response.json())["status"] == "ready"


async def test_help_message_gets_a_help_card_at_the_connector(service: Service) -> None:
    card = await service.say("help")
    assert card["type"] == "AdaptiveCard"
    texts = str(card)
    assert "new lead" in texts


async def test_unknown_text_gets_help_not_silence(service: Service) -> None:
    card = await service.say("what can you do for me?")
    assert "new lead" in str(card)


async def test_malformed_json_is_a_400_not_a_500(service: Service) -> None:
    response = await service.http.post(
        f"{service.url}/api/messages",
        data=b"{not json",
        headers={"Content-Type": "application/json"},
    )
    assert response.status == 400


async def test_a_body_that_is_not_an_activity_is_a_400(service: Service) -> None:
    for body in ([], {"type": 3}, {"text": "hi"}, {"type": "message", "serviceUrl": "x"}):
        response = await service.http.post(f"{service.url}/api/messages", json=body)
        assert response.status == 400, body


async def test_oversized_request_is_refused_with_413(service: Service) -> None:
    activity = activities.message(
        "x" * 300_000,
        service_url=service.connector.url,
        tenant_id=service.tenant_id,
        user=ALICE,
    )
    response = await service.post(activity)
    assert response.status == 413


async def test_a_connector_that_cannot_be_reached_is_a_503_not_a_500(service: Service) -> None:
    activity = activities.message(
        "help", service_url="http://127.0.0.1:9/", tenant_id=service.tenant_id, user=ALICE
    )
    response = await service.post(activity)
    assert response.status == 503


async def test_an_activity_without_a_teams_user_gets_a_polite_card(service: Service) -> None:
    activity = activities.card_action(
        "help", {}, service_url=service.connector.url, tenant_id=service.tenant_id, user=ALICE
    )
    del activity["from"]["aadObjectId"]
    response = await service.post(activity)
    assert response.status == 200
    body = await response.json()
    assert body["value"]["type"] == "AdaptiveCard"


async def test_tenants_outside_the_allow_list_are_refused_and_nothing_is_stored(
    database: Database,  # noqa: F811 - the storage suite's fixture
    connector: StandInConnector,
) -> None:
    running, runner = await start_service(
        settings_for(database, allowed_tenants=frozenset({"tenant-allowed"})),
        connector,
        "tenant-other",
    )
    try:
        card = await running.say("new lead Sneaky")
        assert "organisation" in texts(card).lower() or "organization" in texts(card).lower()
        invoke = await running.press("help", {})
        assert invoke["type"] == "AdaptiveCard"
        assert database.conversations("tenant-other").personal_for_user(ALICE.aad_object_id) is None
        with pytest.raises(DomainError):
            running.runtime.crm.get_user("tenant-other", ALICE.aad_object_id)  # type: ignore[arg-type]
        allowed = await running.say("help", tenant_id="tenant-allowed")
        assert "new lead" in texts(allowed)
    finally:
        await running.http.close()
        await runner.cleanup()


@contextlib.contextmanager
def statement_threads(db: Database) -> Iterator[set[int]]:
    """The threads that sent statements to ``db`` meanwhile."""
    seen: set[int] = set()

    def note(*_args: object) -> None:
        seen.add(threading.get_ident())

    for engine in db.engines:
        event.listen(engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        for engine in db.engines:
            event.remove(engine, "before_cursor_execute", note)


async def test_turns_run_on_the_event_loop_on_sqlite_and_on_two_threads_on_postgresql(
    service: Service,
) -> None:
    # pysqlite hands the GIL over at every row: threads there only cost (config.py).
    runtime = service.runtime
    with statement_threads(runtime.database) as threads:
        card = await service.say("new lead Loop or thread")
        await service.press(verbs.LEAD_REFRESH, action_data(card, verbs.LEAD_REFRESH))
    assert threads
    if runtime.database.dialect == "sqlite":
        assert threads == {threading.get_ident()}  # the test shares the service's loop
    else:
        assert threading.get_ident() not in threads
        assert runtime.executor._max_workers == 2


async def test_with_several_processes_sqlite_turns_wait_for_the_file_in_a_thread(
    database: Database,  # noqa: F811 - the fixture imported above
    connector: StandInConnector,
) -> None:
    # Another process's write lock is waited for in SQLite's busy handler: not on the loop.
    running, runner = await start_service(
        settings_for(database, processes=2), connector, "tenant-processes"
    )
    try:
        with statement_threads(running.runtime.database) as seen:
            card = await running.say("new lead Two processes")
        assert "Two processes" in texts(card)
        assert seen
        assert threading.get_ident() not in seen
    finally:
        await running.http.close()
        await runner.cleanup()


@pytest.mark.parametrize("threads", [0, 3])
async def test_an_admin_can_still_choose_the_worker_threads(
    database: Database,  # noqa: F811 - the fixture imported above
    connector: StandInConnector,
    threads: int,
) -> None:
    running, runner = await start_service(
        settings_for(database, worker_threads=threads), connector, "tenant-threads"
    )
    try:
        with statement_threads(running.runtime.database) as seen:
            card = await running.say("new lead Chosen threads")
        assert "Chosen threads" in texts(card)
        on_loop = seen == {threading.get_ident()}
        assert on_loop == (threads == 0)
        assert running.runtime.executor._max_workers == max(threads, 1)
    finally:
        await running.http.close()
        await runner.cleanup()


async def test_a_started_service_hides_its_start_up_heap_from_the_collector(
    database: Database,  # noqa: F811 - the fixture imported above
) -> None:
    """Full collections walk only what turns leave alive, not the whole SDK (bot/serve.py)."""
    gc.unfreeze()
    gc.collect()
    before = len(gc.get_objects())
    runner = web.AppRunner(serving(create_app(settings_for(database))), access_log=None)
    try:
        await runner.setup()  # runs the start-up hooks, as `teamcrm serve` does
        hidden, seen = gc.get_freeze_count(), len(gc.get_objects())
    finally:
        await runner.cleanup()
        gc.unfreeze()
    assert hidden >= before  # everything alive at start-up, the runtime included
    assert seen < hidden // 10


async def test_a_long_notification_batch_does_not_hold_up_turns(service: Service) -> None:
    """Delivery and housekeeping run on threads of their own: with one thread for turns (on
    SQLite), a fan-out drawing a thousand cards would otherwise make everyone wait."""
    runtime = service.runtime
    assert runtime.dispatcher._executor is runtime.background
    assert runtime.background is not runtime.executor
    busy, release = threading.Event(), threading.Event()

    def batch() -> None:
        busy.set()
        release.wait(timeout=30)

    held = [runtime.background.submit(batch) for _ in range(runtime.background._max_workers)]
    try:
        assert busy.wait(timeout=5)
        card = await asyncio.wait_for(service.say("help"), timeout=10)
        assert "help" in texts(card).lower()
    finally:
        release.set()
        for job in held:
            job.result(timeout=30)
