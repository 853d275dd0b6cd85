"""Who sees and changes what: admins everything, members their portfolio, managers their team's."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from domain.access import Viewer, can_change_lead, can_view_contact, can_view_lead
from domain.accounts import Account
from domain.common import Stamp
from domain.contacts import Contact
from domain.errors import AccessDenied
from domain.ids import TenantId, UserId
from domain.services import CRM, NewContact
from domain.settings import CustomFieldKind, RecordKind
from domain.statuses import ProspectStatus
from domain.users import Role
from tests.domain.factories import make_contact, make_lead
from tests.domain.fakes import FakeDatabase
from tests.domain.people import ADMIN, ALICE, BOB, TENANT
from tests.domain.world import World

CAROL = UserId("aad-carol")


UseCase = Callable[[CRM, World], object]

# Every read and change use case, called by Bob on Alice's records.
OUTSIDER_CALLS: dict[str, UseCase] = {
    "get_account": lambda c, w: c.get_account(TENANT, BOB, w.account),
    "account_view": lambda c, w: c.account_view(TENANT, BOB, w.account),
    "update_account": lambda c, w: c.update_account(TENANT, BOB, w.account, name="Mine"),
    "set_account_characteristics": lambda c, w: c.set_account_characteristics(
        TENANT, BOB, w.account, []
    ),
    "set_account_interests": lambda c, w: c.set_account_interests(
        TENANT, BOB, w.account, interests=[], disinterests=[]
    ),
    "add_responsible": lambda c, w: c.add_responsible(TENANT, BOB, w.account, BOB),
    "remove_responsible": lambda c, w: c.remove_responsible(TENANT, BOB, w.account, ALICE),
    "add_relationship:from": lambda c, w: c.add_relationship(
        TENANT, BOB, w.account, w.bob_account, "Partner"
    ),
    "add_relationship:to": lambda c, w: c.add_relationship(
        TENANT, BOB, w.bob_account, w.account, "Partner"
    ),
    "remove_relationship": lambda c, w: c.remove_relationship(
        TENANT, BOB, w.account, w.relationship
    ),
    "add_document": lambda c, w: c.add_document(
        TENANT, BOB, w.account, title="Spam", url="https://spam.example"
    ),
    "remove_document": lambda c, w: c.remove_document(TENANT, BOB, w.account, w.document),
    "set_account_statuses": lambda c, w: c.set_account_statuses(
        TENANT, BOB, w.account, prospect=ProspectStatus.CURRENT
    ),
    "create_contact:in_account": lambda c, w: c.create_contact(
        TENANT, BOB, name="Spy", account_id=w.account
    ),
    "get_contact": lambda c, w: c.get_contact(TENANT, BOB, w.contact),
    "contact_view": lambda c, w: c.contact_view(TENANT, BOB, w.contact),
    "update_contact": lambda c, w: c.update_contact(TENANT, BOB, w.contact, name="X"),
    "move_contact:out": lambda c, w: c.move_contact(TENANT, BOB, w.contact, w.bob_account),
    "move_contact:in": lambda c, w: c.move_contact(TENANT, BOB, w.bob_contact, w.account),
    "set_contact_statuses": lambda c, w: c.set_contact_statuses(
        TENANT, BOB, w.contact, prospect=ProspectStatus.CURRENT
    ),
    "create_lead:in_account": lambda c, w: c.create_lead(
        TENANT, BOB, title="Poach", account_id=w.account
    ),
    "create_lead:for_contact": lambda c, w: c.create_lead(
        TENANT, BOB, title="Poach", contact_id=w.contact
    ),
    "get_lead": lambda c, w: c.get_lead(TENANT, BOB, w.lead),
    "lead_by_number": lambda c, w: c.lead_by_number(TENANT, BOB, w.lead_number),
    "lead_view": lambda c, w: c.lead_view(TENANT, BOB, w.lead),
    "update_lead": lambda c, w: c.update_lead(TENANT, BOB, w.lead, title="X"),
    "move_lead_to_account:out": lambda c, w: c.move_lead_to_account(
        TENANT, BOB, w.lead, w.bob_account
    ),
    "move_lead_to_account:in": lambda c, w: c.move_lead_to_account(
        TENANT, BOB, w.bob_lead, w.account
    ),
    "change_owner": lambda c, w: c.change_owner(TENANT, BOB, w.lead, BOB),
    "change_stage": lambda c, w: c.change_stage(TENANT, BOB, w.lead, w.stage),
    "move_lead_to_pipeline": lambda c, w: c.move_lead_to_pipeline(TENANT, BOB, w.lead, w.pipeline),
    "win_lead": lambda c, w: c.win_lead(TENANT, BOB, w.lead),
    "lose_lead": lambda c, w: c.lose_lead(TENANT, BOB, w.lead, "Sabotage"),
    "disqualify_lead": lambda c, w: c.disqualify_lead(TENANT, BOB, w.lead),
    "reopen_lead": lambda c, w: c.reopen_lead(TENANT, BOB, w.lead),
    "set_primary_contact": lambda c, w: c.set_primary_contact(TENANT, BOB, w.lead, None),
    "set_primary_contact:foreign": lambda c, w: c.set_primary_contact(
        TENANT, BOB, w.bob_lead, w.contact
    ),
    "add_participant": lambda c, w: c.add_participant(TENANT, BOB, w.lead, w.bob_contact),
    "add_participant:foreign": lambda c, w: c.add_participant(TENANT, BOB, w.bob_lead, w.contact),
    "add_new_participant": lambda c, w: c.add_new_participant(
        TENANT, BOB, w.lead, NewContact(name="Spy")
    ),
    "remove_participant": lambda c, w: c.remove_participant(TENANT, BOB, w.lead, w.participant),
    "set_participant_role": lambda c, w: c.set_participant_role(
        TENANT, BOB, w.lead, w.participant, "Mole"
    ),
    "add_follower": lambda c, w: c.add_follower(TENANT, BOB, w.lead, BOB),
    "remove_follower": lambda c, w: c.remove_follower(TENANT, BOB, w.lead, ALICE),
    "follow": lambda c, w: c.follow(TENANT, BOB, w.lead),
    "unfollow": lambda c, w: c.unfollow(TENANT, BOB, w.lead),
    "comment": lambda c, w: c.comment(TENANT, BOB, w.lead, "Hello"),
    "schedule_reminder": lambda c, w: c.schedule_reminder(
        TENANT, BOB, w.lead, due_at=datetime(2026, 3, 1, tzinfo=UTC), text="x"
    ),
    "complete_reminder": lambda c, w: c.complete_reminder(TENANT, BOB, w.reminder),
    "duplicate_lead": lambda c, w: c.duplicate_lead(TENANT, BOB, w.lead),
}

# Tenant configuration: admins only.
ADMIN_ONLY_CALLS: dict[str, UseCase] = {
    "set_other_label": lambda c, w: c.set_other_label(TENANT, BOB, "Partner"),
    "set_default_currency": lambda c, w: c.set_default_currency(TENANT, BOB, "EUR"),
    "add_characteristic": lambda c, w: c.add_characteristic(TENANT, BOB, "Retail"),
    "retire_characteristic": lambda c, w: c.retire_characteristic(TENANT, BOB, "retail"),
    "add_interest_area": lambda c, w: c.add_interest_area(TENANT, BOB, "Cloud"),
    "retire_interest_area": lambda c, w: c.retire_interest_area(TENANT, BOB, w.interest),
    "define_custom_field": lambda c, w: c.define_custom_field(
        TENANT, BOB, label="Size", kind=CustomFieldKind.NUMBER, applies_to=RecordKind.ACCOUNT
    ),
    "create_pipeline": lambda c, w: c.create_pipeline(TENANT, BOB, name="Mine", stages=[("A", 1)]),
    "add_stage": lambda c, w: c.add_stage(TENANT, BOB, w.pipeline, "Extra", 60),
    "change_role": lambda c, w: c.change_role(TENANT, BOB, BOB, Role.ADMIN),
    "set_manager": lambda c, w: c.set_manager(TENANT, BOB, ALICE, None),
}


@pytest.mark.parametrize("call", OUTSIDER_CALLS.values(), ids=OUTSIDER_CALLS.keys())
def test_member_without_access_is_denied_and_changes_nothing(
    crm: CRM, world: World, database: FakeDatabase, call: UseCase
) -> None:
    before = len(database.events)
    with pytest.raises(AccessDenied):
        call(crm, world)
    assert database.events[before:] == []


@pytest.mark.parametrize("call", ADMIN_ONLY_CALLS.values(), ids=ADMIN_ONLY_CALLS.keys())
def test_tenant_configuration_is_for_admins_only(
    crm: CRM, world: World, database: FakeDatabase, call: UseCase
) -> None:
    before = len(database.events)
    with pytest.raises(AccessDenied) as refused:
        call(crm, world)
    assert refused.value.code == "tenant.access_denied"
    assert database.events[before:] == []


def test_the_sweeps_cover_every_public_use_case() -> None:
    """A new use case must join a sweep (or the short list open to every user) on purpose."""
    public = {name for name in dir(CRM) if not name.startswith("_")}
    open_to_every_user = {
        "register_user",
        "get_user",
        "get_settings",
        "pipelines",
        "pipelines_and_settings",
    }
    open_to_every_user.add("create_account")
    # Called by the notifier for recipients, with no acting user: it filters by each one's
    # own access instead of refusing (see the test below).
    per_recipient = {"lead_views_for"}
    swept = {key.split(":")[0] for key in [*OUTSIDER_CALLS, *ADMIN_ONLY_CALLS]}
    assert public - open_to_every_user - per_recipient == swept


def test_lead_views_for_leaves_out_whoever_may_not_see_the_lead(crm: CRM, world: World) -> None:
    views = crm.lead_views_for(TENANT, world.lead, [ADMIN, ALICE, BOB, UserId("aad-nobody")])
    assert set(views) == {ADMIN, ALICE}
    assert views[ALICE].can_change is True
    assert views[ADMIN].lead.id == world.lead
    crm.add_follower(TENANT, ALICE, world.lead, BOB)
    followed = crm.lead_views_for(TENANT, world.lead, [BOB])
    assert followed[BOB].can_change is False
    assert followed[BOB].viewer_follows is True


def test_admin_sees_and_changes_the_whole_tenant(crm: CRM, world: World) -> None:
    assert crm.get_account(TENANT, ADMIN, world.account).id == world.account
    assert crm.get_contact(TENANT, ADMIN, world.contact).id == world.contact
    assert crm.lead_view(TENANT, ADMIN, world.lead).can_change is True
    assert crm.update_lead(TENANT, ADMIN, world.bob_lead, title="Checked").title == "Checked"


def test_member_sees_and_changes_the_accounts_they_are_responsible_for(
    crm: CRM, world: World
) -> None:
    assert crm.account_view(TENANT, ALICE, world.account).can_change is True
    assert crm.update_account(TENANT, ALICE, world.account, name="Acme Inc").name == "Acme Inc"
    with pytest.raises(AccessDenied, match=r"account\.access_denied"):
        crm.get_account(TENANT, ALICE, world.bob_account)


def test_member_sees_leads_and_contacts_of_their_accounts_even_if_others_own_them(
    crm: CRM, world: World
) -> None:
    admins_lead = make_lead(crm, actor=ADMIN, account_id=world.account, title="Admin's")
    admins_contact = make_contact(crm, actor=ADMIN, name="Zed", account_id=world.account)
    assert crm.lead_view(TENANT, ALICE, admins_lead.id).can_change is True
    assert crm.win_lead(TENANT, ALICE, admins_lead.id).status.value == "won"
    assert crm.contact_view(TENANT, ALICE, admins_contact.id).can_change is True


def test_member_sees_the_leads_they_own_outside_their_accounts(crm: CRM, world: World) -> None:
    lonely = make_lead(crm, actor=ALICE, title="No account yet")
    assert crm.get_lead(TENANT, ALICE, lonely.id).id == lonely.id
    with pytest.raises(AccessDenied):
        crm.get_lead(TENANT, BOB, lonely.id)
    crm.change_owner(TENANT, ALICE, lonely.id, BOB)
    assert crm.update_lead(TENANT, BOB, lonely.id, title="Bob's now").title == "Bob's now"


def test_member_sees_contacts_they_created_without_account(crm: CRM, world: World) -> None:
    freelancer = make_contact(crm, actor=ALICE, name="Freelancer")
    assert crm.get_contact(TENANT, ALICE, freelancer.id).id == freelancer.id
    with pytest.raises(AccessDenied, match=r"contact\.access_denied"):
        crm.get_contact(TENANT, BOB, freelancer.id)


def test_member_sees_the_people_on_leads_they_own(crm: CRM, world: World) -> None:
    crm.add_participant(TENANT, ADMIN, world.bob_lead, world.participant, role="Advisor")
    assert crm.get_contact(TENANT, BOB, world.participant).id == world.participant
    with pytest.raises(AccessDenied):
        crm.get_contact(TENANT, BOB, world.contact)


def test_losing_responsibility_loses_access(crm: CRM, world: World) -> None:
    crm.add_responsible(TENANT, ALICE, world.account, BOB)
    assert crm.get_lead(TENANT, BOB, world.lead).id == world.lead
    crm.remove_responsible(TENANT, ADMIN, world.account, BOB)
    with pytest.raises(AccessDenied):
        crm.get_account(TENANT, BOB, world.account)


def test_manager_sees_and_changes_what_the_team_sees(crm: CRM, world: World) -> None:
    crm.change_role(TENANT, ADMIN, BOB, Role.MANAGER)
    crm.set_manager(TENANT, ADMIN, ALICE, BOB)
    assert crm.account_view(TENANT, BOB, world.account).can_change is True
    assert crm.update_lead(TENANT, BOB, world.lead, title="Reviewed").title == "Reviewed"
    assert crm.get_contact(TENANT, BOB, world.contact).id == world.contact


def test_manager_reads_but_does_not_change_what_the_team_only_follows(
    crm: CRM, world: World
) -> None:
    admins = make_lead(crm, actor=ADMIN, title="Admin's deal")
    crm.add_follower(TENANT, ADMIN, admins.id, ALICE)
    crm.change_role(TENANT, ADMIN, BOB, Role.MANAGER)
    crm.set_manager(TENANT, ADMIN, ALICE, BOB)
    assert crm.lead_view(TENANT, BOB, admins.id).can_change is False
    with pytest.raises(AccessDenied):
        crm.update_lead(TENANT, BOB, admins.id, title="X")


def test_manager_does_not_see_outside_the_team(crm: CRM, world: World) -> None:
    crm.register_user(TENANT, CAROL, display_name="Carol")
    crm.change_role(TENANT, ADMIN, BOB, Role.MANAGER)
    crm.set_manager(TENANT, ADMIN, CAROL, BOB)
    with pytest.raises(AccessDenied):
        crm.get_account(TENANT, BOB, world.account)


def test_former_team_member_portfolio_is_no_longer_visible(crm: CRM, world: World) -> None:
    crm.change_role(TENANT, ADMIN, BOB, Role.MANAGER)
    crm.set_manager(TENANT, ADMIN, ALICE, BOB)
    crm.set_manager(TENANT, ADMIN, ALICE, None)
    with pytest.raises(AccessDenied):
        crm.get_lead(TENANT, BOB, world.lead)


# --- the pure rules in domain/access.py ------------------------------------------------------

_STAMP = Stamp(actor_id=ADMIN, at=datetime(2026, 1, 5, tzinfo=UTC))
_TENANT = TenantId("t")


def _viewer(user: UserId, role: Role = Role.MEMBER, team: tuple[UserId, ...] = ()) -> Viewer:
    return Viewer(user_id=user, role=role, scope=frozenset({user, *team}))


def _account(*responsibles: UserId) -> Account:
    return Account.create(tenant_id=_TENANT, name="A", responsible_ids=responsibles, stamp=_STAMP)


def _contact(created_by: UserId, account: Account | None = None) -> Contact:
    stamp = Stamp(actor_id=created_by, at=_STAMP.at)
    return Contact.create(
        tenant_id=_TENANT, name="C", account_id=account.id if account else None, stamp=stamp
    )


def test_contact_of_a_visible_account_is_visible() -> None:
    employer = _account(ALICE)
    contact = _contact(ADMIN, employer)
    assert can_view_contact(_viewer(ALICE), contact, employer)
    assert not can_view_contact(_viewer(BOB), contact, employer)
    assert can_view_contact(_viewer(BOB, Role.ADMIN), contact, employer)


def test_contact_created_without_account_is_visible_to_its_creator_and_their_manager() -> None:
    contact = _contact(ALICE)
    assert can_view_contact(_viewer(ALICE), contact, None)
    assert can_view_contact(_viewer(BOB, Role.MANAGER, (ALICE,)), contact, None)
    assert not can_view_contact(_viewer(BOB), contact, None)


def test_creating_a_contact_gives_no_access_once_it_belongs_to_an_account() -> None:
    employer = _account(BOB)
    contact = _contact(ALICE, employer)
    assert not can_view_contact(_viewer(ALICE), contact, employer)
    assert can_view_contact(_viewer(ALICE), contact, employer, works_on_lead_with_contact=True)


def test_follower_views_but_does_not_change_a_lead(crm: CRM) -> None:
    lead = make_lead(crm)
    crm.add_follower(TENANT, ADMIN, lead.id, ALICE)
    followed = crm.get_lead(TENANT, ADMIN, lead.id)
    assert can_view_lead(_viewer(ALICE), followed, None)
    assert not can_change_lead(_viewer(ALICE), followed, None)
    assert not can_view_lead(_viewer(BOB), followed, None)


def test_demoted_manager_no_longer_sees_the_former_team(crm: CRM, world: World) -> None:
    crm.change_role(TENANT, ADMIN, BOB, Role.MANAGER)
    crm.set_manager(TENANT, ADMIN, ALICE, BOB)
    assert crm.get_account(TENANT, BOB, world.account).id == world.account
    crm.change_role(TENANT, ADMIN, BOB, Role.MEMBER)
    with pytest.raises(AccessDenied):
        crm.get_account(TENANT, BOB, world.account)
