"""Chat commands and card verbs turned into domain calls, and their results into cards.

Everything here is synchronous and runs in one call per turn: in a worker thread on
PostgreSQL (its round trips must not hold up the event loop), on the loop itself on SQLite
(see ``worker_threads_for``); the Teams handler only makes that call and sends what comes
back. A domain refusal becomes an error card in the user's language, never an exception
escaping the turn.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, tzinfo
from functools import partial
from time import monotonic
from typing import Any, Protocol

from bot.commands import (
    ACCOUNT,
    CONTACT,
    FIND,
    FOLLOW,
    HELP,
    LEAD,
    MY_LEADS,
    NEW_LEAD,
    NOTIFICATIONS,
    PIPELINE,
    SUBSCRIBE,
    UNFOLLOW,
    UNSUBSCRIBE,
    Command,
    fold,
    lead_number,
)
from cards import verbs
from cards.account import account_card
from cards.contact import contact_card
from cards.elements import Button, Card
from cards.i18n import Translator
from cards.lead import Pickable, lead_card
from cards.lists import find_card, my_leads_card, pipeline_card, stages_by_id
from cards.messages import domain_error_card, error_card, help_card, info_card, welcome_card
from cards.notification import chosen_kinds, lead_preferences_card, preferences_card
from domain.access import Viewer
from domain.accounts import Classification
from domain.errors import AlreadyApplied, DomainError, InvalidInput, NotFound, RuleViolation
from domain.ids import AccountId, LeadId, TenantId, UserId
from domain.leads import Lead
from domain.notifications import (
    NotificationSettings,
    check_can_subscribe_channel,
)
from domain.queries import (
    PAGE_SIZE_MAX,
    AccountFilter,
    ContactFilter,
    LeadFilter,
    LeadSummary,
    Queries,
    QueriesFactory,
    UserSummary,
)
from domain.services import CRM, NewContact
from domain.statuses import CustomerStatus, ProspectStatus
from domain.validation import clean_date, clean_tag

logger = logging.getLogger(__name__)

ID_MAX = 100
SEARCH_MAX = 200
SEARCH_PER_KIND = 5
MENTION_CANDIDATES = 100
TAG_WORDS = frozenset({"tag", "etiqueta", "etiquette"})


class ChannelSubscriptions(Protocol):
    def subscribe_channel(
        self,
        *,
        tenant_id: str,
        conversation_id: str,
        target: str,
        service_url: str,
        bot_id: str,
        created_by: str,
    ) -> None: ...
    def unsubscribe_channel(self, tenant_id: str, conversation_id: str) -> int: ...


CARD_CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"
COLLEAGUES_SHOWN = 50
# The lead card's colleague choices, kept per tenant this long: loading them was 18% of a
# stage change's CPU (bench/service.py profile); a colleague who joins shows up a moment later.
COLLEAGUES_FRESH_SECONDS = 2.0
COLLEAGUES_TENANTS_KEPT = 10_000
CONTACTS_SHOWN = 50


@dataclass(frozen=True, slots=True, kw_only=True)
class Caller:
    """The acting user of one turn, with their language."""

    tenant_id: TenantId
    user_id: UserId
    t: Translator
    conversation_id: str = ""
    conversation_type: str = "personal"
    service_url: str = ""
    bot_id: str = ""
    timezone: tzinfo = UTC


class CardData:
    """Card ``data`` as sent by Teams: untrusted, so every read checks type and size."""

    def __init__(self, raw: object) -> None:
        self._raw: Mapping[str, Any] = raw if isinstance(raw, Mapping) else {}

    @property
    def raw(self) -> Mapping[str, Any]:
        return self._raw

    def id(self, key: str) -> str:
        value = self._raw.get(key)
        if not isinstance(value, str) or not value.strip():
            raise InvalidInput("input.required", field=key)
        if len(value) > ID_MAX:
            raise InvalidInput("input.invalid", field=key)
        return value.strip()

    def optional_id(self, key: str) -> str | None:
        value = self._raw.get(key)
        if value is None or value == "":
            return None
        return self.id(key)

    def version(self) -> int | None:
        """The aggregate version the card was drawn from; absent means "don't check"."""
        value = self._raw.get(verbs.VERSION)
        if value is None or value == "":
            return None
        if isinstance(value, bool):
            raise InvalidInput("input.invalid", field=verbs.VERSION)
        if isinstance(value, int):
            return value
        if isinstance(value, str) and value.strip().isdigit() and len(value) < 12:
            return int(value)
        raise InvalidInput("input.invalid", field=verbs.VERSION)

    def text(self, key: str) -> str:
        """A typed value; the domain trims it and enforces its length."""
        value = self._raw.get(key)
        if value is None:
            return ""
        if not isinstance(value, str):
            raise InvalidInput("input.invalid", field=key)
        if len(value) > 20_000:  # far above any domain limit: refuse before copying further
            raise InvalidInput("input.too_long", field=key, max=20_000)
        return value

    def flag(self, key: str) -> bool:
        value = self._raw.get(key)
        return value is True or (isinstance(value, str) and value.strip().lower() == "true")


Handler = Callable[["Actions", Caller, CardData], Card]
_VERBS: dict[str, Handler] = {}


def verb(name: str) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        _VERBS[name] = handler
        return handler

    return register


class Actions:
    """The bot's use of the CRM: one method per command, one handler per card verb."""

    def __init__(
        self,
        crm: CRM,
        queries: QueriesFactory,
        notifications: NotificationSettings,
        subscriptions: ChannelSubscriptions,
    ) -> None:
        self.crm = crm
        self._queries = queries
        self._recent_colleagues: dict[str, tuple[float, Sequence[UserSummary]]] = {}
        self.subscriptions = subscriptions
        self.notifications = notifications

    # --- entry points (one call per turn, see the module's docstring) -----------------------

    def welcome(self, caller: Caller) -> Card:
        return welcome_card(caller.t)

    def command(self, caller: Caller, command: Command | None) -> Card:
        return self._guarded(caller, lambda: self._command(caller, command), retry=None)

    def execute(self, caller: Caller, name: str, raw: object) -> Card:
        data = CardData(raw)
        handler = _VERBS.get(name) if isinstance(name, str) else None
        if handler is None:
            return help_card(caller.t)
        retry = self._retry_for(name, data, caller.t)
        return self._guarded(caller, lambda: handler(self, caller, data), retry=retry)

    def search(self, caller: Caller, text: str) -> list[dict[str, Any]]:
        """Message-extension results: each the full card of a record the user may see, with a
        one-line preview, so inserting one posts that card into the conversation."""
        query = " ".join(text.split())[:SEARCH_MAX]
        if not query:
            return []
        try:
            return self._search(caller, query)
        except DomainError:
            raise
        except Exception:  # a search must answer within Teams' 5 s, even when storage fails
            logger.exception("search failed", extra={"tenant": caller.tenant_id})
            return []

    def _search(self, caller: Caller, query: str) -> list[dict[str, Any]]:
        queries, viewer = self.queries(caller)
        results = queries.find(viewer, query, limit=SEARCH_PER_KIND)
        t = caller.t
        other_label = self.crm.get_settings(caller.tenant_id).other_label
        found: list[tuple[Callable[[], Card], str, str]] = [
            (
                partial(self.lead, caller, lead.id),
                f"#{lead.number} {lead.title}",
                lead.account_name or t.lead_status(lead.status),
            )
            for lead in results.leads
        ]
        found.extend(
            (
                partial(self.account, caller, account.id),
                account.name,
                t.classification(account.classification, other_label),
            )
            for account in results.accounts
        )
        found.extend(
            (
                partial(self.contact, caller, contact.id),
                contact.name,
                " · ".join(p for p in (contact.job_title, contact.account_name) if p),
            )
            for contact in results.contacts
        )
        attachments = []
        for render, title, subtitle in found:
            try:
                content = render()
            except DomainError:
                continue  # raced with a change of access or a deletion: leave it out
            attachments.append(
                {
                    "contentType": CARD_CONTENT_TYPE,
                    "content": content,
                    "preview": {
                        "contentType": "application/vnd.microsoft.card.thumbnail",
                        "content": {"title": title, "text": subtitle},
                    },
                }
            )
        return attachments

    # --- plumbing ---------------------------------------------------------------------------

    @staticmethod
    def _retry_for(name: str, data: CardData, t: Translator) -> Button | None:
        """After a refusal on a record's card, offer its current version."""
        for key, show in (
            (verbs.LEAD_ID, verbs.LEAD_REFRESH),
            (verbs.ACCOUNT_ID, verbs.ACCOUNT_SHOW),
            (verbs.CONTACT_ID, verbs.CONTACT_SHOW),
        ):
            try:
                record_id = data.optional_id(key)
            except DomainError:
                return None
            if record_id and name.split(".", maxsplit=1)[0] == key.removesuffix("_id"):
                return Button(title=t.t("action.refresh"), verb=show, data={key: record_id})
        return None

    def _guarded(self, caller: Caller, work: Callable[[], Card], retry: Button | None) -> Card:
        try:
            return work()
        except AlreadyApplied:
            raise  # a redelivery: the bot answers it, it is no failure to explain
        except DomainError as error:
            return domain_error_card(caller.t, error, retry=retry)
        except Exception as error:  # the turn must answer whatever broke below it
            code = getattr(error, "code", None)
            if code == "storage.unavailable":
                logger.warning("database unavailable during a turn")
                return error_card(caller.t, "storage.unavailable", retry=retry)
            logger.exception("unexpected failure in a turn", extra={"tenant": caller.tenant_id})
            return error_card(caller.t, "domain.error", retry=retry)

    def queries(self, caller: Caller) -> tuple[Queries, Viewer]:
        queries = self._queries(caller.tenant_id)
        return queries, queries.viewer(caller.user_id)

    # --- rendering --------------------------------------------------------------------------

    def lead(self, caller: Caller, lead_id: str, changed: Lead | None = None) -> Card:
        view = self.crm.lead_view(
            caller.tenant_id,
            caller.user_id,
            lead_id,
            changed=changed,
            account_people=CONTACTS_SHOWN,
        )
        contacts: Sequence[Pickable] = view.account_people or ()
        colleagues: Sequence[UserSummary] = ()
        if view.can_change:
            # The choices the card offers: the account's people and colleagues to add.
            queries = self._queries(caller.tenant_id)
            if view.lead.account_id and view.account_people is None:
                # Not read with the lead: the viewer works the deal without seeing the
                # account, so the query lists only the account's people they may see.
                viewer = view.viewer or queries.viewer(caller.user_id)
                where = ContactFilter(account_id=view.lead.account_id)
                contacts = queries.contacts(viewer, where, limit=CONTACTS_SHOWN).items
            colleagues = self._colleagues(caller.tenant_id, queries)
        return lead_card(
            view,
            caller.t,
            account_contacts=contacts,
            colleagues=colleagues,
            authors={str(uid): user for uid, user in view.comment_authors.items()},
        )

    def _colleagues(self, tenant_id: TenantId, queries: Queries) -> Sequence[UserSummary]:
        """The first colleagues by name, reused for a couple of seconds (worker threads may
        race to refresh it: both get a correct list)."""
        now = monotonic()
        kept = self._recent_colleagues.get(tenant_id)
        if kept is not None and now - kept[0] < COLLEAGUES_FRESH_SECONDS:
            return kept[1]
        colleagues = queries.users(limit=COLLEAGUES_SHOWN).items
        if len(self._recent_colleagues) >= COLLEAGUES_TENANTS_KEPT:
            self._recent_colleagues.clear()
        self._recent_colleagues[tenant_id] = (now, colleagues)
        return colleagues

    def mentioned(self, caller: Caller, text: str) -> list[UserId]:
        """Colleagues named as ``@Display Name`` in a comment (cards can't carry Teams
        mentions, so the name typed after "@" is matched against the tenant's people)."""
        folded = text.casefold()
        queries, _viewer = self.queries(caller)
        people = queries.users(limit=MENTION_CANDIDATES).items
        named = [u for u in people if f"@{u.display_name.casefold()}" in folded]
        return [u.id for u in named if u.id != caller.user_id]

    def preferences(self, caller: Caller) -> Card:
        return preferences_card(self.notifications.of(caller.tenant_id, caller.user_id), caller.t)

    def lead_preferences(self, caller: Caller, lead_id: str) -> Card:
        lead = self.crm.get_lead(caller.tenant_id, caller.user_id, lead_id)
        return lead_preferences_card(
            self.notifications.of(caller.tenant_id, caller.user_id),
            caller.t,
            lead_id=lead.id,
            lead_title=lead.title,
        )

    def account(self, caller: Caller, account_id: str) -> Card:
        view = self.crm.account_view(caller.tenant_id, caller.user_id, account_id)
        queries, viewer = self.queries(caller)
        contacts = queries.contacts(viewer, ContactFilter(account_id=view.account.id)).items
        leads = queries.leads(viewer, LeadFilter(account_id=view.account.id)).items
        others = queries.accounts(viewer, AccountFilter()).items
        return account_card(
            view,
            caller.t,
            contacts=contacts,
            leads=leads,
            other_accounts=[a for a in others if a.id != view.account.id],
            colleagues=self._colleagues(caller.tenant_id, queries) if view.can_change else (),
        )

    def contact(self, caller: Caller, contact_id: str) -> Card:
        return contact_card(
            self.crm.contact_view(caller.tenant_id, caller.user_id, contact_id), caller.t
        )

    def _find(self, caller: Caller, text: str) -> Card:
        queries, viewer = self.queries(caller)
        results = queries.find(viewer, text)
        pipelines, settings = self.crm.pipelines_and_settings(caller.tenant_id)
        return find_card(
            results,
            caller.t,
            query=text,
            stages=stages_by_id(pipelines),
            other_label=settings.other_label,
        )

    def _my_leads(self, caller: Caller, cursor: str | None = None) -> Card:
        queries, viewer = self.queries(caller)
        page = queries.my_leads(viewer, cursor=cursor)
        return my_leads_card(
            page, caller.t, stages=stages_by_id(self.crm.pipelines(caller.tenant_id))
        )

    def _pipeline(self, caller: Caller, pipeline_id: str | None = None) -> Card:
        pipelines = self.crm.pipelines(caller.tenant_id)
        chosen = next((p for p in pipelines if p.id == pipeline_id), None) or next(
            (p for p in pipelines if p.is_default), None
        )
        if chosen is None:
            raise NotFound("pipeline", pipeline_id=pipeline_id or "default")
        queries, viewer = self.queries(caller)
        summary = queries.pipeline_summary(viewer, chosen.id)
        return pipeline_card(summary, chosen, caller.t, pipelines=pipelines)

    # --- resolving what people type ---------------------------------------------------------

    def _resolve_lead(self, caller: Caller, text: str) -> LeadSummary | str:
        """A lead id from ``#12``, ``12`` or a title; several matches return a choice card."""
        number = lead_number(text)
        if number is not None:
            return self.crm.lead_by_number(caller.tenant_id, caller.user_id, number).id
        queries, viewer = self.queries(caller)
        leads = queries.find(viewer, text).leads
        exact = [lead for lead in leads if lead.title.casefold() == text.casefold()]
        if len(exact) == 1:
            return exact[0].id
        if len(leads) == 1:
            return leads[0].id
        if not leads:
            raise NotFound("lead", title=text)
        return leads[0]

    def _lead_command(self, caller: Caller, text: str, act: Callable[[str], object]) -> Card:
        found = self._resolve_lead(caller, text)
        if isinstance(found, str):
            act(found)
            return self.lead(caller, found)
        return self._find(caller, text)

    def _account_by_name(self, caller: Caller, name: str) -> AccountId | None:
        queries, viewer = self.queries(caller)
        matches = queries.accounts(viewer, AccountFilter(name_prefix=name), limit=10).items
        exact = [a for a in matches if a.name.casefold() == name.casefold()]
        if len(exact) == 1:
            return exact[0].id
        if len(matches) == 1:
            return matches[0].id
        return None

    # --- chat commands ----------------------------------------------------------------------

    def _command(self, caller: Caller, command: Command | None) -> Card:
        if command is None:
            return help_card(caller.t)
        handlers: dict[str, Callable[[Caller, Command], Card]] = {
            HELP: lambda c, _cmd: help_card(c.t),
            NEW_LEAD: lambda c, cmd: self._new_lead(c, cmd.argument, cmd.account),
            MY_LEADS: lambda c, _cmd: self._my_leads(c),
            PIPELINE: lambda c, _cmd: self._pipeline(c),
            FIND: lambda c, cmd: self._find(c, cmd.argument),
            LEAD: lambda c, cmd: self._lead_command(c, cmd.argument, lambda _lead: None),
            FOLLOW: lambda c, cmd: self._lead_command(
                c, cmd.argument, lambda lead: self.crm.follow(c.tenant_id, c.user_id, lead)
            ),
            UNFOLLOW: lambda c, cmd: self._lead_command(
                c, cmd.argument, lambda lead: self.crm.unfollow(c.tenant_id, c.user_id, lead)
            ),
            ACCOUNT: self._account_command,
            CONTACT: self._contact_command,
            NOTIFICATIONS: lambda c, _cmd: self.preferences(c),
            SUBSCRIBE: self._subscribe,
            UNSUBSCRIBE: self._unsubscribe,
        }
        handler = handlers.get(command.name)
        return handler(caller, command) if handler else help_card(caller.t)

    @staticmethod
    def _channel_of(caller: Caller) -> str:
        """The channel itself, not the thread the command was typed in."""
        if caller.conversation_type != "channel":
            raise RuleViolation("channel.only_in_channel")
        return caller.conversation_id.split(";", 1)[0]

    def _subscribe(self, caller: Caller, command: Command) -> Card:
        """``subscribe`` (default pipeline), ``subscribe <pipeline>`` or ``subscribe tag <t>``."""
        channel = self._channel_of(caller)
        check_can_subscribe_channel(self.crm.get_user(caller.tenant_id, caller.user_id).role)
        t = caller.t
        words = command.argument.split(maxsplit=1)
        if len(words) == 2 and fold(words[0]) in TAG_WORDS:
            tag = clean_tag(words[1])
            target, shown = f"tag:{tag}", t.t("channel.target.tag", tag=tag)
        else:
            pipelines = self.crm.pipelines(caller.tenant_id)
            wanted = fold(command.argument)
            pipeline = next(
                (p for p in pipelines if wanted and fold(p.name) == wanted),
                None,
            ) or (None if wanted else next((p for p in pipelines if p.is_default), None))
            if pipeline is None:
                raise NotFound("pipeline", name=command.argument)
            target = f"pipeline:{pipeline.id}"
            shown = t.t("channel.target.pipeline", name=pipeline.name)
        self.subscriptions.subscribe_channel(
            tenant_id=caller.tenant_id,
            conversation_id=channel,
            target=target,
            service_url=caller.service_url,
            bot_id=caller.bot_id,
            created_by=caller.user_id,
        )
        return info_card(t, t.t("channel.subscribed", target=shown))

    def _unsubscribe(self, caller: Caller, command: Command) -> Card:
        channel = self._channel_of(caller)
        check_can_subscribe_channel(self.crm.get_user(caller.tenant_id, caller.user_id).role)
        count = self.subscriptions.unsubscribe_channel(caller.tenant_id, channel)
        return info_card(caller.t, caller.t.plural("channel.unsubscribed", count))

    def _account_command(self, caller: Caller, command: Command) -> Card:
        account_id = self._account_by_name(caller, command.argument)
        if account_id is None:
            return self._find(caller, command.argument)
        return self.account(caller, account_id)

    def _contact_command(self, caller: Caller, command: Command) -> Card:
        queries, viewer = self.queries(caller)
        where = ContactFilter(text_prefix=command.argument)
        contacts = queries.contacts(viewer, where, limit=10).items
        if len(contacts) == 1:
            return self.contact(caller, contacts[0].id)
        return self._find(caller, command.argument)

    def _new_lead(self, caller: Caller, title: str, account_name: str = "") -> Card:
        account_id: str | None = None
        if account_name:
            account_id = self._account_by_name(caller, account_name)
            if account_id is None:
                # Typing a company that isn't there yet starts its folder, as people expect.
                account_id = self.crm.create_account(
                    caller.tenant_id, caller.user_id, name=account_name
                ).id
        lead = self.crm.create_lead(
            caller.tenant_id, caller.user_id, title=title, account_id=account_id
        )
        return self.lead(caller, lead.id, changed=lead)


# --- card verbs -------------------------------------------------------------------------------


@verb(verbs.HELP)
def _help(actions: Actions, caller: Caller, data: CardData) -> Card:
    return help_card(caller.t)


@verb(verbs.MY_LEADS)
def _my_leads(actions: Actions, caller: Caller, data: CardData) -> Card:
    return actions._my_leads(caller, data.optional_id(verbs.CURSOR))


@verb(verbs.PIPELINE)
def _pipeline(actions: Actions, caller: Caller, data: CardData) -> Card:
    return actions._pipeline(caller, data.optional_id(verbs.PIPELINE_ID))


@verb(verbs.FIND)
def _find(actions: Actions, caller: Caller, data: CardData) -> Card:
    text = data.text(verbs.IN_QUERY) or data.text(verbs.QUERY)
    if not text.strip():
        raise InvalidInput("input.required", field="query")
    return actions._find(caller, text.strip()[:200])


@verb(verbs.LEAD_CREATE)
def _lead_create(actions: Actions, caller: Caller, data: CardData) -> Card:
    return actions._new_lead(caller, data.text(verbs.IN_LEAD_TITLE))


@verb(verbs.LEAD_SHOW)
@verb(verbs.LEAD_REFRESH)
def _lead_show(actions: Actions, caller: Caller, data: CardData) -> Card:
    return actions.lead(caller, data.id(verbs.LEAD_ID))


def _lead_change(
    change: Callable[[Actions, Caller, LeadId, CardData, int | None], object],
) -> Handler:
    """A verb that changes a lead and answers with its refreshed card."""

    def handler(actions: Actions, caller: Caller, data: CardData) -> Card:
        lead_id = LeadId(data.id(verbs.LEAD_ID))
        result = change(actions, caller, lead_id, data, data.version())
        return actions.lead(caller, lead_id, result if isinstance(result, Lead) else None)

    return handler


verb(verbs.LEAD_CHANGE_STAGE)(
    _lead_change(
        lambda a, c, lead, d, v: a.crm.change_stage(
            c.tenant_id, c.user_id, lead, d.id(verbs.IN_STAGE_ID), expected_version=v
        )
    )
)
verb(verbs.LEAD_WIN)(
    _lead_change(
        lambda a, c, lead, d, v: a.crm.win_lead(c.tenant_id, c.user_id, lead, expected_version=v)
    )
)
verb(verbs.LEAD_LOSE)(
    _lead_change(
        lambda a, c, lead, d, v: a.crm.lose_lead(
            c.tenant_id, c.user_id, lead, d.text(verbs.IN_REASON), expected_version=v
        )
    )
)
verb(verbs.LEAD_DISQUALIFY)(
    _lead_change(
        lambda a, c, lead, d, v: a.crm.disqualify_lead(
            c.tenant_id, c.user_id, lead, d.text(verbs.IN_REASON) or None, expected_version=v
        )
    )
)
verb(verbs.LEAD_REOPEN)(
    _lead_change(
        lambda a, c, lead, d, v: a.crm.reopen_lead(c.tenant_id, c.user_id, lead, expected_version=v)
    )
)
verb(verbs.LEAD_ADD_PARTICIPANT)(
    _lead_change(
        lambda a, c, lead, d, v: a.crm.add_participant(
            c.tenant_id,
            c.user_id,
            lead,
            d.id(verbs.IN_PARTICIPANT_ID),
            role=d.text(verbs.IN_PARTICIPANT_ROLE) or None,
            expected_version=v,
        )
    )
)
verb(verbs.LEAD_ADD_NEW_PARTICIPANT)(
    _lead_change(
        lambda a, c, lead, d, v: a.crm.add_new_participant(
            c.tenant_id,
            c.user_id,
            lead,
            NewContact(name=d.text(verbs.IN_NEW_NAME), email=d.text(verbs.IN_NEW_EMAIL) or None),
            role=d.text(verbs.IN_NEW_ROLE) or None,
            expected_version=v,
        )
    )
)
verb(verbs.LEAD_REMOVE_PARTICIPANT)(
    _lead_change(
        lambda a, c, lead, d, v: a.crm.remove_participant(
            c.tenant_id, c.user_id, lead, d.id(verbs.IN_REMOVE_CONTACT_ID), expected_version=v
        )
    )
)
verb(verbs.LEAD_SET_PRIMARY_CONTACT)(
    _lead_change(
        lambda a, c, lead, d, v: a.crm.set_primary_contact(
            c.tenant_id,
            c.user_id,
            lead,
            d.id(verbs.IN_PRIMARY_CONTACT_ID),
            keep_previous_as_participant=d.flag(verbs.IN_KEEP_PREVIOUS),
            expected_version=v,
        )
    )
)
verb(verbs.LEAD_FOLLOW)(
    _lead_change(lambda a, c, lead, d, v: a.crm.follow(c.tenant_id, c.user_id, lead))
)
verb(verbs.LEAD_UNFOLLOW)(
    _lead_change(lambda a, c, lead, d, v: a.crm.unfollow(c.tenant_id, c.user_id, lead))
)


@verb(verbs.LEAD_ADD_FOLLOWER)
def _lead_add_follower(actions: Actions, caller: Caller, data: CardData) -> Card:
    lead_id = LeadId(data.id(verbs.LEAD_ID))
    user_id = _colleague(
        actions, caller, data, verbs.IN_FOLLOWER_USER_ID, verbs.IN_FOLLOWER_EMAIL, "follower"
    )
    actions.crm.add_follower(
        caller.tenant_id, caller.user_id, lead_id, UserId(user_id), expected_version=data.version()
    )
    return actions.lead(caller, lead_id)


def _colleague(  # noqa: PLR0917 - which inputs, and the field a refusal names
    actions: Actions, caller: Caller, data: CardData, picked: str, email_key: str, field: str
) -> str:
    """A colleague from a picker, or by the email typed for one the picker doesn't list."""
    user_id = data.optional_id(picked)
    if user_id is not None:
        return user_id
    email = data.text(email_key).strip().casefold()
    if not email:
        raise InvalidInput("input.required", field=field)
    queries, _viewer = actions.queries(caller)
    cursor: str | None = None
    while True:  # page by page: users are indexed by name, not by email
        page = queries.users(limit=PAGE_SIZE_MAX, cursor=cursor)
        found = next((u for u in page.items if (u.email or "").casefold() == email), None)
        if found is not None:
            return found.id
        if page.next_cursor is None:
            raise NotFound("user", email=email)
        cursor = page.next_cursor


@verb(verbs.LEAD_COMMENT)
def _lead_comment(actions: Actions, caller: Caller, data: CardData) -> Card:
    lead_id = LeadId(data.id(verbs.LEAD_ID))
    text = data.text(verbs.IN_COMMENT)
    mentions = actions.mentioned(caller, text) if "@" in text else []
    actions.crm.comment(caller.tenant_id, caller.user_id, lead_id, text, mentions=mentions)
    return actions.lead(caller, lead_id)


@verb(verbs.LEAD_REMIND)
def _lead_remind(actions: Actions, caller: Caller, data: CardData) -> Card:
    """The day and time come from the card in the user's own time zone."""
    lead_id = LeadId(data.id(verbs.LEAD_ID))
    day = clean_date(data.text(verbs.IN_REMINDER_DATE) or None, "reminder_date")
    if day is None:
        raise InvalidInput("input.required", field="reminder_date")
    raw_time = data.text(verbs.IN_REMINDER_TIME).strip() or "09:00"
    try:
        moment = time.fromisoformat(raw_time)
    except ValueError:
        raise InvalidInput("input.invalid", field="reminder_time") from None
    due = datetime.combine(day, moment, tzinfo=caller.timezone).astimezone(UTC)
    actions.crm.schedule_reminder(
        caller.tenant_id,
        caller.user_id,
        lead_id,
        due_at=due,
        text=data.text(verbs.IN_REMINDER_TEXT),
    )
    return actions.lead(caller, lead_id)


@verb(verbs.LEAD_EDIT)
def _lead_edit(actions: Actions, caller: Caller, data: CardData) -> Card:
    """The details form: a field the data carries is set (blank clears it), a field it lacks
    (an older card) is left as it is. Amounts are read as the user's language writes them."""
    lead_id = LeadId(data.id(verbs.LEAD_ID))
    given = data.raw.keys()
    changes: dict[str, Any] = {}
    if verbs.IN_EDIT_TITLE in given:
        changes["title"] = data.text(verbs.IN_EDIT_TITLE)
    if verbs.IN_AMOUNT in given:
        amount = caller.t.parse_amount(data.text(verbs.IN_AMOUNT))
        changes.update(amount=amount, clear_amount=amount is None)
    if verbs.IN_CURRENCY in given and data.text(verbs.IN_CURRENCY).strip():
        changes["currency"] = data.text(verbs.IN_CURRENCY)
    if verbs.IN_CLOSE_DATE in given:
        day = clean_date(data.text(verbs.IN_CLOSE_DATE).strip() or None, "close_date")
        changes.update(close_date=day, clear_close_date=day is None)
    if (tags := _listed(data, verbs.IN_TAGS)) is not None:
        changes["tags"] = tags
    if verbs.IN_DESCRIPTION in given:
        changes["description"] = data.text(verbs.IN_DESCRIPTION)
    lead = actions.crm.update_lead(
        caller.tenant_id, caller.user_id, lead_id, expected_version=data.version(), **changes
    )
    return actions.lead(caller, lead_id, lead)


@verb(verbs.LEAD_DUPLICATE)
def _lead_duplicate(actions: Actions, caller: Caller, data: CardData) -> Card:
    copy = actions.crm.duplicate_lead(
        caller.tenant_id,
        caller.user_id,
        data.id(verbs.LEAD_ID),
        title=data.text(verbs.IN_DUPLICATE_TITLE) or None,
    )
    return actions.lead(caller, copy.id)


@verb(verbs.ACCOUNT_SHOW)
def _account_show(actions: Actions, caller: Caller, data: CardData) -> Card:
    return actions.account(caller, data.id(verbs.ACCOUNT_ID))


def _account_change(change: Callable[[Actions, Caller, str, CardData], object]) -> Handler:
    """A verb that changes an account and answers with its refreshed card."""

    def handler(actions: Actions, caller: Caller, data: CardData) -> Card:
        account_id = data.id(verbs.ACCOUNT_ID)
        change(actions, caller, account_id, data)
        return actions.account(caller, account_id)

    return handler


def _classification(data: CardData) -> Classification:
    try:
        return Classification(data.text(verbs.IN_CLASSIFICATION))
    except ValueError:
        raise InvalidInput(
            "input.invalid_choice",
            field="classification",
            choices=[c.value for c in Classification],
        ) from None


def _listed(data: CardData, key: str) -> list[str] | None:
    """Several values in one input, as Teams sends a multiple choice ("a,b") and as people
    type tags: comma-separated, blanks ignored, "" for none; None when the data lacks it."""
    if key not in data.raw:
        return None
    return [part.strip() for part in data.text(key).split(",") if part.strip()]


verb(verbs.ACCOUNT_CLASSIFY)(
    _account_change(
        lambda a, c, account, d: a.crm.update_account(
            c.tenant_id,
            c.user_id,
            account,
            classification=_classification(d),
            expected_version=d.version(),
        )
    )
)
# The details form, as the lead's: a field the data lacks is left as it is.
verb(verbs.ACCOUNT_EDIT)(
    _account_change(
        lambda a, c, account, d: a.crm.update_account(
            c.tenant_id,
            c.user_id,
            account,
            name=d.text(verbs.IN_ACCOUNT_NAME) if verbs.IN_ACCOUNT_NAME in d.raw else None,
            tags=_listed(d, verbs.IN_TAGS),
            characteristics=_listed(d, verbs.IN_CHARACTERISTICS),
            interests=_listed(d, verbs.IN_INTERESTS),
            disinterests=_listed(d, verbs.IN_DISINTERESTS),
            expected_version=d.version(),
        )
    )
)
verb(verbs.ACCOUNT_ADD_RESPONSIBLE)(
    _account_change(
        lambda a, c, account, d: a.crm.add_responsible(
            c.tenant_id,
            c.user_id,
            account,
            UserId(
                _colleague(
                    a, c, d, verbs.IN_RESPONSIBLE_USER_ID, verbs.IN_RESPONSIBLE_EMAIL, "responsible"
                )
            ),
        )
    )
)
verb(verbs.ACCOUNT_REMOVE_RESPONSIBLE)(
    _account_change(
        lambda a, c, account, d: a.crm.remove_responsible(
            c.tenant_id, c.user_id, account, UserId(d.id(verbs.IN_REMOVE_RESPONSIBLE_ID))
        )
    )
)
verb(verbs.ACCOUNT_ADD_DOCUMENT)(
    _account_change(
        lambda a, c, account, d: a.crm.add_document(
            c.tenant_id,
            c.user_id,
            account,
            title=d.text(verbs.IN_DOCUMENT_TITLE),
            url=d.text(verbs.IN_DOCUMENT_URL).strip(),
        )
    )
)
verb(verbs.ACCOUNT_REMOVE_DOCUMENT)(
    _account_change(
        lambda a, c, account, d: a.crm.remove_document(
            c.tenant_id, c.user_id, account, d.id(verbs.IN_REMOVE_DOCUMENT_ID)
        )
    )
)
verb(verbs.ACCOUNT_ADD_RELATIONSHIP)(
    _account_change(
        lambda a, c, account, d: a.crm.add_relationship(
            c.tenant_id,
            c.user_id,
            account,
            d.id(verbs.IN_OTHER_ACCOUNT_ID),
            d.text(verbs.IN_RELATIONSHIP_REASON),
        )
    )
)
verb(verbs.ACCOUNT_ADD_CONTACT)(
    _account_change(
        lambda a, c, account, d: a.crm.create_contact(
            c.tenant_id,
            c.user_id,
            name=d.text(verbs.IN_CONTACT_NAME),
            email=d.text(verbs.IN_CONTACT_EMAIL) or None,
            job_title=d.text(verbs.IN_CONTACT_JOB_TITLE) or None,
            account_id=account,
        )
    )
)


@verb(verbs.ACCOUNT_NEW_LEAD)
def _account_new_lead(actions: Actions, caller: Caller, data: CardData) -> Card:
    lead = actions.crm.create_lead(
        caller.tenant_id,
        caller.user_id,
        title=data.text(verbs.IN_LEAD_TITLE),
        account_id=data.id(verbs.ACCOUNT_ID),
    )
    return actions.lead(caller, lead.id, changed=lead)


@verb(verbs.CONTACT_SHOW)
def _contact_show(actions: Actions, caller: Caller, data: CardData) -> Card:
    return actions.contact(caller, data.id(verbs.CONTACT_ID))


@verb(verbs.CONTACT_SET_STATUS)
def _contact_set_status(actions: Actions, caller: Caller, data: CardData) -> Card:
    contact_id = data.id(verbs.CONTACT_ID)
    prospect_raw = data.text(verbs.IN_PROSPECT_STATUS)
    customer_raw = data.text(verbs.IN_CUSTOMER_STATUS)
    try:
        prospect = ProspectStatus(prospect_raw) if prospect_raw else None
        customer = CustomerStatus(customer_raw) if customer_raw else None
    except ValueError:
        raise InvalidInput(
            "input.invalid_choice", field="status", choices=[s.value for s in ProspectStatus]
        ) from None
    actions.crm.set_contact_statuses(
        caller.tenant_id,
        caller.user_id,
        contact_id,
        prospect=prospect,
        customer=customer,
        expected_version=data.version(),
    )
    return actions.contact(caller, contact_id)


@verb(verbs.NOTIFY_SETTINGS)
def _notify_settings(actions: Actions, caller: Caller, data: CardData) -> Card:
    return actions.preferences(caller)


@verb(verbs.NOTIFY_SAVE_DEFAULTS)
def _notify_save_defaults(actions: Actions, caller: Caller, data: CardData) -> Card:
    actions.notifications.set_defaults(
        caller.tenant_id,
        caller.user_id,
        kinds=chosen_kinds(data.raw),
        muted_all=data.flag(verbs.IN_MUTE_ALL),
    )
    return actions.preferences(caller)


@verb(verbs.NOTIFY_LEAD)
def _notify_lead(actions: Actions, caller: Caller, data: CardData) -> Card:
    return actions.lead_preferences(caller, data.id(verbs.LEAD_ID))


@verb(verbs.NOTIFY_SAVE_LEAD)
def _notify_save_lead(actions: Actions, caller: Caller, data: CardData) -> Card:
    lead_id = data.id(verbs.LEAD_ID)
    actions.notifications.set_for_lead(
        caller.tenant_id,
        caller.user_id,
        lead_id,
        kinds=chosen_kinds(data.raw),
        muted=data.flag(verbs.IN_MUTE_LEAD),
    )
    return actions.lead_preferences(caller, lead_id)
