"""Every id refers to the same tenant: another tenant's records look exactly like missing ones."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from domain.errors import NotFound
from domain.ids import TenantId, UserId
from domain.services import CRM
from domain.statuses import ProspectStatus
from domain.users import Role
from tests.domain.factories import make_account, make_contact, make_lead
from tests.domain.fakes import FakeDatabase
from tests.domain.people import ADMIN, ALICE, OTHER_TENANT, TENANT
from tests.domain.world import World

BERTHA = UserId("aad-bertha")


@dataclass(frozen=True, slots=True)
class Foreign:
    """Records of the other tenant, which tenant A must not reach."""

    user: UserId
    account: str
    contact: str
    lead: str
    pipeline: str
    stage: str
    reminder: str


@pytest.fixture
def foreign(crm: CRM) -> Foreign:
    crm.register_user(OTHER_TENANT, BERTHA, display_name="Bertha")
    account = make_account(crm, actor=BERTHA, tenant=OTHER_TENANT, name="Foreign Co")
    contact = make_contact(crm, actor=BERTHA, tenant=OTHER_TENANT, account_id=account.id)
    lead = make_lead(crm, actor=BERTHA, tenant=OTHER_TENANT, contact_id=contact.id)
    pipeline = crm.pipelines(OTHER_TENANT)[0]
    reminder = crm.schedule_reminder(
        OTHER_TENANT, BERTHA, lead.id, due_at=datetime(2026, 2, 1, tzinfo=UTC), text="Call"
    )
    return Foreign(
        user=BERTHA,
        account=account.id,
        contact=contact.id,
        lead=lead.id,
        pipeline=pipeline.id,
        stage=pipeline.stages[1].id,
        reminder=reminder.id,
    )


Reach = Callable[[CRM, World, Foreign], object]
A = TENANT

# Tenant A's admin (who may do anything in A) reaching into tenant B, and the kind not found.
REACHES: dict[str, tuple[str, Reach]] = {
    "get_account": ("account", lambda c, w, f: c.get_account(A, ADMIN, f.account)),
    "account_view": ("account", lambda c, w, f: c.account_view(A, ADMIN, f.account)),
    "update_account": ("account", lambda c, w, f: c.update_account(A, ADMIN, f.account, name="X")),
    "add_document": (
        "account",
        lambda c, w, f: c.add_document(A, ADMIN, f.account, title="t", url="https://x.example"),
    ),
    "set_account_statuses": (
        "account",
        lambda c, w, f: c.set_account_statuses(A, ADMIN, f.account, prospect=ProspectStatus.LOST),
    ),
    "relationship_to_foreign_account": (
        "account",
        lambda c, w, f: c.add_relationship(A, ADMIN, w.account, f.account, "Partner"),
    ),
    "contact_in_foreign_account": (
        "account",
        lambda c, w, f: c.create_contact(A, ADMIN, name="X", account_id=f.account),
    ),
    "move_contact_to_foreign_account": (
        "account",
        lambda c, w, f: c.move_contact(A, ADMIN, w.contact, f.account),
    ),
    "lead_in_foreign_account": (
        "account",
        lambda c, w, f: c.create_lead(A, ADMIN, title="X", account_id=f.account),
    ),
    "move_lead_to_foreign_account": (
        "account",
        lambda c, w, f: c.move_lead_to_account(A, ADMIN, w.lead, f.account),
    ),
    "get_contact": ("contact", lambda c, w, f: c.get_contact(A, ADMIN, f.contact)),
    "update_contact": ("contact", lambda c, w, f: c.update_contact(A, ADMIN, f.contact, name="X")),
    "lead_for_foreign_contact": (
        "contact",
        lambda c, w, f: c.create_lead(A, ADMIN, title="X", contact_id=f.contact),
    ),
    "foreign_primary_contact": (
        "contact",
        lambda c, w, f: c.set_primary_contact(A, ADMIN, w.lead, f.contact),
    ),
    "foreign_participant": (
        "contact",
        lambda c, w, f: c.add_participant(A, ADMIN, w.lead, f.contact),
    ),
    "get_lead": ("lead", lambda c, w, f: c.get_lead(A, ADMIN, f.lead)),
    "lead_view": ("lead", lambda c, w, f: c.lead_view(A, ADMIN, f.lead)),
    "update_lead": ("lead", lambda c, w, f: c.update_lead(A, ADMIN, f.lead, title="X")),
    "win_lead": ("lead", lambda c, w, f: c.win_lead(A, ADMIN, f.lead)),
    "follow": ("lead", lambda c, w, f: c.follow(A, ADMIN, f.lead)),
    "comment": ("lead", lambda c, w, f: c.comment(A, ADMIN, f.lead, "Hi")),
    "duplicate_lead": ("lead", lambda c, w, f: c.duplicate_lead(A, ADMIN, f.lead)),
    "complete_reminder": ("reminder", lambda c, w, f: c.complete_reminder(A, ADMIN, f.reminder)),
    "lead_in_foreign_pipeline": (
        "pipeline",
        lambda c, w, f: c.create_lead(A, ADMIN, title="X", pipeline_id=f.pipeline),
    ),
    "move_lead_to_foreign_pipeline": (
        "pipeline",
        lambda c, w, f: c.move_lead_to_pipeline(A, ADMIN, w.lead, f.pipeline),
    ),
    "add_stage_to_foreign_pipeline": (
        "pipeline",
        lambda c, w, f: c.add_stage(A, ADMIN, f.pipeline, "Extra", 10),
    ),
    "foreign_stage": ("stage", lambda c, w, f: c.change_stage(A, ADMIN, w.lead, f.stage)),
    "foreign_follower": ("user", lambda c, w, f: c.add_follower(A, ADMIN, w.lead, f.user)),
    "foreign_owner": ("user", lambda c, w, f: c.change_owner(A, ADMIN, w.lead, f.user)),
    "foreign_responsible": (
        "user",
        lambda c, w, f: c.add_responsible(A, ADMIN, w.account, f.user),
    ),
    "account_for_foreign_responsible": (
        "user",
        lambda c, w, f: c.create_account(A, ADMIN, name="X", responsible_ids=[f.user]),
    ),
    "foreign_mention": (
        "user",
        lambda c, w, f: c.comment(A, ADMIN, w.lead, "Hi", mentions=[f.user]),
    ),
    "foreign_assignee": (
        "user",
        lambda c, w, f: c.schedule_reminder(
            A, ADMIN, w.lead, due_at=datetime(2026, 2, 1, tzinfo=UTC), text="x", assignee_id=f.user
        ),
    ),
    "foreign_manager": ("user", lambda c, w, f: c.set_manager(A, ADMIN, ALICE, f.user)),
    "foreign_user_role": ("user", lambda c, w, f: c.change_role(A, ADMIN, f.user, Role.MANAGER)),
    "get_foreign_user": ("user", lambda c, w, f: c.get_user(A, f.user)),
    "foreign_actor": ("user", lambda c, w, f: c.get_lead(A, f.user, w.lead)),
}


@pytest.mark.parametrize("name", REACHES)
def test_id_of_another_tenant_is_not_found(
    crm: CRM, world: World, foreign: Foreign, database: FakeDatabase, name: str
) -> None:
    kind, reach = REACHES[name]
    before = len(database.events)
    with pytest.raises(NotFound) as refused:
        reach(crm, world, foreign)
    assert refused.value.code == f"{kind}.not_found"
    assert database.events[before:] == []


def test_foreign_id_looks_exactly_like_a_missing_one(crm: CRM, foreign: Foreign) -> None:
    with pytest.raises(NotFound) as foreign_error:
        crm.get_lead(TENANT, ADMIN, foreign.lead)
    with pytest.raises(NotFound) as missing_error:
        crm.get_lead(TENANT, ADMIN, "does-not-exist")
    assert foreign_error.value.code == missing_error.value.code
    assert set(foreign_error.value.params) == set(missing_error.value.params)


def test_lead_numbers_are_counted_per_tenant(crm: CRM, foreign: Foreign) -> None:
    assert crm.get_lead(OTHER_TENANT, BERTHA, foreign.lead).number == 1
    assert make_lead(crm).number == 1
    with pytest.raises(NotFound):
        crm.lead_by_number(TENANT, ADMIN, 2)


def test_each_tenant_keeps_its_own_settings(crm: CRM, foreign: Foreign) -> None:
    crm.set_other_label(TENANT, ADMIN, "Partner")
    assert crm.get_settings(OTHER_TENANT).other_label == "Other"
    assert {p.id for p in crm.pipelines(TENANT)}.isdisjoint({foreign.pipeline})


def test_unknown_tenant_has_no_settings(crm: CRM) -> None:
    with pytest.raises(NotFound, match=r"tenant\.not_found"):
        crm.get_settings(TenantId("tenant-never-installed"))
