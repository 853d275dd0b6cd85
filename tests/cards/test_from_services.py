"""Cards render the views the real use cases return (over the domain's in-memory fakes), and
the errors those use cases raise, in every language."""

from __future__ import annotations

import importlib

import pytest

from cards import account_card, contact_card, error_message, lead_card, verbs
from cards.i18n import Translator
from domain.errors import DomainError
from domain.ids import TenantId, UserId
from domain.services import CRM
from tests.cards.conftest import CardValidator, walk

# Imported by name so mypy does not type-check tests/domain/fakes.py from here: its fakes
# don't match the ports' types yet (tests/domain's to settle); at run time they are the real
# thing the domain suite uses.
fakes = importlib.import_module("tests.domain.fakes")

TENANT = TenantId("tenant-cards")
ADMIN = UserId("aad-admin")
SELLER = UserId("aad-seller")
WATCHER = UserId("aad-watcher")


@pytest.fixture
def crm() -> CRM:
    service = CRM(fakes.FakeDatabase().uow, fakes.FakeClock())
    service.register_user(TENANT, ADMIN, display_name="Ada Admin", email="ada@example.com")
    service.register_user(TENANT, SELLER, display_name="Sam Seller", email="sam@example.com")
    service.register_user(TENANT, WATCHER, display_name="Wes Watcher", email="wes@example.com")
    return service


def test_a_lead_from_the_use_cases_renders_for_its_seller_and_its_follower(
    crm: CRM, t: Translator, card_validator: CardValidator
) -> None:
    account = crm.create_account(TENANT, SELLER, name="Acme")
    contact = crm.create_contact(
        TENANT, SELLER, name="Carla", email="carla@acme.example", account_id=account.id
    )
    other = crm.create_contact(
        TENANT, SELLER, name="Otto", email="otto@acme.example", account_id=account.id
    )
    lead = crm.create_lead(
        TENANT,
        SELLER,
        title="Fleet renewal",
        account_id=account.id,
        contact_id=contact.id,
        amount="1234.50",
        currency="EUR",
    )
    crm.add_participant(TENANT, SELLER, lead.id, other.id, role="CFO")
    crm.add_follower(TENANT, SELLER, lead.id, WATCHER)
    crm.comment(TENANT, WATCHER, lead.id, "Looks good")

    seller_view = crm.lead_view(TENANT, SELLER, lead.id)
    seller_card = lead_card(seller_view, t)
    assert card_validator.is_valid(seller_card)
    version = [
        node["data"][verbs.VERSION]
        for node in walk(seller_card)
        if node.get("type") == "Action.Execute" and node["verb"] == verbs.LEAD_CHANGE_STAGE
    ]
    assert version == [seller_view.lead.version]

    watcher_card = lead_card(crm.lead_view(TENANT, WATCHER, lead.id), t)
    assert card_validator.is_valid(watcher_card)
    watcher_verbs = {n["verb"] for n in walk(watcher_card) if n.get("type") == "Action.Execute"}
    assert verbs.LEAD_CHANGE_STAGE not in watcher_verbs
    assert verbs.LEAD_COMMENT in watcher_verbs

    assert card_validator.is_valid(account_card(crm.account_view(TENANT, SELLER, account.id), t))
    assert card_validator.is_valid(contact_card(crm.contact_view(TENANT, SELLER, contact.id), t))


def test_errors_the_use_cases_raise_have_messages(crm: CRM, t: Translator) -> None:
    lead = crm.create_lead(TENANT, SELLER, title="Deal")
    crm.win_lead(TENANT, SELLER, lead.id)
    refusals: list[DomainError] = []
    for attempt in (
        lambda: crm.win_lead(TENANT, SELLER, lead.id),
        lambda: crm.lead_view(TENANT, SELLER, "missing"),
        lambda: crm.change_stage(TENANT, WATCHER, lead.id, "x"),
        lambda: crm.reopen_lead(TENANT, SELLER, lead.id, expected_version=0),
        lambda: crm.create_lead(TENANT, SELLER, title="x" * 500),
    ):
        with pytest.raises(DomainError) as refused:
            attempt()
        refusals.append(refused.value)
    codes = [error.code for error in refusals]
    assert codes == [
        "lead.closed",
        "lead.not_found",
        "lead.access_denied",
        "lead.conflict",
        "input.too_long",
    ]
    for error in refusals:
        assert t.has(f"error.{error.code}")
        message = error_message(t, error.code, error.params)
        assert "{" not in message
