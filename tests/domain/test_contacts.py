"""Contacts: the people at customers, their details, employer, tags and custom fields."""

from __future__ import annotations

import pytest

from domain.errors import AccessDenied, Conflict, InvalidInput, NotFound
from domain.events import ContactUpdated
from domain.services import CRM
from domain.settings import CustomFieldKind, RecordKind
from domain.statuses import CustomerStatus, ProspectStatus
from tests.domain.factories import make_account, make_contact, make_lead
from tests.domain.fakes import FakeDatabase
from tests.domain.people import ADMIN, ALICE, BOB, TENANT


def test_new_contact_is_cleaned_and_has_no_status(crm: CRM) -> None:
    contact = make_contact(
        crm,
        actor=ALICE,
        name="  Carla   Contact ",
        job_title=" CFO ",
        email=" carla@acme.example ",
        phone="+55 11 99999-0000",
        tags=["Decision maker"],
    )
    assert (contact.name, contact.job_title, contact.email, contact.phone) == (
        "Carla Contact",
        "CFO",
        "carla@acme.example",
        "+55 11 99999-0000",
    )
    assert contact.tags == {"decision maker"}
    assert contact.created_by == ALICE
    assert (contact.prospect_status, contact.customer_status) == (
        ProspectStatus.NONE,
        CustomerStatus.NONE,
    )


@pytest.mark.parametrize(
    ("field", "value", "code"),
    [
        ("name", "   ", "input.required"),
        ("email", "not-an-email", "input.invalid_email"),
        ("email", "a@b", "input.invalid_email"),
        ("phone", "call me", "input.invalid_phone"),
        ("name", "x" * 201, "input.too_long"),
    ],
)
def test_bad_contact_details_are_refused(
    crm: CRM, database: FakeDatabase, field: str, value: str, code: str
) -> None:
    before = len(database.events)
    with pytest.raises(InvalidInput) as refused:
        make_contact(crm, **{field: value})  # type: ignore[arg-type]  # one field per case
    assert refused.value.code == code
    assert refused.value.params["field"] == field
    assert database.events[before:] == []


def test_update_changes_given_fields_and_empty_string_clears(
    crm: CRM, database: FakeDatabase
) -> None:
    contact = make_contact(crm, job_title="CFO", phone="+1 555 0100")
    changed = crm.update_contact(TENANT, ADMIN, contact.id, job_title="", name="Carla C.")
    assert (changed.name, changed.job_title, changed.phone) == ("Carla C.", None, "+1 555 0100")
    event = database.events[-1]
    assert isinstance(event, ContactUpdated)
    assert {c.field for c in event.changes} == {"name", "job_title"}


def test_update_without_changes_emits_nothing(crm: CRM, database: FakeDatabase) -> None:
    contact = make_contact(crm)
    before = len(database.events)
    crm.update_contact(TENANT, ADMIN, contact.id, name=contact.name, tags=[])
    assert database.events[before:] == []
    assert crm.get_contact(TENANT, ADMIN, contact.id).version == contact.version


def test_contact_moves_between_visible_accounts(crm: CRM) -> None:
    first, second = make_account(crm, name="First"), make_account(crm, name="Second")
    contact = make_contact(crm, account_id=first.id)
    assert crm.move_contact(TENANT, ADMIN, contact.id, second.id).account_id == second.id
    assert crm.move_contact(TENANT, ADMIN, contact.id, None).account_id is None
    with pytest.raises(NotFound, match=r"account\.not_found"):
        crm.move_contact(TENANT, ADMIN, contact.id, "no-such-account")


def test_contact_cannot_be_created_in_an_account_one_cannot_see(crm: CRM) -> None:
    account = make_account(crm, actor=ALICE)
    with pytest.raises(AccessDenied, match=r"account\.access_denied"):
        make_contact(crm, actor=BOB, account_id=account.id)


def test_contact_view_lists_the_statuses_of_its_leads(crm: CRM) -> None:
    contact = make_contact(crm)
    won = make_lead(crm, contact_id=contact.id)
    make_lead(crm, contact_id=contact.id)
    crm.win_lead(TENANT, ADMIN, won.id)
    view = crm.contact_view(TENANT, ADMIN, contact.id)
    assert sorted(view.lead_statuses) == ["open", "won"]


def test_contact_custom_fields_use_the_contact_definitions(crm: CRM) -> None:
    crm.define_custom_field(
        TENANT,
        ADMIN,
        label="Language",
        kind=CustomFieldKind.CHOICE,
        applies_to=RecordKind.CONTACT,
        choices=("pt-BR", "fr"),
    )
    contact = make_contact(crm)
    changed = crm.update_contact(TENANT, ADMIN, contact.id, custom_fields={"language": "fr"})
    assert changed.custom_fields == {"language": "fr"}
    with pytest.raises(InvalidInput, match=r"input\.invalid_choice"):
        crm.update_contact(TENANT, ADMIN, contact.id, custom_fields={"language": "de"})
    with pytest.raises(InvalidInput, match=r"input\.unknown_custom_field"):
        crm.update_contact(TENANT, ADMIN, contact.id, custom_fields={"shoe_size": "42"})


def test_stale_contact_version_is_a_conflict(crm: CRM) -> None:
    contact = make_contact(crm)
    crm.update_contact(TENANT, ADMIN, contact.id, name="Carla B.", expected_version=contact.version)
    with pytest.raises(Conflict) as refused:
        crm.set_contact_statuses(
            TENANT,
            ADMIN,
            contact.id,
            customer=CustomerStatus.PAST,
            expected_version=contact.version,
        )
    assert refused.value.code == "contact.conflict"
    assert crm.get_contact(TENANT, ADMIN, contact.id).customer_status is CustomerStatus.NONE
