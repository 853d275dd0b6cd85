"""Followers hear about changes in their own 1:1 chat: the right people, once, grouped, within
Teams' limits, through 429s, 5xx and blocked chats, across crashes and several workers."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from botbuilder.schema import Activity, ChannelAccount, ConversationAccount

from bot.notify.dispatcher import Dispatcher, DispatcherOptions
from bot.notify.limits import Limits
from bot.notify.rendering import BatchRenderer
from bot.notify.sender import Sender
from bot.outbound import dumps
from bot.teams import card_attachment
from cards import verbs
from cards.i18n import Translator
from cards.notification import notification_card
from domain.ids import TenantId
from domain.queries import ContactFilter
from domain.users import Role
from storage.database import Database
from tests.bot.conftest import (
    ALICE,
    BOB,
    CAROL,
    Service,
    check_card,
    settings_for,
    start_service,
)
from tests.support import activities
from tests.support.activities import Person
from tests.support.cards import action_data, choices, has_action, texts
from tests.support.connector import Failure, StandInConnector

FAST = DispatcherOptions(backoff_base=0.01, poll_interval=0.05, lease=timedelta(seconds=30))


def personal(person: Person) -> str:
    return f"a:personal-{person.aad_object_id}"


@pytest.fixture
async def notifying(
    database: Database,
    connector: StandInConnector,
) -> AsyncIterator[Service]:
    """The service with its dispatcher stopped: tests drive delivery step by step."""
    running, runner = await start_service(
        settings_for(database, run_dispatcher=False), connector, "tenant-notify"
    )
    yield running
    await running.http.close()
    await runner.cleanup()


def dispatcher(service: Service, options: DispatcherOptions = FAST) -> Dispatcher:
    runtime = service.runtime
    return Dispatcher(
        runtime.database,
        runtime.crm,
        Sender(runtime.adapter, ""),
        runtime.executor,
        options,
    )


async def followed_lead(service: Service) -> dict[str, Any]:
    """Alice's lead, followed by Bob (who opened the bot once)."""
    await service.say("help", user=ALICE)
    await service.say("help", user=BOB)
    card = await service.say("new lead Fleet renewal for Acme")
    bob = next(v for t, v in choices(card, verbs.IN_FOLLOWER_USER_ID).items() if "Bob" in t)
    return await service.press(
        verbs.LEAD_ADD_FOLLOWER,
        {**action_data(card, verbs.LEAD_ADD_FOLLOWER), verbs.IN_FOLLOWER_USER_ID: bob},
    )


async def change_stage(service: Service, card: dict[str, Any], probability: str) -> dict[str, Any]:
    stage = next(v for t, v in choices(card, verbs.IN_STAGE_ID).items() if probability in t)
    return await service.press(
        verbs.LEAD_CHANGE_STAGE,
        {**action_data(card, verbs.LEAD_CHANGE_STAGE), verbs.IN_STAGE_ID: stage},
    )


def cards_to(service: Service, person: Person) -> list[dict[str, Any]]:
    """Notification cards posted to the person's 1:1 chat (not replies to their messages)."""
    return [
        card
        for sent in service.connector.to(personal(person))
        if sent.method == "POST"
        for card in sent.cards
        if has_action(card, verbs.NOTIFY_LEAD)
    ]


async def test_a_follower_hears_of_a_stage_change_and_the_actor_does_not(
    notifying: Service,
) -> None:
    card = await followed_lead(notifying)
    before_alice = len(cards_to(notifying, ALICE))
    await change_stage(notifying, card, "50")
    await dispatcher(notifying).drain()
    received = cards_to(notifying, BOB)
    assert len(received) == 1
    notice = check_card(received[0])
    assert "Alice Seller" in texts(notice)
    assert "New → Proposal" in texts(notice)
    assert "Fleet renewal" in texts(notice)
    assert action_data(notice, verbs.NOTIFY_LEAD)[verbs.LEAD_ID]
    assert len(cards_to(notifying, ALICE)) == before_alice


async def test_a_follower_hears_of_a_new_amount_and_close_date(notifying: Service) -> None:
    """The details form on the card is a change like any other: followers hear of it."""
    card = await followed_lead(notifying)
    data = {
        **action_data(card, verbs.LEAD_EDIT),
        verbs.IN_AMOUNT: "12,500",
        verbs.IN_CLOSE_DATE: "2027-03-31",
    }
    await notifying.press(verbs.LEAD_EDIT, data)
    await dispatcher(notifying).drain()
    received = cards_to(notifying, BOB)
    assert len(received) == 1
    shown = texts(check_card(received[0]))
    assert "12,500.00" in shown
    assert "Mar 31, 2027" in shown


async def test_changes_in_one_burst_arrive_as_one_card(notifying: Service) -> None:
    card = await followed_lead(notifying)
    card = await change_stage(notifying, card, "25")
    card = await notifying.press(
        verbs.LEAD_COMMENT, {**action_data(card, verbs.LEAD_COMMENT), verbs.IN_COMMENT: "Go!"}
    )
    await dispatcher(notifying).drain()
    received = cards_to(notifying, BOB)
    assert len(received) == 1
    assert "Go!" in texts(received[0])
    assert "New → Qualified" in texts(received[0])


async def test_a_change_after_the_card_went_out_updates_that_card(notifying: Service) -> None:
    card = await followed_lead(notifying)
    mark = len(notifying.connector.to(personal(BOB)))
    worker = dispatcher(notifying)
    card = await change_stage(notifying, card, "25")
    await worker.drain()
    await change_stage(notifying, card, "50")
    await worker.drain()
    sent = notifying.connector.to(personal(BOB))[mark:]
    assert [s.method for s in sent] == ["POST", "PUT"]
    assert "/activities/activity-" in sent[1].path
    assert "Qualified → Proposal" in texts(sent[1].cards[0])
    assert "New → Qualified" in texts(sent[1].cards[0])


async def test_a_new_burst_after_the_window_is_a_new_card(notifying: Service) -> None:
    card = await followed_lead(notifying)
    mark = len(notifying.connector.to(personal(BOB)))
    worker = dispatcher(notifying, replace(FAST, window=timedelta(0)))
    card = await change_stage(notifying, card, "25")
    await worker.drain()
    await change_stage(notifying, card, "50")
    await worker.drain()
    assert [s.method for s in notifying.connector.to(personal(BOB))[mark:]] == ["POST", "POST"]


async def test_a_follower_who_muted_stage_changes_hears_comments_only(notifying: Service) -> None:
    card = await followed_lead(notifying)
    lead_id = action_data(card, verbs.LEAD_COMMENT)[verbs.LEAD_ID]
    prefs = await notifying.press(verbs.NOTIFY_LEAD, {verbs.LEAD_ID: lead_id}, user=BOB)
    data = {
        **action_data(prefs, verbs.NOTIFY_SAVE_LEAD),
        "kind_stage": "false",
        "kind_status": "true",
        "kind_comment": "true",
        "kind_people": "true",
        "kind_amount_date": "true",
        verbs.IN_MUTE_LEAD: "false",
    }
    await notifying.press(verbs.NOTIFY_SAVE_LEAD, data, user=BOB)
    worker = dispatcher(notifying)
    card = await change_stage(notifying, card, "50")
    await worker.drain()
    assert cards_to(notifying, BOB) == []
    await notifying.press(
        verbs.LEAD_COMMENT, {**action_data(card, verbs.LEAD_COMMENT), verbs.IN_COMMENT: "News"}
    )
    await worker.drain()
    assert len(cards_to(notifying, BOB)) == 1


async def test_mute_everything_then_nothing_arrives(notifying: Service) -> None:
    card = await followed_lead(notifying)
    settings = await notifying.say("notifications", user=BOB)
    data = {**action_data(settings, verbs.NOTIFY_SAVE_DEFAULTS), verbs.IN_MUTE_ALL: "true"}
    saved = await notifying.press(verbs.NOTIFY_SAVE_DEFAULTS, data, user=BOB)
    assert check_card(saved)["type"] == "AdaptiveCard"
    await change_stage(notifying, card, "50")
    await dispatcher(notifying).drain()
    assert cards_to(notifying, BOB) == []


async def test_a_mentioned_colleague_hears_even_without_following(notifying: Service) -> None:
    card = await followed_lead(notifying)
    # Bob stops following; Carol never did (she is an admin here, so she may see the lead).
    await notifying.press(verbs.LEAD_UNFOLLOW, action_data(card, verbs.LEAD_UNFOLLOW), user=BOB)
    await notifying.say("help", user=CAROL)
    admin_view = notifying.runtime.crm
    admin_view.change_role(
        notifying.tenant_id,
        ALICE.aad_object_id,
        CAROL.aad_object_id,
        Role.ADMIN,  # type: ignore[arg-type]
    )
    lead = await notifying.press(
        verbs.LEAD_REFRESH, {verbs.LEAD_ID: action_data(card, verbs.LEAD_REFRESH)[verbs.LEAD_ID]}
    )
    await notifying.press(
        verbs.LEAD_COMMENT,
        {**action_data(lead, verbs.LEAD_COMMENT), verbs.IN_COMMENT: "@Carol Director please look"},
    )
    await dispatcher(notifying).drain()
    assert len(cards_to(notifying, CAROL)) == 1
    assert cards_to(notifying, BOB) == []


async def test_throttling_is_retried_honouring_retry_after(notifying: Service) -> None:
    card = await followed_lead(notifying)
    notifying.connector.fail_next(
        personal(BOB),
        Failure(429, {"error": {"code": "Throttled"}}, {"Retry-After": "0.2"}),
        Failure(429, {"error": {"code": "Throttled"}}, {"Retry-After": "0.2"}),
        Failure(503, {"error": {"code": "ServiceUnavailable"}}),
        Failure(502, {}),
    )
    await change_stage(notifying, card, "50")
    worker = dispatcher(notifying)
    for _ in range(60):
        await worker.drain()
        if cards_to(notifying, BOB):
            break
        await asyncio.sleep(0.1)
    assert len(cards_to(notifying, BOB)) == 1
    store = notifying.runtime.database.notifications()
    [row] = store.for_recipient(notifying.tenant_id, BOB.aad_object_id)
    outcomes = store.attempts(row["id"])
    assert [code for _outcome, code in outcomes] == [429, 429, 503, 502, None]
    assert outcomes[-1][0] == "sent"


async def test_a_blocked_chat_is_not_retried_and_is_marked_inactive(notifying: Service) -> None:
    card = await followed_lead(notifying)
    notifying.connector.fail_next(
        personal(BOB), Failure(403, {"error": {"code": "MessageWritesBlocked"}})
    )
    await change_stage(notifying, card, "50")
    await dispatcher(notifying).drain()
    database = notifying.runtime.database
    [row] = database.notifications().for_recipient(notifying.tenant_id, BOB.aad_object_id)
    assert row["status"] == "undeliverable"
    assert database.conversations(notifying.tenant_id).personal_for_user(BOB.aad_object_id) is None
    assert cards_to(notifying, BOB) == []


async def test_a_follower_nobody_can_reach_waits_until_they_talk_to_the_bot(
    notifying: Service,
) -> None:
    await notifying.say("help", user=ALICE)
    card = await notifying.say("new lead Quiet deal")
    # Dave exists in the tenant (an admin registered him) but never talked to the bot.
    dave = Person("aad-dave", "Dave Director", "dave@contoso.example")
    notifying.runtime.crm.register_user(
        notifying.tenant_id,  # type: ignore[arg-type]
        dave.aad_object_id,  # type: ignore[arg-type]
        display_name=dave.name,
    )
    await notifying.press(
        verbs.LEAD_ADD_FOLLOWER,
        {
            **action_data(card, verbs.LEAD_ADD_FOLLOWER),
            verbs.IN_FOLLOWER_USER_ID: dave.aad_object_id,
        },
    )
    lead = await notifying.press(
        verbs.LEAD_REFRESH, {verbs.LEAD_ID: action_data(card, verbs.LEAD_REFRESH)[verbs.LEAD_ID]}
    )
    await change_stage(notifying, lead, "50")
    worker = dispatcher(notifying)
    await worker.drain()
    store = notifying.runtime.database.notifications()
    assert [r["status"] for r in store.for_recipient(notifying.tenant_id, dave.aad_object_id)] == [
        "waiting"
    ]
    await notifying.say("help", user=dave)
    await worker.drain()
    assert len(cards_to(notifying, dave)) == 1


async def test_a_follower_known_only_from_a_channel_gets_a_new_1to1_chat(
    notifying: Service,
) -> None:
    await notifying.say("help", user=ALICE)
    channel = "19:sales@thread.tacv2;messageid=1"
    await notifying.say(
        "help", user=BOB, conversation_type="channel", conversation_id=channel, mention_bot=True
    )
    card = await notifying.say("new lead Channel deal")
    await notifying.press(
        verbs.LEAD_ADD_FOLLOWER,
        {
            **action_data(card, verbs.LEAD_ADD_FOLLOWER),
            verbs.IN_FOLLOWER_USER_ID: BOB.aad_object_id,
        },
    )
    lead = await notifying.press(
        verbs.LEAD_REFRESH, {verbs.LEAD_ID: action_data(card, verbs.LEAD_REFRESH)[verbs.LEAD_ID]}
    )
    await change_stage(notifying, lead, "50")
    await dispatcher(notifying).drain()
    assert notifying.connector.created
    new_chat = f"a:1on1-{BOB.teams_id}"
    assert len(notifying.connector.to(new_chat)) == 1


async def test_a_crash_mid_delivery_loses_nothing(notifying: Service) -> None:
    card = await followed_lead(notifying)
    await change_stage(notifying, card, "50")
    short = replace(FAST, lease=timedelta(milliseconds=200))
    crashed = dispatcher(notifying, short)
    # The first worker fans out and claims the card, then dies before sending it.
    await asyncio.get_running_loop().run_in_executor(None, crashed.fan_out)
    store = notifying.runtime.database.notifications()
    claimed = store.claim(crashed.worker_id, limit=10, lease=timedelta(milliseconds=200))
    assert len(claimed) == 1
    await asyncio.sleep(0.3)
    await dispatcher(notifying, short).drain()
    assert len(cards_to(notifying, BOB)) == 1


async def test_three_workers_send_each_card_once(notifying: Service) -> None:
    await notifying.say("help", user=ALICE)
    people = [Person(f"aad-f{i}", f"Follower {i}", f"f{i}@contoso.example") for i in range(12)]
    for person in people:
        await notifying.say("help", user=person)
    card = await notifying.say("new lead Busy deal")
    for person in people:
        card = await notifying.press(
            verbs.LEAD_ADD_FOLLOWER,
            {
                **action_data(card, verbs.LEAD_ADD_FOLLOWER),
                verbs.IN_FOLLOWER_USER_ID: person.aad_object_id,
            },
        )
    await change_stage(notifying, card, "50")
    workers = [dispatcher(notifying, replace(FAST, batch_size=3)) for _ in range(3)]
    await asyncio.gather(*(w.drain() for w in workers))
    for person in people:
        assert len(cards_to(notifying, person)) == 1, person.name


async def test_rate_limits_spread_a_burst_to_one_chat(notifying: Service) -> None:
    card = await followed_lead(notifying)
    worker = dispatcher(
        notifying,
        replace(
            FAST, window=timedelta(0), limits=Limits(conversation=((2, 0.5),), tenant=((30, 1.0),))
        ),
    )
    loop = asyncio.get_running_loop()
    for index in range(4):
        card = await notifying.press(
            verbs.LEAD_COMMENT,
            {**action_data(card, verbs.LEAD_COMMENT), verbs.IN_COMMENT: f"note {index}"},
        )
        await loop.run_in_executor(None, worker.fan_out)
    started = loop.time()
    await worker.drain()
    assert len(cards_to(notifying, BOB)) == 4
    assert loop.time() - started >= 0.5


CHANNEL = "19:deals@thread.tacv2"


async def test_a_subscribed_channel_gets_posts_for_new_won_and_lost_leads(
    notifying: Service,
) -> None:
    await notifying.say("help", user=ALICE)  # Alice is the tenant's first user: an admin
    in_channel = {
        "conversation_type": "channel",
        "conversation_id": f"{CHANNEL};messageid=1",
        "mention_bot": True,
    }
    confirmed = await notifying.say("subscribe", **in_channel)
    assert "Sales" in texts(confirmed)
    worker = dispatcher(notifying)
    card = await notifying.say("new lead Harbour cranes for Port Authority")
    card = await change_stage(notifying, card, "50")
    await notifying.press(verbs.LEAD_WIN, action_data(card, verbs.LEAD_WIN))
    await worker.drain()
    posts = [c for s in notifying.connector.to(CHANNEL) for c in s.cards]
    assert len(posts) == 2
    assert "New lead: Harbour cranes" in texts(check_card(posts[0]))
    assert "Won: Harbour cranes" in texts(check_card(posts[1]))
    assert "Port Authority" in texts(posts[0])

    await notifying.say("unsubscribe", **in_channel)
    await notifying.say("new lead Another one")
    await worker.drain()
    assert len([c for s in notifying.connector.to(CHANNEL) for c in s.cards]) == 2


async def test_a_channel_can_follow_a_tag(notifying: Service) -> None:
    await notifying.say("help", user=ALICE)
    in_channel = {"conversation_type": "channel", "conversation_id": CHANNEL, "mention_bot": True}
    await notifying.say("subscribe tag Agency-X", **in_channel)
    crm = notifying.runtime.crm
    tenant, alice = notifying.tenant_id, ALICE.aad_object_id
    crm.create_lead(tenant, alice, title="Via the agency", tags=["agency-x"])  # type: ignore[arg-type]
    crm.create_lead(tenant, alice, title="Direct sale")  # type: ignore[arg-type]
    await dispatcher(notifying).drain()
    posts = [texts(c) for s in notifying.connector.to(CHANNEL) for c in s.cards]
    assert any("Via the agency" in p for p in posts)
    assert not any("Direct sale" in p for p in posts)


async def test_members_cannot_subscribe_a_channel_and_chats_are_refused(
    notifying: Service,
) -> None:
    await notifying.say("help", user=ALICE)
    in_channel = {"conversation_type": "channel", "conversation_id": CHANNEL, "mention_bot": True}
    refused = await notifying.say("subscribe", user=BOB, **in_channel)
    assert "administrator or a manager" in texts(refused)
    in_chat = await notifying.say("subscribe")
    assert "team channels" in texts(in_chat)
    assert (
        notifying.runtime.database.notifications().channels_for(notifying.tenant_id, ["pipeline:x"])
        == []
    )


async def test_a_due_reminder_notifies_its_assignee_in_their_time_zone(
    notifying: Service,
) -> None:
    await notifying.say("help", user=ALICE)
    card = await notifying.say("new lead Call back the CFO")
    lead_id = action_data(card, verbs.LEAD_REMIND)[verbs.LEAD_ID]
    activity = activities.card_action(
        verbs.LEAD_REMIND,
        {
            verbs.LEAD_ID: lead_id,
            verbs.IN_REMINDER_DATE: "2020-03-02",
            verbs.IN_REMINDER_TIME: "09:30",
            verbs.IN_REMINDER_TEXT: "Call Carla",
        },
        service_url=notifying.connector.url,
        tenant_id=notifying.tenant_id,
        user=ALICE,
    )
    activity["localTimezone"] = "America/Sao_Paulo"
    future = dict(activity, id="later-reminder")
    future["value"] = {
        "action": {
            "type": "Action.Execute",
            "verb": verbs.LEAD_REMIND,
            "data": {
                verbs.LEAD_ID: lead_id,
                verbs.IN_REMINDER_DATE: "2999-01-01",
                verbs.IN_REMINDER_TEXT: "Far away",
            },
        }
    }
    for sent in (activity, future):
        response = await notifying.post(sent)
        assert response.status == 200
    before = len(notifying.connector.to(personal(ALICE)))
    await dispatcher(notifying).drain()
    received = [c for s in notifying.connector.to(personal(ALICE))[before:] for c in s.cards]
    assert len(received) == 1
    shown = texts(check_card(received[0]))
    assert "Reminder: Call back the CFO" in shown
    assert "Call Carla" in shown
    assert "Far away" not in shown
    # 09:30 in São Paulo (UTC-3) is 12:30 UTC.
    with notifying.runtime.database.engine.connect() as connection:
        from sqlalchemy import select  # noqa: PLC0415 - only this test reads the row

        from storage.rows import ReminderRow  # noqa: PLC0415

        due = connection.execute(
            select(ReminderRow.due_at).where(ReminderRow.text == "Call Carla")
        ).scalar_one()
    assert (due.hour, due.minute) == (12, 30)


async def test_a_reminder_with_a_bad_date_is_refused_clearly(notifying: Service) -> None:
    await notifying.say("help", user=ALICE)
    card = await notifying.say("new lead Dated")
    data = {
        verbs.LEAD_ID: action_data(card, verbs.LEAD_REMIND)[verbs.LEAD_ID],
        verbs.IN_REMINDER_DATE: "31/02/2026",
        verbs.IN_REMINDER_TEXT: "x",
    }
    refused = await notifying.press(verbs.LEAD_REMIND, data)
    assert "date" in texts(refused)


async def test_while_the_connector_is_down_notifications_wait_then_go(notifying: Service) -> None:
    card = await followed_lead(notifying)
    await change_stage(notifying, card, "50")
    port = int(notifying.connector.url.rstrip("/").rsplit(":", 1)[1])
    await notifying.connector.stop()
    worker = dispatcher(notifying)
    await worker.drain()
    store = notifying.runtime.database.notifications()
    [row] = store.for_recipient(notifying.tenant_id, BOB.aad_object_id)
    assert row["status"] == "pending"
    assert store.attempts(row["id"])[0] == ("retry", None)

    await notifying.connector.start(port)  # the connector is back, at the same address
    for _ in range(100):
        await worker.drain()
        if cards_to(notifying, BOB):
            break
        await asyncio.sleep(0.05)
    assert len(cards_to(notifying, BOB)) == 1


DAVE = Person("aad-dave", "Dave Lecteur", "dave@contoso.example")
ERIN = Person("aad-erin", "Erin Seller", "erin@contoso.example")


async def lead_followed_by_everyone(service: Service) -> dict[str, Any]:
    """Alice's lead followed by Bob and Erin (members), Dave (a member who reads French) and
    Carol (an admin: she may work the lead)."""
    card = await followed_lead(service)
    for person in (CAROL, ERIN):
        await service.say("help", user=person)
    await service.say("help", user=DAVE, locale="fr-FR")
    service.runtime.crm.change_role(
        service.tenant_id,  # type: ignore[arg-type]
        ALICE.aad_object_id,  # type: ignore[arg-type]
        CAROL.aad_object_id,  # type: ignore[arg-type]
        Role.ADMIN,
    )
    for person in (CAROL, DAVE, ERIN):
        card = await service.press(
            verbs.LEAD_ADD_FOLLOWER,
            {
                **action_data(card, verbs.LEAD_ADD_FOLLOWER),
                verbs.IN_FOLLOWER_USER_ID: person.aad_object_id,
            },
        )
    return card


async def test_each_follower_sees_the_card_their_language_and_rights_call_for(
    notifying: Service,
) -> None:
    card = await lead_followed_by_everyone(notifying)
    await change_stage(notifying, card, "50")
    await dispatcher(notifying).drain()
    received = {p.name: cards_to(notifying, p) for p in (BOB, CAROL, DAVE, ERIN)}
    assert {name: len(cards) for name, cards in received.items()} == dict.fromkeys(received, 1)
    bob, carol, dave, erin = (check_card(cards[0]) for cards in received.values())
    assert bob == erin  # the same kind of viewer: the same card
    assert not has_action(bob, verbs.LEAD_CHANGE_STAGE)
    assert has_action(bob, verbs.LEAD_UNFOLLOW)
    assert has_action(carol, verbs.LEAD_CHANGE_STAGE)  # an admin may work the lead
    assert "a modifié" in texts(dave)
    assert "Ne plus suivre" in texts(dave)
    assert "Alice Seller changed" in texts(bob)


async def test_a_batch_draws_one_card_per_kind_of_viewer_equal_to_each_persons_own(
    notifying: Service,
) -> None:
    """Sharing changes nothing anyone sees: each card is the one drawn for that person alone
    (their view of the lead, language, pickers), as the dispatcher drew them before."""
    card = await lead_followed_by_everyone(notifying)
    await change_stage(notifying, card, "50")
    runtime = notifying.runtime
    worker = dispatcher(notifying)
    await asyncio.get_running_loop().run_in_executor(None, worker.fan_out)
    store = runtime.database.notifications()
    jobs = store.claim(worker.worker_id, limit=50, lease=timedelta(seconds=30))
    assert len(jobs) == 4
    tenant = TenantId(notifying.tenant_id)
    lead_id = jobs[0].lead_id
    views = runtime.crm.lead_views_for(tenant, lead_id, [job.recipient_id for job in jobs])
    renderer = BatchRenderer(runtime.database, runtime.crm, store.locales)
    renderer.load_locales(tenant, [job.recipient_id for job in jobs])
    drawn = {job.recipient_id: renderer.card(job, views[job.recipient_id]) for job in jobs}
    assert renderer.rendered == 3  # Bob and Erin share theirs
    assert drawn[BOB.aad_object_id] is drawn[ERIN.aad_object_id]

    queries = runtime.database.queries(tenant)
    for job in jobs:
        view = runtime.crm.lead_view(tenant, job.recipient_id, lead_id)
        locale = store.locales(tenant, [job.recipient_id]).get(job.recipient_id)
        contacts: Any = ()
        colleagues: Any = ()
        if view.can_change:
            viewer = queries.viewer(job.recipient_id)
            if view.lead.account_id:
                contacts = queries.contacts(
                    viewer, ContactFilter(account_id=view.lead.account_id), limit=50
                ).items
            colleagues = queries.users(limit=50).items
        own = notification_card(
            view,
            Translator.for_teams(locale),
            changes=job.changes,
            actor=runtime.crm.get_user(tenant, job.actor_id) if job.actor_id else None,
            at=job.first_event_at,
            account_contacts=contacts,
            colleagues=colleagues,
        )
        assert drawn[job.recipient_id] == own, job.recipient_id


async def test_cards_are_posted_to_the_chat_and_updated_in_place(notifying: Service) -> None:
    """Proactive cards are new messages (POST .../activities, no reply to a made-up activity);
    updates PUT the card already sent; the body is the activity the SDK's client would send."""
    card = await followed_lead(notifying)
    mark = len(notifying.connector.to(personal(BOB)))
    worker = dispatcher(notifying)
    card = await change_stage(notifying, card, "25")
    await worker.drain()
    await change_stage(notifying, card, "50")
    await worker.drain()
    posted, updated = notifying.connector.to(personal(BOB))[mark:]
    conversation = personal(BOB)
    assert (posted.method, posted.path) == ("POST", f"/v3/conversations/{conversation}/activities")
    assert (updated.method, updated.path) == (
        "PUT",
        f"/v3/conversations/{conversation}/activities/{updated.body['id']}",
    )
    for sent, activity_id in ((posted, None), (updated, updated.body["id"])):
        expected = Activity(
            type="message",
            id=activity_id,
            service_url=notifying.connector.url,
            channel_id="msteams",
            from_property=ChannelAccount(id=sent.body["from"]["id"]),
            conversation=ConversationAccount(id=conversation, tenant_id=notifying.tenant_id),
            recipient=ChannelAccount(id=sent.body["recipient"]["id"]),
            attachment_layout="list",
            input_hint=None if activity_id else "acceptingInput",
            attachments=[card_attachment(sent.cards[0])],
        )
        assert sent.body == json.loads(dumps(expected))
        assert "replyToId" not in sent.body


async def test_an_update_of_a_card_deleted_in_teams_posts_a_new_one(notifying: Service) -> None:
    card = await followed_lead(notifying)
    mark = len(notifying.connector.to(personal(BOB)))
    worker = dispatcher(notifying)
    card = await change_stage(notifying, card, "25")
    await worker.drain()
    notifying.connector.fail_next(
        personal(BOB), Failure(404, {"error": {"code": "ActivityNotFoundInConversation"}})
    )
    await change_stage(notifying, card, "50")
    await worker.drain()
    methods = [s.method for s in notifying.connector.to(personal(BOB))[mark:]]
    assert methods == ["POST", "POST"]
    [first, second] = notifying.runtime.database.notifications().for_recipient(
        notifying.tenant_id, BOB.aad_object_id
    )
    assert (first["status"], second["status"]) == ("sent", "sent")
    assert second["activity_id"] != first["activity_id"]


async def test_a_batch_that_outlasts_its_lease_is_not_sent_twice(notifying: Service) -> None:
    """Sends slower than the lease: the worker keeps extending it, so a second worker polling
    all along finds nothing to take over."""
    card = await lead_followed_by_everyone(notifying)
    await change_stage(notifying, card, "50")
    notifying.connector.delay = 0.3
    notifying.connector.serial = True  # four cards, one after the other: 1.2 s in all
    short = replace(FAST, lease=timedelta(milliseconds=600))
    first, second = dispatcher(notifying, short), dispatcher(notifying, short)
    store = notifying.runtime.database.notifications()
    sending = asyncio.create_task(first.drain())
    while store.counts().get("processing", 0) < 4:  # the first worker holds all four
        await asyncio.sleep(0.01)
    while not sending.done():
        await second.drain()
        await asyncio.sleep(0.05)
    await sending
    for person in (BOB, CAROL, DAVE, ERIN):
        assert len(cards_to(notifying, person)) == 1, person.name


async def test_a_slow_batch_is_drawn_again_before_its_later_cards_go(notifying: Service) -> None:
    """A card shows the lead as it is when its send begins (within ``fresh_for``), not as it
    was when a slow batch was claimed."""
    card = await lead_followed_by_everyone(notifying)
    await change_stage(notifying, card, "50")
    connector = notifying.connector
    connector.delay = 0.3
    connector.serial = True
    options = replace(FAST, concurrency=1, fresh_for=timedelta(milliseconds=50))
    sending = asyncio.create_task(dispatcher(notifying, options).drain())
    for _ in range(200):  # until the first card is at the connector, waiting for its answer
        if connector._one_at_a_time.locked():
            break
        await asyncio.sleep(0.01)
    notifying.runtime.crm.update_lead(
        notifying.tenant_id,  # type: ignore[arg-type]
        ALICE.aad_object_id,  # type: ignore[arg-type]
        action_data(card, verbs.LEAD_REFRESH)[verbs.LEAD_ID],
        title="Fleet renewal, renamed",
    )
    await sending
    renamed = [
        "renamed" in texts(cards_to(notifying, person)[0]) for person in (BOB, CAROL, DAVE, ERIN)
    ]
    assert renamed.count(False) == 1  # only the card already on its way shows the old title


async def test_a_stopped_worker_hands_back_the_batch_it_claimed_ahead(notifying: Service) -> None:
    card = await lead_followed_by_everyone(notifying)
    await change_stage(notifying, card, "50")
    notifying.connector.delay = 0.3
    worker = dispatcher(notifying, replace(FAST, batch_size=2))
    stop = asyncio.Event()
    running = asyncio.create_task(worker.run(stop))
    await notifying.connector.wait_for(len(notifying.connector.sent) + 1, timeout=5)
    stop.set()
    await asyncio.wait_for(running, 5)
    counts = notifying.runtime.database.notifications().counts()
    assert counts.get("processing", 0) == 0
    assert counts == {"sent": 2, "pending": 2}
