"""Portfolios inside one tenant: a member sees and changes nothing of a colleague's accounts,
through any command, verb or search; following a lead opens that lead, read only, and no more.
"""

from __future__ import annotations

from typing import Any

from cards import verbs
from storage.database import Database
from tests.bot.conftest import ALICE, BOB, CAROL, Service
from tests.support.cards import action_data, has_action, texts
from tests.trust.conftest import tenant_rows
from tests.trust.sweep import Prober, Target, create_target, target_of


def _touching(database: Database, tenant_id: str, ids: tuple[str, ...]) -> dict[str, Any]:
    """Every row of the tenant that mentions one of ``ids``: the records and what hangs off
    them (history, followers, comments, relationships pointing at them)."""
    return {
        table: sorted((row for row in rows if any(i in repr(row) for i in ids)), key=repr)
        for table, rows in tenant_rows(database, tenant_id).items()
    }


async def _portfolio(service: Service) -> tuple[Target, Target]:
    """Carol (the first user, so the admin) set up; Alice's account with two leads."""
    await service.say("help", user=CAROL)
    target = await create_target(
        service,
        ALICE,
        service.tenant_id,
        title="Zeta secret expansion",
        account="Zeta Corp",
        contact="Zora Hidden",
    )
    await service.say("new lead Zeta second phase for Zeta Corp", user=ALICE)
    await service.say("help", user=BOB)
    return target, target_of(service.runtime.database, service.tenant_id, "Zeta second phase")


async def test_a_member_sees_and_changes_nothing_of_another_members_portfolio(
    service: Service, database: Database
) -> None:
    target, second = await _portfolio(service)
    own = await create_target(
        service,
        BOB,
        service.tenant_id,
        title="Bob own renewal",
        account="Bobcat Ltd",
        contact="Bert Own",
    )
    ids = (*target.ids, second.lead_id)
    before = _touching(database, service.tenant_id, ids)
    assert before["history"]
    assert before["comments"]
    bob = Prober(service, BOB, service.tenant_id)
    await bob.sweep(target, own)
    await bob.sweep(second)
    assert len(bob.answers) > 150
    assert bob.leaks(target) == []
    assert bob.leaks(second) == []
    after = _touching(database, service.tenant_id, ids)
    changed = [table for table in before if before[table] != after[table]]
    assert changed == [], {table: (before[table], after[table]) for table in changed}


async def test_a_follower_reads_that_lead_only_and_cannot_change_it(
    service: Service, database: Database
) -> None:
    target, second = await _portfolio(service)
    alice_card = await service.press(verbs.LEAD_SHOW, {verbs.LEAD_ID: target.lead_id}, user=ALICE)
    await service.press(
        verbs.LEAD_ADD_FOLLOWER,
        {
            **action_data(alice_card, verbs.LEAD_ADD_FOLLOWER),
            verbs.IN_FOLLOWER_USER_ID: BOB.aad_object_id,
        },
        user=ALICE,
    )
    target = target_of(database, service.tenant_id, target.lead_title)
    before = _touching(database, service.tenant_id, (*target.ids, second.lead_id))

    seen = await service.press(verbs.LEAD_SHOW, {verbs.LEAD_ID: target.lead_id}, user=BOB)
    assert target.lead_title in texts(seen)
    for verb in (verbs.LEAD_CHANGE_STAGE, verbs.LEAD_WIN, verbs.LEAD_LOSE, verbs.LEAD_DUPLICATE):
        assert not has_action(seen, verb), verb

    bob = Prober(service, BOB, service.tenant_id)
    lead_data = {verbs.LEAD_ID: target.lead_id, verbs.VERSION: target.lead_version}
    for verb, extra in (
        (verbs.LEAD_CHANGE_STAGE, {verbs.IN_STAGE_ID: target.stage_ids[-2]}),
        (verbs.LEAD_WIN, {}),
        (verbs.LEAD_LOSE, {verbs.IN_REASON: "follower says so"}),
        (verbs.LEAD_DISQUALIFY, {}),
        (verbs.LEAD_ADD_NEW_PARTICIPANT, {verbs.IN_NEW_NAME: "Follower Friend"}),
        (verbs.LEAD_REMOVE_PARTICIPANT, {verbs.IN_REMOVE_CONTACT_ID: target.contact_id}),
        (verbs.LEAD_DUPLICATE, {verbs.IN_DUPLICATE_TITLE: "Follower copy"}),
    ):
        refused = await bob.press(verb, {**lead_data, **extra})
        assert "can't" in texts(refused) or "access" in texts(refused).lower(), verb
    assert _touching(database, service.tenant_id, (*target.ids, second.lead_id)) == before

    account = await bob.press(verbs.ACCOUNT_SHOW, {verbs.ACCOUNT_ID: target.account_id})
    assert not has_action(account, verbs.ACCOUNT_CLASSIFY)
    assert second.lead_title not in texts(account)
    await bob.say(f"account {target.account_name}")
    await bob.press(verbs.LEAD_SHOW, {verbs.LEAD_ID: second.lead_id})
    await bob.say(f"lead {second.lead_number}")
    await bob.say(f"find {target.account_name}")
    await bob.search(target.account_name)
    # The lead's own card may name its account; nothing else of the account may show.
    hidden = (second.lead_title, target.contact_email)
    for request, answer in bob.answers:
        shown = str(answer)
        assert not any(word in shown for word in hidden), request
    assert not any(
        has_action(answer, verbs.ACCOUNT_ADD_CONTACT)
        for _request, answer in bob.answers
        if isinstance(answer, dict) and answer.get("type") == "AdaptiveCard"
    )
