"""Every list a person can grow has a ceiling, so one card or one row can never grow unbounded."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from domain import accounts, leads, settings
from domain.accounts import Account, Direction
from domain.common import Stamp
from domain.errors import InvalidInput
from domain.ids import AccountId, ContactId, RelationshipId, TenantId, UserId
from domain.leads import Comment, Lead
from domain.settings import CustomFieldKind, Pipeline, RecordKind, TenantSettings

STAMP = Stamp(actor_id=UserId("u"), at=datetime(2026, 1, 5, tzinfo=UTC))
TENANT = TenantId("t")


def make_pipeline(stages: list[tuple[str, int]] | None = None) -> Pipeline:
    return Pipeline.create(
        tenant_id=TENANT, name="Sales", stages=stages or [("New", 10)], is_default=True, stamp=STAMP
    )


def make_lead_record() -> Lead:
    return Lead.create(
        tenant_id=TENANT,
        number=1,
        title="Deal",
        owner_id=UserId("owner"),
        pipeline=make_pipeline(),
        stamp=STAMP,
    )


def _assert_too_many(error: pytest.ExceptionInfo[InvalidInput], field: str, limit: int) -> None:
    assert (error.value.code, error.value.params) == (
        "input.too_many",
        {"field": field, "max": limit},
    )


def test_participants_stop_at_the_limit() -> None:
    lead = make_lead_record()
    for i in range(leads.PARTICIPANTS_MAX):
        lead.add_participant(ContactId(f"c{i}"), STAMP)
    with pytest.raises(InvalidInput) as refused:
        lead.add_participant(ContactId("one-more"), STAMP)
    _assert_too_many(refused, "participants", leads.PARTICIPANTS_MAX)


def test_followers_stop_at_the_limit() -> None:
    lead = make_lead_record()
    for i in range(leads.FOLLOWERS_MAX - 1):
        lead.add_follower(UserId(f"u{i}"), STAMP)
    with pytest.raises(InvalidInput) as refused:
        lead.add_follower(UserId("one-more"), STAMP)
    _assert_too_many(refused, "followers", leads.FOLLOWERS_MAX)


def test_mentions_stop_at_the_limit() -> None:
    lead = make_lead_record()
    mentions = tuple(UserId(f"u{i}") for i in range(leads.MENTIONS_MAX))
    assert len(Comment.write(lead=lead, text="Hi", mentions=mentions, stamp=STAMP).mentions) == 50
    with pytest.raises(InvalidInput) as refused:
        Comment.write(lead=lead, text="Hi", mentions=(*mentions, UserId("x")), stamp=STAMP)
    _assert_too_many(refused, "mentions", leads.MENTIONS_MAX)


def _account() -> Account:
    return Account.create(tenant_id=TENANT, name="Acme", responsible_ids=[UserId("u")], stamp=STAMP)


def test_responsibles_stop_at_the_limit() -> None:
    account = _account()
    for i in range(accounts.RESPONSIBLES_MAX - 1):
        account.add_responsible(UserId(f"u{i}"), STAMP)
    with pytest.raises(InvalidInput) as refused:
        account.add_responsible(UserId("one-more"), STAMP)
    _assert_too_many(refused, "responsibles", accounts.RESPONSIBLES_MAX)
    too_many = [UserId(f"u{i}") for i in range(accounts.RESPONSIBLES_MAX + 1)]
    with pytest.raises(InvalidInput):
        Account.create(tenant_id=TENANT, name="Acme", responsible_ids=too_many, stamp=STAMP)


def test_documents_and_relationships_stop_at_the_limit() -> None:
    account = _account()
    for i in range(accounts.DOCUMENTS_MAX):
        account.add_document(title=f"d{i}", url=f"https://x.example/{i}", stamp=STAMP)
    with pytest.raises(InvalidInput) as refused:
        account.add_document(title="more", url="https://x.example/more", stamp=STAMP)
    _assert_too_many(refused, "documents", accounts.DOCUMENTS_MAX)
    for i in range(accounts.RELATIONSHIPS_MAX):
        account.link(
            relationship_id=RelationshipId(f"r{i}"),
            other=AccountId(f"a{i}"),
            reason="Partner",
            direction=Direction.OUTGOING,
            stamp=STAMP,
        )
    with pytest.raises(InvalidInput) as refused:
        account.link(
            relationship_id=RelationshipId("r"),
            other=AccountId("a"),
            reason="Partner",
            direction=Direction.OUTGOING,
            stamp=STAMP,
        )
    _assert_too_many(refused, "relationships", accounts.RELATIONSHIPS_MAX)


def test_catalogs_and_custom_fields_stop_at_the_limit() -> None:
    tenant = TenantSettings.create(TENANT, STAMP)
    for i in range(settings.CATALOG_MAX):
        tenant.add_characteristic(f"entry {i}", STAMP)
    with pytest.raises(InvalidInput) as refused:
        tenant.add_characteristic("one more", STAMP)
    _assert_too_many(refused, "catalog", settings.CATALOG_MAX)
    for i in range(settings.CUSTOM_FIELDS_MAX):
        tenant.define_custom_field(
            label=f"field {i}", kind=CustomFieldKind.TEXT, applies_to=RecordKind.LEAD, stamp=STAMP
        )
    with pytest.raises(InvalidInput) as refused:
        tenant.define_custom_field(
            label="one more", kind=CustomFieldKind.TEXT, applies_to=RecordKind.LEAD, stamp=STAMP
        )
    _assert_too_many(refused, "custom_fields", settings.CUSTOM_FIELDS_MAX)


def test_choices_and_stages_stop_at_the_limit() -> None:
    tenant = TenantSettings.create(TENANT, STAMP)
    with pytest.raises(InvalidInput) as refused:
        tenant.define_custom_field(
            label="Tier",
            kind=CustomFieldKind.CHOICE,
            applies_to=RecordKind.LEAD,
            choices=tuple(f"c{i}" for i in range(settings.CHOICES_MAX + 1)),
            stamp=STAMP,
        )
    _assert_too_many(refused, "choices", settings.CHOICES_MAX)
    pipeline = make_pipeline([(f"s{i}", i) for i in range(settings.STAGES_MAX)])
    with pytest.raises(InvalidInput) as refused:
        pipeline.add_stage("one more", 99, STAMP)
    _assert_too_many(refused, "stages", settings.STAGES_MAX)
