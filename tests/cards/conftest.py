"""Domain objects built directly (no storage): cards only read views, so each test states
exactly the lead, account or contact it renders."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol

import jsonschema  # type: ignore[import-untyped]  # no inline types; stubs aren't a dependency
import pytest

from cards.i18n import ALL_LOCALES, Translator
from domain.accounts import Account, Classification, Direction
from domain.common import Stamp
from domain.contacts import Contact
from domain.ids import AccountId, RelationshipId, TenantId, UserId
from domain.leads import Comment, Lead
from domain.services import AccountView, ContactView, LeadView
from domain.settings import Pipeline, TenantSettings
from domain.statuses import LeadStatus
from domain.users import User

SCHEMA_PATH = Path(__file__).parent / "schemas" / "adaptive-card-1.5.json"
TENANT = TenantId("tenant-a")
OWNER = UserId("aad-owner")
NOW = datetime(2026, 1, 5, 9, 30, tzinfo=UTC)
STAMP = Stamp(actor_id=OWNER, at=NOW)


class CardValidator(Protocol):
    """The part of jsonschema's validator the tests use (jsonschema ships no types)."""

    def is_valid(self, instance: object) -> bool: ...
    def iter_errors(self, instance: object) -> Iterator[Any]: ...


def schema_validator(ref: str | None = None) -> CardValidator:
    """A validator for the whole card, or for one definition (``ref="Action.Submit"``)."""
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    validator_class = jsonschema.validators.validator_for(schema)
    if ref is not None:
        schema = {"$ref": f"#/definitions/{ref}", "definitions": schema["definitions"]}
    validator: CardValidator = validator_class(schema)
    return validator


@pytest.fixture(scope="session")
def card_validator() -> CardValidator:
    """The validator class the schema itself declares (draft-06), checked before use."""
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    validator_class = jsonschema.validators.validator_for(schema)
    assert validator_class is jsonschema.Draft6Validator
    validator_class.check_schema(schema)
    return schema_validator()


@pytest.fixture(params=ALL_LOCALES)
def t(request: pytest.FixtureRequest) -> Translator:
    return Translator(str(request.param))


def make_user(name: str, index: int = 0) -> User:
    handle = re.sub("[^a-z0-9]+", ".", name.casefold()).strip(".")[:40]
    return User.register(
        tenant_id=TENANT,
        user_id=UserId(f"aad-{handle}-{index}"),
        display_name=name[:200],
        email=f"{handle}{index}@example.com",
        first_of_tenant=False,
        stamp=STAMP,
    )


def make_contact(name: str = "Carla Contact", **overrides: Any) -> Contact:
    contact = Contact.create(
        tenant_id=TENANT,
        name=name,
        job_title=overrides.pop("job_title", "Buyer"),
        email=overrides.pop("email", "carla@client.example"),
        phone=overrides.pop("phone", "+55 11 5555-0000"),
        account_id=overrides.pop("account_id", None),
        tags=overrides.pop("tags", frozenset({"vip"})),
        stamp=STAMP,
    )
    for key, value in overrides.items():
        setattr(contact, key, value)
    return contact


def make_account(name: str = "Acme & Sons", **overrides: Any) -> Account:
    account = Account.create(
        tenant_id=TENANT,
        name=name,
        classification=overrides.pop("classification", Classification.CLIENT),
        responsible_ids=overrides.pop("responsible_ids", [OWNER]),
        tags=overrides.pop("tags", frozenset({"industry"})),
        stamp=STAMP,
    )
    for key, value in overrides.items():
        setattr(account, key, value)
    return account


def make_pipeline() -> Pipeline:
    return Pipeline.default(TENANT, STAMP)


def make_lead_view(
    *,
    participants: int = 2,
    followers: int = 2,
    comments: int = 2,
    can_change: bool = True,
    viewer_follows: bool = True,
    status: LeadStatus = LeadStatus.OPEN,
    title: str = "Renewal 2026 & more?",
    comment_text: str = "Call them back on Monday.",
    long_names: bool = False,
) -> LeadView:
    pipeline = make_pipeline()
    account = make_account()
    owner = make_user("Olivia Owner")
    owner.id = OWNER
    contact = make_contact(account_id=account.id)
    lead = Lead.create(
        tenant_id=TENANT,
        number=42,
        title=title,
        owner_id=OWNER,
        pipeline=pipeline,
        account_id=account.id,
        contact_id=contact.id,
        amount=Decimal("1234.50"),
        currency="USD",
        close_date=date(2026, 3, 31),
        tags=frozenset({"upsell", "q1"}),
        stamp=STAMP,
    )
    lead.stage_id = pipeline.stages[2].id
    lead.version = 7
    if status is LeadStatus.LOST:
        lead.lose("Too expensive", STAMP)
    elif status is LeadStatus.WON:
        lead.win(STAMP)
    elif status is LeadStatus.UNQUALIFIED:
        lead.disqualify(STAMP)
    suffix = " " + "x" * 150 if long_names else ""
    people = tuple(
        (
            make_contact(
                f"Participant {i}{suffix}",
                email=f"participant.{i}{'.' + 'y' * 60 if long_names else ''}@client.example",
                account_id=account.id,
            ),
            f"Role {i}{suffix}" if i % 2 == 0 else None,
        )
        for i in range(participants)
    )
    watchers = tuple(make_user(f"Follower {i}{suffix[:60]}", i) for i in range(followers))
    notes = tuple(
        replace(
            Comment.write(
                lead=lead,
                text=comment_text,
                mentions=(),
                stamp=Stamp(actor_id=watchers[0].id if watchers else OWNER, at=NOW),
            ),
            created_at=NOW - timedelta(hours=i),
        )
        for i in range(comments)
    )
    return LeadView(
        lead=lead,
        pipeline=pipeline,
        stage=pipeline.stage(lead.stage_id),
        account=account,
        contact=contact,
        participants=people,
        followers=watchers,
        owner=owner,
        latest_comments=notes,
        can_change=can_change,
        viewer_follows=viewer_follows,
    )


def make_settings() -> TenantSettings:
    settings = TenantSettings.create(TENANT, STAMP)
    settings.set_other_label("Partner", STAMP)
    settings.add_characteristic("Family business", STAMP)
    settings.add_characteristic("Exporter", STAMP)
    settings.add_interest_area("Cloud hosting", STAMP)
    settings.add_interest_area("On-site training", STAMP)
    return settings


def make_account_view(*, can_change: bool = True, relationships: int = 2) -> AccountView:
    settings = make_settings()
    account = make_account(classification=Classification.OTHER)
    other = make_account("Agency [Ltd](http://evil.example)")
    for i in range(relationships):
        account.link(
            relationship_id=RelationshipId(f"rel-{i}"),
            other=other.id,
            reason=f"Intermediary {i}",
            direction=Direction.OUTGOING if i % 2 == 0 else Direction.INCOMING,
            stamp=STAMP,
        )
    account.set_characteristics(
        sorted(settings.active_characteristics()),
        catalog=settings.active_characteristics(),
        stamp=STAMP,
    )
    account.set_interests(
        interests=["cloud-hosting"],
        disinterests=["on-site-training"],
        catalog=settings.active_interest_areas(),
        stamp=STAMP,
    )
    account.add_document(
        title="Contract 2025", url="https://files.example/contract_(v2).pdf", stamp=STAMP
    )
    return AccountView(
        account=account,
        settings=settings,
        responsibles=(make_user("Olivia Owner"), make_user("Ronaldo Responsible")),
        related={AccountId(other.id): other},
        lead_statuses=(LeadStatus.OPEN,),
        can_change=can_change,
    )


def make_contact_view(
    *, lead_statuses: tuple[LeadStatus, ...] = (LeadStatus.OPEN,), can_change: bool = True
) -> ContactView:
    account = make_account()
    return ContactView(
        contact=make_contact(account_id=account.id),
        account=account,
        lead_statuses=lead_statuses,
        can_change=can_change,
    )


def walk(node: object) -> Iterator[dict[str, Any]]:
    """Every JSON object in a card, depth first: actions hide inside show cards and fallbacks."""
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from walk(value)


Builder = Callable[[Translator], dict[str, Any]]


# --- stand-ins for the read side's summaries (cards only need their fields) -----------------


@dataclass(frozen=True, slots=True, kw_only=True)
class LeadRowStub:
    id: str
    number: int
    title: str
    status: LeadStatus
    stage_id: str
    account_name: str | None
    amount: Decimal | None
    currency: str
    close_date: date | None


@dataclass(frozen=True, slots=True, kw_only=True)
class AccountRowStub:
    id: str
    name: str
    classification: Classification


@dataclass(frozen=True, slots=True, kw_only=True)
class ContactRowStub:
    id: str
    name: str
    email: str | None
    job_title: str | None
    account_name: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class SearchStub:
    accounts: tuple[AccountRowStub, ...] = ()
    contacts: tuple[ContactRowStub, ...] = ()
    leads: tuple[LeadRowStub, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class PageStub:
    items: tuple[LeadRowStub, ...] = ()
    next_cursor: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class StageRowStub:
    stage_id: str
    currency: str
    count: int
    amount: Decimal


@dataclass(frozen=True, slots=True, kw_only=True)
class PipelineStub:
    stages: tuple[StageRowStub, ...] = ()


def lead_rows(pipeline: Pipeline, count: int, *, title: str = "Deal") -> tuple[LeadRowStub, ...]:
    statuses = list(LeadStatus)
    return tuple(
        LeadRowStub(
            id=f"lead-{i}",
            number=i + 1,
            title=f"{title} {i}",
            status=statuses[i % len(statuses)],
            stage_id=pipeline.stages[i % len(pipeline.stages)].id,
            account_name=f"Account {i}" if i % 3 else None,
            amount=Decimal("1234.50") * (i + 1) if i % 2 == 0 else None,
            currency="EUR" if i % 4 == 0 else "USD",
            close_date=date(2026, 1 + i % 12, 5) if i % 2 else None,
        )
        for i in range(count)
    )


def account_rows(count: int, *, name: str = "Account") -> tuple[AccountRowStub, ...]:
    kinds = list(Classification)
    return tuple(
        AccountRowStub(id=f"acc-{i}", name=f"{name} {i}", classification=kinds[i % len(kinds)])
        for i in range(count)
    )


def contact_rows(count: int, *, name: str = "Person") -> tuple[ContactRowStub, ...]:
    return tuple(
        ContactRowStub(
            id=f"con-{i}",
            name=f"{name} {i}",
            email=f"person{i}@client.example" if i % 2 == 0 else None,
            job_title="Buyer" if i % 3 == 0 else None,
            account_name="Acme" if i % 2 else None,
        )
        for i in range(count)
    )
