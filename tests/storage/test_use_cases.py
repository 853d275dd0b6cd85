"""Domain use cases end to end over real storage: what the bot will actually run."""

from __future__ import annotations

from datetime import timedelta

import pytest

from domain.errors import AccessDenied, Conflict
from domain.ids import TenantId, UserId
from domain.queries import LeadFilter
from domain.services import CRM, NewContact
from domain.statuses import CustomerStatus, LeadStatus, ProspectStatus
from storage.database import Database
from tests.domain.fakes import FakeClock
from tests.storage.conftest import ADMIN, ALICE, BOB, TENANT


def test_a_lead_from_creation_to_won_leaves_history_and_outbox(
    crm: CRM, database: Database, clock: FakeClock
) -> None:
    account = crm.create_account(TENANT, ALICE, name="Acme")
    contact = crm.create_contact(TENANT, ALICE, name="Carol", account_id=account.id)
    lead = crm.create_lead(
        TENANT, ALICE, title="Fleet", account_id=account.id, contact_id=contact.id, amount="100"
    )
    pipeline = crm.pipelines(TENANT)[0]
    clock.advance(hours=1)
    crm.change_stage(TENANT, ALICE, lead.id, pipeline.stages[2].id)
    crm.add_follower(TENANT, ALICE, lead.id, BOB)
    crm.win_lead(TENANT, ALICE, lead.id)

    assert crm.get_contact(TENANT, ALICE, contact.id).customer_status is CustomerStatus.CURRENT
    assert crm.get_contact(TENANT, ALICE, contact.id).prospect_status is ProspectStatus.NONE
    assert crm.get_account(TENANT, ALICE, account.id).customer_status is CustomerStatus.CURRENT

    queries = database.queries(TENANT)
    viewer = queries.viewer(ALICE)
    lead_history = queries.history(viewer, "lead", lead.id).items
    assert [entry.event_name for entry in lead_history] == [
        "lead.status_changed",
        "lead.follower_added",
        "lead.stage_changed",
        "lead.created",
    ]
    assert all(entry.account_id == account.id for entry in lead_history)
    stage_change = lead_history[2]
    assert stage_change.actor_id == ALICE
    assert stage_change.occurred_at == clock.now()
    assert {
        "field": "stage_id",
        "before": pipeline.stages[0].id,
        "after": pipeline.stages[2].id,
    } in (
        stage_change.payload["changes"]  # type: ignore[operator]
    )
    contact_history = [e.event_name for e in queries.history(viewer, "contact", contact.id).items]
    assert "contact.status_changed" in contact_history

    outbox = database.outbox()
    names = [m.event_name for m in outbox.claim("test", limit=100)]
    assert names.count("lead.stage_changed") == 1
    assert names.count("lead.status_changed") == 1
    assert "account.status_changed" in names
    assert "lead.follower_added" in names


def test_members_lists_respect_access(crm: CRM, database: Database) -> None:
    mine = crm.create_lead(TENANT, ALICE, title="Alice's")
    crm.create_lead(TENANT, BOB, title="Bob's")
    queries = database.queries(TENANT)
    assert [lead.id for lead in queries.leads(queries.viewer(ALICE)).items] == [mine.id]
    with pytest.raises(AccessDenied):
        crm.get_lead(TENANT, ALICE, queries.leads(queries.viewer(BOB)).items[0].id)


def test_new_participant_is_created_and_added_atomically(crm: CRM, database: Database) -> None:
    account = crm.create_account(TENANT, ALICE, name="Acme")
    lead = crm.create_lead(TENANT, ALICE, title="Deal", account_id=account.id)
    updated, contact = crm.add_new_participant(
        TENANT, ALICE, lead.id, NewContact(name="Dora", email="dora@acme.com"), role="CTO"
    )
    queries = database.queries(TENANT)
    found = queries.leads(queries.viewer(ALICE), LeadFilter(participant_id=contact.id)).items
    assert [item.id for item in found] == [lead.id]
    assert updated.participant(contact.id) is not None


def test_reminder_and_duplicate_over_storage(crm: CRM, clock: FakeClock) -> None:
    lead = crm.create_lead(TENANT, ALICE, title="Deal", tags=["renewal"])
    reminder = crm.schedule_reminder(
        TENANT, ALICE, lead.id, due_at=clock.now() + timedelta(days=2), text="Call back"
    )
    done = crm.complete_reminder(TENANT, ALICE, reminder.id)
    assert done.done
    copy = crm.duplicate_lead(TENANT, ALICE, lead.id)
    assert copy.number == lead.number + 1
    assert copy.tags == lead.tags
    assert copy.status is LeadStatus.OPEN


def test_stale_card_is_refused_after_someone_else_changed_the_lead(crm: CRM) -> None:
    lead = crm.create_lead(TENANT, ALICE, title="Deal")
    pipeline = crm.pipelines(TENANT)[0]
    crm.change_stage(TENANT, ADMIN, lead.id, pipeline.stages[1].id, expected_version=lead.version)
    with pytest.raises(Conflict):
        crm.change_stage(
            TENANT, ALICE, lead.id, pipeline.stages[2].id, expected_version=lead.version
        )


def test_first_user_of_each_tenant_is_its_admin(database: Database, clock: FakeClock) -> None:
    crm = CRM(database.uow, clock)
    first = crm.register_user(TenantId("t-x"), UserId("x1"), display_name="X One")
    second = crm.register_user(TenantId("t-y"), UserId("y1"), display_name="Y One")
    assert first.role.value == "admin"
    assert second.role.value == "admin"
    assert crm.pipelines(TenantId("t-x"))[0].is_default
