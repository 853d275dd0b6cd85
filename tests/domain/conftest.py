from __future__ import annotations

import pytest

from domain.ids import TenantId, UserId
from domain.services import CRM
from tests.domain.fakes import FakeClock, FakeDatabase

TENANT = TenantId("tenant-a")
OTHER_TENANT = TenantId("tenant-b")
ADMIN = UserId("aad-admin")
ALICE = UserId("aad-alice")
BOB = UserId("aad-bob")


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
