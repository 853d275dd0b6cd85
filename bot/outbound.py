"""Replies, sends and updates to the Bot Connector over one aiohttp session.

The SDK's connector client (msrest) serializes every outgoing activity by walking the whole
Adaptive Card through its generic model serializer and then posts it with ``requests`` in a
thread: measured, that was a third of the CPU of a turn that answers with a message. Here the
activity's own fields are mapped once, the card dicts go straight to ``json.dumps``, and the
request goes out on the event loop. Everything else the SDK asks of the connector (members,
conversations, attachments) still goes through its own client.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum
from typing import Any
from urllib.parse import quote

import aiohttp
from botbuilder.schema import ResourceResponse
from botframework.connector.auth import AppCredentials
from msrest.serialization import Model
from multidict import CIMultiDict

from cards.elements import card_json_of

logger = logging.getLogger(__name__)

# Teams gives up on a turn after 15 s: a reply that takes longer is lost anyway.
SEND_TIMEOUT_SECONDS = 15.0
ERROR_BODY_MAX = 4096
TOKEN_REUSE_SECONDS = 60.0


@dataclass(frozen=True, slots=True)
class ConnectorResponse:
    """What callers read off a failed send (the shape of msrest's ``error.response``)."""

    status_code: int
    text: str
    headers: Mapping[str, str]


class ConnectorError(Exception):
    """The connector answered with an error status; ``response`` says which."""

    def __init__(self, method: str, response: ConnectorResponse) -> None:
        super().__init__(f"{method} to the connector answered HTTP {response.status_code}")
        self.response = response


def wire(value: Any) -> Any:
    """An msrest model as the JSON object the connector expects (camelCase keys, no nulls).

    Only models are walked; dicts and lists of plain values (card content, channel data) are
    left for ``json.dumps``, whose ``default`` brings back here anything it cannot encode.
    """
    if isinstance(value, Model):
        out: dict[str, Any] = {}
        for attribute, spec in type(value)._attribute_map.items():
            item = getattr(value, attribute, None)
            if item is None:
                continue
            out[spec["key"]] = _wire_item(item)
        return out
    return _wire_item(value)


def _wire_item(item: Any) -> Any:
    if isinstance(item, Model):
        return wire(item)
    if isinstance(item, list):
        return [wire(element) if isinstance(element, Model) else element for element in item]
    if isinstance(item, datetime):
        return _iso(item)
    if isinstance(item, Enum):
        return item.value
    return item


def _iso(moment: datetime) -> str:
    """msrest's ISO 8601 form: UTC (a naive time is taken as UTC), at least milliseconds, ``Z``."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    fraction = str(moment.microsecond).rjust(6, "0").rstrip("0").ljust(3, "0")
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + fraction + "Z"


def _default(value: Any) -> Any:
    if isinstance(value, Model | datetime | Enum):
        return wire(value)
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def dumps(activity: Any) -> bytes:
    return encode(wire(activity), default=_default).encode("utf-8")


# A string no card or activity holds (a NUL and this process's random token): where a measured
# card goes while the rest is encoded.
_HOLE = "\x00teamcrm-card-" + uuid.uuid4().hex + "-{}\x00"


def encode(value: Any, *, default: Callable[[Any], Any] | None = None) -> str:
    """Compact JSON of an answer or a wired activity. A card the card builders measured (see
    ``cards.elements.Measured``) is written where cards go, the answer's top-level values and
    the activity's attachments, as the JSON it was measured as rather than encoded again."""
    cards: list[str] = []

    def hole(item: Any) -> Any:
        encoded = card_json_of(item)
        if encoded is None:
            return item
        cards.append(encoded)
        return _HOLE.format(len(cards) - 1)

    if isinstance(value, dict):
        value = {key: hole(item) for key, item in value.items()}
        attachments = value.get("attachments")
        if isinstance(attachments, list):
            value["attachments"] = [
                {**a, "content": hole(a["content"])}
                if isinstance(a, dict) and "content" in a
                else a
                for a in attachments
            ]
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=default)
    for number, encoded in enumerate(cards):
        text = text.replace(json.dumps(_HOLE.format(number), ensure_ascii=False), encoded, 1)
    return text


class Outbound:
    """The process's HTTP session to connectors, opened on first use in the running loop."""

    def __init__(self) -> None:
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def session(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        if self._session is None or self._session.closed or self._loop is not loop:
            # A test (or a restart inside one process) may bring a new loop: the old session
            # belongs to the old one and cannot be used from here.
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=SEND_TIMEOUT_SECONDS),
                connector=aiohttp.TCPConnector(limit=100, limit_per_host=50),
            )
            self._loop = loop
        return self._session

    async def close(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None


class FastConversations:
    """``client.conversations`` with replies, sends and updates on aiohttp; any other
    operation is the SDK's own."""

    def __init__(self, inner: Any, base_url: str, credentials: Any, outbound: Outbound) -> None:
        self._inner = inner
        self._base = base_url.rstrip("/")
        self._credentials = credentials
        self._outbound = outbound
        self._header: tuple[str, float] | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def _url(self, conversation_id: str, activity_id: str | None = None) -> str:
        url = f"{self._base}/v3/conversations/{quote(conversation_id, safe='')}/activities"
        if activity_id:
            url += f"/{quote(activity_id, safe='')}"
        return url

    async def _authorization(self) -> str | None:
        """The bearer header, reused for a minute: MSAL answers from its cache but may block
        on the login service, so asking it means a worker thread per send. MSAL renews a token
        five minutes before it expires, so one it just gave out is good for a minute."""
        credentials = self._credentials
        if not isinstance(credentials, AppCredentials) or not credentials._should_set_token(None):
            return None
        now = time.monotonic()
        if self._header is not None and now - self._header[1] < TOKEN_REUSE_SECONDS:
            return self._header[0]
        token = await asyncio.get_running_loop().run_in_executor(None, credentials.get_access_token)
        self._header = (f"Bearer {token}", now)
        return self._header[0]

    async def _request(
        self, method: str, url: str, conversation_id: str, body: bytes
    ) -> str | None:
        """One call to the connector; the id it gave the activity, if it said one."""
        headers = {
            "Accept": "application/json",
            "Content-Type": "application/json; charset=utf-8",
            "x-ms-conversation-id": conversation_id,
        }
        authorization = await self._authorization()
        if authorization is not None:
            headers["Authorization"] = authorization
        async with self._outbound.session().request(
            method, url, data=body, headers=headers
        ) as response:
            raw = await response.read()
            if response.status >= 300:
                text = raw[:ERROR_BODY_MAX].decode("utf-8", errors="replace")
                raise ConnectorError(
                    method, ConnectorResponse(response.status, text, CIMultiDict(response.headers))
                )
        try:
            answer = json.loads(raw) if raw else {}
        except ValueError:
            answer = {}
        found = answer.get("id") if isinstance(answer, dict) else None
        return found if isinstance(found, str) else None

    async def post_encoded(
        self, conversation_id: str, activity_id: str | None, body: bytes
    ) -> str | None:
        """Send (POST) or, with ``activity_id``, update (PUT) an activity already encoded as
        JSON: the notification sender encodes one card once for many recipients."""
        method = "PUT" if activity_id else "POST"
        return await self._request(
            method, self._url(conversation_id, activity_id), conversation_id, body
        )

    async def reply_to_activity(
        self, conversation_id: str, activity_id: str, activity: Any, **_options: Any
    ) -> ResourceResponse:
        url = self._url(conversation_id, activity_id)
        return ResourceResponse(
            id=await self._request("POST", url, conversation_id, dumps(activity))
        )

    async def send_to_conversation(
        self, conversation_id: str, activity: Any, **_options: Any
    ) -> ResourceResponse:
        return ResourceResponse(id=await self.post_encoded(conversation_id, None, dumps(activity)))

    async def update_activity(
        self, conversation_id: str, activity_id: str, activity: Any, **_options: Any
    ) -> ResourceResponse:
        return ResourceResponse(
            id=await self.post_encoded(conversation_id, activity_id, dumps(activity))
        )


def speed_up(client: Any, outbound: Outbound) -> Any:
    """Give an SDK connector client the fast send path (once; the client is cached)."""
    conversations = getattr(client, "conversations", None)
    config = getattr(client, "config", None)
    base_url = getattr(config, "base_url", None)
    if conversations is None or isinstance(conversations, FastConversations):
        return client
    if not isinstance(base_url, str) or not base_url.startswith(("http://", "https://")):
        return client
    client.conversations = FastConversations(
        conversations, base_url, getattr(config, "credentials", None), outbound
    )
    return client
