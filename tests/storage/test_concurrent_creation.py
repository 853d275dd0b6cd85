"""People creating leads at the same moment in one tenant all succeed, each with its own
number: the lead-number race is retried, never shown to the user as a conflict."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from domain.services import CRM
from tests.storage.conftest import ALICE, BOB, TENANT


def test_concurrent_new_leads_all_succeed_with_distinct_numbers(crm: CRM) -> None:
    def create(index: int) -> int:
        actor = ALICE if index % 2 else BOB
        return crm.create_lead(TENANT, actor, title=f"Deal {index}").number

    with ThreadPoolExecutor(max_workers=8) as pool:
        numbers = list(pool.map(create, range(40)))
    assert sorted(numbers) == list(range(1, 41))
