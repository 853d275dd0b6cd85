"""The notification store on every engine: fan-out and grouping in one write, delivery under
leases, settling many attempts at once, and the batch reads delivery makes."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

from sqlalchemy import insert

from domain.ids import LeadId, UserId
from storage.conversations import ConversationRef, ConversationType
from storage.database import Database
from storage.notifications import NewNotification, NotificationJob, Settlement
from storage.rows import OutboxRow
from tests.domain.fakes import FakeClock
from tests.storage.conftest import OTHER_TENANT, TENANT

LEAD = LeadId("lead-1")
ACTOR = UserId("aad-actor")
WINDOW = timedelta(seconds=30)
LEASE = timedelta(seconds=60)


def stage_change(clock: FakeClock, after: str) -> dict[str, Any]:
    return {
        "event": "lead.stage_changed",
        "at": clock.now().isoformat(),
        "changes": [{"field": "stage_id", "before": "s0", "after": after}],
    }


def fan_out(
    database: Database,
    clock: FakeClock,
    recipients: list[str],
    change: dict[str, Any],
    *,
    window: timedelta = WINDOW,
) -> None:
    """One outbox event, claimed and fanned out as the dispatcher does."""
    with database.sessions() as session, session.begin():
        session.execute(
            insert(OutboxRow),
            [
                {
                    "tenant_id": TENANT,
                    "event_name": "lead.stage_changed",
                    "payload": {},
                    "created_at": clock.now(),
                    "status": "pending",
                    "attempts": 0,
                    "available_at": clock.now(),
                }
            ],
        )
    (message,) = database.outbox().claim("fan", limit=1)
    entries = [
        NewNotification(
            recipient_id=UserId(r), lead_id=LEAD, actor_id=ACTOR, change=change, at=clock.now()
        )
        for r in recipients
    ]
    written = database.notifications().fan_out(
        tenant_id=TENANT, outbox_id=message.id, worker_id="fan", entries=entries, window=window
    )
    assert written is True


def sent(job: NotificationJob, activity: str = "activity-1") -> Settlement:
    return Settlement.sent(job, conversation_id=f"a:{job.recipient_id}", activity_id=activity)


def test_a_change_becomes_one_card_per_recipient_and_settles_its_event(
    database: Database, clock: FakeClock
) -> None:
    fan_out(database, clock, ["aad-b", "aad-c", "aad-d"], stage_change(clock, "s1"))
    store = database.notifications()
    jobs = store.claim("w1", limit=10, lease=LEASE)
    assert sorted(job.recipient_id for job in jobs) == ["aad-b", "aad-c", "aad-d"]
    assert all(len(job.changes) == 1 and not job.replaces_activity_id for job in jobs)
    assert database.outbox().counts() == {"done": 1}


def test_a_change_joins_the_card_still_waiting_and_later_ones_replace_the_sent_card(
    database: Database, clock: FakeClock
) -> None:
    store = database.notifications()
    fan_out(database, clock, ["aad-b", "aad-c"], stage_change(clock, "s1"))
    clock.advance(seconds=5)
    fan_out(database, clock, ["aad-b", "aad-c"], stage_change(clock, "s2"))
    jobs = store.claim("w1", limit=10, lease=LEASE)
    assert [len(job.changes) for job in jobs] == [2, 2]  # one card each, both changes on it
    assert store.settle("w1", [sent(job, f"activity-{job.id}") for job in jobs]) == [True, True]

    clock.advance(seconds=5)
    fan_out(database, clock, ["aad-b", "aad-c"], stage_change(clock, "s3"))
    updates = store.claim("w1", limit=10, lease=LEASE)
    assert [len(job.changes) for job in updates] == [3, 3]
    by_person = {job.recipient_id: job for job in jobs}
    for job in updates:
        first = by_person[job.recipient_id]
        assert job.replaces_activity_id == f"activity-{first.id}"
        assert job.first_event_at == first.first_event_at

    clock.advance(minutes=5)  # a new burst, well after the window: a new card
    store.settle("w1", [sent(job) for job in updates])
    fan_out(database, clock, ["aad-b"], stage_change(clock, "s4"))
    (fresh,) = store.claim("w1", limit=10, lease=LEASE)
    assert len(fresh.changes) == 1
    assert fresh.replaces_activity_id is None


def test_settling_writes_each_outcome_and_an_attempt_in_one_go(
    database: Database, clock: FakeClock
) -> None:
    fan_out(database, clock, ["aad-b", "aad-c", "aad-d", "aad-e"], stage_change(clock, "s1"))
    store = database.notifications()
    b, c, d, e = store.claim("w1", limit=10, lease=LEASE)
    later = clock.now() + timedelta(minutes=1)
    settled = store.settle(
        "w1",
        [
            sent(b),
            Settlement.retry(c, later, status_code=429, detail="HTTP 429 Throttled"),
            Settlement.waiting(d, "nobody can reach this user"),
            Settlement.undeliverable(e, status_code=403, detail="HTTP 403 MessageWritesBlocked"),
        ],
    )
    assert settled == [True, True, True, True]
    status = {
        job.recipient_id: store.for_recipient(TENANT, job.recipient_id)[0] for job in (b, c, d, e)
    }
    assert {person: row["status"] for person, row in status.items()} == {
        "aad-b": "sent",
        "aad-c": "pending",
        "aad-d": "waiting",
        "aad-e": "undeliverable",
    }
    assert status["aad-b"]["activity_id"] == "activity-1"
    assert store.attempts(b.id) == [("sent", None)]
    assert store.attempts(c.id) == [("retry", 429)]
    assert store.attempts(e.id) == [("undeliverable", 403)]
    assert store.claim("w1", limit=10, lease=LEASE) == []  # the retry waits its turn
    clock.advance(minutes=2)
    assert [job.id for job in store.claim("w1", limit=10, lease=LEASE)] == [c.id]


def test_a_row_another_worker_took_over_is_left_to_it(database: Database, clock: FakeClock) -> None:
    fan_out(database, clock, ["aad-b", "aad-c"], stage_change(clock, "s1"))
    store = database.notifications()
    b, c = store.claim("slow", limit=10, lease=timedelta(seconds=10))
    clock.advance(seconds=11)
    (taken,) = store.claim("other", limit=1, lease=LEASE)  # b's lease ran out
    assert taken.id == b.id
    settled = store.settle(
        "slow",
        [Settlement.undeliverable(b, status_code=404, detail="HTTP 404"), sent(c)],
    )
    assert settled == [False, True]
    assert store.for_recipient(TENANT, "aad-b")[0]["status"] == "processing"  # still other's
    assert store.attempts(b.id) == [("lost_lease", 404)]
    assert store.settle("other", [sent(taken)]) == [True]


def test_extending_the_lease_keeps_other_workers_off_until_it_runs_out(
    database: Database, clock: FakeClock
) -> None:
    fan_out(database, clock, ["aad-b", "aad-c"], stage_change(clock, "s1"))
    store = database.notifications()
    b, c = store.claim("w1", limit=10, lease=timedelta(seconds=30))
    store.settle("w1", [sent(c)])
    clock.advance(seconds=20)
    assert store.extend_lease("w1", [b.id, c.id], timedelta(seconds=30)) == 1  # c is settled
    assert store.extend_lease("w2", [b.id], timedelta(seconds=30)) == 0  # not w2's to extend
    clock.advance(seconds=20)  # past the first lease, within the extended one
    assert store.claim("w2", limit=10, lease=LEASE) == []
    clock.advance(seconds=11)
    assert [job.id for job in store.claim("w2", limit=10, lease=LEASE)] == [b.id]


def test_personal_chats_are_each_persons_latest_active_1to1_chat(
    database: Database, clock: FakeClock
) -> None:
    def chat(conversation_id: str, person: str, **overrides: Any) -> ConversationRef:
        reference = ConversationRef(
            conversation_id=conversation_id,
            conversation_type=ConversationType.PERSONAL,
            service_url="https://smba.example/",
            channel_id="msteams",
            bot_id="28:bot",
            user_id=f"29:{person}",
            aad_object_id=person,
        )
        return replace(reference, **overrides)

    mine = database.conversations(TENANT)
    mine.upsert(chat("a:old-b", "aad-b"))
    clock.advance(seconds=1)
    mine.upsert(chat("a:new-b", "aad-b"))
    mine.upsert(chat("a:c", "aad-c"))
    mine.mark_inactive("a:c")
    mine.upsert(chat("19:channel", "aad-d", conversation_type=ConversationType.CHANNEL))
    database.conversations(OTHER_TENANT).upsert(chat("a:elsewhere-e", "aad-e"))

    found = database.notifications().personal_chats(TENANT, ["aad-b", "aad-c", "aad-d", "aad-e"])
    assert {person: ref.conversation_id for person, ref in found.items()} == {"aad-b": "a:new-b"}
    assert found["aad-b"].user_id == "29:aad-b"


def test_cards_settled_long_ago_go_with_their_attempts_and_the_rest_stay(
    database: Database, clock: FakeClock
) -> None:
    fan_out(database, clock, ["aad-b", "aad-c", "aad-d", "aad-e"], stage_change(clock, "s1"))
    store = database.notifications()
    b, c, d, e = store.claim("w1", limit=10, lease=LEASE)
    store.settle(
        "w1",
        [
            sent(b),
            Settlement.undeliverable(c, status_code=403, detail="HTTP 403"),
            Settlement.waiting(d, "nobody can reach this user"),
        ],
    )
    clock.advance(days=40)
    store.settle("w1", [sent(e)])  # sent today
    assert database.purge_settled_notifications(timedelta(days=30)) == 2
    assert store.counts() == {"sent": 1, "waiting": 1}
    assert store.attempts(b.id) == []
    assert store.attempts(c.id) == []
    assert store.attempts(e.id) == [("sent", None)]
    assert database.purge_settled_notifications(timedelta(days=30)) == 0


def test_a_card_that_was_to_update_a_forgotten_one_posts_a_new_one(
    database: Database, clock: FakeClock
) -> None:
    fan_out(database, clock, ["aad-b"], stage_change(clock, "s1"))
    store = database.notifications()
    (first,) = store.claim("w1", limit=10, lease=LEASE)
    store.settle("w1", [sent(first)])
    fan_out(database, clock, ["aad-b"], stage_change(clock, "s2"))  # same burst: an update
    (update,) = store.claim("w1", limit=10, lease=LEASE)
    assert update.replaces_activity_id == "activity-1"
    store.settle("w1", [Settlement.waiting(update, "nobody can reach this user")])
    clock.advance(days=31)
    assert database.purge_settled_notifications(timedelta(days=30)) == 1
    assert store.wake(TENANT, "aad-b") == 1
    (again,) = store.claim("w1", limit=10, lease=LEASE)
    assert again.id == update.id
    assert again.replaces_activity_id is None
