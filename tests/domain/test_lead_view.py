"""The card that answers a change is built from what that change loaded, and only then."""

from __future__ import annotations

import dataclasses

import pytest

from domain.errors import AccessDenied
from domain.services import CRM
from tests.domain.factories import make_lead
from tests.domain.fakes import FakeDatabase
from tests.domain.people import ADMIN, ALICE, BOB, TENANT
from tests.domain.world import World


def _stages(crm: CRM, world: World) -> list[str]:
    """The stages of the lead's own pipeline."""
    return [stage.id for stage in crm.lead_view(TENANT, ALICE, world.lead).pipeline.stages]


def _rename_behind_our_back(database: FakeDatabase, lead_id: str, title: str) -> None:
    """Someone else's commit, straight into the store: visible to any fresh read."""
    stored = database.store(TENANT).leads[lead_id]
    database.store(TENANT).leads[lead_id] = dataclasses.replace(stored, title=title)


def test_the_view_after_a_change_is_the_view_a_fresh_read_gives(crm: CRM, world: World) -> None:
    changed = crm.change_stage(TENANT, ALICE, world.lead, _stages(crm, world)[1])
    answered = crm.lead_view(TENANT, ALICE, world.lead, changed=changed)
    fresh = crm.lead_view(TENANT, ALICE, world.lead)
    assert answered == fresh
    assert answered.stage.id == _stages(crm, world)[1]
    assert answered.viewer is not None
    assert answered.viewer.user_id == ALICE


def test_the_view_after_a_change_reuses_what_the_change_loaded(
    crm: CRM, world: World, database: FakeDatabase
) -> None:
    changed = crm.change_stage(TENANT, ALICE, world.lead, _stages(crm, world)[1])
    _rename_behind_our_back(database, world.lead, "Renamed meanwhile")
    answered = crm.lead_view(TENANT, ALICE, world.lead, changed=changed)
    assert answered.lead.title != "Renamed meanwhile"  # the lead as this change committed it
    assert crm.lead_view(TENANT, ALICE, world.lead).lead.title == "Renamed meanwhile"


def test_it_is_handed_over_once(crm: CRM, world: World, database: FakeDatabase) -> None:
    changed = crm.change_stage(TENANT, ALICE, world.lead, _stages(crm, world)[1])
    crm.lead_view(TENANT, ALICE, world.lead, changed=changed)
    _rename_behind_our_back(database, world.lead, "Renamed meanwhile")
    again = crm.lead_view(TENANT, ALICE, world.lead, changed=changed)
    assert again.lead.title == "Renamed meanwhile"


def test_someone_else_passing_the_changed_lead_gets_their_own_rights(
    crm: CRM, world: World
) -> None:
    """Bob cannot see Alice's lead: handing him her change must not hand him her viewer."""
    changed = crm.change_stage(TENANT, ALICE, world.lead, _stages(crm, world)[1])
    with pytest.raises(AccessDenied):
        crm.lead_view(TENANT, BOB, world.lead, changed=changed)


def test_a_change_that_was_not_committed_is_not_handed_over(
    crm: CRM, world: World, database: FakeDatabase
) -> None:
    """Same stage again: nothing to commit, so the view reads the store."""
    stage = crm.lead_view(TENANT, ALICE, world.lead).stage.id
    unchanged = crm.change_stage(TENANT, ALICE, world.lead, stage)
    _rename_behind_our_back(database, world.lead, "Renamed meanwhile")
    view = crm.lead_view(TENANT, ALICE, world.lead, changed=unchanged)
    assert view.lead.title == "Renamed meanwhile"


def test_a_later_change_replaces_the_earlier_one(
    crm: CRM, world: World, database: FakeDatabase
) -> None:
    first = crm.change_stage(TENANT, ALICE, world.lead, _stages(crm, world)[1])
    crm.change_stage(TENANT, ALICE, world.lead, _stages(crm, world)[2])
    _rename_behind_our_back(database, world.lead, "Renamed meanwhile")
    view = crm.lead_view(TENANT, ALICE, world.lead, changed=first)
    assert view.lead.title == "Renamed meanwhile"
    assert view.stage.id == _stages(crm, world)[2]


def _rename_pipeline_behind_our_back(database: FakeDatabase, pipeline_id: str, name: str) -> None:
    stored = database.store(TENANT).pipelines[pipeline_id]
    database.store(TENANT).pipelines[pipeline_id] = dataclasses.replace(stored, name=name)


def test_the_card_after_a_stage_change_reuses_the_pipeline_that_change_loaded(
    crm: CRM, world: World, database: FakeDatabase
) -> None:
    before = crm.lead_view(TENANT, ALICE, world.lead).pipeline
    changed = crm.change_stage(TENANT, ALICE, world.lead, _stages(crm, world)[2])
    _rename_pipeline_behind_our_back(database, before.id, "Renamed meanwhile")
    answered = crm.lead_view(TENANT, ALICE, world.lead, changed=changed)
    assert answered.pipeline.name == before.name
    assert answered.stage.id == _stages(crm, world)[2]
    assert crm.lead_view(TENANT, ALICE, world.lead).pipeline.name == "Renamed meanwhile"


def test_the_card_after_a_move_shows_the_new_pipeline_and_its_first_stage(
    crm: CRM, world: World
) -> None:
    moved = crm.move_lead_to_pipeline(TENANT, ALICE, world.lead, world.pipeline)
    answered = crm.lead_view(TENANT, ALICE, world.lead, changed=moved)
    assert answered.pipeline.id == world.pipeline
    assert answered.stage.id == answered.pipeline.stages[0].id
    assert answered == crm.lead_view(TENANT, ALICE, world.lead)


def test_a_pipeline_kept_by_another_change_is_not_used_for_a_different_lead(
    crm: CRM, world: World
) -> None:
    """ALICE moves one lead, then asks for a card of another: that card reads its own."""
    moved = crm.move_lead_to_pipeline(TENANT, ALICE, world.lead, world.pipeline)
    other = crm.create_lead(TENANT, ALICE, title="Second deal", account_id=world.account)
    view = crm.lead_view(TENANT, ALICE, other.id, changed=moved)
    assert view.pipeline.id == other.pipeline_id != world.pipeline


def test_the_card_answering_a_new_lead_is_built_from_what_creating_it_loaded(
    crm: CRM, world: World, database: FakeDatabase
) -> None:
    created = crm.create_lead(TENANT, ALICE, title="Brand new", account_id=world.account)
    answered = crm.lead_view(TENANT, ALICE, created.id, changed=created)
    assert answered == crm.lead_view(TENANT, ALICE, created.id)
    _rename_behind_our_back(database, created.id, "Renamed meanwhile")
    again = crm.create_lead(TENANT, ALICE, title="Second", account_id=world.account)
    _rename_behind_our_back(database, again.id, "Renamed meanwhile")
    assert crm.lead_view(TENANT, ALICE, again.id, changed=again).lead.title == "Second"
    assert crm.lead_view(TENANT, ALICE, again.id).lead.title == "Renamed meanwhile"


def test_a_new_lead_handed_to_someone_else_is_read_with_their_rights(
    crm: CRM, world: World
) -> None:
    created = crm.create_lead(TENANT, ALICE, title="Alice's", account_id=world.account)
    with pytest.raises(AccessDenied):
        crm.lead_view(TENANT, BOB, created.id, changed=created)


def test_the_accounts_people_come_with_the_view_of_whoever_may_pick_them(
    crm: CRM, world: World
) -> None:
    """Carla Contact, Pat and Sam work for Acme; the card's pickers offer them by name."""
    view = crm.lead_view(TENANT, ALICE, world.lead, account_people=2)
    assert view.account_people is not None
    assert [c.name for c in view.account_people] == ["Carla Contact", "Pat"]
    everyone = crm.lead_view(TENANT, ALICE, world.lead, account_people=50).account_people
    assert everyone is not None
    assert {c.id for c in everyone} == {world.contact, world.participant, world.spare_contact}
    # Not asked for: not read.
    assert crm.lead_view(TENANT, ALICE, world.lead).account_people is None
    # The card answering a change offers the same.
    changed = crm.change_stage(TENANT, ALICE, world.lead, _stages(crm, world)[1])
    answered = crm.lead_view(TENANT, ALICE, world.lead, changed=changed, account_people=50)
    assert answered.account_people == everyone


def test_the_accounts_people_are_not_offered_to_who_may_not_see_them(
    crm: CRM, world: World
) -> None:
    # A follower reads the lead but changes nothing: no pickers.
    crm.add_follower(TENANT, ALICE, world.lead, BOB)
    following = crm.lead_view(TENANT, BOB, world.lead, account_people=50)
    assert following.can_change is False
    assert following.account_people is None
    # An owner who is not responsible for the account works the deal without seeing the
    # account: its people are left to the query that lists only those they may see.
    owned = make_lead(crm, actor=ADMIN, account_id=world.account, title="Handed to Bob")
    crm.change_owner(TENANT, ADMIN, owned.id, BOB)
    view = crm.lead_view(TENANT, BOB, owned.id, account_people=50)
    assert view.can_change is True
    assert view.account_people is None
