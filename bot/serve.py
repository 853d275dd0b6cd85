"""``teamcrm serve``: the bot service (``python -m bot`` does the same)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import logging
import os
import signal
import socket
from dataclasses import replace
from typing import Any

from aiohttp import web

from bot.config import MAX_PROCESSES, Settings
from bot.logs import configure_logging

logger = logging.getLogger(__name__)


def register(subparsers: Any) -> None:
    serve = subparsers.add_parser(
        "serve",
        help="run the bot service",
        description="Run the bot: POST /api/messages, GET /healthz and GET /readyz.",
    )
    serve.add_argument("--host", help="interface to listen on (default 0.0.0.0, or TEAMCRM_HOST)")
    serve.add_argument("--port", type=int, help="TCP port (default 3978, or PORT)")
    serve.add_argument(
        "--processes",
        type=int,
        help="service processes sharing the port (default 1, or TEAMCRM_PROCESSES; one per core)",
    )
    serve.set_defaults(handler=run)
    worker = subparsers.add_parser(
        "worker",
        help="deliver follower notifications (scale-out: run several next to the service)",
        description="Drain the notification outbox without serving HTTP. Set "
        "TEAMCRM_DISPATCHER=0 on the service to leave delivery to workers only.",
    )
    worker.set_defaults(handler=run_worker)


def run(args: argparse.Namespace) -> int:
    try:
        settings = Settings.from_env()
    except ValueError as error:
        print(f"teamcrm serve: {error}")  # noqa: T201 - a CLI error goes to the terminal
        return 2
    configure_logging(secrets=[settings.app_password])
    host = args.host or settings.host
    port = args.port or settings.port
    processes = args.processes or settings.processes
    if not 1 <= processes <= MAX_PROCESSES:
        print(f"teamcrm serve: --processes must be 1 to {MAX_PROCESSES}")  # noqa: T201
        return 2
    from bot.app import create_app  # noqa: PLC0415 - keeps `teamcrm --help` fast

    if processes > 1:
        return _serve_many(settings, host, port, processes)
    logger.info("TeamCRM listening on %s:%s", host, port)
    web.run_app(serving(create_app(settings)), host=host, port=port, print=None, access_log=None)
    return 0


def settle_heap() -> None:
    """Hide what start-up built (modules, the SDK, table definitions: some 140,000 objects)
    from the cyclic garbage collector. Its full collections otherwise walk all of it every few
    seconds under load, pausing every turn in flight 50-70 ms (measured); afterwards they walk
    only what turns left alive, a few ms. Reference counting still frees hidden objects."""
    gc.collect()
    gc.freeze()


def serving(app: web.Application) -> web.Application:
    """``app`` as a long-lived service process runs it (tests run apps without this)."""

    async def started(_app: web.Application) -> None:
        settle_heap()  # after the runtime's start-up context: what it built is hidden too

    app.on_startup.append(started)
    return app


def _serve_many(settings: Settings, host: str, port: int, count: int) -> int:
    """Several service processes accepting on one socket, each with its own event loop and
    GIL. The parent migrates once, forks, forwards SIGTERM / SIGINT and waits; if a process
    dies on its own, the others are stopped too and the exit status says so, so whatever
    supervises the service (systemd, a container runtime) restarts the whole of it.

    Only the first process delivers notifications: Teams' rate limits are counted per
    process, and the others' changes reach it through the outbox within a poll interval.
    """
    from bot.app import create_app  # noqa: PLC0415 - imported before the fork, shared by all
    from storage.database import Database  # noqa: PLC0415

    if settings.auto_migrate:
        database = Database(settings.database_url)
        try:
            database.upgrade()
        finally:
            database.dispose()  # no connection may cross the fork
    listener = socket.create_server((host, port), backlog=1024)
    settle_heap()  # before the fork: pages the children only read stay shared
    children: dict[int, int] = {}
    for index in range(count):
        child = replace(
            settings, auto_migrate=False, run_dispatcher=settings.run_dispatcher and index == 0
        )
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the child, measured by the serve tests
            code = 1
            try:
                web.run_app(serving(create_app(child)), sock=listener, print=None, access_log=None)
                code = 0
            except BaseException:
                logger.exception("service process failed")
            finally:
                os._exit(code)
        children[pid] = index
    listener.close()
    logger.info("TeamCRM listening on %s:%s with %s processes", host, port, count)

    stopping = False

    def stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, stop)
    status = 0
    while children:
        try:
            pid, code = os.wait()
        except ChildProcessError:
            break
        children.pop(pid, None)
        failed = os.waitstatus_to_exitcode(code) != 0
        if failed or not stopping:
            logger.error("service process %s ended (status %s)", pid, code)
            status = 1
            if not stopping:
                stop(signal.SIGTERM, None)
    return status


def run_worker(_args: argparse.Namespace) -> int:
    """The dispatcher alone; stops cleanly on SIGINT / SIGTERM (in-flight sends finish)."""
    try:
        settings = Settings.from_env()
    except ValueError as error:
        print(f"teamcrm worker: {error}")  # noqa: T201 - a CLI error goes to the terminal
        return 2
    configure_logging(secrets=[settings.app_password])
    from bot.app import HOUSEKEEPING, build_runtime  # noqa: PLC0415 - keeps `teamcrm --help` fast
    from bot.housekeeping import housekeeping  # noqa: PLC0415 - likewise

    async def main() -> None:
        # Handlers first: a SIGTERM while starting up must still end the process cleanly.
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        runtime = await asyncio.to_thread(build_runtime, settings)
        settle_heap()
        logger.info("TeamCRM notification worker %s running", runtime.dispatcher.worker_id)
        try:
            await asyncio.gather(
                runtime.dispatcher.run(stop),
                housekeeping(runtime.database, runtime.background, stop, HOUSEKEEPING),
            )
        finally:
            runtime.executor.shutdown(wait=True)
            runtime.background.shutdown(wait=True)
            runtime.database.dispose()

    asyncio.run(main())
    return 0
