"""A stand-in Bot Connector service on loopback that records what the bot sends.

Teams itself is out of reach in tests, so this plays the connector's side of the HTTP contract
(the routes botbuilder calls) and lets a test script failures (429 with Retry-After, 403, 5xx).
Benchmarks reuse it, so it is built for speed as much as for inspection.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections import defaultdict, deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class Sent:
    """One request the bot made to the connector."""

    method: str
    path: str
    conversation_id: str
    body: dict[str, Any]
    authorization: str | None

    @property
    def cards(self) -> list[dict[str, Any]]:
        return [
            a.get("content", {})
            for a in self.body.get("attachments") or []
            if a.get("contentType") == "application/vnd.microsoft.card.adaptive"
        ]


@dataclass
class Failure:
    status: int
    body: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)


class StandInConnector:
    """Start with ``await connector.start()``; ``url`` is the serviceUrl to put in activities."""

    def __init__(self) -> None:
        self.sent: list[Sent] = []
        self.created: list[dict[str, Any]] = []
        self.failures: dict[str, deque[Failure]] = defaultdict(deque)
        self.members: dict[str, dict[str, Any]] = {}
        self.delay = 0.0  # seconds before answering a send: lets a test catch work in flight
        self.serial = False  # answer sends one at a time (a slow connector, not just a far one)
        self._one_at_a_time = asyncio.Lock()
        self._ids = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self._arrivals: asyncio.Condition | None = None
        self.url = ""

    # --- scripting -------------------------------------------------------------------------

    def fail_next(self, conversation_id: str, *failures: Failure) -> None:
        """The next sends to that conversation answer these failures, in order."""
        self.failures[conversation_id].extend(failures)

    def add_member(self, user_id: str, *, aad_object_id: str, name: str, email: str) -> None:
        self.members[user_id] = {
            "id": user_id,
            "name": name,
            "aadObjectId": aad_object_id,
            "email": email,
            "userPrincipalName": email,
            "userRole": "user",
        }

    def to(self, conversation_id: str) -> list[Sent]:
        return [s for s in self.sent if s.conversation_id == conversation_id]

    async def wait_for(self, count: int, timeout: float = 5.0) -> list[Sent]:
        """Wait until at least ``count`` sends arrived (proactive sends are asynchronous)."""
        assert self._arrivals is not None
        async with self._arrivals:
            await asyncio.wait_for(
                self._arrivals.wait_for(lambda: len(self.sent) >= count), timeout
            )
        return self.sent

    # --- lifecycle -------------------------------------------------------------------------

    async def start(self, port: int = 0) -> str:
        self._arrivals = asyncio.Condition()
        app = web.Application()
        app.router.add_post("/v3/conversations", self._create_conversation)
        app.router.add_post("/v3/conversations/{cid}/activities", self._send)
        app.router.add_post("/v3/conversations/{cid}/activities/{aid}", self._send)
        app.router.add_put("/v3/conversations/{cid}/activities/{aid}", self._send)
        app.router.add_delete("/v3/conversations/{cid}/activities/{aid}", self._delete)
        app.router.add_get("/v3/conversations/{cid}/members/{uid}", self._member)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}/"
        return self.url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # --- routes ----------------------------------------------------------------------------

    def _failure(self, conversation_id: str) -> web.Response | None:
        queue = self.failures.get(conversation_id)
        if not queue:
            return None
        failure = queue.popleft()
        return web.json_response(failure.body, status=failure.status, headers=failure.headers)

    async def _record(self, sent: Sent) -> None:
        assert self._arrivals is not None
        async with self._arrivals:
            self.sent.append(sent)
            self._arrivals.notify_all()

    async def _send(self, request: web.Request) -> web.Response:
        cid = request.match_info["cid"]
        failed = self._failure(cid)
        if failed is not None:
            return failed
        body = json.loads(await request.read() or b"{}")
        if self.serial:
            async with self._one_at_a_time:
                await self._answer_later(request, cid, body)
        else:
            await self._answer_later(request, cid, body)
        return web.json_response({"id": f"activity-{next(self._ids)}"})

    async def _answer_later(self, request: web.Request, cid: str, body: dict[str, Any]) -> None:
        if self.delay:
            await asyncio.sleep(self.delay)
        await self._record(
            Sent(
                method=request.method,
                path=request.path,
                conversation_id=cid,
                body=body,
                authorization=request.headers.get("Authorization"),
            )
        )

    async def _delete(self, request: web.Request) -> web.Response:
        return web.Response(status=200)

    async def _create_conversation(self, request: web.Request) -> web.Response:
        body = json.loads(await request.read() or b"{}")
        members = body.get("members") or [{}]
        key = f"create:{members[0].get('id', '')}"
        failed = self._failure(key)
        if failed is not None:
            return failed
        self.created.append(body)
        conversation_id = f"a:1on1-{members[0].get('id', 'unknown')}"
        return web.json_response({"id": conversation_id, "activityId": f"act-{next(self._ids)}"})

    async def _member(self, request: web.Request) -> web.Response:
        member = self.members.get(request.match_info["uid"])
        if member is None:
            return web.json_response(
                {"error": {"code": "MemberNotFoundInConversation"}}, status=404
            )
        return web.json_response(member)
