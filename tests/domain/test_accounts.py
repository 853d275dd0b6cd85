"""Accounts: classification, catalogs, responsibles, relationships, documents, custom fields."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from domain.accounts import Classification, Direction
from domain.errors import Conflict, InvalidInput, NotFound, RuleViolation
from domain.events import (
    AccountRelationshipAdded,
    AccountRelationshipRemoved,
    AccountUpdated,
    event_names,
)
from domain.ids import UserId
from domain.services import CRM
from domain.settings import CustomFieldKind, RecordKind
from tests.domain.factories import make_account
from tests.domain.fakes import FakeClock, FakeDatabase
from tests.domain.people import ADMIN, ALICE, BOB, TENANT


def test_new_account_is_a_lead_and_its_creator_is_responsible(crm: CRM) -> None:
    account = make_account(crm, actor=ALICE)
    assert account.classification is Classification.LEAD
    assert account.responsible_ids == {ALICE}
    assert account.created_by == ALICE


def test_named_responsibles_replace_the_creator(crm: CRM) -> None:
    account = make_account(crm, actor=ADMIN, responsible_ids=[ALICE, BOB])
    assert account.responsible_ids == {ALICE, BOB}


def test_unknown_responsible_is_refused(crm: CRM, database: FakeDatabase) -> None:
    before = len(database.events)
    with pytest.raises(NotFound) as refused:
        make_account(crm, responsible_ids=[ALICE, UserId("aad-ghost")])
    assert refused.value.params["user_id"] == "aad-ghost"
    assert database.events[before:] == []


@pytest.mark.parametrize("classification", list(Classification))
def test_account_can_be_classified(crm: CRM, classification: Classification) -> None:
    account = make_account(crm, classification=Classification.LEAD)
    changed = crm.update_account(TENANT, ADMIN, account.id, classification=classification)
    assert changed.classification is classification


def test_other_classification_is_shown_with_the_tenant_label(crm: CRM) -> None:
    account = make_account(crm, classification=Classification.OTHER)
    assert crm.account_view(TENANT, ADMIN, account.id).settings.other_label == "Other"
    crm.set_other_label(TENANT, ADMIN, "Partner")
    view = crm.account_view(TENANT, ADMIN, account.id)
    assert view.account.classification is Classification.OTHER
    assert view.settings.other_label == "Partner"


def test_rename_records_before_and_after(crm: CRM, database: FakeDatabase) -> None:
    account = make_account(crm, name="Acme")
    crm.update_account(TENANT, ADMIN, account.id, name="  Acme   Inc ")
    event = database.events[-1]
    assert isinstance(event, AccountUpdated)
    change = event.change("name")
    assert change is not None
    assert (change.before, change.after) == ("Acme", "Acme Inc")


def test_tags_are_cleaned(crm: CRM) -> None:
    account = make_account(crm, tags=["VIP", " vip ", "Retail  chain"])
    assert account.tags == {"vip", "retail chain"}
    changed = crm.update_account(TENANT, ADMIN, account.id, tags=[])
    assert changed.tags == frozenset()


# --- characteristics and interests -----------------------------------------------------------


def test_characteristics_come_from_the_tenant_catalog(crm: CRM) -> None:
    retail = crm.add_characteristic(TENANT, ADMIN, "Retail")
    account = make_account(crm)
    assert crm.set_account_characteristics(TENANT, ADMIN, account.id, [retail]).characteristics == {
        retail
    }
    with pytest.raises(InvalidInput) as refused:
        crm.set_account_characteristics(TENANT, ADMIN, account.id, [retail, "made-up"])
    assert refused.value.code == "input.unknown_catalog_entry"
    assert refused.value.params == {"field": "characteristics", "keys": ["made-up"]}


def test_retired_characteristic_stays_but_cannot_be_newly_added(crm: CRM) -> None:
    retail = crm.add_characteristic(TENANT, ADMIN, "Retail")
    b2b = crm.add_characteristic(TENANT, ADMIN, "B2B")
    first, second = make_account(crm, name="First"), make_account(crm, name="Second")
    crm.set_account_characteristics(TENANT, ADMIN, first.id, [retail])
    crm.retire_characteristic(TENANT, ADMIN, retail)
    kept = crm.set_account_characteristics(TENANT, ADMIN, first.id, [retail, b2b])
    assert kept.characteristics == {retail, b2b}
    with pytest.raises(InvalidInput, match=r"input\.unknown_catalog_entry"):
        crm.set_account_characteristics(TENANT, ADMIN, second.id, [retail])
    dropped = crm.set_account_characteristics(TENANT, ADMIN, first.id, [b2b])
    with pytest.raises(InvalidInput, match=r"input\.unknown_catalog_entry"):
        crm.set_account_characteristics(TENANT, ADMIN, first.id, [b2b, retail])
    assert dropped.characteristics == {b2b}


def test_interests_and_disinterests_come_from_the_catalog(crm: CRM) -> None:
    cloud = crm.add_interest_area(TENANT, ADMIN, "Cloud")
    onprem = crm.add_interest_area(TENANT, ADMIN, "On premises")
    account = make_account(crm)
    changed = crm.set_account_interests(
        TENANT, ADMIN, account.id, interests=[cloud], disinterests=[onprem]
    )
    assert (changed.interests, changed.disinterests) == (frozenset({cloud}), frozenset({onprem}))
    with pytest.raises(InvalidInput, match=r"input\.unknown_catalog_entry"):
        crm.set_account_interests(
            TENANT, ADMIN, account.id, interests=["blockchain"], disinterests=[]
        )


def test_same_area_cannot_be_interest_and_disinterest(crm: CRM) -> None:
    cloud = crm.add_interest_area(TENANT, ADMIN, "Cloud")
    account = make_account(crm)
    with pytest.raises(RuleViolation) as refused:
        crm.set_account_interests(
            TENANT, ADMIN, account.id, interests=[cloud], disinterests=[cloud]
        )
    assert refused.value.code == "account.interest_and_disinterest"
    assert refused.value.params == {"keys": [cloud]}
    assert crm.get_account(TENANT, ADMIN, account.id).interests == frozenset()


def test_retired_interest_area_stays_but_cannot_be_newly_added(crm: CRM) -> None:
    cloud = crm.add_interest_area(TENANT, ADMIN, "Cloud")
    first, second = make_account(crm, name="First"), make_account(crm, name="Second")
    crm.set_account_interests(TENANT, ADMIN, first.id, interests=[cloud], disinterests=[])
    crm.retire_interest_area(TENANT, ADMIN, cloud)
    kept = crm.set_account_interests(TENANT, ADMIN, first.id, interests=[cloud], disinterests=[])
    assert kept.interests == {cloud}
    for interests, disinterests in (([cloud], []), ([], [cloud])):
        with pytest.raises(InvalidInput, match=r"input\.unknown_catalog_entry"):
            crm.set_account_interests(
                TENANT, ADMIN, second.id, interests=interests, disinterests=disinterests
            )
    with pytest.raises(InvalidInput, match=r"input\.unknown_catalog_entry"):
        crm.set_account_interests(TENANT, ADMIN, first.id, interests=[], disinterests=[cloud])


def test_interest_can_move_to_disinterest(crm: CRM) -> None:
    cloud = crm.add_interest_area(TENANT, ADMIN, "Cloud")
    account = make_account(crm)
    crm.set_account_interests(TENANT, ADMIN, account.id, interests=[cloud], disinterests=[])
    moved = crm.set_account_interests(TENANT, ADMIN, account.id, interests=[], disinterests=[cloud])
    assert (moved.interests, moved.disinterests) == (frozenset(), frozenset({cloud}))


# --- responsibles ----------------------------------------------------------------------------


def test_responsibles_are_added_and_removed(crm: CRM, database: FakeDatabase) -> None:
    account = make_account(crm, actor=ALICE)
    assert crm.add_responsible(TENANT, ALICE, account.id, BOB).responsible_ids == {ALICE, BOB}
    assert crm.remove_responsible(TENANT, ALICE, account.id, ALICE).responsible_ids == {BOB}
    assert event_names(database.events[-2:]) == [
        "account.responsible_added",
        "account.responsible_removed",
    ]


def test_adding_a_responsible_twice_changes_nothing(crm: CRM, database: FakeDatabase) -> None:
    account = make_account(crm, actor=ALICE)
    before = len(database.events)
    crm.add_responsible(TENANT, ALICE, account.id, ALICE)
    assert database.events[before:] == []


def test_last_responsible_cannot_be_removed(crm: CRM) -> None:
    account = make_account(crm, actor=ALICE)
    with pytest.raises(RuleViolation) as refused:
        crm.remove_responsible(TENANT, ALICE, account.id, ALICE)
    assert refused.value.code == "account.last_responsible"
    assert crm.get_account(TENANT, ALICE, account.id).responsible_ids == {ALICE}


def test_responsible_must_be_a_user_of_the_tenant(crm: CRM) -> None:
    account = make_account(crm)
    with pytest.raises(NotFound, match=r"user\.not_found"):
        crm.add_responsible(TENANT, ADMIN, account.id, UserId("aad-ghost"))
    with pytest.raises(NotFound, match=r"responsible\.not_found"):
        crm.remove_responsible(TENANT, ADMIN, account.id, BOB)


# --- relationships ---------------------------------------------------------------------------


def test_relationship_is_seen_from_both_sides_with_its_reason(
    crm: CRM, database: FakeDatabase
) -> None:
    agency, client = make_account(crm, name="Agency"), make_account(crm, name="Client")
    relationship = crm.add_relationship(TENANT, ADMIN, agency.id, client.id, " Intermediary ")
    seen_from_agency = crm.get_account(TENANT, ADMIN, agency.id).relationship(relationship.id)
    seen_from_client = crm.get_account(TENANT, ADMIN, client.id).relationship(relationship.id)
    assert (seen_from_agency.other_account_id, seen_from_agency.direction) == (
        client.id,
        Direction.OUTGOING,
    )
    assert (seen_from_client.other_account_id, seen_from_client.direction) == (
        agency.id,
        Direction.INCOMING,
    )
    assert seen_from_agency.reason == seen_from_client.reason == "Intermediary"
    added = [e for e in database.events if isinstance(e, AccountRelationshipAdded)]
    assert {e.subject_id for e in added} == {agency.id, client.id}
    assert crm.account_view(TENANT, ADMIN, agency.id).related[client.id].name == "Client"


def test_relationship_needs_a_reason_and_another_account(crm: CRM) -> None:
    first, second = make_account(crm, name="First"), make_account(crm, name="Second")
    with pytest.raises(InvalidInput, match=r"input\.required"):
        crm.add_relationship(TENANT, ADMIN, first.id, second.id, "  ")
    with pytest.raises(RuleViolation, match=r"account\.relationship_self"):
        crm.add_relationship(TENANT, ADMIN, first.id, first.id, "Self")


def test_duplicate_relationship_is_refused_from_either_side(crm: CRM) -> None:
    first, second = make_account(crm, name="First"), make_account(crm, name="Second")
    crm.add_relationship(TENANT, ADMIN, first.id, second.id, "Partner")
    with pytest.raises(RuleViolation, match=r"account\.relationship_duplicate"):
        crm.add_relationship(TENANT, ADMIN, first.id, second.id, "partner")
    with pytest.raises(RuleViolation, match=r"account\.relationship_duplicate"):
        crm.add_relationship(TENANT, ADMIN, second.id, first.id, "PARTNER")
    assert len(crm.get_account(TENANT, ADMIN, second.id).relationships) == 1


def test_removing_a_relationship_removes_both_sides(crm: CRM, database: FakeDatabase) -> None:
    first, second = make_account(crm, name="First"), make_account(crm, name="Second")
    relationship = crm.add_relationship(TENANT, ADMIN, first.id, second.id, "Partner")
    crm.remove_relationship(TENANT, ADMIN, second.id, relationship.id)
    assert crm.get_account(TENANT, ADMIN, first.id).relationships == ()
    assert crm.get_account(TENANT, ADMIN, second.id).relationships == ()
    removed = [e for e in database.events if isinstance(e, AccountRelationshipRemoved)]
    assert {e.subject_id for e in removed} == {first.id, second.id}
    with pytest.raises(NotFound, match=r"relationship\.not_found"):
        crm.remove_relationship(TENANT, ADMIN, first.id, relationship.id)


# --- documents -------------------------------------------------------------------------------


def test_document_keeps_title_link_author_and_time(crm: CRM, clock: FakeClock) -> None:
    account = make_account(crm, actor=ALICE)
    clock.advance(hours=2)
    changed = crm.add_document(
        TENANT, ALICE, account.id, title=" Contract 2026 ", url="https://files.example/c.pdf"
    )
    (document,) = changed.documents
    assert (document.title, document.url) == ("Contract 2026", "https://files.example/c.pdf")
    assert (document.added_by, document.added_at) == (ALICE, clock.now())


@pytest.mark.parametrize(
    "url",
    [
        "",
        "files.example/c.pdf",
        "javascript:alert(1)",
        "ftp://files.example/c.pdf",
        "http://files.example/c.pdf",
        "https://files.example/a b.pdf",
    ],
)
def test_document_link_must_be_https(crm: CRM, url: str) -> None:
    account = make_account(crm)
    with pytest.raises(InvalidInput) as refused:
        crm.add_document(TENANT, ADMIN, account.id, title="Doc", url=url)
    assert refused.value.params["field"] == "url"
    assert crm.get_account(TENANT, ADMIN, account.id).documents == ()


def test_document_is_removed_by_id(crm: CRM) -> None:
    account = make_account(crm)
    first = crm.add_document(TENANT, ADMIN, account.id, title="A", url="https://x.example/a")
    crm.add_document(TENANT, ADMIN, account.id, title="B", url="https://x.example/b")
    remaining = crm.remove_document(TENANT, ADMIN, account.id, first.documents[0].id)
    assert [d.title for d in remaining.documents] == ["B"]
    with pytest.raises(NotFound, match=r"document\.not_found"):
        crm.remove_document(TENANT, ADMIN, account.id, first.documents[0].id)


# --- custom fields ---------------------------------------------------------------------------


@pytest.fixture
def custom_fields(crm: CRM) -> dict[CustomFieldKind, str]:
    keys = {}
    for kind, label in [
        (CustomFieldKind.TEXT, "Website"),
        (CustomFieldKind.NUMBER, "Employees"),
        (CustomFieldKind.DATE, "Founded"),
    ]:
        definition = crm.define_custom_field(
            TENANT, ADMIN, label=label, kind=kind, applies_to=RecordKind.ACCOUNT
        )
        keys[kind] = definition.key
    keys[CustomFieldKind.CHOICE] = crm.define_custom_field(
        TENANT,
        ADMIN,
        label="Tier",
        kind=CustomFieldKind.CHOICE,
        applies_to=RecordKind.ACCOUNT,
        choices=("Gold", "Silver"),
    ).key
    return keys


def test_custom_fields_of_each_kind_are_parsed(
    crm: CRM, custom_fields: dict[CustomFieldKind, str]
) -> None:
    account = make_account(crm)
    changed = crm.update_account(
        TENANT,
        ADMIN,
        account.id,
        custom_fields={
            custom_fields[CustomFieldKind.TEXT]: " acme.example ",
            custom_fields[CustomFieldKind.NUMBER]: "1250",
            custom_fields[CustomFieldKind.DATE]: "1999-04-01",
            custom_fields[CustomFieldKind.CHOICE]: "Gold",
        },
    )
    assert changed.custom_fields == {
        "website": "acme.example",
        "employees": Decimal(1250),
        "founded": date(1999, 4, 1),
        "tier": "Gold",
    }


def test_blank_custom_value_clears_the_field(
    crm: CRM, custom_fields: dict[CustomFieldKind, str]
) -> None:
    account = make_account(crm)
    crm.update_account(TENANT, ADMIN, account.id, custom_fields={"tier": "Gold", "employees": 3})
    cleared = crm.update_account(TENANT, ADMIN, account.id, custom_fields={"tier": ""})
    assert cleared.custom_fields == {"employees": Decimal(3)}


@pytest.mark.parametrize(
    "case",
    [
        (CustomFieldKind.NUMBER, "a lot", "input.invalid_number"),
        (CustomFieldKind.NUMBER, "NaN", "input.invalid_number"),
        (CustomFieldKind.NUMBER, Decimal("NaN"), "input.invalid_number"),
        (CustomFieldKind.NUMBER, Decimal("Infinity"), "input.invalid_number"),
        (CustomFieldKind.NUMBER, "inf", "input.invalid_number"),
        (CustomFieldKind.NUMBER, True, "input.invalid_number"),
        (CustomFieldKind.NUMBER, 1.5, "input.invalid_number"),
        (CustomFieldKind.DATE, "31/12/2026", "input.invalid_date"),
        (CustomFieldKind.DATE, "2026-02-30", "input.invalid_date"),
        (CustomFieldKind.DATE, 20260101, "input.invalid_date"),
        (CustomFieldKind.CHOICE, "Platinum", "input.invalid_choice"),
        (CustomFieldKind.CHOICE, "gold", "input.invalid_choice"),
        (CustomFieldKind.TEXT, 42, "input.invalid"),
        (CustomFieldKind.TEXT, "x" * 4001, "input.too_long"),
    ],
)
def test_bad_custom_value_is_refused(
    crm: CRM,
    database: FakeDatabase,
    custom_fields: dict[CustomFieldKind, str],
    case: tuple[CustomFieldKind, object, str],
) -> None:
    kind, value, code = case
    account = make_account(crm)
    before = len(database.events)
    with pytest.raises(InvalidInput) as refused:
        crm.update_account(
            TENANT, ADMIN, account.id, name="Renamed", custom_fields={custom_fields[kind]: value}
        )
    assert refused.value.code == code
    assert refused.value.params["field"] == f"custom.{custom_fields[kind]}"
    assert database.events[before:] == []
    assert crm.get_account(TENANT, ADMIN, account.id).name == "Acme Ltd"


def test_custom_field_of_another_record_kind_is_unknown(crm: CRM) -> None:
    crm.define_custom_field(
        TENANT, ADMIN, label="Budget", kind=CustomFieldKind.NUMBER, applies_to=RecordKind.LEAD
    )
    account = make_account(crm)
    with pytest.raises(InvalidInput) as refused:
        crm.update_account(TENANT, ADMIN, account.id, custom_fields={"budget": 10})
    assert refused.value.code == "input.unknown_custom_field"


def test_stale_account_version_is_a_conflict(crm: CRM, database: FakeDatabase) -> None:
    account = make_account(crm)
    crm.update_account(TENANT, ADMIN, account.id, name="Acme 2", expected_version=account.version)
    before = len(database.events)
    with pytest.raises(Conflict) as refused:
        crm.update_account(TENANT, ADMIN, account.id, name="Acme 3", expected_version=0)
    assert refused.value.code == "account.conflict"
    assert refused.value.params["actual"] == account.version + 1
    assert database.events[before:] == []
