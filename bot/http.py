"""The aiohttp routes: ``/api/messages`` for the Bot Connector, ``/healthz`` and ``/readyz``.

Parsing and authentication happen here, before botbuilder sees the activity, so that every bad
request gets the right status: 400 for malformed JSON or activities, 401 for any token problem
(the SDK turns some of those into 500s), 413 past the size limit, never a 500 for bad input.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import Any

from aiohttp import web
from azure.core.exceptions import DeserializationError
from botbuilder.core import Bot, InvokeResponse, serializer_helper
from botbuilder.integration.aiohttp import CloudAdapter
from botbuilder.schema import Activity

from bot.inbound import activity_from
from bot.outbound import encode

logger = logging.getLogger(__name__)

ReadyCheck = Callable[[], Awaitable[bool]]


class MessagesEndpoint:
    """``POST /api/messages``: authenticate, run the turn, answer the invoke response."""

    def __init__(self, adapter: CloudAdapter, bot: Bot) -> None:
        self._adapter = adapter
        self._bot = bot

    async def __call__(self, request: web.Request) -> web.StreamResponse:
        if "application/json" not in request.headers.get("Content-Type", ""):
            return _problem(415, "expected application/json")
        try:
            raw = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return _problem(413, "request too large")
        try:
            body = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
            return _problem(400, "malformed JSON")
        if not _valid_unicode(body):
            return _problem(400, "malformed JSON")
        activity = _activity(body)
        if activity is None:
            return _problem(400, "not an activity")
        auth_header = request.headers.get("Authorization", "")
        try:
            authenticated = await self._adapter.bot_framework_authentication.authenticate_request(
                activity, auth_header
            )
        except Exception as error:  # noqa: BLE001 - any failure to authenticate is a 401
            logger.info("rejected unauthenticated request: %s", type(error).__name__)
            return _problem(401, "unauthorized")
        try:
            response: InvokeResponse | None = await self._adapter.process_activity(
                authenticated, activity, self._bot.on_turn
            )
        except Exception:
            # The turn's own errors become cards inside the bot; what lands here is the
            # connector failing us (a reply that could not be sent). Say so, without a 500.
            logger.exception("turn failed", extra={"activity_type": activity.type})
            return _problem(503, "temporarily unavailable")
        if response is None:
            return web.Response(status=201)
        if response.status == HTTPStatus.NOT_IMPLEMENTED:
            # botbuilder's answer to an invoke the bot does not offer (a name outside the
            # manifest): the caller's mistake, not a server fault to alert anyone about.
            return _problem(400, "unsupported invoke")
        return _invoke_http_response(response)


# The conversation id travels back in a header (x-ms-conversation-id) and in reply URLs; Teams
# ids are short printable ASCII, and anything else would fail the reply, not the request.
ID_MAX_CHARS = 1000


def _routable(value: Any) -> bool:
    return (
        isinstance(value, str)
        and 0 < len(value) <= ID_MAX_CHARS
        and value.isascii()
        and value.isprintable()
    )


def _activity(body: Any) -> Activity | None:
    """A deserialized activity, or ``None`` when the body is not one worth a turn.

    The raw JSON is checked before msrest sees it, because its deserializer turns any value into
    a string where a string is expected (a list becomes ``"['...']"``).
    """
    if not isinstance(body, dict):
        return None
    kind, service_url, conversation = (
        body.get("type"),
        body.get("serviceUrl"),
        body.get("conversation"),
    )
    if not isinstance(kind, str) or not kind:
        return None
    if not _routable(service_url) or not str(service_url).startswith(("https://", "http://")):
        return None
    if not isinstance(conversation, dict) or not _routable(conversation.get("id")):
        return None
    if any(body.get(key) is not None and not _routable(body[key]) for key in ("id", "replyToId")):
        return None
    try:
        activity = activity_from(body)
    except (DeserializationError, TypeError, ValueError, AttributeError):
        return None
    if activity.conversation is None:
        return None
    return activity


def _valid_unicode(body: Any) -> bool:
    """False when a string holds a lone surrogate (``"\\ud800"`` is valid JSON, not valid text):
    no database stores one, so such a body is refused before it reaches one."""
    pending = [body]
    while pending:  # iterative: nesting depth is the sender's choice
        value = pending.pop()
        if isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                return False
        elif isinstance(value, dict):
            pending.extend(value.keys())
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)
    return True


def _invoke_http_response(response: InvokeResponse) -> web.Response:
    body = response.body
    if body is not None and not isinstance(body, dict | list | str | int | float | bool):
        body = serializer_helper(body)
    status = int(response.status or 200)
    if body is None:
        return web.Response(status=status)
    return web.json_response(body, status=status, dumps=_dumps)


def _dumps(value: Any) -> str:
    return encode(value)


def _problem(status: int, detail: str) -> web.Response:
    return web.json_response({"error": detail}, status=status)


async def healthz(_request: web.Request) -> web.Response:
    """Alive: the process answers. Says nothing about the database on purpose."""
    return web.json_response({"status": "ok"})


def readyz(check: ReadyCheck) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handler(_request: web.Request) -> web.Response:
        try:
            ready = await check()
        except Exception:
            logger.warning("readiness check failed", exc_info=True)
            ready = False
        if ready:
            return web.json_response({"status": "ready"})
        return web.json_response({"status": "unavailable"}, status=503)

    return handler
