"""The benchmarks' other servers, each run in its own process by bench/service.py and
bench/notify.py (``python bench/servers.py MODE --port N``):

- ``bare``: aiohttp answering a small JSON body, the floor of any Python HTTP service here;
- ``echo``: the stock botbuilder 4.17.1 echo bot (``CloudAdapter(ConfigurationBotFramework
  Authentication(config))``, anonymous) echoing messages through the connector and answering an
  ``Action.Execute`` invoke with a small card;
- ``connector``: the tests' stand-in Bot Connector counting instead of keeping what it gets,
  optionally enforcing Teams' send limits with 429s (``--limits``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
import time
from collections import defaultdict, deque
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
if sys.path[1:2] and Path(sys.path[1]).resolve() == Path(__file__).resolve().parent:
    del sys.path[1]  # bench/storage.py must not shadow the storage package

from aiohttp import web

from tests.support.connector import Sent, StandInConnector

CARD_CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"
SMALL_CARD = {
    "type": "AdaptiveCard",
    "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
    "version": "1.5",
    "body": [{"type": "TextBlock", "text": "Done", "wrap": True}],
}
ARRIVALS_KEPT = 10_000
ERROR_TITLE = "That didn't work"

# Teams: per bot and conversation 7/1 s, 8/2 s, 60/30 s, 1800/h; per app and tenant 30/1 s.
CONVERSATION_WINDOWS = ((7, 1.0), (8, 2.0), (60, 30.0), (1800, 3600.0))
TENANT_WINDOWS = ((30, 1.0),)


# --- bare aiohttp ----------------------------------------------------------------------------


def bare_app() -> web.Application:
    async def handler(request: web.Request) -> web.Response:
        await request.read()
        return web.json_response({"status": "ok", "id": 1})

    async def health(_request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    app = web.Application()
    app.router.add_post("/api/messages", handler)
    app.router.add_get("/readyz", health)
    return app


# --- the stock echo bot ----------------------------------------------------------------------


class _Config:
    APP_ID = ""
    APP_PASSWORD = ""
    APP_TYPE = "MultiTenant"
    APP_TENANTID = ""


def echo_app() -> web.Application:
    from botbuilder.core import (  # noqa: PLC0415 - only this mode needs botbuilder
        ActivityHandler,
        InvokeResponse,
        MessageFactory,
        TurnContext,
    )
    from botbuilder.integration.aiohttp import (  # noqa: PLC0415
        CloudAdapter,
        ConfigurationBotFrameworkAuthentication,
    )
    from botbuilder.schema import AdaptiveCardInvokeResponse  # noqa: PLC0415

    class EchoBot(ActivityHandler):  # type: ignore[misc] - botbuilder is untyped
        async def on_message_activity(self, turn_context: TurnContext) -> None:
            text = turn_context.activity.text or ""
            await turn_context.send_activity(MessageFactory.text(f"echo: {text}"))

        async def on_invoke_activity(self, turn_context: TurnContext) -> Any:
            # 4.17.1's on_adaptive_card_invoke path answers 500 under CloudAdapter: answer here.
            if turn_context.activity.name == "adaptiveCard/action":
                # The stock adapter serializes the body as an msrest model: hand it one.
                body = AdaptiveCardInvokeResponse(
                    status_code=200, type=CARD_CONTENT_TYPE, value=SMALL_CARD
                )
                return InvokeResponse(status=200, body=body)
            return await super().on_invoke_activity(turn_context)

    adapter = CloudAdapter(ConfigurationBotFrameworkAuthentication(_Config()))
    bot = EchoBot()

    async def messages(request: web.Request) -> web.StreamResponse:
        response: web.StreamResponse = await adapter.process(request, bot)
        return response

    async def health(_request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    app = web.Application()
    app.router.add_post("/api/messages", messages)
    app.router.add_get("/readyz", health)
    return app


# --- the counting (and throttling) connector ---------------------------------------------------


class _Windows:
    """Sliding windows of arrival times per key; ``admit`` says whether one more fits."""

    def __init__(self, windows: tuple[tuple[int, float], ...]) -> None:
        self._windows = windows
        self._longest = max(n for n, _ in windows)
        self._times: dict[str, deque[float]] = defaultdict(lambda: deque(maxlen=self._longest))

    def fits(self, key: str, now: float) -> bool:
        times = self._times[key]
        return all(len(times) < n or now - times[-n] >= s for n, s in self._windows)

    def record(self, key: str, now: float) -> None:
        self._times[key].append(now)


def _is_error_card(body: dict[str, Any]) -> bool:
    """TeamCRM's refusal card starts with the error title (English, as the benchmark speaks)."""
    try:
        first = body["attachments"][0]["content"]["body"][0]
    except (KeyError, IndexError, TypeError):
        return False
    return isinstance(first, dict) and first.get("text") == ERROR_TITLE


class CountingConnector(StandInConnector):
    """Keeps counts and arrival times, not bodies (a run sends tens of thousands of cards)."""

    def __init__(self, *, limits: bool) -> None:
        super().__init__()
        self.limits = limits
        self.count = 0
        self.posts = 0
        self.puts = 0
        self.throttled = 0
        self.error_cards = 0
        self.arrivals: deque[tuple[float, str, str]] = deque(maxlen=ARRIVALS_KEPT)
        self._conversations = _Windows(CONVERSATION_WINDOWS)
        self._tenants = _Windows(TENANT_WINDOWS)

    async def _record(self, sent: Sent) -> None:
        self.count += 1
        if _is_error_card(sent.body):
            self.error_cards += 1
            if self.error_cards <= 3:  # say why, a few times, in the connector's log
                content = sent.body["attachments"][0]["content"]
                print("refusal card:", json.dumps(content["body"])[:600], flush=True)  # noqa: T201
        if sent.method == "PUT":
            self.puts += 1
        else:
            self.posts += 1
        self.arrivals.append((time.time(), sent.method, sent.conversation_id))

    async def _send(self, request: web.Request) -> web.Response:
        if self.limits:
            now = time.monotonic()
            cid = request.match_info["cid"]
            body = json.loads(await request.read() or b"{}")
            conversation = body.get("conversation") or {}
            tenant = conversation.get("tenantId") or "tenant"
            if not (self._conversations.fits(cid, now) and self._tenants.fits(tenant, now)):
                self.throttled += 1
                return web.json_response(
                    {"error": {"code": "TooManyRequests"}}, status=429, headers={"Retry-After": "1"}
                )
            self._conversations.record(cid, now)
            self._tenants.record(tenant, now)
        return await super()._send(request)

    async def start_on(self, port: int) -> web.AppRunner:
        self._arrivals = asyncio.Condition()
        app = web.Application(client_max_size=1024 * 1024)
        app.router.add_post("/v3/conversations", self._create_conversation)
        app.router.add_post("/v3/conversations/{cid}/activities", self._send)
        app.router.add_post("/v3/conversations/{cid}/activities/{aid}", self._send)
        app.router.add_put("/v3/conversations/{cid}/activities/{aid}", self._send)
        app.router.add_delete("/v3/conversations/{cid}/activities/{aid}", self._delete)
        app.router.add_get("/v3/conversations/{cid}/members/{uid}", self._member)
        app.router.add_get("/readyz", self._stats)
        app.router.add_get("/bench/stats", self._stats)
        app.router.add_post("/bench/reset", self._reset)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        self.url = f"http://127.0.0.1:{port}/"
        return runner

    async def _stats(self, request: web.Request) -> web.Response:
        stats: dict[str, Any] = {
            "sent": self.count,
            "posts": self.posts,
            "puts": self.puts,
            "throttled": self.throttled,
            "error_cards": self.error_cards,
            "created": len(self.created),
        }
        if request.query.get("arrivals"):
            stats["arrivals"] = list(self.arrivals)
        return web.json_response(stats)

    async def _reset(self, request: web.Request) -> web.Response:
        body = json.loads(await request.read() or b"{}")
        self.count = self.posts = self.puts = self.throttled = self.error_cards = 0
        self.arrivals.clear()
        self.created.clear()
        self._conversations = _Windows(CONVERSATION_WINDOWS)
        self._tenants = _Windows(TENANT_WINDOWS)
        if "limits" in body:
            self.limits = bool(body["limits"])
        return web.json_response({"ok": True})


async def _serve_connector(port: int, limits: bool) -> None:
    connector = CountingConnector(limits=limits)
    runner = await connector.start_on(port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("mode", choices=["bare", "echo", "connector"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--limits", action="store_true", help="connector: answer 429 past limits")
    args = parser.parse_args()
    if args.mode == "connector":
        asyncio.run(_serve_connector(args.port, args.limits))
        return 0
    app = bare_app() if args.mode == "bare" else echo_app()
    web.run_app(app, host="127.0.0.1", port=args.port, print=None, access_log=None)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
