"""A use case that fails midway leaves nothing half-written: no records, no events."""

from __future__ import annotations

import copy
from collections.abc import Callable

import pytest

from domain.errors import Conflict, InvalidInput
from domain.ids import TenantId
from domain.services import CRM, NewContact
from domain.statuses import LeadStatus
from tests.domain.factories import make_account, make_contact, make_lead
from tests.domain.fakes import FakeClock, FakeDatabase, FakeUnitOfWork, TenantStore
from tests.domain.people import ADMIN, ALICE, BOB, TENANT


def _snapshot(database: FakeDatabase) -> tuple[TenantStore, int]:
    store = copy.deepcopy(database.store(TENANT))
    return store, len(database.events)


def _assert_untouched(database: FakeDatabase, before: tuple[TenantStore, int]) -> None:
    store, events = before
    now = database.store(TENANT)
    for table in ("users", "settings", "pipelines", "accounts", "contacts", "leads"):
        assert getattr(now, table) == getattr(store, table), table
    assert set(now.comments) == set(store.comments)
    assert set(now.reminders) == set(store.reminders)
    assert len(database.events) == events


def test_new_participant_with_bad_email_creates_no_contact(
    crm: CRM, database: FakeDatabase
) -> None:
    account = make_account(crm)
    lead = make_lead(crm, account_id=account.id)
    before = _snapshot(database)
    with pytest.raises(InvalidInput, match=r"input\.invalid_email"):
        crm.add_new_participant(TENANT, ADMIN, lead.id, NewContact(name="Eve", email="eve@"))
    _assert_untouched(database, before)


def test_new_participant_refused_after_the_contact_was_built_leaves_no_contact(
    crm: CRM, database: FakeDatabase
) -> None:
    lead = make_lead(crm)
    before = _snapshot(database)
    with pytest.raises(InvalidInput, match=r"input\.too_long"):
        crm.add_new_participant(TENANT, ADMIN, lead.id, NewContact(name="Eve"), role="r" * 101)
    _assert_untouched(database, before)


def test_stale_version_changes_nothing(crm: CRM, database: FakeDatabase) -> None:
    contact = make_contact(crm)
    lead = make_lead(crm, contact_id=contact.id)
    crm.update_lead(TENANT, ADMIN, lead.id, title="Moved on")
    before = _snapshot(database)
    with pytest.raises(Conflict, match=r"lead\.conflict"):
        crm.win_lead(TENANT, ADMIN, lead.id, expected_version=lead.version)
    with pytest.raises(Conflict):
        crm.add_new_participant(
            TENANT, ADMIN, lead.id, NewContact(name="Eve"), expected_version=lead.version
        )
    _assert_untouched(database, before)


def test_refused_lost_reason_leaves_contact_statuses_alone(
    crm: CRM, database: FakeDatabase
) -> None:
    contact = make_contact(crm)
    lead = make_lead(crm, contact_id=contact.id)
    before = _snapshot(database)
    with pytest.raises(InvalidInput):
        crm.lose_lead(TENANT, ADMIN, lead.id, " ")
    _assert_untouched(database, before)


class RacingDatabase(FakeDatabase):
    """A database where a rival use case commits just before the next commit of ours."""

    def __init__(self) -> None:
        super().__init__()
        self.rival: Callable[[], object] | None = None

    def uow(self, tenant_id: TenantId) -> FakeUnitOfWork:
        return RacingUnitOfWork(self, tenant_id)


class RacingUnitOfWork(FakeUnitOfWork):
    def commit(self) -> None:
        assert isinstance(self.database, RacingDatabase)
        rival, self.database.rival = self.database.rival, None
        if rival is not None:
            rival()
        super().commit()


def test_concurrent_change_to_a_derived_record_rolls_back_the_whole_use_case() -> None:
    database, clock = RacingDatabase(), FakeClock()
    crm = CRM(database.uow, clock)
    for user in (ADMIN, ALICE, BOB):
        crm.register_user(TENANT, user, display_name=user)
    account = make_account(crm)
    contact = make_contact(crm, account_id=account.id)
    lead = make_lead(crm, contact_id=contact.id)
    database.rival = lambda: crm.update_contact(TENANT, ADMIN, contact.id, job_title="CEO")
    events = len(database.events)

    with pytest.raises(Conflict):
        crm.win_lead(TENANT, ADMIN, lead.id)

    assert crm.get_lead(TENANT, ADMIN, lead.id).status is LeadStatus.OPEN
    stored = crm.get_contact(TENANT, ADMIN, contact.id)
    assert stored.job_title == "CEO"
    assert stored.customer_status.value == "none"
    assert crm.get_account(TENANT, ADMIN, account.id).customer_status.value == "none"
    assert [e.name for e in database.events[events:]] == ["contact.updated"]
