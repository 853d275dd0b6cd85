"""Every button of the lead card through Action.Execute, and every way to press one wrongly."""

from __future__ import annotations

import asyncio
from datetime import date
from decimal import Decimal
from typing import Any
from urllib.parse import unquote

import pytest
from sqlalchemy import event, text

from cards import verbs
from tests.bot.conftest import ALICE, BOB, Service
from tests.support import activities
from tests.support.cards import action_data, actions, choices, has_action, texts, walk


@pytest.fixture
async def lead_card(service: Service) -> dict[str, Any]:
    """Alice's lead at Acme with Carla as Contact and Ivan as another participant."""
    card = await service.say("new lead Fleet renewal for Acme")
    for name, email, role in (
        ("Carla Finance", "carla@acme.example", "CFO"),
        ("Ivan Infra", "ivan@acme.example", "IT director"),
    ):
        card = await service.press(
            verbs.LEAD_ADD_NEW_PARTICIPANT,
            {
                **action_data(card, verbs.LEAD_ADD_NEW_PARTICIPANT),
                verbs.IN_NEW_NAME: name,
                verbs.IN_NEW_EMAIL: email,
                verbs.IN_NEW_ROLE: role,
            },
        )
    carla = next(v for t, v in choices(card, verbs.IN_PRIMARY_CONTACT_ID).items() if "Carla" in t)
    return await service.press(
        verbs.LEAD_SET_PRIMARY_CONTACT,
        {**action_data(card, verbs.LEAD_SET_PRIMARY_CONTACT), verbs.IN_PRIMARY_CONTACT_ID: carla},
    )


def lead_id_of(card: dict[str, Any]) -> str:
    return str(action_data(card, verbs.LEAD_REFRESH)[verbs.LEAD_ID])


def lead_of(service: Service, card: dict[str, Any]) -> Any:
    return service.runtime.crm.get_lead(
        service.tenant_id,  # type: ignore[arg-type]
        ALICE.aad_object_id,  # type: ignore[arg-type]
        lead_id_of(card),
    )


async def test_lose_with_a_reason_closes_the_lead_and_shows_why(
    service: Service, lead_card: dict[str, Any]
) -> None:
    data = {**action_data(lead_card, verbs.LEAD_LOSE), verbs.IN_REASON: "Chose a competitor"}
    card = await service.press(verbs.LEAD_LOSE, data)
    assert "Chose a competitor" in texts(card)
    assert lead_of(service, card).status.value == "lost"
    assert has_action(card, verbs.LEAD_REOPEN)


async def test_lose_without_a_reason_is_refused_and_the_lead_stays_open(
    service: Service, lead_card: dict[str, Any]
) -> None:
    card = await service.press(verbs.LEAD_LOSE, action_data(lead_card, verbs.LEAD_LOSE))
    assert "reason" in texts(card).lower()
    assert lead_of(service, lead_card).status.value == "open"


async def test_unqualified_then_reopen_brings_back_the_stage_choice(
    service: Service, lead_card: dict[str, Any]
) -> None:
    card = await service.press(verbs.LEAD_DISQUALIFY, action_data(lead_card, verbs.LEAD_DISQUALIFY))
    assert lead_of(service, card).status.value == "unqualified"
    assert not has_action(card, verbs.LEAD_CHANGE_STAGE)
    card = await service.press(verbs.LEAD_REOPEN, action_data(card, verbs.LEAD_REOPEN))
    assert lead_of(service, card).status.value == "open"
    assert has_action(card, verbs.LEAD_CHANGE_STAGE)


async def test_remove_a_participant(service: Service, lead_card: dict[str, Any]) -> None:
    ivan = next(v for t, v in choices(lead_card, verbs.IN_REMOVE_CONTACT_ID).items() if "Ivan" in t)
    data = {
        **action_data(lead_card, verbs.LEAD_REMOVE_PARTICIPANT),
        verbs.IN_REMOVE_CONTACT_ID: ivan,
    }
    card = await service.press(verbs.LEAD_REMOVE_PARTICIPANT, data)
    assert lead_of(service, card).participants == ()
    assert not has_action(card, verbs.LEAD_REMOVE_PARTICIPANT)


async def test_add_an_existing_contact_of_the_account_as_participant(
    service: Service, lead_card: dict[str, Any]
) -> None:
    ivan = next(v for t, v in choices(lead_card, verbs.IN_REMOVE_CONTACT_ID).items() if "Ivan" in t)
    card = await service.press(
        verbs.LEAD_REMOVE_PARTICIPANT,
        {**action_data(lead_card, verbs.LEAD_REMOVE_PARTICIPANT), verbs.IN_REMOVE_CONTACT_ID: ivan},
    )
    offered = choices(card, verbs.IN_PARTICIPANT_ID)
    assert any("Ivan" in title for title in offered)
    card = await service.press(
        verbs.LEAD_ADD_PARTICIPANT,
        {
            **action_data(card, verbs.LEAD_ADD_PARTICIPANT),
            verbs.IN_PARTICIPANT_ID: ivan,
            verbs.IN_PARTICIPANT_ROLE: "Security",
        },
    )
    participants = lead_of(service, card).participants
    assert [(p.contact_id, p.role) for p in participants] == [(ivan, "Security")]


async def test_unfollow_then_follow_again(service: Service, lead_card: dict[str, Any]) -> None:
    card = await service.press(verbs.LEAD_UNFOLLOW, action_data(lead_card, verbs.LEAD_UNFOLLOW))
    assert ALICE.aad_object_id not in lead_of(service, card).follower_ids
    assert has_action(card, verbs.LEAD_FOLLOW)
    card = await service.press(verbs.LEAD_FOLLOW, action_data(card, verbs.LEAD_FOLLOW))
    assert ALICE.aad_object_id in lead_of(service, card).follower_ids


async def test_comment_appears_on_the_card(service: Service, lead_card: dict[str, Any]) -> None:
    data = {**action_data(lead_card, verbs.LEAD_COMMENT), verbs.IN_COMMENT: "Call on Monday"}
    card = await service.press(verbs.LEAD_COMMENT, data)
    assert "Call on Monday" in texts(card)


async def test_duplicate_for_renewal_keeps_the_people(
    service: Service, lead_card: dict[str, Any]
) -> None:
    data = {
        **action_data(lead_card, verbs.LEAD_DUPLICATE),
        verbs.IN_DUPLICATE_TITLE: "Fleet renewal 2027",
    }
    card = await service.press(verbs.LEAD_DUPLICATE, data)
    assert "Fleet renewal 2027" in texts(card)
    copy = lead_of(service, card)
    origin = lead_of(service, lead_card)
    assert copy.id != origin.id
    assert copy.origin_lead_id == origin.id
    assert copy.contact_id == origin.contact_id
    assert copy.participants == origin.participants


async def test_email_link_has_the_contact_in_to_and_participants_in_cc(
    lead_card: dict[str, Any],
) -> None:
    links = [
        node["url"]
        for node in walk(lead_card)
        if node.get("type") == "Action.OpenUrl" and str(node.get("url", "")).startswith("mailto:")
    ]
    assert links
    link = unquote(links[0])
    assert link.startswith("mailto:carla@acme.example")
    assert "cc=ivan@acme.example" in link


async def test_card_refreshes_for_followers(lead_card: dict[str, Any]) -> None:
    refresh = lead_card["refresh"]
    assert refresh["action"]["verb"] == verbs.LEAD_REFRESH
    assert f"8:orgid:{ALICE.aad_object_id}" in refresh["userIds"]
    assert len(refresh["userIds"]) <= 60


# --- bad input ---------------------------------------------------------------------------


async def test_missing_lead_id_gets_a_clear_card(service: Service) -> None:
    card = await service.press(verbs.LEAD_WIN, {verbs.VERSION: 1})
    assert card["type"] == "AdaptiveCard"
    assert "lead_id" in texts(card) or "required" in texts(card).lower()


@pytest.mark.parametrize("bad", [123, ["x"], {"a": 1}, "", "x" * 500, None])
async def test_invalid_lead_ids_get_a_clear_card(
    service: Service, lead_card: dict[str, Any], bad: Any
) -> None:
    data = {**action_data(lead_card, verbs.LEAD_WIN), verbs.LEAD_ID: bad}
    card = await service.press(verbs.LEAD_WIN, data)
    assert card["type"] == "AdaptiveCard"
    assert lead_of(service, lead_card).status.value == "open"


async def test_a_lead_of_another_tenant_is_not_found(
    service: Service, lead_card: dict[str, Any]
) -> None:
    data = action_data(lead_card, verbs.LEAD_WIN)
    card = await service.press(verbs.LEAD_WIN, data, tenant_id="tenant-elsewhere")
    assert "doesn't exist" in texts(card)
    assert lead_of(service, lead_card).status.value == "open"


async def test_a_member_without_access_cannot_change_the_lead(
    service: Service, lead_card: dict[str, Any]
) -> None:
    await service.say("help", user=BOB)
    card = await service.press(verbs.LEAD_WIN, action_data(lead_card, verbs.LEAD_WIN), user=BOB)
    assert "can't" in texts(card) or "access" in texts(card)
    assert lead_of(service, lead_card).status.value == "open"


async def test_over_long_comment_is_refused_and_nothing_is_saved(
    service: Service, lead_card: dict[str, Any]
) -> None:
    data = {**action_data(lead_card, verbs.LEAD_COMMENT), verbs.IN_COMMENT: "x" * 5000}
    card = await service.press(verbs.LEAD_COMMENT, data)
    assert "too long" in texts(card)
    view = service.runtime.crm.lead_view(
        service.tenant_id,  # type: ignore[arg-type]
        ALICE.aad_object_id,  # type: ignore[arg-type]
        lead_id_of(lead_card),
    )
    assert view.latest_comments == ()


async def test_a_stale_card_is_refused_with_a_way_to_the_latest_version(
    service: Service, lead_card: dict[str, Any]
) -> None:
    # Someone else's card moved the lead on; this one still shows the older version.
    stale = action_data(lead_card, verbs.LEAD_WIN)
    await service.press(
        verbs.LEAD_LOSE, {**action_data(lead_card, verbs.LEAD_LOSE), verbs.IN_REASON: "budget"}
    )
    refused = await service.press(verbs.LEAD_WIN, stale)
    assert "changed" in texts(refused)
    assert has_action(refused, verbs.LEAD_REFRESH)
    assert lead_of(service, lead_card).status.value == "lost"


async def test_errors_speak_the_users_language(service: Service, lead_card: dict[str, Any]) -> None:
    data = {**action_data(lead_card, verbs.LEAD_COMMENT), verbs.IN_COMMENT: "x" * 5000}
    card = await service.press(verbs.LEAD_COMMENT, data, locale="pt-BR")
    assert "longo" in texts(card)
    card = await service.press(verbs.LEAD_COMMENT, data, locale="fr-FR")
    assert "long" in texts(card)
    assert "trop" in texts(card)


@pytest.mark.parametrize(
    "value",
    [
        None,
        "text",
        [],
        {"action": "x"},
        {"action": {"verb": 5}},
        {"action": {"verb": "nope"}},
        {"action": {"verb": verbs.LEAD_WIN, "data": "not a dict"}},
    ],
)
async def test_malformed_card_actions_get_a_card_not_an_error(service: Service, value: Any) -> None:
    activity = activities.card_action(
        verbs.HELP, {}, service_url=service.connector.url, tenant_id=service.tenant_id, user=ALICE
    )
    activity["value"] = value
    response = await service.post(activity)
    assert response.status == 200
    body = await response.json()
    assert body["value"]["type"] == "AdaptiveCard"


def _comment_press(service: Service, lead_card: dict[str, Any], text: str) -> dict[str, Any]:
    """One Action.Execute activity (one id) adding a comment: post it as often as wanted."""
    return activities.card_action(
        verbs.LEAD_COMMENT,
        {**action_data(lead_card, verbs.LEAD_COMMENT), verbs.IN_COMMENT: text},
        service_url=service.connector.url,
        tenant_id=service.tenant_id,
        user=ALICE,
    )


def _comments(service: Service, lead_card: dict[str, Any]) -> list[str]:
    view = service.runtime.crm.lead_view(
        service.tenant_id,  # type: ignore[arg-type]
        ALICE.aad_object_id,  # type: ignore[arg-type]
        lead_id_of(lead_card),
    )
    return [c.text for c in view.latest_comments]


async def test_a_redelivered_action_is_not_applied_twice(
    service: Service, lead_card: dict[str, Any]
) -> None:
    activity = _comment_press(service, lead_card, "only once")
    for _ in range(2):
        response = await service.post(activity)
        assert response.status == 200
        assert "only once" in texts((await response.json())["value"])
    assert _comments(service, lead_card) == ["only once"]


async def test_one_action_delivered_five_times_at_once_is_applied_once(
    service: Service, lead_card: dict[str, Any]
) -> None:
    """Teams may redeliver while the first delivery is still running: the claim commits with
    the change, so the copies that lose answer with the lead as the winner left it."""
    activity = _comment_press(service, lead_card, "exactly once")
    responses = await asyncio.gather(*(service.post(activity) for _ in range(5)))
    for response in responses:
        assert response.status == 200
        assert "exactly once" in texts((await response.json())["value"])
    assert _comments(service, lead_card) == ["exactly once"]


async def test_only_actions_that_change_something_are_claimed(
    service: Service, lead_card: dict[str, Any]
) -> None:
    """Showing a card twice is harmless, so a refresh costs no write; a change is claimed (and
    a redelivered refresh still answers with the card)."""

    def claimed() -> int:
        with service.runtime.database.sessions() as session:
            return int(session.execute(text("SELECT count(*) FROM processed_activities")).scalar())

    refresh = activities.card_action(
        verbs.LEAD_REFRESH,
        action_data(lead_card, verbs.LEAD_REFRESH),
        service_url=service.connector.url,
        tenant_id=service.tenant_id,
        user=ALICE,
    )
    before = claimed()
    for _ in range(2):
        response = await service.post(refresh)
        assert response.status == 200
        assert has_action((await response.json())["value"], verbs.LEAD_COMMENT)
    assert claimed() == before
    await service.press(
        verbs.LEAD_COMMENT,
        {**action_data(lead_card, verbs.LEAD_COMMENT), verbs.IN_COMMENT: "claimed"},
    )
    assert claimed() == before + 1


async def test_a_redelivered_message_creates_one_lead_and_one_reply(service: Service) -> None:
    activity = service.message("new lead Once only")
    before = len(service.connector.sent)
    for _ in range(2):
        assert (await service.post(activity)).status in {200, 201}
    assert len(service.connector.sent) == before + 1
    card = await service.say("lead Once only")
    assert "#1" in texts(card)
    assert len(actions(card, verbs.LEAD_REFRESH)) >= 1


async def test_a_message_delivered_five_times_at_once_creates_one_lead_and_one_reply(
    service: Service,
) -> None:
    """The claim commits with the lead it creates: the copies that lose are not answered. (It
    is also the user's first message: registering them races too, and must not refuse.)"""
    activity = service.message("new lead Exactly once")
    before = len(service.connector.sent)
    responses = await asyncio.gather(*(service.post(activity) for _ in range(5)))
    assert all(response.status in {200, 201} for response in responses)
    assert len(service.connector.sent) == before + 1
    found = texts(await service.say("find Exactly once"))
    assert "#1 · Exactly once" in found
    assert "#2" not in found


async def test_a_message_is_claimed_with_its_change_not_before_it(service: Service) -> None:
    statements: list[str] = []

    def record(*args: object) -> None:
        statements.append(" ".join(str(args[2]).split()).upper())

    def committed(*_args: object) -> None:
        statements.append("COMMIT")

    engines = service.runtime.database.engines
    for engine in engines:
        event.listen(engine, "before_cursor_execute", record)
        event.listen(engine, "commit", committed)
    try:
        await service.say("new lead Claimed with it")
    finally:
        for engine in engines:
            event.remove(engine, "before_cursor_execute", record)
            event.remove(engine, "commit", committed)
    claims = [n for n, s in enumerate(statements) if "INTO PROCESSED_ACTIVITIES" in s]
    creations = [n for n, s in enumerate(statements) if s.startswith("INSERT INTO LEADS ")]
    assert len(claims) == 1
    assert len(creations) == 1
    # One transaction holds both: no commit between the claim and the lead.
    between = statements[min(claims[0], creations[0]) : max(claims[0], creations[0])]
    assert "COMMIT" not in between
    assert "COMMIT" in statements[max(claims[0], creations[0]) :]


async def test_a_redelivered_message_that_changes_nothing_is_answered_once(
    service: Service,
) -> None:
    """A search or a refused command is claimed once its answer is ready."""
    await service.say("new lead Looked up")
    for text_sent in ("find Looked", "new lead " + "x" * 5000):
        activity = service.message(text_sent)
        before = len(service.connector.sent)
        for _ in range(2):
            assert (await service.post(activity)).status in {200, 201}
        assert len(service.connector.sent) == before + 1


def edit(card: dict[str, Any], **fields: str) -> dict[str, Any]:
    """The details form as Teams sends it: every input with its value now, ``fields`` changed."""
    form = next(
        node
        for node in walk(card)
        if node.get("type") == "Action.ShowCard"
        and any(a.get("verb") == verbs.LEAD_EDIT for a in node["card"].get("actions", []))
    )
    values = {
        node["id"]: node.get("value", "")
        for node in walk(form["card"])
        if str(node.get("type", "")).startswith("Input.")
    }
    return {**action_data(card, verbs.LEAD_EDIT), **values, **fields}


async def test_edit_details_sets_amount_date_tags_and_description(
    service: Service, lead_card: dict[str, Any]
) -> None:
    data = edit(
        lead_card,
        **{
            verbs.IN_EDIT_TITLE: "Fleet renewal (200 vans)",
            verbs.IN_AMOUNT: "12,500.50",
            verbs.IN_CURRENCY: "eur",
            verbs.IN_CLOSE_DATE: "2027-03-31",
            verbs.IN_TAGS: "Agency X, fleet,, ",
            verbs.IN_DESCRIPTION: "Two-year contract, delivery in Q2.",
        },
    )
    card = await service.press(verbs.LEAD_EDIT, data)
    lead = lead_of(service, card)
    assert (lead.title, lead.amount, lead.currency) == (
        "Fleet renewal (200 vans)",
        Decimal("12500.50"),
        "EUR",
    )
    assert lead.close_date == date(2027, 3, 31)
    assert lead.tags == frozenset({"agency x", "fleet"})
    assert lead.description == "Two-year contract, delivery in Q2."
    shown = texts(card)
    assert "12,500.50" in shown
    assert "Two-year contract, delivery in Q2." in shown
    assert "agency x, fleet" in shown
    # The form comes back filled in with what the lead now holds.
    again = edit(card)
    assert again[verbs.IN_AMOUNT] == "12,500.50"
    assert again[verbs.IN_CLOSE_DATE] == "2027-03-31"
    assert again[verbs.IN_TAGS] == "agency x, fleet"


async def test_edit_reads_amounts_as_the_users_language_writes_them(
    service: Service, lead_card: dict[str, Any]
) -> None:
    data = edit(lead_card, **{verbs.IN_AMOUNT: "1.234,50", verbs.IN_CURRENCY: "BRL"})
    card = await service.press(verbs.LEAD_EDIT, data, locale="pt-BR")
    assert lead_of(service, card).amount == Decimal("1234.50")
    assert "1.234,50" in texts(card)
    assert "Editar detalhes" in texts(card)


async def test_blank_fields_clear_them_and_missing_ones_are_left_alone(
    service: Service, lead_card: dict[str, Any]
) -> None:
    filled = await service.press(
        verbs.LEAD_EDIT,
        edit(
            lead_card,
            **{
                verbs.IN_AMOUNT: "900",
                verbs.IN_CLOSE_DATE: "2027-01-15",
                verbs.IN_TAGS: "pilot",
                verbs.IN_DESCRIPTION: "Pilot first",
            },
        ),
    )
    cleared = await service.press(
        verbs.LEAD_EDIT,
        edit(
            filled,
            **{
                verbs.IN_AMOUNT: " ",
                verbs.IN_CLOSE_DATE: "",
                verbs.IN_TAGS: "",
                verbs.IN_DESCRIPTION: "",
            },
        ),
    )
    lead = lead_of(service, cleared)
    assert (lead.amount, lead.close_date, lead.tags, lead.description) == (
        None,
        None,
        frozenset(),
        None,
    )
    assert lead.title == "Fleet renewal"
    # An older card's data without the form's inputs changes nothing it does not carry.
    only_amount = {**action_data(cleared, verbs.LEAD_EDIT), verbs.IN_AMOUNT: "75"}
    card = await service.press(verbs.LEAD_EDIT, only_amount)
    lead = lead_of(service, card)
    assert (lead.amount, lead.title, lead.currency) == (Decimal("75.00"), "Fleet renewal", "USD")


@pytest.mark.parametrize(
    ("field", "value", "says"),
    [
        (verbs.IN_AMOUNT, "lots", "amount isn't a valid number"),
        (verbs.IN_AMOUNT, "-5", "amount isn't a valid number"),
        (verbs.IN_CURRENCY, "EURO", "three-letter code"),
        (verbs.IN_CLOSE_DATE, "31/02/2027", "date"),
        (verbs.IN_EDIT_TITLE, "   ", "title"),
        (verbs.IN_TAGS, ",".join(f"t{n}" for n in range(40)), "tags"),
        (verbs.IN_DESCRIPTION, "x" * 5000, "description"),
    ],
)
async def test_bad_details_are_refused_and_nothing_is_written(
    service: Service, lead_card: dict[str, Any], field: str, value: str, says: str
) -> None:
    before = lead_of(service, lead_card)
    data = edit(lead_card, **{verbs.IN_AMOUNT: "100", field: value})
    card = await service.press(verbs.LEAD_EDIT, data)
    assert "That didn't work" in texts(card)
    assert says in texts(card).lower()
    assert lead_of(service, lead_card) == before


async def test_edit_from_a_stale_card_is_refused(
    service: Service, lead_card: dict[str, Any]
) -> None:
    await service.press(verbs.LEAD_EDIT, edit(lead_card, **{verbs.IN_AMOUNT: "10"}))
    card = await service.press(verbs.LEAD_EDIT, edit(lead_card, **{verbs.IN_AMOUNT: "20"}))
    assert "That didn't work" in texts(card)
    assert lead_of(service, lead_card).amount == Decimal("10.00")


async def test_add_a_follower_by_email_among_many_colleagues(
    service: Service, lead_card: dict[str, Any]
) -> None:
    """The picker lists the first colleagues by name; the email finds anyone, however many."""
    runtime, tenant = service.runtime, service.tenant_id
    for n in range(230):
        runtime.crm.register_user(
            tenant,  # type: ignore[arg-type]
            f"aad-colleague-{n:03d}",  # type: ignore[arg-type]
            display_name=f"Colleague {n:03d}",
            email=f"colleague.{n:03d}@contoso.example",
        )
    data = action_data(lead_card, verbs.LEAD_ADD_FOLLOWER)
    card = await service.press(
        verbs.LEAD_ADD_FOLLOWER,
        {**data, verbs.IN_FOLLOWER_EMAIL: "Colleague.217@Contoso.example "},
    )
    assert "aad-colleague-217" in lead_of(service, card).follower_ids
    refused = await service.press(
        verbs.LEAD_ADD_FOLLOWER, {**data, verbs.IN_FOLLOWER_EMAIL: "nobody@contoso.example"}
    )
    assert "That didn't work" in texts(refused)
    assert "aad-colleague-217" in lead_of(service, lead_card).follower_ids
