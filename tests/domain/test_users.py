"""Users: registration, roles, managers and the last-admin rule."""

from __future__ import annotations

import pytest

from domain.errors import AccessDenied, InvalidInput, NotFound, RuleViolation
from domain.events import UserRegistered, UserUpdated
from domain.ids import UserId
from domain.services import CRM
from domain.users import Role
from tests.domain.fakes import FakeClock, FakeDatabase
from tests.domain.people import ADMIN, ALICE, BOB, OTHER_TENANT, TENANT

CAROL = UserId("aad-carol")


def test_first_user_of_a_tenant_becomes_admin_and_later_ones_members(crm: CRM) -> None:
    assert crm.get_user(TENANT, ADMIN).role is Role.ADMIN
    assert crm.get_user(TENANT, ALICE).role is Role.MEMBER
    assert crm.get_user(TENANT, BOB).role is Role.MEMBER


def test_first_user_of_another_tenant_is_its_admin(crm: CRM) -> None:
    assert crm.register_user(OTHER_TENANT, BOB, display_name="Bob").role is Role.ADMIN
    assert crm.get_user(TENANT, BOB).role is Role.MEMBER


def test_first_registration_sets_up_the_tenant(database: FakeDatabase, clock: FakeClock) -> None:
    crm = CRM(database.uow, clock)
    crm.register_user(TENANT, ADMIN, display_name="Ada")
    assert crm.get_settings(TENANT).other_label == "Other"
    (pipeline,) = crm.pipelines(TENANT)
    assert pipeline.is_default
    assert [s.key for s in pipeline.stages] == ["new", "qualified", "proposal", "negotiation"]
    crm.register_user(TENANT, ALICE, display_name="Alice")
    assert len(crm.pipelines(TENANT)) == 1


def test_registering_again_is_idempotent_and_updates_the_profile(
    crm: CRM, database: FakeDatabase
) -> None:
    before = len(database.events)
    again = crm.register_user(TENANT, ALICE, display_name="Alice Seller", email="alice@example.com")
    assert again.role is Role.MEMBER
    assert database.events[before:] == []
    renamed = crm.register_user(
        TENANT, ALICE, display_name="Alice Married", email="alice@new.example"
    )
    assert (renamed.display_name, renamed.email) == ("Alice Married", "alice@new.example")
    event = database.events[-1]
    assert isinstance(event, UserUpdated)
    assert {c.field for c in event.changes} == {"display_name", "email"}
    assert not any(isinstance(e, UserRegistered) for e in database.events[before:])


def test_registration_refuses_a_bad_email(crm: CRM) -> None:
    with pytest.raises(InvalidInput, match=r"input\.invalid_email"):
        crm.register_user(TENANT, CAROL, display_name="Carol", email="carol")
    with pytest.raises(NotFound):
        crm.get_user(TENANT, CAROL)


def test_admin_changes_roles(crm: CRM) -> None:
    assert crm.change_role(TENANT, ADMIN, ALICE, Role.MANAGER).role is Role.MANAGER
    assert crm.change_role(TENANT, ADMIN, ALICE, Role.ADMIN).role is Role.ADMIN
    assert crm.change_role(TENANT, ALICE, BOB, Role.MANAGER).role is Role.MANAGER


@pytest.mark.parametrize("role", [Role.MEMBER, Role.MANAGER])
def test_non_admin_cannot_change_roles(crm: CRM, role: Role) -> None:
    crm.change_role(TENANT, ADMIN, ALICE, role)
    with pytest.raises(AccessDenied, match=r"tenant\.access_denied"):
        crm.change_role(TENANT, ALICE, ALICE, Role.ADMIN)
    assert crm.get_user(TENANT, ALICE).role is role


@pytest.mark.parametrize("role", [Role.MEMBER, Role.MANAGER])
def test_last_admin_cannot_be_demoted(crm: CRM, role: Role) -> None:
    with pytest.raises(RuleViolation) as refused:
        crm.change_role(TENANT, ADMIN, ADMIN, role)
    assert refused.value.code == "user.last_admin"
    assert crm.get_user(TENANT, ADMIN).role is Role.ADMIN


def test_an_admin_can_step_down_once_there_is_another(crm: CRM) -> None:
    crm.change_role(TENANT, ADMIN, ALICE, Role.ADMIN)
    assert crm.change_role(TENANT, ADMIN, ADMIN, Role.MEMBER).role is Role.MEMBER
    with pytest.raises(RuleViolation, match=r"user\.last_admin"):
        crm.change_role(TENANT, ALICE, ALICE, Role.MEMBER)


def test_manager_gets_a_team(crm: CRM) -> None:
    crm.change_role(TENANT, ADMIN, BOB, Role.MANAGER)
    assert crm.set_manager(TENANT, ADMIN, ALICE, BOB).manager_id == BOB
    assert crm.set_manager(TENANT, ADMIN, ALICE, None).manager_id is None


def test_only_managers_and_admins_can_manage(crm: CRM) -> None:
    with pytest.raises(RuleViolation, match=r"user\.manager_not_manager"):
        crm.set_manager(TENANT, ADMIN, ALICE, BOB)
    assert crm.set_manager(TENANT, ADMIN, ALICE, ADMIN).manager_id == ADMIN


def test_nobody_manages_themselves(crm: CRM) -> None:
    crm.change_role(TENANT, ADMIN, BOB, Role.MANAGER)
    with pytest.raises(RuleViolation, match=r"user\.manager_self"):
        crm.set_manager(TENANT, ADMIN, BOB, BOB)


def test_only_admins_set_managers(crm: CRM) -> None:
    crm.change_role(TENANT, ADMIN, BOB, Role.MANAGER)
    with pytest.raises(AccessDenied):
        crm.set_manager(TENANT, BOB, ALICE, BOB)
    assert crm.get_user(TENANT, ALICE).manager_id is None


def test_unknown_manager_or_user_is_not_found(crm: CRM) -> None:
    with pytest.raises(NotFound, match=r"user\.not_found"):
        crm.set_manager(TENANT, ADMIN, ALICE, CAROL)
    with pytest.raises(NotFound, match=r"user\.not_found"):
        crm.change_role(TENANT, ADMIN, CAROL, Role.MANAGER)


def test_unregistered_actor_is_not_found(crm: CRM) -> None:
    with pytest.raises(NotFound, match=r"user\.not_found"):
        crm.create_account(TENANT, CAROL, name="Anything")
