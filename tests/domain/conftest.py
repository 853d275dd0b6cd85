"""Fixtures of the domain suite: a fake database, a hand-moved clock, a CRM with three users."""

from __future__ import annotations

import pytest

from domain.services import CRM
from tests.domain.fakes import FakeClock, FakeDatabase
from tests.domain.people import ADMIN, ALICE, BOB, OTHER_TENANT, TENANT
from tests.domain.world import World, build_world

__all__ = ["ADMIN", "ALICE", "BOB", "OTHER_TENANT", "TENANT"]


@pytest.fixture
def database() -> FakeDatabase:
    return FakeDatabase()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def crm(database: FakeDatabase, clock: FakeClock) -> CRM:
    service = CRM(database.uow, clock)
    service.register_user(TENANT, ADMIN, display_name="Ada Admin", email="ada@example.com")
    service.register_user(TENANT, ALICE, display_name="Alice Seller", email="alice@example.com")
    service.register_user(TENANT, BOB, display_name="Bob Seller", email="bob@example.com")
    return service


@pytest.fixture
def world(crm: CRM) -> World:
    return build_world(crm)
