"""Consuming the outbox: leases, settling, retries, and no message claimed twice."""

from __future__ import annotations

import threading
from datetime import timedelta

from sqlalchemy import insert

from storage.database import Database
from storage.outbox import Outbox
from storage.rows import OutboxRow
from tests.domain.fakes import FakeClock
from tests.storage.conftest import TENANT


def enqueue(database: Database, clock: FakeClock, count: int) -> None:
    rows = [
        {
            "tenant_id": TENANT,
            "event_name": "lead.stage_changed",
            "payload": {"n": index},
            "created_at": clock.now(),
            "status": "pending",
            "attempts": 0,
            "available_at": clock.now(),
        }
        for index in range(count)
    ]
    with database.sessions() as session, session.begin():
        session.execute(insert(OutboxRow), rows)


def test_claim_takes_oldest_pending_under_a_lease(database: Database, clock: FakeClock) -> None:
    enqueue(database, clock, 3)
    outbox = database.outbox()
    batch = outbox.claim("w1", limit=2)
    assert [m.payload["n"] for m in batch] == [0, 1]
    assert all(m.attempts == 1 for m in batch)
    # Held by w1: another worker gets only what is left.
    assert [m.payload["n"] for m in outbox.claim("w2", limit=5)] == [2]
    assert outbox.claim("w3") == []


def test_done_messages_are_not_claimed_again(database: Database, clock: FakeClock) -> None:
    enqueue(database, clock, 1)
    outbox = database.outbox()
    (message,) = outbox.claim("w1")
    assert outbox.mark_done(message.id, "w1") is True
    clock.advance(hours=1)
    assert outbox.claim("w1") == []
    assert outbox.counts() == {"done": 1}


def test_an_expired_lease_lets_another_worker_take_over(
    database: Database, clock: FakeClock
) -> None:
    enqueue(database, clock, 1)
    outbox = database.outbox()
    (first,) = outbox.claim("crashed", lease=timedelta(seconds=30))
    clock.advance(seconds=31)
    (again,) = outbox.claim("w2")
    assert (again.id, again.attempts) == (first.id, 2)
    # The first worker lost its lease: it can no longer settle the message.
    assert outbox.mark_done(first.id, "crashed") is False
    assert outbox.mark_done(again.id, "w2") is True


def test_retry_waits_until_the_given_time(database: Database, clock: FakeClock) -> None:
    enqueue(database, clock, 1)
    outbox = database.outbox()
    (message,) = outbox.claim("w1")
    assert outbox.retry_at(message.id, "w1", clock.now() + timedelta(minutes=5), "429") is True
    assert outbox.claim("w1") == []
    clock.advance(minutes=5)
    (retried,) = outbox.claim("w1")
    assert retried.attempts == 2


def test_undeliverable_is_never_retried(database: Database, clock: FakeClock) -> None:
    enqueue(database, clock, 1)
    outbox = database.outbox()
    (message,) = outbox.claim("w1")
    assert outbox.mark_undeliverable(message.id, "w1", "403 MessageWritesBlocked") is True
    clock.advance(days=1)
    assert outbox.claim("w1") == []
    assert outbox.counts() == {"undeliverable": 1}


def test_concurrent_workers_never_claim_the_same_message(
    database: Database, clock: FakeClock
) -> None:
    enqueue(database, clock, 120)
    claimed: dict[str, list[int]] = {}

    def work(worker: str) -> None:
        outbox: Outbox = database.outbox()
        mine = claimed.setdefault(worker, [])
        while batch := outbox.claim(worker, limit=7):
            mine.extend(m.id for m in batch)

    threads = [threading.Thread(target=work, args=(f"w{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    every = [message_id for ids in claimed.values() for message_id in ids]
    assert len(every) == 120
    assert len(set(every)) == 120


def test_settled_messages_are_purged_after_a_while_and_pending_ones_never(
    database: Database, clock: FakeClock
) -> None:
    enqueue(database, clock, 4)
    outbox = database.outbox()
    old_done, old_undeliverable, recent_done, left = outbox.claim("w1", limit=4)
    assert outbox.mark_done(old_done.id, "w1")
    assert outbox.mark_undeliverable(old_undeliverable.id, "w1", "blocked")
    clock.advance(days=8)
    assert outbox.mark_done(recent_done.id, "w1")
    assert outbox.retry_at(left.id, "w1", clock.now(), "throttled")  # pending again, 8 days old
    assert database.purge_settled_outbox(timedelta(days=7)) == 2
    assert outbox.counts() == {"done": 1, "pending": 1}
    assert database.purge_settled_outbox(timedelta(days=7)) == 0
