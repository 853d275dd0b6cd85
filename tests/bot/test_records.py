"""Accounts and contacts from chat: their cards, their actions, and what installation stores."""

from __future__ import annotations

from typing import Any

from cards import verbs
from tests.bot.conftest import ALICE, BOB, Service
from tests.support import activities
from tests.support.cards import action_data, choices, has_action, texts, walk


async def _account_card(service: Service, name: str = "Acme") -> dict[str, Any]:
    await service.say(f"new lead Pilot for {name}")
    return await service.say(f"account {name}")


async def test_account_command_shows_the_folder_with_its_leads(service: Service) -> None:
    card = await _account_card(service)
    assert "Acme" in texts(card)
    assert "Pilot" in texts(card)


async def test_change_the_classification_of_an_account(service: Service) -> None:
    card = await _account_card(service)
    options = choices(card, verbs.IN_CLASSIFICATION)
    client = next(value for title, value in options.items() if title == "Client")
    data = {**action_data(card, verbs.ACCOUNT_CLASSIFY), verbs.IN_CLASSIFICATION: client}
    card = await service.press(verbs.ACCOUNT_CLASSIFY, data)
    assert "Client" in texts(card)


async def test_an_unknown_classification_is_refused_clearly(service: Service) -> None:
    card = await _account_card(service)
    data = {**action_data(card, verbs.ACCOUNT_CLASSIFY), verbs.IN_CLASSIFICATION: "vip"}
    refused = await service.press(verbs.ACCOUNT_CLASSIFY, data)
    assert has_action(refused, verbs.ACCOUNT_SHOW)


async def test_rename_and_tag_an_account_then_find_it_by_its_new_name(service: Service) -> None:
    card = await _account_card(service)
    data = {
        **action_data(card, verbs.ACCOUNT_EDIT),
        verbs.IN_ACCOUNT_NAME: "Acme Logistics",
        verbs.IN_TAGS: "Agency partner, , fleet",
    }
    card = await service.press(verbs.ACCOUNT_EDIT, data)
    assert "Acme Logistics" in texts(card)
    assert "agency partner, fleet" in texts(card)
    found = await service.say("find acme log")
    assert "Acme Logistics" in texts(found)
    cleared = await service.press(
        verbs.ACCOUNT_EDIT, {**action_data(card, verbs.ACCOUNT_EDIT), verbs.IN_TAGS: ""}
    )
    assert "agency partner" not in texts(cleared)
    assert "Acme Logistics" in texts(cleared)  # the name was not in the data: left as it is


async def test_bad_account_details_are_refused_and_nothing_changes(service: Service) -> None:
    card = await _account_card(service)
    for field, value in (
        (verbs.IN_ACCOUNT_NAME, "  "),
        (verbs.IN_ACCOUNT_NAME, "x" * 500),
        (verbs.IN_TAGS, ",".join(f"t{n}" for n in range(40))),
    ):
        data = {**action_data(card, verbs.ACCOUNT_EDIT), verbs.IN_TAGS: "kept", field: value}
        refused = await service.press(verbs.ACCOUNT_EDIT, data)
        assert "That didn't work" in texts(refused)
    shown = await service.say("account Acme")
    assert "kept" not in texts(shown)
    stale = await service.press(
        verbs.ACCOUNT_EDIT, {**action_data(card, verbs.ACCOUNT_EDIT), verbs.IN_TAGS: "one"}
    )
    assert "one" in texts(stale)
    again = await service.press(
        verbs.ACCOUNT_EDIT, {**action_data(card, verbs.ACCOUNT_EDIT), verbs.IN_TAGS: "two"}
    )
    assert "That didn't work" in texts(again)  # drawn before the change above


async def test_characteristics_and_interests_from_the_details_form(service: Service) -> None:
    """Alice, the tenant's first user, is its admin and keeps its catalogs."""
    card = await _account_card(service)
    crm, tenant, alice = service.runtime.crm, service.tenant_id, ALICE.aad_object_id
    family = crm.add_characteristic(tenant, alice, "Family business")  # type: ignore[arg-type]
    cloud = crm.add_interest_area(tenant, alice, "Cloud hosting")  # type: ignore[arg-type]
    training = crm.add_interest_area(tenant, alice, "On-site training")  # type: ignore[arg-type]
    card = await service.say("account Acme")
    assert choices(card, verbs.IN_CHARACTERISTICS) == {"Family business": family}
    data = {
        **action_data(card, verbs.ACCOUNT_EDIT),
        verbs.IN_ACCOUNT_NAME: "Acme",
        verbs.IN_TAGS: "",
        verbs.IN_CHARACTERISTICS: family,
        verbs.IN_INTERESTS: cloud,
        verbs.IN_DISINTERESTS: training,
    }
    card = await service.press(verbs.ACCOUNT_EDIT, data)
    shown = texts(card)
    assert "Family business" in shown
    assert "Cloud hosting" in shown
    assert "On-site training" in shown
    both = {**data, **action_data(card, verbs.ACCOUNT_EDIT), verbs.IN_DISINTERESTS: cloud}
    refused = await service.press(verbs.ACCOUNT_EDIT, {**both, verbs.IN_ACCOUNT_NAME: "Renamed"})
    assert "both an interest and a disinterest" in texts(refused)
    unknown = {**both, verbs.IN_DISINTERESTS: "", verbs.IN_CHARACTERISTICS: "made-up"}
    refused = await service.press(verbs.ACCOUNT_EDIT, {**unknown, verbs.IN_ACCOUNT_NAME: "Renamed"})
    assert "made-up" in texts(refused)
    after = await service.say("account Acme")  # neither refusal wrote anything, not the name
    assert "Renamed" not in texts(after)
    account = crm.get_account(
        tenant, alice, action_data(after, verbs.ACCOUNT_EDIT)[verbs.ACCOUNT_ID]
    )  # type: ignore[arg-type]
    assert (account.characteristics, account.interests, account.disinterests) == (
        frozenset({family}),
        frozenset({cloud}),
        frozenset({training}),
    )
    cleared = {**action_data(after, verbs.ACCOUNT_EDIT), verbs.IN_INTERESTS: ""}
    await service.press(verbs.ACCOUNT_EDIT, cleared)
    account = crm.get_account(tenant, alice, account.id)  # type: ignore[arg-type]
    assert (account.characteristics, account.interests) == (frozenset({family}), frozenset())


async def test_a_responsible_added_from_the_card_sees_the_account_until_removed(
    service: Service,
) -> None:
    await service.say("help")  # Alice, the tenant's first user: its admin
    await service.say("help", user=BOB)  # Bob, a member, has opened the bot
    card = await _account_card(service)
    assert "Alice Seller" in texts(card)  # who created it is responsible for it
    assert not has_action(card, verbs.ACCOUNT_REMOVE_RESPONSIBLE)  # never the last one
    refused = await service.say("account Acme", user=BOB)
    assert not has_action(refused, verbs.ACCOUNT_EDIT)
    assert "Nothing found" in texts(refused)
    bob = next(v for t, v in choices(card, verbs.IN_RESPONSIBLE_USER_ID).items() if "Bob" in t)
    card = await service.press(
        verbs.ACCOUNT_ADD_RESPONSIBLE,
        {**action_data(card, verbs.ACCOUNT_ADD_RESPONSIBLE), verbs.IN_RESPONSIBLE_USER_ID: bob},
    )
    assert "Bob Seller" in texts(card)
    # Everyone in the tenant is responsible now: nobody left to pick, the email stays.
    inputs = {node.get("id") for node in walk(card)}
    assert verbs.IN_RESPONSIBLE_USER_ID not in inputs
    assert verbs.IN_RESPONSIBLE_EMAIL in inputs
    seen = await service.say("account Acme", user=BOB)
    assert has_action(seen, verbs.ACCOUNT_EDIT)
    card = await service.press(
        verbs.ACCOUNT_REMOVE_RESPONSIBLE,
        {
            **action_data(card, verbs.ACCOUNT_REMOVE_RESPONSIBLE),
            verbs.IN_REMOVE_RESPONSIBLE_ID: bob,
        },
    )
    assert "Bob Seller" in choices(card, verbs.IN_RESPONSIBLE_USER_ID)  # to add again
    account_id = action_data(card, verbs.ACCOUNT_EDIT)[verbs.ACCOUNT_ID]
    account = service.runtime.crm.get_account(service.tenant_id, ALICE.aad_object_id, account_id)  # type: ignore[arg-type]
    assert account.responsible_ids == {ALICE.aad_object_id}
    again = await service.say("account Acme", user=BOB)
    assert not has_action(again, verbs.ACCOUNT_EDIT)


async def test_responsibles_by_email_and_every_wrong_way(service: Service) -> None:
    await service.say("help")
    await service.say("help", user=BOB)
    service.runtime.crm.register_user(  # as Teams' roster tells it: with the email
        service.tenant_id,  # type: ignore[arg-type]
        BOB.aad_object_id,  # type: ignore[arg-type]
        display_name=BOB.name,
        email=BOB.email,
    )
    card = await _account_card(service)
    data = action_data(card, verbs.ACCOUNT_ADD_RESPONSIBLE)
    card = await service.press(
        verbs.ACCOUNT_ADD_RESPONSIBLE, {**data, verbs.IN_RESPONSIBLE_EMAIL: BOB.email.upper()}
    )
    assert "Bob Seller" in texts(card)
    for extra, says in (
        ({}, "responsible is required"),
        ({verbs.IN_RESPONSIBLE_EMAIL: "nobody@example.com"}, "didn't work"),
        ({verbs.IN_RESPONSIBLE_USER_ID: "aad-not-a-user"}, "didn't work"),
    ):
        refused = await service.press(verbs.ACCOUNT_ADD_RESPONSIBLE, {**data, **extra})
        assert says in texts(refused), extra
    alice = ALICE.aad_object_id
    remove = action_data(card, verbs.ACCOUNT_REMOVE_RESPONSIBLE)
    card = await service.press(
        verbs.ACCOUNT_REMOVE_RESPONSIBLE, {**remove, verbs.IN_REMOVE_RESPONSIBLE_ID: alice}
    )
    # Alice removed herself; as the tenant's admin she still sees it, and Bob is the last one.
    assert not has_action(card, verbs.ACCOUNT_REMOVE_RESPONSIBLE)
    last = await service.press(
        verbs.ACCOUNT_REMOVE_RESPONSIBLE,
        {**remove, verbs.IN_REMOVE_RESPONSIBLE_ID: BOB.aad_object_id},
    )
    assert "at least one responsible" in texts(last)
    assert "Bob Seller" in texts(await service.say("account Acme"))


async def test_documents_are_linked_from_the_card_and_taken_off(service: Service) -> None:
    card = await _account_card(service)
    data = action_data(card, verbs.ACCOUNT_ADD_DOCUMENT)
    url = "https://contoso.sharepoint.com/sites/sales/Proposal%202027.docx"
    card = await service.press(
        verbs.ACCOUNT_ADD_DOCUMENT,
        {**data, verbs.IN_DOCUMENT_TITLE: "Proposal 2027", verbs.IN_DOCUMENT_URL: f" {url} "},
    )
    links = {n["title"]: n["url"] for n in walk(card) if n.get("type") == "Action.OpenUrl"}
    assert links["Proposal 2027"] == url
    for title, link in (
        ("Phishing", "javascript:alert(1)"),
        ("Plain", "http://contoso.example/doc"),
        ("", url),
        ("No link", ""),
    ):
        refused = await service.press(
            verbs.ACCOUNT_ADD_DOCUMENT,
            {**data, verbs.IN_DOCUMENT_TITLE: title, verbs.IN_DOCUMENT_URL: link},
        )
        assert "That didn't work" in texts(refused), (title, link)
    shown = await service.say("account Acme")
    assert [n["title"] for n in walk(shown) if n.get("type") == "Action.OpenUrl"] == [
        "Proposal 2027"
    ]
    document = choices(shown, verbs.IN_REMOVE_DOCUMENT_ID)["Proposal 2027"]
    card = await service.press(
        verbs.ACCOUNT_REMOVE_DOCUMENT,
        {
            **action_data(shown, verbs.ACCOUNT_REMOVE_DOCUMENT),
            verbs.IN_REMOVE_DOCUMENT_ID: document,
        },
    )
    assert not [n for n in walk(card) if n.get("type") == "Action.OpenUrl"]
    assert not has_action(card, verbs.ACCOUNT_REMOVE_DOCUMENT)
    gone = await service.press(
        verbs.ACCOUNT_REMOVE_DOCUMENT,
        {
            **action_data(shown, verbs.ACCOUNT_REMOVE_DOCUMENT),
            verbs.IN_REMOVE_DOCUMENT_ID: document,
        },
    )
    assert "doesn't exist" in texts(gone)


async def test_add_a_contact_then_start_a_lead_in_the_account(service: Service) -> None:
    card = await _account_card(service)
    data = {
        **action_data(card, verbs.ACCOUNT_ADD_CONTACT),
        verbs.IN_CONTACT_NAME: "Dora Buyer",
        verbs.IN_CONTACT_EMAIL: "dora@acme.example",
        verbs.IN_CONTACT_JOB_TITLE: "Purchasing",
    }
    card = await service.press(verbs.ACCOUNT_ADD_CONTACT, data)
    assert "Dora Buyer" in texts(card)
    data = {**action_data(card, verbs.ACCOUNT_NEW_LEAD), verbs.IN_LEAD_TITLE: "Upsell"}
    lead = await service.press(verbs.ACCOUNT_NEW_LEAD, data)
    assert "Upsell" in texts(lead)
    assert "Acme" in texts(lead)


async def test_relationship_between_accounts_shows_on_both(service: Service) -> None:
    await service.say("new lead Campaign for Agency One")
    card = await _account_card(service)
    others = choices(card, verbs.IN_OTHER_ACCOUNT_ID)
    agency = next(value for title, value in others.items() if "Agency One" in title)
    data = {
        **action_data(card, verbs.ACCOUNT_ADD_RELATIONSHIP),
        verbs.IN_OTHER_ACCOUNT_ID: agency,
        verbs.IN_RELATIONSHIP_REASON: "Media agency",
    }
    card = await service.press(verbs.ACCOUNT_ADD_RELATIONSHIP, data)
    assert "Media agency" in texts(card)
    other = await service.press(verbs.ACCOUNT_SHOW, {verbs.ACCOUNT_ID: agency})
    assert "Media agency" in texts(other)
    assert "Acme" in texts(other)


async def test_contact_card_offers_only_the_allowed_manual_statuses(service: Service) -> None:
    card = await _account_card(service)
    data = {
        **action_data(card, verbs.ACCOUNT_ADD_CONTACT),
        verbs.IN_CONTACT_NAME: "Eve Primary",
        verbs.IN_CONTACT_EMAIL: "eve@acme.example",
    }
    await service.press(verbs.ACCOUNT_ADD_CONTACT, data)
    lead = await service.say("lead Pilot")
    eve = next(v for t, v in choices(lead, verbs.IN_PRIMARY_CONTACT_ID).items() if "Eve" in t)
    await service.press(
        verbs.LEAD_SET_PRIMARY_CONTACT,
        {**action_data(lead, verbs.LEAD_SET_PRIMARY_CONTACT), verbs.IN_PRIMARY_CONTACT_ID: eve},
    )
    contact = await service.say("contact Eve")
    assert "Eve Primary" in texts(contact)
    prospect = choices(contact, verbs.IN_PROSPECT_STATUS)
    # An open lead: "lost prospect" and "not a prospect" are not offered.
    assert set(prospect.values()) <= {"current", ""}
    forged = {
        **action_data(contact, verbs.CONTACT_SET_STATUS),
        verbs.IN_PROSPECT_STATUS: "lost",
    }
    refused = await service.press(verbs.CONTACT_SET_STATUS, forged)
    assert "open lead" in texts(refused).lower() or "isn't allowed" in texts(refused)
    crm = service.runtime.crm
    stored = crm.get_contact(service.tenant_id, ALICE.aad_object_id, eve)  # type: ignore[arg-type]
    assert stored.prospect_status.value == "current"


async def test_a_member_outside_the_portfolio_cannot_open_the_account(service: Service) -> None:
    card = await _account_card(service)
    account_id = action_data(card, verbs.ACCOUNT_NEW_LEAD)[verbs.ACCOUNT_ID]
    await service.say("help", user=BOB)
    refused = await service.press(verbs.ACCOUNT_SHOW, {verbs.ACCOUNT_ID: account_id}, user=BOB)
    assert "Acme" not in texts(refused)
    assert "portfolio" in texts(refused)


async def test_installation_registers_the_user_and_stores_the_conversation(
    service: Service,
) -> None:
    await service.say("help")
    database = service.runtime.database
    reference = database.conversations(service.tenant_id).personal_for_user(ALICE.aad_object_id)
    assert reference is not None
    assert reference.service_url == service.connector.url
    user = service.runtime.crm.get_user(service.tenant_id, ALICE.aad_object_id)  # type: ignore[arg-type]
    assert user.display_name == ALICE.name
    assert user.role.value == "admin"  # the first user of the tenant


async def test_an_activity_without_a_name_keeps_the_name_we_know(service: Service) -> None:
    await service.say("help")
    activity = activities.message(
        "help", service_url=service.connector.url, tenant_id=service.tenant_id, user=ALICE
    )
    del activity["from"]["name"]
    assert (await service.post(activity)).status in {200, 201}
    crm = service.runtime.crm
    user = crm.get_user(service.tenant_id, ALICE.aad_object_id)  # type: ignore[arg-type]
    assert user.display_name == ALICE.name
