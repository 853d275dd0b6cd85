"""``teamcrm serve``: the bot service (``python -m bot`` does the same)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
from typing import Any

from aiohttp import web

from bot.config import Settings
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
    from bot.app import create_app  # noqa: PLC0415 - keeps `teamcrm --help` fast

    logger.info("TeamCRM listening on %s:%s", host, port)
    web.run_app(create_app(settings), host=host, port=port, print=None, access_log=None)
    return 0


def run_worker(_args: argparse.Namespace) -> int:
    """The dispatcher alone; stops cleanly on SIGINT / SIGTERM (in-flight sends finish)."""
    try:
        settings = Settings.from_env()
    except ValueError as error:
        print(f"teamcrm worker: {error}")  # noqa: T201 - a CLI error goes to the terminal
        return 2
    configure_logging(secrets=[settings.app_password])
    from bot.app import build_runtime  # noqa: PLC0415 - keeps `teamcrm --help` fast

    async def main() -> None:
        # Handlers first: a SIGTERM while starting up must still end the process cleanly.
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        runtime = await asyncio.to_thread(build_runtime, settings)
        logger.info("TeamCRM notification worker %s running", runtime.dispatcher.worker_id)
        try:
            await runtime.dispatcher.run(stop)
        finally:
            runtime.executor.shutdown(wait=True)
            runtime.database.dispose()

    asyncio.run(main())
    return 0
