"""A sale from start to finish in chat, in every scope and language: install, new lead, add
the people, add a follower, move the stage, win."""

from __future__ import annotations

from typing import Any

import pytest

from cards import verbs
from tests.bot.conftest import ALICE, BOB, Service
from tests.support import activities
from tests.support.cards import action_data, choices, has_action, texts

SCOPES = {
    "personal": {"conversation_type": "personal"},
    "groupChat": {
        "conversation_type": "groupChat",
        "conversation_id": "19:group-chat@thread.v2",
        "mention_bot": True,
    },
    "channel": {
        "conversation_type": "channel",
        "conversation_id": "19:sales@thread.tacv2;messageid=1700000000000",
        "mention_bot": True,
    },
}

LANGUAGES = {
    "en-US": {"new_lead": "new lead {title} for {account}", "won": "Won", "help": "help"},
    "pt-BR": {"new_lead": "novo lead {title} para {account}", "won": "Ganho", "help": "ajuda"},
    "fr-FR": {"new_lead": "nouveau lead {title} pour {account}", "won": "Gagné", "help": "aide"},
}


def _press_options(scope: dict[str, Any], locale: str) -> dict[str, Any]:
    options = {k: v for k, v in scope.items() if k != "mention_bot"}
    options["locale"] = locale
    return options


@pytest.mark.parametrize("scope_name", list(SCOPES))
@pytest.mark.parametrize("locale", list(LANGUAGES))
async def test_a_sale_from_install_to_won(service: Service, scope_name: str, locale: str) -> None:
    scope = SCOPES[scope_name]
    words = LANGUAGES[locale]
    press = _press_options(scope, locale)

    # Install: the bot greets with what it can do.
    before = len(service.connector.sent)
    install = activities.installed(
        service_url=service.connector.url,
        tenant_id=service.tenant_id,
        user=ALICE,
        locale=locale,
        **{k: v for k, v in scope.items() if k != "mention_bot"},
    )
    assert (await service.post(install)).status in {200, 201}
    welcome = service.connector.sent[before:]
    assert len(welcome) == 1
    assert welcome[0].cards
    assert has_action(welcome[0].cards[0], verbs.HELP)

    # Bob opens the bot once, so he can be picked as a follower.
    await service.say(words["help"], user=BOB, locale=locale)

    # A new lead in a new account, typed in the user's language.
    card = await service.say(
        words["new_lead"].format(title="Website redesign", account="Contoso"),
        locale=locale,
        **scope,
    )
    assert "Website redesign" in texts(card)
    assert "Contoso" in texts(card)
    lead = action_data(card, verbs.LEAD_ADD_NEW_PARTICIPANT)
    lead_id = lead[verbs.LEAD_ID]

    # The people: two participants typed in, then one of them becomes the Contact.
    card = await service.press(
        verbs.LEAD_ADD_NEW_PARTICIPANT,
        {
            **lead,
            verbs.IN_NEW_NAME: "Carla Finance",
            verbs.IN_NEW_EMAIL: "carla@contoso.example",
            verbs.IN_NEW_ROLE: "CFO",
        },
        **press,
    )
    assert "Carla Finance" in texts(card)
    lead = action_data(card, verbs.LEAD_ADD_NEW_PARTICIPANT)
    card = await service.press(
        verbs.LEAD_ADD_NEW_PARTICIPANT,
        {
            **lead,
            verbs.IN_NEW_NAME: "Ivan Infra",
            verbs.IN_NEW_EMAIL: "ivan@contoso.example",
            verbs.IN_NEW_ROLE: "IT director",
        },
        **press,
    )
    people = choices(card, verbs.IN_PRIMARY_CONTACT_ID)
    carla = next(value for title, value in people.items() if "Carla" in title)
    lead = action_data(card, verbs.LEAD_SET_PRIMARY_CONTACT)
    card = await service.press(
        verbs.LEAD_SET_PRIMARY_CONTACT, {**lead, verbs.IN_PRIMARY_CONTACT_ID: carla}, **press
    )
    assert "carla@contoso.example" in texts(card)

    # Bob follows the deal.
    colleagues = choices(card, verbs.IN_FOLLOWER_USER_ID)
    bob = next(value for title, value in colleagues.items() if "Bob" in title)
    lead = action_data(card, verbs.LEAD_ADD_FOLLOWER)
    card = await service.press(
        verbs.LEAD_ADD_FOLLOWER, {**lead, verbs.IN_FOLLOWER_USER_ID: bob}, **press
    )
    assert "Bob Seller" in texts(card)

    # Through the pipeline, then won.
    stages = choices(card, verbs.IN_STAGE_ID)
    proposal = next(value for title, value in stages.items() if "50" in title)
    lead = action_data(card, verbs.LEAD_CHANGE_STAGE)
    card = await service.press(
        verbs.LEAD_CHANGE_STAGE, {**lead, verbs.IN_STAGE_ID: proposal}, **press
    )
    lead = action_data(card, verbs.LEAD_WIN)
    card = await service.press(verbs.LEAD_WIN, lead, **press)
    assert words["won"] in texts(card)
    assert not has_action(card, verbs.LEAD_CHANGE_STAGE)
    assert has_action(card, verbs.LEAD_REOPEN)

    # Bob, a follower, sees the lead but cannot change it.
    bobs = await service.press(verbs.LEAD_SHOW, {verbs.LEAD_ID: lead_id}, user=BOB, **press)
    assert "Website redesign" in texts(bobs)
    assert not has_action(bobs, verbs.LEAD_REOPEN)

    # The Contact became a current customer, and so did Contoso.
    crm = service.runtime.crm
    view = crm.lead_view(service.tenant_id, ALICE.aad_object_id, lead_id)  # type: ignore[arg-type]
    assert view.contact is not None
    assert view.contact.customer_status.value == "current"
    assert view.account is not None
    assert view.account.customer_status.value == "current"
