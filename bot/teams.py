"""The Teams activity handler: who is speaking, is it new, then hand over to ``Actions``.

Everything that touches the database runs in the runtime's worker threads; this module only
reads activities, keeps per-process caches of what it already registered, and sends cards.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from datetime import UTC, tzinfo
from typing import Any, Protocol, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from botbuilder.core import InvokeResponse, MessageFactory, TurnContext
from botbuilder.core.teams import TeamsActivityHandler
from botbuilder.schema import Activity, ActivityTypes, Attachment

from bot.actions import Actions, Caller
from bot.commands import CommandParser
from bot.identity import ConversationRef, Speaker, reference_of, speaker_of
from cards.elements import Card
from cards.i18n import LOCALES, Translator, error_message, load_catalog
from cards.messages import error_card
from domain.errors import DomainError
from domain.ids import TenantId

logger = logging.getLogger(__name__)

CARD_CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"
ADAPTIVE_CARD_ACTION = "adaptiveCard/action"
COMPOSE_QUERY = "composeExtension/query"
SEEN_CACHE = 10_000
NOT_IMPLEMENTED = 501

T = TypeVar("T")


class Registry(Protocol):
    """Where the bot records who it met and how to reach them again (storage, in practice)."""

    def register_user(self, speaker: Speaker) -> None: ...
    def remember_conversation(self, reference: ConversationRef) -> None: ...
    def claim_activity(self, tenant_id: TenantId, activity_id: str) -> bool: ...


@dataclass(frozen=True, slots=True)
class BotOptions:
    allowed_tenants: frozenset[str] = frozenset()


class _Seen:
    """A bounded set of keys, so "register once per process" can't grow without limit."""

    def __init__(self, size: int = SEEN_CACHE) -> None:
        self._keys: OrderedDict[Any, None] = OrderedDict()
        self._size = size

    def __contains__(self, key: object) -> bool:
        return key in self._keys

    def add(self, key: object) -> None:
        self._keys[key] = None
        self._keys.move_to_end(key)
        while len(self._keys) > self._size:
            self._keys.popitem(last=False)


def command_parser() -> CommandParser:
    """Every alias of every language, so people can mix them."""
    aliases: dict[str, list[str]] = {}
    separators: list[str] = []
    for locale in LOCALES:
        commands = load_catalog(locale).commands
        for name, words in commands.items():
            if name == "for":
                separators.extend(words)
            else:
                aliases.setdefault(name, []).extend(words)
    return CommandParser(aliases, separators)


def card_attachment(card: Card) -> Attachment:
    return Attachment(content_type=CARD_CONTENT_TYPE, content=card)


class CrmBot(TeamsActivityHandler):
    def __init__(
        self,
        actions: Actions,
        registry: Registry,
        executor: Executor,
        options: BotOptions | None = None,
        *,
        on_change: Callable[[], None] | None = None,
    ) -> None:
        self._on_change = on_change or (lambda: None)
        self._actions = actions
        self._registry = registry
        self._executor = executor
        self._options = options or BotOptions()
        self._parser = command_parser()
        self._known_users = _Seen()
        self._known_conversations = _Seen()

    async def _run(self, work: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, work)

    # --- the turn ---------------------------------------------------------------------------

    async def on_turn(self, turn_context: TurnContext) -> None:
        activity = turn_context.activity
        zone = _timezone(activity)
        t = Translator.for_teams(
            activity.locale if isinstance(activity.locale, str) else None, tz=zone
        )
        speaker = speaker_of(activity)
        if speaker is None:
            await self._refuse(turn_context, t, "user.unidentified")
            return
        allowed = self._options.allowed_tenants
        if allowed and speaker.tenant_id not in allowed:
            logger.info("refused a tenant outside the allow-list")
            await self._refuse(turn_context, t, "tenant.not_allowed")
            return
        try:
            await self._run(lambda: self._remember(activity, speaker))
            fresh = await self._claim(activity, speaker)
        except DomainError as error:
            await self._refuse(turn_context, t, error.code)
            return
        except Exception as error:
            if getattr(error, "code", None) != "storage.unavailable":
                raise
            await self._refuse(turn_context, t, "storage.unavailable")
            return
        turn_context.turn_state["teamcrm.speaker"] = speaker
        turn_context.turn_state["teamcrm.caller"] = Caller(
            tenant_id=speaker.tenant_id,
            user_id=speaker.user_id,
            t=t,
            conversation_id=speaker.conversation_id,
            conversation_type=speaker.conversation_type,
            service_url=str(activity.service_url),
            bot_id=str(getattr(activity.recipient, "id", "") or ""),
            timezone=zone,
        )
        turn_context.turn_state["teamcrm.fresh"] = fresh
        await super().on_turn(turn_context)

    def _remember(self, activity: Activity, speaker: Speaker) -> None:
        """Register the user and keep their conversation reference, once per process."""
        user_key = (speaker.tenant_id, speaker.user_id, speaker.name, speaker.locale)
        if user_key not in self._known_users:
            self._registry.register_user(speaker)
            self._known_users.add(user_key)
        reference = reference_of(activity, speaker)
        conversation_key = (
            reference.tenant_id,
            reference.conversation_id,
            reference.service_url,
            reference.aad_object_id,
        )
        if conversation_key not in self._known_conversations:
            self._registry.remember_conversation(reference)
            self._known_conversations.add(conversation_key)

    async def _claim(self, activity: Activity, speaker: Speaker) -> bool:
        """False when Teams redelivers an activity we already applied."""
        applies = activity.type == ActivityTypes.message or (
            activity.type == ActivityTypes.invoke and activity.name == ADAPTIVE_CARD_ACTION
        )
        if not applies or not isinstance(activity.id, str) or not activity.id:
            return True
        activity_id = activity.id[:200]
        return await self._run(
            lambda: self._registry.claim_activity(speaker.tenant_id, activity_id)
        )

    async def _refuse(self, turn_context: TurnContext, t: Translator, code: str) -> None:
        """A polite card in place of the answer; invokes get it as their response."""
        card = error_card(t, code)
        activity = turn_context.activity
        if activity.type == ActivityTypes.invoke:
            await self._answer_invoke(turn_context, card)
        elif activity.type == ActivityTypes.message:
            await turn_context.send_activity(MessageFactory.attachment(card_attachment(card)))

    @staticmethod
    async def _answer_invoke(turn_context: TurnContext, card: Card) -> None:
        body = {"statusCode": 200, "type": CARD_CONTENT_TYPE, "value": card}
        await turn_context.send_activity(
            Activity(
                type=ActivityTypes.invoke_response, value=InvokeResponse(status=200, body=body)
            )
        )

    @staticmethod
    def _caller(turn_context: TurnContext) -> Caller:
        caller: Caller = turn_context.turn_state["teamcrm.caller"]
        return caller

    # --- messages ---------------------------------------------------------------------------

    async def on_message_activity(self, turn_context: TurnContext) -> None:
        if not turn_context.turn_state.get("teamcrm.fresh", True):
            return  # a redelivery: it was answered the first time
        caller = self._caller(turn_context)
        activity = turn_context.activity
        value = activity.value
        if isinstance(value, dict) and isinstance(value.get("verb"), str):
            # Action.Submit fallback (clients without Universal Actions): same verbs.
            verb_name = value["verb"]
            card = await self._run(lambda: self._actions.execute(caller, verb_name, value))
        else:
            raw = _without_mention(activity)
            command = self._parser.parse(raw if isinstance(raw, str) else "")
            card = await self._run(lambda: self._actions.command(caller, command))
        self._on_change()
        await turn_context.send_activity(MessageFactory.attachment(card_attachment(card)))

    # --- invokes ----------------------------------------------------------------------------

    async def on_invoke_activity(self, turn_context: TurnContext) -> InvokeResponse:
        activity = turn_context.activity
        if activity.name == ADAPTIVE_CARD_ACTION:
            return await self._on_card_action(turn_context)
        if activity.name == COMPOSE_QUERY:
            return await self._on_search(turn_context)
        # Nothing else is offered. botbuilder's handlers for other names (fileConsent, task,
        # composeExtension/...) read the value unchecked and crash on a malformed one.
        return InvokeResponse(status=NOT_IMPLEMENTED)

    async def _on_search(self, turn_context: TurnContext) -> InvokeResponse:
        """The compose box search: Teams gives up after 5 s, so this does one find and renders
        at most a handful of cards; a refusal becomes a message in the result list."""
        caller = self._caller(turn_context)
        text = _search_text(turn_context.activity.value)
        try:
            attachments = await self._run(lambda: self._actions.search(caller, text))
        except DomainError as error:
            message = error_message(caller.t, error.code, error.params)
            return InvokeResponse(
                status=200, body={"composeExtension": {"type": "message", "text": message}}
            )
        result = {"type": "result", "attachmentLayout": "list", "attachments": attachments}
        return InvokeResponse(status=200, body={"composeExtension": result})

    async def _on_card_action(self, turn_context: TurnContext) -> InvokeResponse:
        """Answer with the refreshed card in the HTTP response (the SDK's own path for this
        answers 500 in 4.17.1, so the invoke response is built here)."""
        caller = self._caller(turn_context)
        value = turn_context.activity.value
        action = value.get("action") if isinstance(value, dict) else None
        verb_name = action.get("verb") if isinstance(action, dict) else None
        data = action.get("data") if isinstance(action, dict) else None
        if not isinstance(verb_name, str):
            verb_name = "help"
        if not turn_context.turn_state.get("teamcrm.fresh", True):
            # Redelivered: don't apply twice, answer with the record's current card.
            verb_name = _show_verb(verb_name)
        card = await self._run(lambda: self._actions.execute(caller, verb_name, data))
        self._on_change()
        body = {"statusCode": 200, "type": CARD_CONTENT_TYPE, "value": card}
        return InvokeResponse(status=200, body=body)

    # --- installation -----------------------------------------------------------------------

    async def on_conversation_update_activity(self, turn_context: TurnContext) -> None:
        """Greet when the bot itself joins a conversation (install in chat, group or team).

        The SDK's Teams dispatch would fetch every added member from the connector first;
        the greeting needs none of that.
        """
        activity = turn_context.activity
        bot_id = getattr(activity.recipient, "id", None)
        added = activity.members_added or []
        if any(getattr(member, "id", None) == bot_id for member in added):
            caller = self._caller(turn_context)
            card = await self._run(lambda: self._actions.welcome(caller))
            await turn_context.send_activity(MessageFactory.attachment(card_attachment(card)))

    async def on_installation_update(self, turn_context: TurnContext) -> None:
        """Installation itself was recorded by ``on_turn``; the greeting comes with the
        conversation update Teams sends alongside."""


def _timezone(activity: Activity) -> tzinfo:
    """The user's time zone as Teams reports it (``localTimezone``), UTC when absent or odd."""
    name = getattr(activity, "local_timezone", None)
    if isinstance(name, str) and 0 < len(name) <= 64:
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            pass
    return UTC


def _without_mention(activity: Activity) -> Any:
    """The text with the bot's @mention removed; botbuilder reads mention entities unchecked,
    so a malformed one (no ``mentioned``, no recipient) leaves the text as it came."""
    if not activity.entities:
        return activity.text
    try:
        text = TurnContext.remove_recipient_mention(activity)
    except (AttributeError, KeyError, TypeError):
        return activity.text
    return text if text is not None else activity.text


def _search_text(value: object) -> str:
    """The ``query`` parameter of a compose-extension query, whatever else was sent."""
    parameters = value.get("parameters") if isinstance(value, dict) else None
    if not isinstance(parameters, list):
        return ""
    for parameter in parameters:
        if isinstance(parameter, dict) and parameter.get("name") == "query":
            text = parameter.get("value")
            return text if isinstance(text, str) else ""
    return ""


def _show_verb(verb_name: str) -> str:
    """The read-only verb that shows the record a verb acts on."""
    kind = verb_name.split(".", 1)[0]
    return {"lead": "lead.refresh", "account": "account.show", "contact": "contact.show"}.get(
        kind, "help"
    )
