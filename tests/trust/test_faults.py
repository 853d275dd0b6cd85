"""Faults: the database going away and coming back, and SIGTERM with turns in flight."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from sqlalchemy.engine import URL

from storage.database import Database
from tests.bot.conftest import ALICE, Service, settings_for
from tests.support import activities
from tests.support.cards import texts
from tests.support.connector import StandInConnector
from tests.trust.conftest import run_service

ROOT = Path(__file__).resolve().parents[2]


class SwitchableProxy:
    """A TCP proxy to the database that can be cut (connections refused, open ones dropped)
    and restored on the same port: the database "goes away" without touching it."""

    def __init__(self, host: str, port: int) -> None:
        self._target = (host, port)
        self._server: asyncio.Server | None = None
        self._pipes: set[asyncio.StreamWriter] = set()
        self.port = 0

    async def up(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def down(self) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()
        for writer in list(self._pipes):
            writer.close()
        self._pipes.clear()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream_reader, upstream_writer = await asyncio.open_connection(*self._target)
        self._pipes.update({writer, upstream_writer})

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            with contextlib.suppress(ConnectionError, OSError):
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            sink.close()

        await asyncio.gather(pipe(reader, upstream_writer), pipe(upstream_reader, writer))


async def _ready(service: Service) -> int:
    async with service.http.get(f"{service.url}/readyz") as response:
        return response.status


async def test_the_database_going_away_gets_try_again_cards_and_recovers_by_itself(
    database: Database, connector: StandInConnector, engine_name: str
) -> None:
    if engine_name != "postgresql":
        pytest.skip("cut through a TCP proxy: PostgreSQL only (SQLite is a local file)")
    base = database.url
    proxy = SwitchableProxy(base.host or "127.0.0.1", base.port or 5432)
    await proxy.up()
    proxied: URL = base.set(host="127.0.0.1", port=proxy.port)
    settings = settings_for(database, database_url=proxied.render_as_string(hide_password=False))
    running = await run_service(settings, connector, "tenant-faults")
    service = running.service
    try:
        assert "new lead" in texts(await service.say("help"))
        assert await _ready(service) == 200

        await proxy.down()
        card = await service.say("new lead While the database is away")
        assert "try again" in texts(card)
        assert await _ready(service) == 503
        press = await service.press("my_leads", {})
        assert "try again" in texts(press)

        await proxy.up()
        deadline = time.monotonic() + 15
        while await _ready(service) != 200:
            assert time.monotonic() < deadline, "did not recover"
            await asyncio.sleep(0.2)
        card = await service.say("new lead After the database came back")
        assert "After the database came back" in texts(card)
        mine = await service.say("my leads")
        assert "While the database is away" not in texts(mine)
    finally:
        await running.stop()
        with contextlib.suppress(AssertionError):
            await proxy.down()


# --- SIGTERM ---------------------------------------------------------------------------------


class SlowConnector:
    """Answers the bot's replies after a delay, so its turns are in flight when asked."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.received = 0
        self.answered = 0
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/v3/conversations/{cid}/activities/{aid}", self._reply)
        app.router.add_post("/v3/conversations/{cid}/activities", self._reply)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}/"  # type: ignore[union-attr]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _reply(self, request: web.Request) -> web.Response:
        self.received += 1
        await request.read()
        await asyncio.sleep(self.delay)
        self.answered += 1
        return web.json_response({"id": f"reply-{self.received}"})


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
async def slow_connector() -> AsyncIterator[SlowConnector]:
    connector = SlowConnector(delay=1.5)
    await connector.start()
    yield connector
    await connector.stop()


def _serve(tmp_path: Path, port: int, processes: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "PORT": str(port),
        "TEAMCRM_HOST": "127.0.0.1",
        "TEAMCRM_DATABASE_URL": f"sqlite:///{tmp_path / 'serve.db'}",
        "TEAMCRM_DISPATCHER": "0",
        "TEAMCRM_PROCESSES": str(processes),
        "MicrosoftAppId": "",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "serve"],  # `teamcrm serve`
        cwd=tmp_path,
        env={**env, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


async def _wait_healthy(
    http: aiohttp.ClientSession, process: subprocess.Popen[bytes], url: str
) -> None:
    deadline = time.monotonic() + 30
    while True:
        assert process.poll() is None, process.stderr.read() if process.stderr else ""
        with contextlib.suppress(aiohttp.ClientError):
            async with http.get(f"{url}/healthz") as response:
                if response.status == 200:
                    return
        assert time.monotonic() < deadline, "teamcrm serve did not start"
        await asyncio.sleep(0.2)


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def _end(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        for child in _children(process.pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signal.SIGKILL)
        process.kill()
        process.wait(10)
    for stream in (process.stdout, process.stderr):
        if stream is not None:
            stream.close()


@pytest.mark.parametrize("processes", [1, 2])
async def test_sigterm_lets_turns_in_flight_finish_and_exits_cleanly(
    tmp_path: Path, slow_connector: SlowConnector, processes: int
) -> None:
    port = _free_port()
    process = _serve(tmp_path, port, processes)
    url = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as http:
            await _wait_healthy(http, process, url)
            assert len(_children(process.pid)) == (processes if processes > 1 else 0)

            async def say(index: int) -> int:
                activity = activities.message(
                    "help", service_url=slow_connector.url, tenant_id="tenant-sigterm", user=ALICE
                )
                activity["conversation"]["id"] = f"a:sigterm-{index}"
                async with http.post(f"{url}/api/messages", json=activity) as response:
                    return response.status

            turns = [asyncio.create_task(say(i)) for i in range(5)]
            while slow_connector.received < 5:
                await asyncio.sleep(0.05)
            assert slow_connector.answered == 0  # every turn is waiting on its reply
            process.send_signal(signal.SIGTERM)
            statuses = await asyncio.gather(*turns)
        assert statuses == [201] * 5
        assert slow_connector.answered == 5
        assert await asyncio.to_thread(process.wait, 30) == 0
    finally:
        _end(process)


async def test_a_service_process_that_dies_stops_the_service_with_an_error(
    tmp_path: Path,
) -> None:
    """Half a service must not go on looking healthy: the supervisor restarts the whole."""
    port = _free_port()
    process = _serve(tmp_path, port, 2)
    try:
        async with aiohttp.ClientSession() as http:
            await _wait_healthy(http, process, f"http://127.0.0.1:{port}")
        first, second = _children(process.pid)
        os.kill(first, signal.SIGKILL)
        assert await asyncio.to_thread(process.wait, 30) == 1
        assert not Path(f"/proc/{second}").exists() or _zombie(second)
    finally:
        _end(process)


def _zombie(pid: int) -> bool:
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split(")")[-1].split()[0] == "Z"
