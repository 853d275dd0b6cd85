"""Proactive sends to the Bot Connector, with failures sorted into what to do next.

Cards and updates go straight to the connector client the adapter caches per service URL
(``bot.adapter``, sending over ``bot.outbound``): the SDK's ``continue_conversation`` built a
turn context, a claims identity and a pipeline run around every one of a thousand sends. The
dispatcher hands one card object to everyone it fits, so each card is encoded to JSON once and
only the small envelope (conversation, recipient) is encoded per send.
botbuilder stays here: the dispatcher sees plain references, card dicts and ``DeliveryError``.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from botbuilder.core import TurnContext
from botbuilder.integration.aiohttp import CloudAdapter
from botbuilder.schema import (
    Activity,
    ActivityTypes,
    AttachmentLayoutTypes,
    ChannelAccount,
    ConversationAccount,
    ConversationParameters,
    InputHints,
)

from bot.outbound import FastConversations
from bot.teams import CARD_CONTENT_TYPE, card_attachment
from cards.elements import card_json_of

logger = logging.getLogger(__name__)

SEND_TIMEOUT = 15.0
RETRYABLE = frozenset({412, 429, 500, 502, 503, 504})
CARDS_ENCODED_KEPT = 32  # a batch draws a handful of distinct cards
# What follows the envelope's other fields in a card activity, up to the card itself.
_ATTACHMENT_HEAD = (
    f',"attachments":[{{"contentType":{json.dumps(CARD_CONTENT_TYPE)},"content":'.encode()
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Target:
    """Where a card goes: a stored conversation reference, as plain values."""

    tenant_id: str
    service_url: str
    conversation_id: str
    channel_id: str
    bot_id: str
    user_id: str | None = None


class DeliveryError(Exception):
    def __init__(
        self,
        detail: str,
        *,
        status: int | None = None,
        code: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.retry_after = retry_after

    @property
    def unreachable(self) -> bool:
        """The person removed or blocked the bot, or the chat is gone: stop writing there."""
        return self.status == 404 or (self.status == 403 and self.code == "MessageWritesBlocked")

    @property
    def retryable(self) -> bool:
        return self.status is None or self.status in RETRYABLE


def _error(error: Exception) -> DeliveryError:
    response: Any = getattr(error, "response", None)
    status = getattr(response, "status_code", None) if response is not None else None
    if not isinstance(status, int):
        return DeliveryError(type(error).__name__)
    code = None
    try:
        body = json.loads(response.text if isinstance(response.text, str) else response.text())
        code = body.get("error", {}).get("code")
    except (ValueError, TypeError, AttributeError):
        code = None
    retry_after = None
    header = response.headers.get("Retry-After") if response.headers is not None else None
    if header:
        try:
            retry_after = max(float(header), 0.0)
        except ValueError:
            retry_after = None
    return DeliveryError(
        f"HTTP {status} {code or ''}".strip(), status=status, code=code, retry_after=retry_after
    )


class Sender:
    def __init__(self, adapter: CloudAdapter, app_id: str) -> None:
        self._adapter = adapter
        self._app_id = app_id
        self._clients: dict[str, Any] = {}
        self._encoded = _EncodedCards()

    async def _conversations(self, service_url: str) -> Any:
        """The connector's conversations operations for ``service_url``: the client the adapter
        would build for ``continue_conversation`` (same claims, same audience), from its cache."""
        client = self._clients.get(service_url)
        if client is None:
            adapter = self._adapter
            claims = adapter.create_claims_identity(self._app_id)
            factory = adapter.bot_framework_authentication.create_connector_factory(claims)
            client = await factory.create(service_url, None)
            self._clients[service_url] = client
        return client.conversations

    @staticmethod
    def _activity(target: Target, card: dict[str, Any], activity_id: str | None = None) -> Any:
        """What ``continue_conversation`` + ``send_activity`` put on the wire, minus the made-up
        ``replyToId`` of the continuation turn (a proactive send is a new message)."""
        return Activity(
            type=ActivityTypes.message,
            id=activity_id,
            service_url=target.service_url,
            channel_id=target.channel_id,
            from_property=ChannelAccount(id=target.bot_id),
            conversation=ConversationAccount(id=target.conversation_id, tenant_id=target.tenant_id),
            recipient=ChannelAccount(id=target.user_id) if target.user_id else None,
            attachment_layout=AttachmentLayoutTypes.list,
            input_hint=None if activity_id else InputHints.accepting_input,
            attachments=[card_attachment(card)],
        )

    async def _post(
        self, target: Target, card: dict[str, Any], activity_id: str | None = None
    ) -> str | None:
        """Send (or, with ``activity_id``, update) through ``FastConversations`` with the card's
        JSON encoded once for all its recipients; any other client takes the SDK's path."""
        try:
            async with asyncio.timeout(SEND_TIMEOUT):
                conversations = await self._conversations(target.service_url)
                body = self._encoded.body(target, card, activity_id)
                if not isinstance(conversations, FastConversations) or body is None:
                    activity = self._activity(target, card, activity_id)
                    if activity_id:
                        await conversations.update_activity(
                            target.conversation_id, activity_id, activity
                        )
                        return activity_id
                    response = await conversations.send_to_conversation(
                        target.conversation_id, activity
                    )
                    found = getattr(response, "id", None)
                    return found if isinstance(found, str) else None
                found = await conversations.post_encoded(target.conversation_id, activity_id, body)
                return activity_id or found
        except TimeoutError:
            raise DeliveryError("timeout") from None
        except Exception as error:  # aiohttp, msrest and connector errors alike
            raise _error(error) from error

    async def send(self, target: Target, card: dict[str, Any]) -> str | None:
        """Post a new message; returns its activity id (needed to update it later)."""
        return await self._post(target, card)

    async def update(self, target: Target, activity_id: str, card: dict[str, Any]) -> None:
        """Replace a card already sent (grouped changes arrive as one card)."""
        await self._post(target, card, activity_id)

    async def open_personal(
        self, *, tenant_id: str, service_url: str, user_id: str, bot_id: str
    ) -> str:
        """Open (or find) the 1:1 chat with a user the bot knows only by their ids."""
        parameters = ConversationParameters(
            is_group=False,
            bot=ChannelAccount(id=bot_id),
            members=[ChannelAccount(id=user_id)],
            tenant_id=tenant_id,
            channel_data={"tenant": {"id": tenant_id}},
        )
        created: dict[str, str] = {}

        async def callback(context: TurnContext) -> None:
            conversation = context.activity.conversation
            created["id"] = conversation.id if conversation else ""

        try:
            await asyncio.wait_for(
                self._adapter.create_conversation(
                    self._app_id, callback, parameters, "msteams", service_url, None
                ),
                SEND_TIMEOUT,
            )
        except TimeoutError:
            raise DeliveryError("timeout") from None
        except Exception as error:
            raise _error(error) from error
        if not created.get("id"):
            raise DeliveryError("no conversation id")
        return created["id"]


class _EncodedCards:
    """Each card's JSON, kept while the dispatcher is still handing that card out. Cards are
    never changed once drawn; the card object itself is held, so its id is not reused."""

    def __init__(self) -> None:
        self._cards: OrderedDict[int, tuple[dict[str, Any], bytes]] = OrderedDict()

    def card(self, card: dict[str, Any]) -> bytes | None:
        found = self._cards.get(id(card))
        if found is not None and found[0] is card:
            self._cards.move_to_end(id(card))
            return found[1]
        try:
            # A card the builders measured carries its JSON already (cards.elements.Measured).
            text = card_json_of(card) or json.dumps(card, ensure_ascii=False, separators=(",", ":"))
        except (TypeError, ValueError):  # not plain JSON: let the connector client encode it
            return None
        encoded = text.encode()
        self._cards[id(card)] = (card, encoded)
        if len(self._cards) > CARDS_ENCODED_KEPT:
            self._cards.popitem(last=False)
        return encoded

    def body(self, target: Target, card: dict[str, Any], activity_id: str | None) -> bytes | None:
        """The activity ``Sender._activity`` describes, as ``bot.outbound.dumps`` writes it."""
        encoded = self.card(card)
        if encoded is None:
            return None
        envelope: dict[str, Any] = {"type": "message"}
        if activity_id:
            envelope["id"] = activity_id
        envelope["serviceUrl"] = target.service_url
        envelope["channelId"] = target.channel_id
        envelope["from"] = {"id": target.bot_id}
        envelope["conversation"] = {"id": target.conversation_id, "tenantID": target.tenant_id}
        if target.user_id:
            envelope["recipient"] = {"id": target.user_id}
        envelope["attachmentLayout"] = "list"
        if not activity_id:
            envelope["inputHint"] = "acceptingInput"
        head = json.dumps(envelope, ensure_ascii=False, separators=(",", ":")).encode()
        return b"".join((head[:-1], _ATTACHMENT_HEAD, encoded, b"}]}"))
