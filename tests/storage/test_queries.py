"""The read side: filters, keyset pages, search, summaries and history, over real storage."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from domain.accounts import Classification
from domain.errors import AccessDenied, InvalidInput
from domain.ids import PipelineId, UserId
from domain.queries import (
    AccountFilter,
    ContactFilter,
    LeadFilter,
    LeadSummary,
    Page,
)
from domain.services import CRM
from domain.statuses import LeadStatus, ProspectStatus
from domain.users import Role
from storage.database import Database
from storage.queries import SqlQueries, encode_cursor
from tests.domain.fakes import FakeClock
from tests.storage.conftest import ADMIN, ALICE, BOB, TENANT, statements


@pytest.fixture
def queries(database: Database) -> SqlQueries:
    return database.queries(TENANT)


def all_pages(fetch: object, limit: int = 2) -> list[object]:
    """Walk every page; fails if a page repeats an item."""
    items: list[object] = []
    cursor = None
    while True:
        page: Page[object] = fetch(limit=limit, cursor=cursor)  # type: ignore[operator]
        assert len(page.items) <= limit
        items.extend(page.items)
        if page.next_cursor is None:
            return items
        cursor = page.next_cursor


def test_accounts_filter_by_tag_classification_responsible_and_prefix(
    crm: CRM, queries: SqlQueries
) -> None:
    acme = crm.create_account(TENANT, ADMIN, name="Acme", tags=["VIP"])
    crm.create_account(TENANT, ADMIN, name="acorn", classification=Classification.CLIENT)
    crm.create_account(TENANT, ALICE, name="Beta", tags=["vip"])
    admin = queries.viewer(ADMIN)
    names = lambda page: [a.name for a in page.items]  # noqa: E731 - local shorthand
    assert names(queries.accounts(admin)) == ["Acme", "acorn", "Beta"]
    assert names(queries.accounts(admin, AccountFilter(tag="vip"))) == ["Acme", "Beta"]
    assert names(queries.accounts(admin, AccountFilter(name_prefix="AC"))) == ["Acme", "acorn"]
    assert names(queries.accounts(admin, AccountFilter(classification=Classification.CLIENT))) == [
        "acorn"
    ]
    assert names(queries.accounts(admin, AccountFilter(responsible_id=ALICE))) == ["Beta"]
    assert names(queries.accounts(admin, AccountFilter(tag="vip", responsible_id=ALICE))) == [
        "Beta"
    ]
    # Alice sees her own portfolio only.
    assert names(queries.accounts(queries.viewer(ALICE))) == ["Beta"]
    assert queries.accounts(admin).items[0].id == acme.id


def test_accounts_by_characteristic_and_interest(crm: CRM, queries: SqlQueries) -> None:
    key = crm.add_characteristic(TENANT, ADMIN, "Public sector")
    area = crm.add_interest_area(TENANT, ADMIN, "Cloud")
    account = crm.create_account(TENANT, ADMIN, name="Gov")
    crm.create_account(TENANT, ADMIN, name="Other")
    crm.set_account_characteristics(TENANT, ADMIN, account.id, [key])
    crm.set_account_interests(TENANT, ADMIN, account.id, interests=[area], disinterests=[])
    admin = queries.viewer(ADMIN)
    assert [a.name for a in queries.accounts(admin, AccountFilter(characteristic=key)).items] == [
        "Gov"
    ]
    assert [a.name for a in queries.accounts(admin, AccountFilter(interest=area)).items] == ["Gov"]


def test_renaming_an_account_keeps_its_tag_index_in_order(crm: CRM, queries: SqlQueries) -> None:
    zed = crm.create_account(TENANT, ADMIN, name="Zed", tags=["vip"])
    crm.create_account(TENANT, ADMIN, name="Mid", tags=["vip"])
    crm.update_account(TENANT, ADMIN, zed.id, name="Aardvark")
    page = queries.accounts(queries.viewer(ADMIN), AccountFilter(tag="vip"))
    assert [a.name for a in page.items] == ["Aardvark", "Mid"]


def test_keyset_pages_cover_every_row_once(crm: CRM, queries: SqlQueries) -> None:
    for name in ["Delta", "alpha", "Charlie", "bravo", "Echo"]:
        crm.create_account(TENANT, ADMIN, name=name, tags=["t"])
    admin = queries.viewer(ADMIN)
    walked = all_pages(lambda **kw: queries.accounts(admin, AccountFilter(tag="t"), **kw))
    assert [a.name for a in walked] == ["alpha", "bravo", "Charlie", "Delta", "Echo"]  # type: ignore[attr-defined]


def test_contacts_filters(crm: CRM, queries: SqlQueries) -> None:
    acme = crm.create_account(TENANT, ADMIN, name="Acme")
    carol = crm.create_contact(
        TENANT, ADMIN, name="Carol", email="c.boss@acme.com", account_id=acme.id, tags=["cfo"]
    )
    crm.create_contact(TENANT, ADMIN, name="Dan", email="dan@else.com")
    crm.create_lead(TENANT, ADMIN, title="Deal", contact_id=carol.id)
    admin = queries.viewer(ADMIN)
    names = lambda page: [c.name for c in page.items]  # noqa: E731 - local shorthand
    assert names(queries.contacts(admin, ContactFilter(tag="CFO"))) == ["Carol"]
    assert names(queries.contacts(admin, ContactFilter(account_id=acme.id))) == ["Carol"]
    assert names(queries.contacts(admin, ContactFilter(text_prefix="c.B"))) == ["Carol"]
    assert names(queries.contacts(admin, ContactFilter(text_prefix="da"))) == ["Dan"]
    current = ContactFilter(prospect_status=ProspectStatus.CURRENT)
    assert names(queries.contacts(admin, current)) == ["Carol"]
    assert queries.contacts(admin, ContactFilter(tag="cfo")).items[0].account_name == "Acme"


def test_leads_filters_and_newest_first(crm: CRM, queries: SqlQueries) -> None:
    acme = crm.create_account(TENANT, ADMIN, name="Acme")
    carol = crm.create_contact(TENANT, ADMIN, name="Carol", account_id=acme.id)
    first = crm.create_lead(TENANT, ADMIN, title="First", account_id=acme.id, tags=["x"])
    second = crm.create_lead(TENANT, ALICE, title="Second", amount="5.00")
    crm.add_follower(TENANT, ADMIN, first.id, BOB)
    crm.add_participant(TENANT, ADMIN, first.id, carol.id)
    crm.win_lead(TENANT, ALICE, second.id)
    pipeline = crm.pipelines(TENANT)[0]
    admin = queries.viewer(ADMIN)
    numbers = lambda where: [  # noqa: E731 - local shorthand
        lead.number for lead in queries.leads(admin, where).items
    ]
    assert numbers(LeadFilter()) == [second.number, first.number]
    assert numbers(LeadFilter(tag="X")) == [first.number]
    assert numbers(LeadFilter(follower_id=BOB)) == [first.number]
    assert numbers(LeadFilter(participant_id=carol.id)) == [first.number]
    assert numbers(LeadFilter(owner_id=ALICE)) == [second.number]
    assert numbers(LeadFilter(status=LeadStatus.WON)) == [second.number]
    assert numbers(LeadFilter(account_id=acme.id)) == [first.number]
    assert numbers(LeadFilter(pipeline_id=pipeline.id)) == [second.number, first.number]
    assert numbers(LeadFilter(stage_id=pipeline.stages[0].id, tag="x", follower_id=BOB)) == [
        first.number
    ]
    summary = queries.leads(admin, LeadFilter(owner_id=ALICE)).items[0]
    assert (summary.amount, summary.status) == (Decimal("5.00"), LeadStatus.WON)


def test_my_leads_lists_open_before_closed(crm: CRM, queries: SqlQueries) -> None:
    old_open = crm.create_lead(TENANT, ALICE, title="Old open")
    closed = crm.create_lead(TENANT, ALICE, title="Closed")
    followed = crm.create_lead(TENANT, ADMIN, title="Followed")
    crm.create_lead(TENANT, ADMIN, title="Not mine")
    crm.add_follower(TENANT, ADMIN, followed.id, ALICE)
    crm.lose_lead(TENANT, ALICE, closed.id, "Too expensive")
    alice = queries.viewer(ALICE)
    for limit in (1, 2, 3, 10):
        walked = all_pages(lambda **kw: queries.my_leads(alice, **kw), limit=limit)
        assert [lead.title for lead in walked] == ["Followed", "Old open", "Closed"]  # type: ignore[attr-defined]
    assert old_open.number < followed.number


def test_stale_leads_are_open_and_idle(crm: CRM, clock: FakeClock, queries: SqlQueries) -> None:
    idle = crm.create_lead(TENANT, ADMIN, title="Idle")
    busy = crm.create_lead(TENANT, ADMIN, title="Busy")
    won = crm.create_lead(TENANT, ADMIN, title="Won")
    crm.win_lead(TENANT, ADMIN, won.id)
    clock.advance(days=20)
    crm.comment(TENANT, ADMIN, busy.id, "still talking")
    clock.advance(days=1)
    page = queries.stale_leads(queries.viewer(ADMIN), idle_days=14, now=clock.now())
    assert [lead.id for lead in page.items] == [idle.id]


def test_pipeline_summary_counts_open_leads_per_stage(crm: CRM, queries: SqlQueries) -> None:
    pipeline = crm.pipelines(TENANT)[0]
    crm.create_lead(TENANT, ADMIN, title="A", amount="10.50")
    b = crm.create_lead(TENANT, ADMIN, title="B", amount="1.25")
    crm.create_lead(TENANT, ADMIN, title="C")
    c = crm.create_lead(TENANT, ADMIN, title="D", amount="99")
    crm.change_stage(TENANT, ADMIN, b.id, pipeline.stages[1].id)
    crm.lose_lead(TENANT, ADMIN, c.id, "no")
    summary = queries.pipeline_summary(queries.viewer(ADMIN), PipelineId(pipeline.id))
    totals = [(t.stage_id, t.count, t.amount) for t in summary.stages]
    assert totals == [
        (pipeline.stages[0].id, 2, Decimal("10.50")),
        (pipeline.stages[1].id, 1, Decimal("1.25")),
    ]


def test_find_searches_names_titles_emails_and_lead_numbers(crm: CRM, queries: SqlQueries) -> None:
    globex = crm.create_account(TENANT, ADMIN, name="Globex")
    crm.create_contact(TENANT, ADMIN, name="Hank", email="globe.trotter@x.com")
    lead = crm.create_lead(TENANT, ADMIN, title="GLOBAL rollout", account_id=globex.id)
    admin = queries.viewer(ADMIN)
    found = queries.find(admin, "glob")
    assert [a.name for a in found.accounts] == ["Globex"]
    assert [c.name for c in found.contacts] == ["Hank"]
    assert [(lead.title, lead.account_name) for lead in found.leads] == [
        ("GLOBAL rollout", "Globex")
    ]
    by_number = queries.find(admin, f"#{lead.number}")
    assert [item.id for item in by_number.leads] == [lead.id]
    assert by_number.contacts == ()
    assert queries.find(admin, "   ").leads == ()


def test_found_leads_are_the_newest_matches_each_viewer_may_see(
    crm: CRM, queries: SqlQueries
) -> None:
    """More matches than shown: the newest first, and a seller's own only (SQLite picks them
    from the title index before reading any row: the same answer either way)."""
    made = [
        crm.create_lead(TENANT, ALICE if n % 2 else BOB, title=f"Fleet {n:02d}") for n in range(12)
    ]
    crm.create_lead(TENANT, ADMIN, title="Flight school")  # starts like them, newest of all
    crm.create_lead(TENANT, ADMIN, title="Other deal")
    newest = sorted(made, key=lambda lead: lead.number, reverse=True)
    admin = queries.find(queries.viewer(ADMIN), "fleet", limit=5).leads
    assert [lead.id for lead in admin] == [lead.id for lead in newest[:5]]
    assert [lead.title for lead in queries.find(queries.viewer(ADMIN), "fl", limit=2).leads] == [
        "Flight school",
        newest[0].title,
    ]
    alices = [lead for lead in newest if lead.owner_id == ALICE]
    seen = queries.find(queries.viewer(ALICE), "fleet", limit=4).leads
    assert [lead.id for lead in seen] == [lead.id for lead in alices[:4]]
    assert all(lead.account_name is None for lead in seen)


# Columns a list row never shows: large or JSON on every row, and decoded for nothing.
_NOT_LISTED = re.compile(
    r"\b(relationships|documents|custom_fields|characteristics|interests|disinterests"
    r"|participants|follower_ids|description|lost_reason)\b"
)


def test_lists_and_search_read_only_what_a_row_shows(
    crm: CRM, database: Database, queries: SqlQueries
) -> None:
    """Every list statement names the columns it shows: ``select(table)`` brought an account's
    documents and relationships, a lead's participants and description along for every row."""
    acme = crm.create_account(TENANT, ADMIN, name="Acme", tags=["vip"])
    crm.create_contact(TENANT, ADMIN, name="Acme buyer", email="buyer@acme.test")
    crm.create_lead(TENANT, ADMIN, title="Acme renewal", account_id=acme.id, tags=["vip"])
    admin, alice = queries.viewer(ADMIN), queries.viewer(ALICE)
    with statements(database) as sent:
        for viewer in (admin, alice):
            found = queries.find(viewer, "acme")
            queries.accounts(viewer, AccountFilter(tag="vip"))
            queries.contacts(viewer, ContactFilter(text_prefix="buyer"))
            queries.leads(viewer, LeadFilter(tag="vip"))
            queries.my_leads(viewer)
            queries.stale_leads(viewer, idle_days=0, now=datetime.now(UTC))
    assert [lead.title for lead in found.leads] == []  # Alice sees none of the admin's
    columns = [part for sql in sent for part in re.findall(r"SELECT\s(.*?)\sFROM", sql, re.S)]
    assert len(columns) >= 12
    assert [part for part in columns if _NOT_LISTED.search(part)] == []
    shown = queries.find(admin, "acme")
    assert [a.tags for a in shown.accounts] == [frozenset({"vip"})]
    assert [(lead.title, lead.account_name) for lead in shown.leads] == [("Acme renewal", "Acme")]


def test_users_by_name_prefix(crm: CRM, queries: SqlQueries) -> None:
    assert [u.id for u in queries.users(name_prefix="al").items] == [ALICE]
    walked = all_pages(queries.users, limit=1)
    assert [u.display_name for u in walked] == ["Ada Admin", "Alice Seller", "Bob Seller"]  # type: ignore[attr-defined]


def test_viewer_scope_includes_a_managers_team(crm: CRM, queries: SqlQueries) -> None:
    crm.change_role(TENANT, ADMIN, ALICE, Role.MANAGER)
    crm.set_manager(TENANT, ADMIN, BOB, ALICE)
    viewer = queries.viewer(ALICE)
    assert viewer.scope == {ALICE, BOB}
    crm.create_lead(TENANT, BOB, title="Bob's")
    assert [lead.title for lead in queries.leads(viewer).items] == ["Bob's"]


def test_history_of_a_lead_newest_first_with_access_check(crm: CRM, queries: SqlQueries) -> None:
    lead = crm.create_lead(TENANT, ADMIN, title="Deal")
    crm.update_lead(TENANT, ADMIN, lead.id, title="Deal 2")
    crm.comment(TENANT, ADMIN, lead.id, "hi")
    entries = all_pages(
        lambda **kw: queries.history(queries.viewer(ADMIN), "lead", lead.id, **kw), limit=2
    )
    assert [e.event_name for e in entries] == [  # type: ignore[attr-defined]
        "lead.comment_added",
        "lead.updated",
        "lead.created",
    ]
    assert {e.actor_id for e in entries} == {ADMIN}  # type: ignore[attr-defined]
    with pytest.raises(AccessDenied):
        queries.history(queries.viewer(BOB), "lead", lead.id)


def test_cursor_from_another_list_is_refused(crm: CRM, queries: SqlQueries) -> None:
    for name in ("a", "b"):
        crm.create_account(TENANT, ADMIN, name=name)
    admin = queries.viewer(ADMIN)
    cursor = queries.accounts(admin, limit=1).next_cursor
    assert cursor is not None
    with pytest.raises(InvalidInput):
        queries.leads(admin, cursor=cursor)
    with pytest.raises(InvalidInput):
        queries.leads(admin, cursor="not a cursor")
    # A contacts cursor is a phase and the last row's two sort values, or the bare phase.
    short = encode_cursor("contacts", ["name", "a"])
    with pytest.raises(InvalidInput):
        queries.contacts(admin, cursor=short)


def test_queries_are_bound_to_their_tenant(crm: CRM, database: Database) -> None:
    crm.create_lead(TENANT, ADMIN, title="Deal")
    crm.register_user(TENANT.__class__("tenant-b"), UserId("aad-b"), display_name="B")
    other = database.queries(TENANT.__class__("tenant-b"))
    page: Page[LeadSummary] = other.leads(other.viewer(UserId("aad-b")))
    assert page.items == ()


def test_member_lists_driven_by_index_tables_apply_access(crm: CRM, queries: SqlQueries) -> None:
    """The list's own index table and the access rule's EXISTS are the same tables: they must
    not be confused with one another."""
    visible = crm.create_account(TENANT, ALICE, name="Mine", tags=["vip"])
    crm.create_account(TENANT, ADMIN, name="Not mine", tags=["vip"])
    own = crm.create_lead(TENANT, ALICE, title="Own", tags=["hot"])
    followed = crm.create_lead(TENANT, ADMIN, title="Followed", tags=["hot"])
    crm.create_lead(TENANT, ADMIN, title="Hidden", tags=["hot"])
    crm.add_follower(TENANT, ADMIN, followed.id, ALICE)
    alice = queries.viewer(ALICE)
    assert [a.id for a in queries.accounts(alice, AccountFilter(tag="vip")).items] == [visible.id]
    assert [a.id for a in queries.accounts(alice, AccountFilter(responsible_id=ALICE)).items] == [
        visible.id
    ]
    hot = [lead.id for lead in queries.leads(alice, LeadFilter(tag="hot")).items]
    assert hot == [followed.id, own.id]
    following = [lead.id for lead in queries.leads(alice, LeadFilter(follower_id=ALICE)).items]
    assert following == [followed.id, own.id]


def test_text_prefix_lists_name_matches_then_email_matches(crm: CRM, queries: SqlQueries) -> None:
    for name, email in [
        ("Mia Stone", "mia@x.com"),
        ("Zoe Park", "mi.zoe@x.com"),
        ("Milo Ray", None),
        ("Abe Cole", "mike.abe@x.com"),
        ("Bob Other", "bob@x.com"),
    ]:
        crm.create_contact(TENANT, ADMIN, name=name, email=email)
    admin = queries.viewer(ADMIN)
    expected = ["Mia Stone", "Milo Ray", "Zoe Park", "Abe Cole"]
    for limit in (1, 2, 3, 4, 10):
        walked = all_pages(
            lambda **kw: queries.contacts(admin, ContactFilter(text_prefix="MI"), **kw),
            limit=limit,
        )
        assert [c.name for c in walked] == expected  # type: ignore[attr-defined]
