"""A small tenant for sweeps: Alice's portfolio, plus a few things Bob owns."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from domain.services import CRM
from tests.domain.factories import make_account, make_contact, make_lead
from tests.domain.people import ADMIN, ALICE, BOB, TENANT


@dataclass(frozen=True, slots=True)
class World:
    """Alice's portfolio, plus a few things Bob owns so cross-portfolio moves can be tried."""

    account: str
    other_account: str
    contact: str
    participant: str
    spare_contact: str
    lead: str
    lead_number: int
    document: str
    relationship: str
    reminder: str
    stage: str
    characteristic: str
    interest: str
    pipeline: str
    bob_account: str
    bob_contact: str
    bob_lead: str


def build_world(crm: CRM) -> World:
    account = make_account(crm, actor=ALICE, name="Acme", responsible_ids=[ALICE, ADMIN])
    other = make_account(crm, actor=ALICE, name="Acme Holding")
    contact = make_contact(crm, actor=ALICE, account_id=account.id)
    participant = make_contact(crm, actor=ALICE, name="Pat", account_id=account.id)
    spare = make_contact(crm, actor=ALICE, name="Sam", account_id=account.id)
    lead = make_lead(crm, actor=ALICE, account_id=account.id, contact_id=contact.id)
    crm.add_participant(TENANT, ALICE, lead.id, participant.id, role="CFO")
    document = crm.add_document(
        TENANT, ALICE, account.id, title="Contract", url="https://files.example/contract"
    ).documents[0]
    relationship = crm.add_relationship(TENANT, ALICE, account.id, other.id, "Subsidiary")
    reminder = crm.schedule_reminder(
        TENANT, ALICE, lead.id, due_at=datetime(2026, 2, 1, tzinfo=UTC), text="Call back"
    )
    pipeline = next(p for p in crm.pipelines(TENANT) if p.is_default)
    renewals = crm.create_pipeline(TENANT, ADMIN, name="Renewals", stages=[("Due", 50)])
    bob_account = make_account(crm, actor=BOB, name="Bob's shop")
    bob_contact = make_contact(crm, actor=BOB, name="Bo", account_id=bob_account.id)
    bob_lead = make_lead(crm, actor=BOB, account_id=bob_account.id, title="Bob's deal")
    return World(
        account=account.id,
        other_account=other.id,
        contact=contact.id,
        participant=participant.id,
        spare_contact=spare.id,
        lead=lead.id,
        lead_number=lead.number,
        document=document.id,
        relationship=relationship.id,
        reminder=reminder.id,
        stage=pipeline.stages[1].id,
        characteristic=crm.add_characteristic(TENANT, ADMIN, "Retail"),
        interest=crm.add_interest_area(TENANT, ADMIN, "Cloud"),
        pipeline=renewals.id,
        bob_account=bob_account.id,
        bob_contact=bob_contact.id,
        bob_lead=bob_lead.id,
    )
