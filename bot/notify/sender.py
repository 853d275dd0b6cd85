"""Proactive sends through the CloudAdapter, with failures sorted into what to do next.

botbuilder stays here: the dispatcher sees plain references, card dicts and ``DeliveryError``.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from typing import Any

from botbuilder.core import MessageFactory, TurnContext
from botbuilder.integration.aiohttp import CloudAdapter
from botbuilder.schema import (
    ChannelAccount,
    ConversationAccount,
    ConversationParameters,
    ConversationReference,
)

from bot.teams import card_attachment

logger = logging.getLogger(__name__)

SEND_TIMEOUT = 15.0
RETRYABLE = frozenset({412, 429, 500, 502, 503, 504})


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

    def _reference(self, target: Target) -> ConversationReference:
        return ConversationReference(
            service_url=target.service_url,
            channel_id=target.channel_id,
            conversation=ConversationAccount(id=target.conversation_id, tenant_id=target.tenant_id),
            bot=ChannelAccount(id=target.bot_id),
            user=ChannelAccount(id=target.user_id) if target.user_id else None,
        )

    async def _proactive(self, target: Target, work: Any) -> Any:
        result: dict[str, Any] = {}

        async def callback(context: TurnContext) -> None:
            result["value"] = await work(context)

        try:
            await asyncio.wait_for(
                self._adapter.continue_conversation(
                    self._reference(target), callback, bot_app_id=self._app_id
                ),
                SEND_TIMEOUT,
            )
        except TimeoutError:
            raise DeliveryError("timeout") from None
        except DeliveryError:
            raise
        except Exception as error:  # the SDK raises msrest/requests/aiohttp errors alike
            raise _error(error) from error
        return result.get("value")

    async def send(self, target: Target, card: dict[str, Any]) -> str | None:
        """Post a new message; returns its activity id (needed to update it later)."""

        async def work(context: TurnContext) -> str | None:
            response = await context.send_activity(MessageFactory.attachment(card_attachment(card)))
            return getattr(response, "id", None)

        value = await self._proactive(target, work)
        return value if isinstance(value, str) else None

    async def update(self, target: Target, activity_id: str, card: dict[str, Any]) -> None:
        """Replace a card already sent (grouped changes arrive as one card)."""

        async def work(context: TurnContext) -> None:
            activity = MessageFactory.attachment(card_attachment(card))
            activity.id = activity_id
            await context.update_activity(activity)

        await self._proactive(target, work)

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
