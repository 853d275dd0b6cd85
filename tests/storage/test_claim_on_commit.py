"""A card action's activity id is claimed in the transaction of the change it makes: both are
written or neither is, and a redelivery of an applied activity writes nothing."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import func, select

from domain.common import Stamp
from domain.errors import AlreadyApplied, Conflict, NotFound
from domain.leads import Lead
from domain.services import CRM
from domain.settings import Pipeline
from storage.activities import PendingClaim, claim_on_commit, pending_claim
from storage.database import Database
from storage.rows import HistoryRow, LeadRow, OutboxRow, ProcessedActivityRow
from storage.uow import SqlUnitOfWork
from tests.domain.fakes import FakeClock
from tests.storage.conftest import ADMIN, ALICE, BOB, OTHER_TENANT, TENANT, statements


def claimed(database: Database) -> list[tuple[str, str]]:
    statement = select(ProcessedActivityRow.tenant_id, ProcessedActivityRow.activity_id)
    with database.sessions() as session:
        return sorted((row.tenant_id, row.activity_id) for row in session.execute(statement))


def written(database: Database, lead: Lead) -> tuple[int, int, int]:
    """The lead's stored version and how many history and outbox rows there are."""
    with database.sessions() as session:
        version = session.scalar(select(LeadRow.version).where(LeadRow.id == lead.id))
        history = session.scalar(select(func.count()).select_from(HistoryRow))
        outbox = session.scalar(select(func.count()).select_from(OutboxRow))
    return int(version or 0), int(history or 0), int(outbox or 0)


def done(claim: PendingClaim) -> bool:
    """Read afresh: a commit flips it, which mypy's narrowing of ``claim.done`` cannot see."""
    return claim.done


def loaded_with_pipeline(uow: SqlUnitOfWork, lead: Lead) -> tuple[Lead, Pipeline]:
    """``lead`` as this unit of work loads it, and the default pipeline it sits in."""
    loaded = uow.leads.get(lead.id)
    pipeline = uow.pipelines.default()
    assert loaded is not None
    assert pipeline is not None
    return loaded, pipeline


@pytest.fixture
def lead(crm: CRM) -> Lead:
    return crm.create_lead(TENANT, ALICE, title="Fleet renewal")


@pytest.fixture
def stages(crm: CRM) -> list[str]:
    return [stage.id for stage in crm.pipelines(TENANT)[0].stages]


def test_the_claim_is_written_with_the_change(
    crm: CRM, database: Database, lead: Lead, stages: list[str]
) -> None:
    with claim_on_commit(TENANT, "activity-1") as claim:
        assert not done(claim)
        crm.change_stage(TENANT, ALICE, lead.id, stages[1])
        assert done(claim)
    assert claimed(database) == [(TENANT, "activity-1")]
    assert crm.get_lead(TENANT, ALICE, lead.id).stage_id == stages[1]
    # Messages' up-front claim sees the same record.
    assert not database.activities(TENANT).claim("activity-1")


def test_a_redelivery_raises_already_applied_and_writes_nothing(
    crm: CRM, database: Database, lead: Lead, stages: list[str]
) -> None:
    with claim_on_commit(TENANT, "activity-1"):
        crm.change_stage(TENANT, ALICE, lead.id, stages[1])
    before = written(database, lead)

    with claim_on_commit(TENANT, "activity-1") as again, pytest.raises(AlreadyApplied) as raised:
        crm.change_stage(TENANT, ALICE, lead.id, stages[2])
    assert raised.value.key == "activity-1"
    assert not again.done
    assert written(database, lead) == before
    assert crm.get_lead(TENANT, ALICE, lead.id).stage_id == stages[1]
    assert claimed(database) == [(TENANT, "activity-1")]


def test_a_redelivery_racing_the_first_delivery_is_applied_once(
    crm: CRM, database: Database, lead: Lead, stages: list[str]
) -> None:
    """The second insert of the claim waits for the first transaction (PostgreSQL) or runs
    after it (SQLite), then finds the row: never two changes, never a Conflict."""
    start = threading.Barrier(2)

    def deliver(stage_id: str) -> str:
        with claim_on_commit(TENANT, "activity-1"):
            start.wait()
            try:
                crm.change_stage(TENANT, ALICE, lead.id, stage_id)
            except AlreadyApplied:
                return "skipped"
            return "applied"

    with ThreadPoolExecutor(max_workers=2) as pool:
        outcomes = sorted(pool.map(deliver, stages[1:3]))
    assert outcomes == ["applied", "skipped"]
    assert written(database, lead)[0] == lead.version + 1


def test_a_block_that_commits_nothing_claims_nothing(
    crm: CRM, database: Database, lead: Lead
) -> None:
    with claim_on_commit(TENANT, "activity-1") as claim:
        crm.lead_view(TENANT, ALICE, lead.id)  # reads, never commits
        with pytest.raises(NotFound):
            crm.change_stage(TENANT, ALICE, lead.id, "no-such-stage")
    assert not done(claim)
    assert claimed(database) == []


def test_a_commit_with_nothing_changed_still_records_the_claim(database: Database) -> None:
    """The command ran (and found nothing to change): a redelivery must not run it again."""
    with claim_on_commit(TENANT, "activity-1") as claim, database.uow(TENANT) as uow:
        uow.commit()
    assert done(claim)
    assert claimed(database) == [(TENANT, "activity-1")]


def test_a_failed_commit_leaves_the_claim_to_the_retry_which_records_it_once(
    crm: CRM, database: Database, clock: FakeClock, lead: Lead, stages: list[str]
) -> None:
    """A commit that fails after inserting the claim takes the claim back with it."""
    with database.uow(TENANT) as uow:
        stale, pipeline = loaded_with_pipeline(uow, lead)
        crm.change_stage(TENANT, ADMIN, lead.id, stages[2])
        with claim_on_commit(TENANT, "activity-1") as claim:
            stale.change_stage(pipeline, stages[1], Stamp(actor_id=ALICE, at=clock.now()))
            with pytest.raises(Conflict):
                uow.commit()
            assert not done(claim)
            assert claimed(database) == []

            # The use case runs again in the same block: claimed now, and only once.
            crm.change_stage(TENANT, ALICE, lead.id, stages[1])
            assert done(claim)
            crm.comment(TENANT, ALICE, lead.id, "moved back")  # a second commit: no claim
    assert claimed(database) == [(TENANT, "activity-1")]
    assert crm.get_lead(TENANT, ALICE, lead.id).stage_id == stages[1]


def test_another_tenants_unit_of_work_does_not_take_the_claim(
    crm: CRM, database: Database, lead: Lead, stages: list[str]
) -> None:
    with claim_on_commit(TENANT, "activity-1") as claim:
        crm.register_user(OTHER_TENANT, BOB, display_name="Bob", email="bob@example.com")
        assert not done(claim)
        assert claimed(database) == []
        crm.change_stage(TENANT, ALICE, lead.id, stages[1])
        assert done(claim)
    assert claimed(database) == [(TENANT, "activity-1")]


def test_the_claim_is_pending_only_inside_its_block(
    crm: CRM, database: Database, lead: Lead, stages: list[str]
) -> None:
    with claim_on_commit(TENANT, "activity-1") as claim:
        assert pending_claim(TENANT) is claim
        assert pending_claim(OTHER_TENANT) is None
    assert pending_claim(TENANT) is None

    with pytest.raises(RuntimeError), claim_on_commit(TENANT, "activity-2"):
        raise RuntimeError
    assert pending_claim(TENANT) is None

    crm.change_stage(TENANT, ALICE, lead.id, stages[1])
    assert claimed(database) == []


def test_threads_see_only_their_own_pending_claim(crm: CRM, database: Database, lead: Lead) -> None:
    both_inside, both_committed = threading.Barrier(3), threading.Barrier(3)

    def claiming(activity_id: str) -> bool:
        with claim_on_commit(TENANT, activity_id) as claim:
            both_inside.wait()
            mine = pending_claim(TENANT) is claim
            crm.comment(TENANT, ALICE, lead.id, activity_id)
            both_committed.wait()
        return mine and claim.done

    def not_claiming() -> bool:
        both_inside.wait()
        nothing = pending_claim(TENANT) is None
        crm.comment(TENANT, ALICE, lead.id, "no activity")
        both_committed.wait()
        return nothing

    with ThreadPoolExecutor(max_workers=3) as pool:
        results = [
            pool.submit(claiming, "activity-a"),
            pool.submit(claiming, "activity-b"),
            pool.submit(not_claiming),
        ]
        assert [result.result(timeout=30) for result in results] == [True, True, True]
    assert claimed(database) == [(TENANT, "activity-a"), (TENANT, "activity-b")]


def test_an_activity_claimed_before_the_change_writes_nothing(
    crm: CRM, database: Database, lead: Lead, stages: list[str]
) -> None:
    """Here the update itself would match (the version is current): the claim alone stops it."""
    assert database.activities(TENANT).claim("activity-1")  # a message's up-front claim
    before = written(database, lead)
    with claim_on_commit(TENANT, "activity-1") as claim, pytest.raises(AlreadyApplied):
        crm.change_stage(TENANT, ALICE, lead.id, stages[1])
    assert not done(claim)
    assert written(database, lead) == before
    assert crm.get_lead(TENANT, ALICE, lead.id).stage_id == lead.stage_id


def test_a_lead_change_commits_in_one_statement_on_postgresql(
    crm: CRM, database: Database, lead: Lead, stages: list[str]
) -> None:
    """The update, the claim, the history and the outbox rows: one round trip, no BEGIN."""
    with database.uow(TENANT) as uow:
        loaded, pipeline = loaded_with_pipeline(uow, lead)
        stamp = Stamp(actor_id=ALICE, at=loaded.created_at)
        loaded.change_stage(pipeline, stages[1], stamp)
        loaded.change_stage(pipeline, stages[2], stamp)  # two events in one commit
        with statements(database) as sent, claim_on_commit(TENANT, "activity-1"):
            uow.commit()
    if database.dialect == "postgresql":
        assert len(sent) == 1, sent
    assert written(database, lead)[0] == lead.version + 1
    with database.sessions() as session:
        events = session.scalars(
            select(HistoryRow.event_name).where(HistoryRow.subject_id == lead.id)
        ).all()
    assert events.count("lead.stage_changed") == 2
    assert claimed(database) == [(TENANT, "activity-1")]
    assert crm.get_lead(TENANT, ALICE, lead.id).stage_id == stages[2]
