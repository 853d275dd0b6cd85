"""Tenants: the allow-list keeps other organisations out, and no tenant reaches another's data."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from storage.database import Database
from tests.bot.conftest import ALICE, BOB, Service, settings_for
from tests.support.activities import Person
from tests.support.cards import texts
from tests.support.connector import StandInConnector
from tests.trust.conftest import Running, row_counts, run_service, tenant_rows
from tests.trust.sweep import Prober, create_target

ALLOWED = "tenant-allowed"
OUTSIDER = "tenant-outsider"
TENANT_A = "tenant-a-attacker"
TENANT_B = "tenant-b-victim"
MALLORY = Person("aad-mallory", "Mallory Member", "mallory@fabrikam.example")


@pytest.fixture
async def allow_listed(database: Database, connector: StandInConnector) -> AsyncIterator[Service]:
    running: Running = await run_service(
        settings_for(database, allowed_tenants=frozenset({ALLOWED})), connector, OUTSIDER
    )
    yield running.service
    await running.stop()


async def test_a_tenant_outside_the_allow_list_is_refused_everywhere_and_nothing_is_stored(
    allow_listed: Service, database: Database
) -> None:
    # The records an outsider will aim at, made by a user of the allowed tenant.
    target = await create_target(
        allow_listed,
        ALICE,
        ALLOWED,
        title="Allowed deal",
        account="Allowed Co",
        contact="Ana Insider",
    )
    before = row_counts(database)
    outsider = Prober(allow_listed, ALICE, OUTSIDER)
    await outsider.sweep(target)
    assert len(outsider.answers) > 80
    for request, answer in outsider.answers:
        if request.startswith("search"):
            continue  # the refusal is an invoke answer, checked below for leaks only
        shown = texts(answer).lower()
        assert "organisation" in shown or "organization" in shown, request
    assert outsider.leaks(target) == []
    after = row_counts(database)
    assert after == before, {k: (before[k], after[k]) for k in before if before[k] != after[k]}
    for table in ("users", "conversation_references", "processed_activities", "history"):
        assert tenant_rows(database, OUTSIDER).get(table, []) == [], table


async def test_nothing_of_another_tenant_can_be_seen_or_changed_through_any_way_in(
    service: Service, database: Database
) -> None:
    victim = await create_target(
        service,
        BOB,
        TENANT_B,
        title="Bravo secret merger",
        account="Bravo Holdings",
        contact="Beatrix Quill",
    )
    own = await create_target(
        service,
        MALLORY,
        TENANT_A,
        title="Alpha own deal",
        account="Alpha Works",
        contact="Arthur Own",
    )
    before = tenant_rows(database, TENANT_B)
    assert before["history"], "the victim's changes are in their history"
    attacker = Prober(service, MALLORY, TENANT_A)
    await attacker.sweep(victim, own)
    assert len(attacker.answers) > 100
    assert attacker.leaks(victim) == []
    after = tenant_rows(database, TENANT_B)
    changed = [table for table in before if before[table] != after[table]]
    assert changed == [], changed
