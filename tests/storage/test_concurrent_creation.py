"""People creating leads at the same moment in one tenant all succeed, each with its own
number: the lead-number race is retried, never shown to the user as a conflict."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from domain.services import CRM
from storage.database import Database
from tests.storage.conftest import ALICE, BOB, TENANT
from tests.storage.test_unit_of_work import make_lead


def create_at_once(crm: CRM, count: int) -> list[int]:
    def create(index: int) -> int:
        actor = ALICE if index % 2 else BOB
        return crm.create_lead(TENANT, actor, title=f"Deal {index}").number

    with ThreadPoolExecutor(max_workers=8) as pool:
        return sorted(pool.map(create, range(count)))


def test_concurrent_new_leads_all_succeed_with_distinct_numbers(crm: CRM) -> None:
    assert create_at_once(crm, 40) == list(range(1, 41))


def test_concurrent_new_leads_after_an_import_without_the_counter(
    crm: CRM, database: Database
) -> None:
    """The first creations race to make the counter row from the highest imported number."""
    with database.uow(TENANT) as uow:
        pipeline = uow.pipelines.default()
        assert pipeline is not None
        uow.leads.add(make_lead(pipeline, number=100))
        uow.commit()
    assert create_at_once(crm, 24) == list(range(101, 125))
