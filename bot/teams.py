"""The Teams activity handler: who is speaking, is it new, then hand over to ``Actions``.

Everything that touches the database runs in one call per turn, in the runtime's worker
threads (on SQLite, on the event loop: see ``worker_threads_for``); this module only reads
activities, keeps per-process caches of what it already registered, and sends cards.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Callable, Iterator
from concurrent.futures import Executor
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import UTC, tzinfo
from functools import partial
from typing import Any, Protocol, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from botbuilder.core import BotAdapter, InvokeResponse, MessageFactory, TurnContext
from botbuilder.core.teams import TeamsActivityHandler
from botbuilder.schema import Activity, ActivityTypes, Attachment

from bot.actions import Actions, Caller
from bot.commands import CommandParser
from bot.identity import ConversationRef, Speaker, reference_of, speaker_of
from cards import verbs
from cards.elements import Card
from cards.i18n import LOCALES, Translator, error_message, load_catalog
from cards.messages import error_card
from domain.errors import AlreadyApplied, Conflict, DomainError
from domain.ids import TenantId

logger = logging.getLogger(__name__)

CARD_CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"
ADAPTIVE_CARD_ACTION = "adaptiveCard/action"
COMPOSE_QUERY = "composeExtension/query"
SEEN_CACHE = 10_000
NOT_IMPLEMENTED = 501
PROLOGUE = "teamcrm.prologue"
# Where CloudAdapter looks for a turn's invoke response (a protected SDK constant).
INVOKE_RESPONSE: str = BotAdapter._INVOKE_RESPONSE_KEY

T = TypeVar("T")


class Registry(Protocol):
    """Where the bot records who it met and how to reach them again (storage, in practice)."""

    def register_user(self, speaker: Speaker) -> None: ...
    def remember_conversation(self, reference: ConversationRef) -> None: ...
    def claim_activity(self, tenant_id: TenantId, activity_id: str) -> bool: ...
    def claim_on_commit(
        self, tenant_id: TenantId, activity_id: str
    ) -> AbstractContextManager[PendingClaim]: ...


class PendingClaim(Protocol):
    """An activity id the next commit records; ``done`` once one did."""

    @property
    def done(self) -> bool: ...


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
        executor: Executor | None,
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
        if self._executor is None:
            return work()  # on the loop: see worker_threads_for (bot/config.py)
        return await asyncio.get_running_loop().run_in_executor(self._executor, work)

    async def _in_turn(self, turn_context: TurnContext, work: Callable[[], T]) -> T:
        """The turn's database work in one call (one trip to a worker thread, where there are
        any), after (once per turn) noting who is speaking and where. One hop instead of three
        is a measurable share of a short turn."""
        prologue: _Prologue = turn_context.turn_state[PROLOGUE]

        def run() -> T:
            prologue.run()
            return work()

        return await self._run(run)

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
        prologue = _Prologue(self, activity, speaker)
        turn_context.turn_state[PROLOGUE] = prologue
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
        try:
            if activity.type == ActivityTypes.invoke:
                # As the SDK's handler would, minus its deep copy of the whole response card.
                response = await self.on_invoke_activity(turn_context)
                if response is not None and not turn_context.turn_state.get(INVOKE_RESPONSE):
                    _set_invoke_response(turn_context, response)
            else:
                await super().on_turn(turn_context)
            if not prologue.done:
                # Nothing to answer (an installation, a reaction...): still note who and where,
                # which is how notifications reach a person who never wrote to the bot.
                await self._run(prologue.run)
        except _Refused as refused:
            await self._refuse(turn_context, t, refused.code)

    def _remember(self, activity: Activity, speaker: Speaker) -> None:
        """Register the user and keep their conversation reference, once per process."""
        user_key = (speaker.tenant_id, speaker.user_id, speaker.name, speaker.locale)
        if user_key not in self._known_users:
            try:
                self._registry.register_user(speaker)
                self._known_users.add(user_key)
            except Conflict:
                # A turn of the same user registered them meanwhile (a redelivered message
                # arrives with its original): what this one would have written is there.
                logger.info("user registered by a concurrent turn")
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

    def _claim(self, activity: Activity, speaker: Speaker) -> bool:
        """False when Teams redelivers an activity we already applied."""
        activity_id = _claim_id(activity)
        return activity_id is None or self._registry.claim_activity(speaker.tenant_id, activity_id)

    async def _refuse(self, turn_context: TurnContext, t: Translator, code: str) -> None:
        """A polite card in place of the answer; invokes get it as their response."""
        card = error_card(t, code)
        activity = turn_context.activity
        if activity.type == ActivityTypes.invoke:
            body = {"statusCode": 200, "type": CARD_CONTENT_TYPE, "value": card}
            _set_invoke_response(turn_context, InvokeResponse(status=200, body=body))
        elif activity.type == ActivityTypes.message:
            await turn_context.send_activity(MessageFactory.attachment(card_attachment(card)))

    @staticmethod
    def _caller(turn_context: TurnContext) -> Caller:
        caller: Caller = turn_context.turn_state["teamcrm.caller"]
        return caller

    # --- messages ---------------------------------------------------------------------------

    async def on_message_activity(self, turn_context: TurnContext) -> None:
        caller = self._caller(turn_context)
        activity = turn_context.activity
        value = activity.value
        work: Callable[[], Card]
        if isinstance(value, dict) and isinstance(value.get("verb"), str):
            # Action.Submit fallback (clients without Universal Actions): same verbs.
            verb_name = value["verb"]
            work = partial(self._actions.execute, caller, verb_name, value)
        else:
            raw = _without_mention(activity)
            command = self._parser.parse(raw if isinstance(raw, str) else "")
            work = partial(self._actions.command, caller, command)
        prologue: _Prologue = turn_context.turn_state[PROLOGUE]
        card = await self._in_turn(turn_context, partial(self._claimed, caller, prologue, work))
        if card is None:
            return
        self._on_change()
        await turn_context.send_activity(MessageFactory.attachment(card_attachment(card)))

    def _claimed(
        self, caller: Caller, prologue: _Prologue, work: Callable[[], Card]
    ) -> Card | None:
        """Every message is claimed, so a redelivered one gets no second answer: with the change
        it makes, in the same transaction (as card actions are), or, when it changes nothing,
        once its answer is ready. None for a redelivery."""
        activity_id = _claim_id(prologue.activity)
        if activity_id is None:
            return work()
        try:
            with self._registry.claim_on_commit(caller.tenant_id, activity_id) as pending:
                card = work()
        except AlreadyApplied:
            return None
        return card if pending.done or prologue.claim() else None

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
            attachments = await self._in_turn(
                turn_context, lambda: self._actions.search(caller, text)
            )
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
        name: str = verb_name
        activity_id = _claim_id(turn_context.activity)

        def work() -> Card:
            # Showing a card twice is harmless: only verbs that change something are claimed,
            # in the same transaction as the change, so a change and its claim land together.
            if activity_id is None or name in verbs.READ_ONLY:
                return self._actions.execute(caller, name, data)
            try:
                with self._registry.claim_on_commit(caller.tenant_id, activity_id):
                    return self._actions.execute(caller, name, data)
            except AlreadyApplied:
                # Redelivered: not applied twice; the answer is the record's current card.
                return self._actions.execute(caller, _show_verb(name), data)

        card = await self._in_turn(turn_context, work)
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
            card = await self._in_turn(turn_context, lambda: self._actions.welcome(caller))
            await turn_context.send_activity(MessageFactory.attachment(card_attachment(card)))

    async def on_installation_update(self, turn_context: TurnContext) -> None:
        """Installation itself was recorded by ``on_turn``; the greeting comes with the
        conversation update Teams sends alongside."""


class _Refused(Exception):
    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


class _Prologue:
    """What every turn does first, within its first database call. Storage
    failures here become a refusal card: the turn has not changed anything yet."""

    def __init__(self, bot: CrmBot, activity: Activity, speaker: Speaker) -> None:
        self._bot = bot
        self._activity = activity
        self._speaker = speaker
        self.done = False

    def run(self) -> None:
        if not self.done:
            with _refusing():
                self._bot._remember(self._activity, self._speaker)
            self.done = True

    @property
    def activity(self) -> Activity:
        return self._activity

    def claim(self) -> bool:
        """False when Teams redelivers an activity we already applied."""
        with _refusing():
            return self._bot._claim(self._activity, self._speaker)


def _claim_id(activity: Activity) -> str | None:
    """The id a claim records (None: the activity has none, so it can't be claimed)."""
    activity_id = activity.id
    return activity_id[:200] if isinstance(activity_id, str) and activity_id else None


@contextmanager
def _refusing() -> Iterator[None]:
    try:
        yield
    except DomainError as error:
        raise _Refused(error.code) from error
    except Exception as error:
        if getattr(error, "code", None) != "storage.unavailable":
            raise
        raise _Refused("storage.unavailable") from error


def _set_invoke_response(turn_context: TurnContext, response: InvokeResponse) -> None:
    """Where the adapter picks the invoke response up (what ``send_activity`` of an
    ``invokeResponse`` activity does, without copying it first)."""
    turn_context.turn_state[INVOKE_RESPONSE] = Activity(
        type=ActivityTypes.invoke_response, value=response
    )


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
