"""Every way in: each chat command, each card verb (Action.Execute and its Action.Submit
fallback) and the compose-box search, aimed at records someone should not reach.

A sweep returns every answer so a test can look for leaks; ``COMMANDS`` must name every
command of the catalog, so a new command cannot slip past the trust suite unswept.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import MetaData, select

from cards import verbs
from cards.i18n import load_catalog
from storage.database import Database
from tests.bot.conftest import Service, check_card
from tests.support import activities
from tests.support.activities import Person
from tests.support.cards import action_data, choices


@dataclass(frozen=True)
class Target:
    """One lead with its account and Contact, as stored: the ids to aim at, the words to hide."""

    tenant_id: str
    lead_id: str
    lead_number: int
    lead_title: str
    lead_version: int
    account_id: str
    account_name: str
    account_version: int
    contact_id: str
    contact_name: str
    contact_email: str
    contact_version: int
    pipeline_id: str
    stage_ids: tuple[str, ...]

    @property
    def words(self) -> tuple[str, ...]:
        """What must never show in an answer to someone without access."""
        words = (
            self.lead_title,
            self.account_name,
            self.contact_name,
            self.contact_email,
            f"{COMMENT_PREFIX} {self.lead_title}",
        )
        return tuple(word for word in words if word)

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(i for i in (self.lead_id, self.account_id, self.contact_id) if i)


def target_of(database: Database, tenant_id: str, lead_title: str) -> Target:
    tables = MetaData()
    tables.reflect(database.engine, only=["leads", "accounts", "contacts", "pipelines"])
    leads, accounts, contacts, pipelines = (
        tables.tables[name] for name in ("leads", "accounts", "contacts", "pipelines")
    )
    with database.engine.connect() as connection:
        lead = (
            connection.execute(
                select(leads).where(leads.c.tenant_id == tenant_id, leads.c.title == lead_title)
            )
            .mappings()
            .one()
        )
        account = (
            connection.execute(
                select(accounts).where(
                    accounts.c.tenant_id == tenant_id, accounts.c.id == lead["account_id"]
                )
            )
            .mappings()
            .one()
        )
        contact: Any = connection.execute(
            select(contacts).where(
                contacts.c.tenant_id == tenant_id, contacts.c.id == lead["contact_id"]
            )
        ).mappings().one_or_none() or {"id": "", "name": "", "email": "", "version": 0}
        pipeline = (
            connection.execute(
                select(pipelines).where(
                    pipelines.c.tenant_id == tenant_id, pipelines.c.id == lead["pipeline_id"]
                )
            )
            .mappings()
            .one()
        )
    stages = pipeline["stages"]
    if isinstance(stages, str):
        stages = json.loads(stages)
    return Target(
        tenant_id=tenant_id,
        lead_id=lead["id"],
        lead_number=lead["number"],
        lead_title=lead["title"],
        lead_version=lead["version"],
        account_id=account["id"],
        account_name=account["name"],
        account_version=account["version"],
        contact_id=contact["id"],
        contact_name=contact["name"],
        contact_email=contact["email"],
        contact_version=contact["version"],
        pipeline_id=pipeline["id"],
        stage_ids=tuple(str(stage["id"]) for stage in stages),
    )


async def create_target(
    service: Service, owner: Person, tenant_id: str, *, title: str, account: str, contact: str
) -> Target:
    """A lead at an account with a primary Contact and a comment, made through the bot."""
    card = await service.say(f"new lead {title} for {account}", user=owner, tenant_id=tenant_id)
    first_name, company = contact.split(maxsplit=1)[0], account.split(maxsplit=1)[0]
    email = f"{first_name.lower()}@{company.lower()}.example"
    card = await service.press(
        verbs.LEAD_ADD_NEW_PARTICIPANT,
        {
            **action_data(card, verbs.LEAD_ADD_NEW_PARTICIPANT),
            verbs.IN_NEW_NAME: contact,
            verbs.IN_NEW_EMAIL: email,
        },
        user=owner,
        tenant_id=tenant_id,
    )
    contact_id = next(
        v for t, v in choices(card, verbs.IN_PRIMARY_CONTACT_ID).items() if contact in t
    )
    card = await service.press(
        verbs.LEAD_SET_PRIMARY_CONTACT,
        {
            **action_data(card, verbs.LEAD_SET_PRIMARY_CONTACT),
            verbs.IN_PRIMARY_CONTACT_ID: contact_id,
        },
        user=owner,
        tenant_id=tenant_id,
    )
    await service.press(
        verbs.LEAD_COMMENT,
        {**action_data(card, verbs.LEAD_COMMENT), verbs.IN_COMMENT: f"{COMMENT_PREFIX} {title}"},
        user=owner,
        tenant_id=tenant_id,
    )
    return target_of(service.runtime.database, tenant_id, title)


COMMENT_PREFIX = "Confidential note on"

# --- the sweep -------------------------------------------------------------------------------

# Command name -> what to type, given the target. Every catalog command must be here.
COMMANDS: dict[str, Callable[[Target], list[str]]] = {
    "help": lambda t: ["help"],
    "new_lead": lambda t: ["new lead Probe deal"],
    "my_leads": lambda t: ["my leads"],
    "pipeline": lambda t: ["pipeline"],
    "lead": lambda t: [f"lead {t.lead_number}", f"lead #{t.lead_number}", f"lead {t.lead_title}"],
    "find": lambda t: [f"find {t.lead_title}", f"find {t.account_name}", f"find {t.contact_name}"],
    "account": lambda t: [f"account {t.account_name}", f"account {t.account_name[:3]}"],
    "contact": lambda t: [f"contact {t.contact_name}", f"contact {t.contact_email}"],
    "follow": lambda t: [f"follow {t.lead_number}", f"follow {t.lead_title}"],
    "unfollow": lambda t: [f"unfollow {t.lead_number}"],
    "notifications": lambda t: ["notifications"],
    "subscribe": lambda t: ["subscribe", "subscribe tag probe"],
    "unsubscribe": lambda t: ["unsubscribe"],
}


def catalog_commands() -> set[str]:
    return {name for name in load_catalog("en").commands if name != "for"}


def _inputs(target: Target, actor: Person) -> dict[str, Any]:
    return {
        verbs.IN_STAGE_ID: target.stage_ids[-2],
        verbs.IN_REASON: "probe",
        verbs.IN_PARTICIPANT_ID: target.contact_id,
        verbs.IN_PARTICIPANT_ROLE: "probe",
        verbs.IN_NEW_NAME: "Probe Person",
        verbs.IN_NEW_EMAIL: "probe.person@example.com",
        verbs.IN_NEW_ROLE: "",
        verbs.IN_REMOVE_CONTACT_ID: target.contact_id,
        verbs.IN_PRIMARY_CONTACT_ID: target.contact_id,
        verbs.IN_KEEP_PREVIOUS: "true",
        verbs.IN_FOLLOWER_USER_ID: actor.aad_object_id,
        verbs.IN_FOLLOWER_EMAIL: "",
        verbs.IN_COMMENT: "probe comment",
        verbs.IN_DUPLICATE_TITLE: "Probe copy",
        verbs.IN_LEAD_TITLE: "Probe lead",
        verbs.IN_CLASSIFICATION: "client",
        verbs.IN_OTHER_ACCOUNT_ID: target.account_id,
        verbs.IN_RELATIONSHIP_REASON: "probe",
        verbs.IN_CONTACT_NAME: "Probe Contact",
        verbs.IN_CONTACT_EMAIL: "",
        verbs.IN_CONTACT_JOB_TITLE: "",
        verbs.IN_PROSPECT_STATUS: "lost",
        verbs.IN_CUSTOMER_STATUS: "",
        verbs.IN_QUERY: target.lead_title,
    }


def _fixed(target: Target, verb: str) -> dict[str, Any]:
    kind = verb.split(".", 1)[0]
    version = {
        "lead": target.lead_version,
        "account": target.account_version,
        "contact": target.contact_version,
    }.get(kind)
    values = {
        verbs.LEAD_ID: target.lead_id,
        verbs.ACCOUNT_ID: target.account_id,
        verbs.CONTACT_ID: target.contact_id,
        verbs.VERSION: version,
    }
    return {key: values[key] for key in verbs.CONTRACT[verb][0]}


def verb_presses(
    target: Target, actor: Person, own: Target | None
) -> list[tuple[str, dict[str, Any]]]:
    """Each verb aimed at the target; with ``own``, also the actor's own records carrying the
    target's ids in their inputs (a relationship, a participant, a stage of someone else)."""
    # Inputs this table does not know (toggles added later) get a plausible "true".
    inputs = defaultdict(lambda: "true", _inputs(target, actor))
    presses: list[tuple[str, dict[str, Any]]] = []
    for verb, (_fixed_keys, input_ids) in sorted(verbs.CONTRACT.items()):
        data = {**_fixed(target, verb), **{key: inputs[key] for key in input_ids}}
        if verb == verbs.PIPELINE:
            data[verbs.PIPELINE_ID] = target.pipeline_id
        if verb == verbs.FIND:
            data[verbs.QUERY] = target.account_name
        presses.append((verb, data))
        if own is not None and _fixed_keys:
            presses.append((verb, {**_fixed(own, verb), **{key: inputs[key] for key in input_ids}}))
    return presses


@dataclass
class Prober:
    """Talks to the service as one user of one tenant and keeps every answer."""

    service: Service
    user: Person
    tenant_id: str

    def __post_init__(self) -> None:
        self.answers: list[tuple[str, Any]] = []

    async def say(self, text: str) -> dict[str, Any]:
        card = await self.service.say(text, user=self.user, tenant_id=self.tenant_id)
        self.answers.append((f"say {text!r}", card))
        return card

    async def press(self, verb: str, data: dict[str, Any]) -> dict[str, Any]:
        card = await self.service.press(verb, data, user=self.user, tenant_id=self.tenant_id)
        self.answers.append((f"press {verb} {data}", card))
        return card

    async def submit(self, verb: str, data: dict[str, Any]) -> dict[str, Any]:
        """The Action.Submit fallback: a message whose value carries the verb."""
        activity = activities.message(
            "", service_url=self.service.connector.url, tenant_id=self.tenant_id, user=self.user
        )
        activity["value"] = {verbs.VERB: verb, **data}
        before = len(self.service.connector.sent)
        response = await self.service.post(activity)
        assert response.status in {200, 201}, response.status
        sent = self.service.connector.sent[before:]
        assert len(sent) == 1
        card = check_card(sent[0].cards[0])
        self.answers.append((f"submit {verb} {data}", card))
        return card

    async def search(self, text: str) -> dict[str, Any]:
        activity = activities.card_action(
            "unused",
            {},
            service_url=self.service.connector.url,
            tenant_id=self.tenant_id,
            user=self.user,
        )
        activity["name"] = "composeExtension/query"
        activity["value"] = {
            "commandId": "searchCrm",
            "parameters": [{"name": "query", "value": text}],
            "queryOptions": {"skip": 0, "count": 25},
        }
        response = await self.service.post(activity)
        assert response.status == 200, response.status
        body: dict[str, Any] = await response.json()
        self.answers.append((f"search {text!r}", body))
        return body

    async def sweep(self, target: Target, own: Target | None = None) -> None:
        assert set(COMMANDS) == catalog_commands(), "sweep every command of the catalog"
        for typed in COMMANDS.values():
            for text in typed(target):
                await self.say(text)
        for verb, data in verb_presses(target, self.user, own):
            await self.press(verb, data)
            await self.submit(verb, data)
        for text in (target.lead_title, target.account_name, target.contact_name, "probe"):
            await self.search(text)

    def leaks(self, target: Target) -> list[tuple[str, str]]:
        """(request, what) for every answer showing a word or an id of the target that the
        request itself did not carry (a refusal may echo a query or the id it was given)."""
        found: list[tuple[str, str]] = []
        for request, answer in self.answers:
            shown = json.dumps(answer, ensure_ascii=False).casefold()
            asked = request.casefold()
            found.extend(
                (request, word)
                for word in (*target.words, *target.ids)
                if word.casefold() in shown and word.casefold() not in asked
            )
        return found
