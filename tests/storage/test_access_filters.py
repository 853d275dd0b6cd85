"""The SQL access filters agree with ``domain.access`` on random portfolios.

Seeded, so a failure replays exactly; seeds rather than hypothesis because one world is
checked for many viewers, and every rule branch must show up in a handful of worlds.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime
from functools import partial

import pytest

from domain.access import Viewer, can_view_account, can_view_contact, can_view_lead
from domain.accounts import Account
from domain.common import Stamp
from domain.contacts import Contact
from domain.ids import TenantId, UserId
from domain.leads import Lead
from domain.settings import Pipeline
from domain.users import Role
from storage.database import Database

USERS = [UserId(f"u{i}") for i in range(4)]
STAMP = Stamp(actor_id=USERS[0], at=datetime(2026, 1, 5, tzinfo=UTC))


def random_world(
    rng: random.Random, tenant: TenantId
) -> tuple[list[Account], list[Contact], list[Lead], Pipeline]:
    """Small portfolios drawn so every branch of the rules occurs: shared and foreign
    responsibles, contacts with and without employer, leads followed, owned, with people."""
    pipeline = Pipeline.default(tenant, STAMP)
    accounts = [
        Account.create(
            tenant_id=tenant,
            name=f"A{i}",
            responsible_ids=rng.sample(USERS, rng.randint(1, 2)),
            stamp=STAMP,
        )
        for i in range(rng.randint(0, 6))
    ]
    contacts = [
        Contact.create(
            tenant_id=tenant,
            name=f"C{i}",
            account_id=rng.choice(accounts).id if accounts and rng.random() < 0.6 else None,
            stamp=Stamp(actor_id=rng.choice([*USERS, None]), at=STAMP.at),
        )
        for i in range(rng.randint(0, 8))
    ]
    leads = []
    for number in range(1, rng.randint(1, 10)):
        owner = rng.choice(USERS)
        lead = Lead.create(
            tenant_id=tenant,
            number=number,
            title=f"L{number}",
            owner_id=owner,
            pipeline=pipeline,
            account_id=rng.choice(accounts).id if accounts and rng.random() < 0.6 else None,
            contact_id=rng.choice(contacts).id if contacts and rng.random() < 0.5 else None,
            stamp=STAMP,
        )
        for contact in rng.sample(contacts, min(len(contacts), rng.randint(0, 2))):
            if not lead.involves(contact.id):
                lead.add_participant(contact.id, STAMP)
        for user in rng.sample(USERS, rng.randint(0, 2)):
            lead.add_follower(user, STAMP)
        if rng.random() < 0.3:
            lead.remove_follower(owner, STAMP)  # owners may stop following their own leads
        leads.append(lead)
    return accounts, contacts, leads, pipeline


def random_viewer(rng: random.Random) -> Viewer:
    me = rng.choice(USERS)
    scope = frozenset({me, *rng.sample(USERS, rng.randint(0, 2))})
    return Viewer(user_id=me, role=rng.choice(list(Role)), scope=scope)


def all_ids(fetch: object) -> list[str]:
    ids: list[str] = []
    cursor = None
    while True:
        page = fetch(limit=3, cursor=cursor)  # type: ignore[operator]
        ids.extend(item.id for item in page.items)
        cursor = page.next_cursor
        if cursor is None:
            return ids


@pytest.mark.parametrize("seed", range(12))
def test_sql_filters_agree_with_domain_access(database: Database, seed: int) -> None:
    rng = random.Random(seed)  # noqa: S311 - test data, not secrets
    tenant = TenantId(f"t-{seed}")
    accounts, contacts, leads, pipeline = random_world(rng, tenant)
    with database.uow(tenant) as uow:
        uow.pipelines.add(pipeline)
        for account in accounts:
            uow.accounts.add(account)
        for contact in contacts:
            uow.contacts.add(contact)
        for lead in leads:
            uow.leads.add(lead)
        uow.commit()
    by_id = {a.id: a for a in accounts}
    queries = database.queries(tenant)
    for _ in range(8):
        viewer = random_viewer(rng)
        expected_accounts = {a.id for a in accounts if can_view_account(viewer, a)}
        assert set(all_ids(partial(queries.accounts, viewer))) == expected_accounts

        expected_leads = {
            lead.id
            for lead in leads
            if can_view_lead(viewer, lead, by_id.get(lead.account_id) if lead.account_id else None)
        }
        assert set(all_ids(partial(queries.leads, viewer))) == expected_leads

        expected_contacts = {
            c.id
            for c in contacts
            if can_view_contact(
                viewer,
                c,
                by_id.get(c.account_id) if c.account_id else None,
                works_on_lead_with_contact=any(
                    lead.owner_id in viewer.scope and lead.involves(c.id) for lead in leads
                ),
            )
        }
        assert set(all_ids(partial(queries.contacts, viewer))) == expected_contacts
