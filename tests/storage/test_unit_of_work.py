"""The SQL unit of work keeps the promises of the in-memory fake, on a real database."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import Row, func, select

from domain.accounts import Account, Classification, Direction
from domain.common import Stamp
from domain.contacts import Contact
from domain.errors import Conflict
from domain.ids import AccountId, LeadId, RelationshipId, TenantId, UserId
from domain.leads import Comment, Lead, Reminder
from domain.services import CRM
from domain.settings import CustomFieldKind, Pipeline, RecordKind, TenantSettings
from domain.statuses import CustomerStatus, ProspectStatus
from domain.users import Role, User
from storage.database import Database
from storage.errors import StorageUnavailable
from storage.rows import HistoryRow, LeadFollowerRow, OutboxRow, metadata
from storage.uow import SqlUnitOfWork
from tests.domain.fakes import FakeClock
from tests.storage.conftest import ADMIN, ALICE, BOB, OTHER_TENANT, TENANT, statements

AT = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
STAMP = Stamp(actor_id=ADMIN, at=AT)


def count(database: Database, row: type[HistoryRow] | type[OutboxRow]) -> int:
    with database.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(row)) or 0)


def make_pipeline(tenant: TenantId = TENANT) -> Pipeline:
    return Pipeline.default(tenant, STAMP)


def make_lead(pipeline: Pipeline, *, number: int = 1, tenant: TenantId = TENANT) -> Lead:
    return Lead.create(
        tenant_id=tenant,
        number=number,
        title="Fleet renewal",
        owner_id=ADMIN,
        pipeline=pipeline,
        amount=Decimal("1234.50"),
        close_date=date(2026, 3, 1),
        tags=frozenset({"fleet"}),
        stamp=STAMP,
    )


def seed_lead(database: Database, tenant: TenantId = TENANT) -> Lead:
    pipeline = make_pipeline(tenant)
    lead = make_lead(pipeline, tenant=tenant)
    with database.uow(tenant) as uow:
        uow.pipelines.add(pipeline)
        uow.leads.add(lead)
        uow.commit()
    return lead


def test_every_aggregate_reads_back_equal_to_what_was_written(database: Database) -> None:
    user = User.register(
        tenant_id=TENANT,
        user_id=ADMIN,
        display_name="Ada",
        email="ada@example.com",
        first_of_tenant=True,
        stamp=STAMP,
    )
    settings = TenantSettings.create(TENANT, STAMP)
    settings.add_characteristic("Public sector", STAMP)
    settings.define_custom_field(
        label="Budget", kind=CustomFieldKind.NUMBER, applies_to=RecordKind.ACCOUNT, stamp=STAMP
    )
    pipeline = make_pipeline()
    account = Account.create(
        tenant_id=TENANT,
        name="Acme",
        classification=Classification.CLIENT,
        responsible_ids=[ADMIN],
        tags=frozenset({"vip"}),
        stamp=STAMP,
    )
    account.set_characteristics(
        ["public-sector"], catalog=frozenset({"public-sector"}), stamp=STAMP
    )
    account.add_document(title="Contract", url="https://example.com/c.pdf", stamp=STAMP)
    account.link(
        relationship_id=RelationshipId("r1"),
        other=AccountId("other"),
        reason="Agency",
        direction=Direction.OUTGOING,
        stamp=STAMP,
    )
    account.set_custom_fields({"budget": Decimal("12.5"), "since": date(2020, 1, 1)}, STAMP)
    contact = Contact.create(
        tenant_id=TENANT, name="Carol", email="carol@acme.com", account_id=account.id, stamp=STAMP
    )
    lead = make_lead(pipeline)
    lead.add_participant(contact.id, STAMP, role="CFO")
    comment = Comment.write(lead=lead, text="First call", mentions=(ADMIN,), stamp=STAMP)
    reminder = Reminder.schedule(
        lead=lead, assignee_id=ADMIN, due_at=AT + timedelta(days=1), text="Call", stamp=STAMP
    )
    with database.uow(TENANT) as uow:
        uow.users.add(user)
        uow.settings.add(settings)
        uow.pipelines.add(pipeline)
        uow.accounts.add(account)
        uow.contacts.add(contact)
        uow.leads.add(lead)
        uow.comments.add(comment)
        uow.reminders.add(reminder)
        uow.commit()

    with database.uow(TENANT) as uow:
        assert uow.users.get(ADMIN) == user
        assert uow.settings.get() == settings
        assert uow.pipelines.get(pipeline.id) == pipeline
        assert uow.accounts.get(account.id) == account
        assert uow.contacts.get(contact.id) == contact
        loaded = uow.leads.get(lead.id)
        assert loaded is not None
        # The comment moved the lead's activity on; compare the rest.
        assert loaded.last_activity_at == comment.created_at
        assert loaded == lead
        # Column types apply to the Core rows too: aware UTC datetimes, JSON as lists.
        assert loaded.created_at is not None
        assert loaded.created_at.utcoffset() == timedelta(0)
        assert uow.comments.latest(lead.id, 5) == [comment]
        assert uow.reminders.get(reminder.id) == reminder
    assert user.version == 1
    assert lead.events == []


def test_no_column_is_hidden_by_an_attribute_of_core_rows() -> None:
    """Rows are read as Core ``Row``s by attribute: a column named ``count`` or ``index``
    would read the tuple method instead of the value."""
    taken = set(dir(Row))
    clashes = {
        f"{table.name}.{column.name}"
        for table in metadata.tables.values()
        for column in table.c
        if column.name in taken
    }
    assert clashes == set()


def test_leaving_without_commit_writes_nothing(database: Database) -> None:
    pipeline = make_pipeline()
    with database.uow(TENANT) as uow:
        uow.pipelines.add(pipeline)
    with database.uow(TENANT) as uow:
        assert uow.pipelines.get(pipeline.id) is None
    assert count(database, HistoryRow) == 0


def _lead_and_pipeline(uow: SqlUnitOfWork, lead_id: str) -> tuple[Lead, Pipeline]:
    lead = uow.leads.get(lead_id)
    assert lead is not None
    pipeline = uow.pipelines.get(lead.pipeline_id)
    assert pipeline is not None
    return lead, pipeline


def test_commit_writes_history_and_outbox_with_the_change(database: Database) -> None:
    lead = seed_lead(database)
    history, outbox = count(database, HistoryRow), count(database, OutboxRow)
    with database.uow(TENANT) as uow:
        loaded, pipeline = _lead_and_pipeline(uow, lead.id)
        loaded.change_stage(pipeline, pipeline.stages[2].id, STAMP)
        uow.commit()
        assert loaded.version == 2
        assert loaded.events == []
    assert count(database, HistoryRow) == history + 1
    assert count(database, OutboxRow) == outbox + 1
    with database.sessions() as session:
        row = session.scalars(select(HistoryRow).order_by(HistoryRow.id.desc())).first()
    assert row is not None
    assert (row.event_name, row.subject_id, row.actor_id) == ("lead.stage_changed", lead.id, ADMIN)
    assert row.occurred_at == AT


def test_several_events_keep_their_order_in_history_and_outbox(database: Database) -> None:
    """One commit, several events: each one's history row and outbox row, in event order (on
    PostgreSQL both rows of an event go in one statement)."""
    lead = seed_lead(database)
    with database.sessions() as session:
        last_history = session.scalar(select(func.max(HistoryRow.id))) or 0
        last_outbox = session.scalar(select(func.max(OutboxRow.id))) or 0
    with database.uow(TENANT) as uow:
        loaded, pipeline = _lead_and_pipeline(uow, lead.id)
        loaded.change_stage(pipeline, pipeline.stages[2].id, STAMP)
        loaded.update_details(title="Renamed", stamp=STAMP)
        loaded.change_stage(pipeline, pipeline.stages[1].id, STAMP)
        expected = [(e.name, e.as_record()) for e in loaded.events]
        uow.commit()
    with database.sessions() as session:
        history = session.scalars(
            select(HistoryRow).where(HistoryRow.id > last_history).order_by(HistoryRow.id)
        ).all()
        outbox = session.scalars(
            select(OutboxRow).where(OutboxRow.id > last_outbox).order_by(OutboxRow.id)
        ).all()
    assert len(expected) == 3
    assert [(h.event_name, h.payload) for h in history] == expected
    assert [(o.event_name, o.payload) for o in outbox] == expected
    assert all(h.subject_id == lead.id and h.occurred_at == AT for h in history)
    assert all(o.status == "pending" and o.attempts == 0 for o in outbox)


def test_second_session_on_the_same_lead_gets_a_conflict(database: Database) -> None:
    lead = seed_lead(database)
    first, second = database.uow(TENANT), database.uow(TENANT)
    with first, second:
        mine, theirs = first.leads.get(lead.id), second.leads.get(lead.id)
        assert mine is not None
        assert theirs is not None
        mine.update_details(title="Mine", stamp=STAMP)
        theirs.update_details(title="Theirs", stamp=STAMP)
        first.commit()
        with pytest.raises(Conflict) as raised:
            second.commit()
    assert raised.value.kind == "lead"
    # The loser keeps its pending change and version, ready to report or retry.
    assert theirs.version == 1
    assert len(theirs.events) == 1
    with database.uow(TENANT) as uow:
        stored = uow.leads.get(lead.id)
        assert stored is not None
        assert (stored.title, stored.version) == ("Mine", 2)


def test_use_case_with_stale_card_version_is_refused(crm: CRM) -> None:
    lead = crm.create_lead(TENANT, ADMIN, title="Deal")
    crm.update_lead(TENANT, ADMIN, lead.id, title="Renamed", expected_version=lead.version)
    with pytest.raises(Conflict):
        crm.update_lead(TENANT, ADMIN, lead.id, title="Stale", expected_version=lead.version)


def test_comment_bumps_activity_without_changing_the_lead_version(
    crm: CRM, clock: FakeClock, database: Database
) -> None:
    lead = crm.create_lead(TENANT, ADMIN, title="Deal")
    with database.uow(TENANT) as editing:
        stale = editing.leads.get(lead.id)
        assert stale is not None
        clock.advance(hours=2)
        crm.comment(TENANT, ADMIN, lead.id, "Called them")
        stale.update_details(title="Edited meanwhile", stamp=STAMP)
        editing.commit()  # no conflict: the comment did not touch the version
    after = crm.get_lead(TENANT, ADMIN, lead.id)
    assert after.version == 2
    assert after.title == "Edited meanwhile"


def test_comment_moves_last_activity_forward(crm: CRM, clock: FakeClock) -> None:
    lead = crm.create_lead(TENANT, ADMIN, title="Deal")
    clock.advance(days=3)
    crm.comment(TENANT, ADMIN, lead.id, "News")
    after = crm.get_lead(TENANT, ADMIN, lead.id)
    assert after.last_activity_at == clock.now()
    assert after.version == lead.version


def test_a_tenant_cannot_read_another_tenants_rows_even_with_their_ids(database: Database) -> None:
    lead = seed_lead(database, TENANT)
    with database.uow(OTHER_TENANT) as uow:
        assert uow.leads.get(lead.id) is None
        assert uow.leads.get_many([lead.id]) == {}
        assert uow.leads.by_number(lead.number) is None
        assert uow.pipelines.get(lead.pipeline_id) is None
        assert uow.pipelines.list() == []
        assert uow.leads.next_number() == 1


def test_a_tenant_cannot_update_another_tenants_rows(database: Database) -> None:
    lead = seed_lead(database, TENANT)
    with database.uow(OTHER_TENANT) as uow:
        # Someone hands tenant B's repository an aggregate that belongs to tenant A.
        forged = Lead(**{**_fields(lead), "title": "Hijacked", "version": 1})
        forged.record(lead_events_for(forged))
        uow.leads.add(forged)
        with pytest.raises(Conflict):
            uow.commit()
    with database.uow(TENANT) as uow:
        stored = uow.leads.get(lead.id)
        assert stored is not None
        assert stored.title == "Fleet renewal"


def _fields(lead: Lead) -> dict[str, object]:
    return {name: getattr(lead, name) for name in Lead.__dataclass_fields__ if name != "events"}


def lead_events_for(lead: Lead) -> object:
    from domain.events import LeadUpdated  # noqa: PLC0415 - only this test forges events

    return LeadUpdated(tenant_id=lead.tenant_id, actor_id=ADMIN, occurred_at=AT, subject_id=lead.id)


def test_same_id_twice_in_one_unit_of_work_is_the_same_object(database: Database) -> None:
    lead = seed_lead(database)
    with database.uow(TENANT) as uow:
        assert uow.leads.get(lead.id) is uow.leads.get(lead.id)
        assert uow.leads.get_many([lead.id])[LeadId(lead.id)] is uow.leads.get(lead.id)


def test_a_unit_of_work_sees_fresh_rows_after_its_own_commit(database: Database) -> None:
    lead = seed_lead(database)
    with database.uow(TENANT) as uow:
        loaded = uow.leads.get(lead.id)
        assert loaded is not None
        loaded.update_details(title="Once", stamp=STAMP)
        uow.commit()
        again = uow.leads.get(lead.id)
        assert again is not None
        assert again.version == 2
        again.update_details(title="Twice", stamp=STAMP)
        uow.commit()
    with database.uow(TENANT) as uow:
        stored = uow.leads.get(lead.id)
        assert stored is not None
        assert (stored.title, stored.version) == ("Twice", 3)


def test_lead_numbers_come_from_the_tenant_counter(database: Database) -> None:
    """Consecutive per tenant, and a creation that rolls back gives its number back (racing
    creations queue on the counter: see test_concurrent_creation)."""
    pipeline = make_pipeline()
    with database.uow(TENANT) as uow:
        uow.pipelines.add(pipeline)
        uow.commit()
    with database.uow(TENANT) as uow:
        assert uow.leads.next_number() == 1
        uow.rollback()
    taken = []
    for _ in range(2):
        with database.uow(TENANT) as uow:
            number = uow.leads.next_number()
            uow.leads.add(make_lead(pipeline, number=number))
            uow.commit()
            taken.append(number)
    with database.uow(OTHER_TENANT) as uow:
        assert uow.leads.next_number() == 1
    assert taken == [1, 2]


def test_lead_numbers_follow_leads_written_without_the_counter(
    crm: CRM, database: Database
) -> None:
    """An import, a restored backup or a seeder writes leads but not the counter: new leads
    still number past the highest, whether the counter is missing or behind."""

    def write_directly(*numbers: int) -> None:
        with database.uow(TENANT) as uow:
            pipeline = uow.pipelines.default()
            assert pipeline is not None
            for number in numbers:
                uow.leads.add(make_lead(pipeline, number=number))
            uow.commit()

    write_directly(5, 9)
    assert crm.create_lead(TENANT, ADMIN, title="After the import").number == 10
    write_directly(20)
    assert crm.create_lead(TENANT, ADMIN, title="After the restore").number == 21
    assert crm.create_lead(TENANT, ADMIN, title="Next").number == 22
    with database.uow(OTHER_TENANT) as uow:
        assert uow.leads.next_number() == 1


def test_index_tables_follow_the_aggregate(database: Database) -> None:
    lead = seed_lead(database)
    with database.uow(TENANT) as uow:
        loaded = uow.leads.get(lead.id)
        assert loaded is not None
        loaded.add_follower(BOB, STAMP)
        loaded.remove_follower(ADMIN, STAMP)
        uow.commit()
    with database.sessions() as session:
        followers = session.scalars(
            select(LeadFollowerRow.user_id).where(LeadFollowerRow.lead_id == lead.id)
        ).all()
    assert followers == [BOB]


def test_users_team_admins_and_count(crm: CRM, database: Database) -> None:
    crm.change_role(TENANT, ADMIN, ALICE, Role.MANAGER)
    crm.set_manager(TENANT, ADMIN, BOB, ALICE)
    with database.uow(TENANT) as uow:
        assert uow.users.count() == 3
        assert uow.users.team_of(ALICE) == [BOB]
        assert uow.users.admins() == [ADMIN]


def test_statuses_follow_won_lead_over_real_storage(crm: CRM) -> None:
    account = crm.create_account(TENANT, ADMIN, name="Acme")
    contact = crm.create_contact(TENANT, ADMIN, name="Carol", account_id=account.id)
    lead = crm.create_lead(TENANT, ADMIN, title="Deal", contact_id=contact.id)
    assert crm.get_contact(TENANT, ADMIN, contact.id).prospect_status is ProspectStatus.CURRENT
    crm.win_lead(TENANT, ADMIN, lead.id)
    assert crm.get_contact(TENANT, ADMIN, contact.id).customer_status is CustomerStatus.CURRENT
    assert crm.get_account(TENANT, ADMIN, account.id).customer_status is CustomerStatus.CURRENT


def test_unreachable_database_is_unavailable_not_a_sqlalchemy_error() -> None:
    database = Database("postgresql://nobody@127.0.0.1:1/none", connect_args={"connect_timeout": 1})
    assert database.ping() is False
    with pytest.raises(StorageUnavailable), database.uow(TENANT) as uow:
        uow.users.get(UserId("x"))
    database.dispose()


def test_pipelines_come_with_the_tenants_settings_in_one_statement(
    crm: CRM, database: Database
) -> None:
    crm.create_pipeline(TENANT, ADMIN, name="Renewals", stages=[("Due", 50)])
    crm.set_other_label(TENANT, ADMIN, "Partner")
    with database.uow(TENANT) as uow:
        plain = uow.pipelines.list()
    assert [p.name for p in plain][1:] == ["Renewals"]
    assert plain[0].is_default
    with statements(database) as seen, database.uow(TENANT) as uow:
        assert uow.pipelines.list(with_settings=True) == plain
        settings = uow.settings.get()
        assert settings is not None
        assert settings.other_label == "Partner"
        assert len(seen) == 1
        # The settings are known now: the plain read again.
        assert uow.pipelines.list(with_settings=True) == plain
        assert "tenant_settings" not in seen[-1]
    pipelines, settings = crm.pipelines_and_settings(TENANT)
    assert pipelines == plain
    assert settings.other_label == "Partner"


def test_a_lead_comes_with_the_user_about_to_change_it_in_one_statement(
    crm: CRM, database: Database
) -> None:
    lead = crm.create_lead(TENANT, ALICE, title="Fleet")
    with statements(database) as seen, database.uow(TENANT) as uow:
        loaded = uow.leads.get(lead.id, with_user=BOB)
        assert loaded is not None
        bob = uow.users.get(BOB)
        assert bob is not None
        assert bob.display_name == "Bob Seller"
        assert len(seen) == 1
        # Unknown user: the lead all the same, and no user.
        assert uow.leads.get(lead.id, with_user="nobody") is loaded
        other = crm.create_lead(TENANT, ALICE, title="Other")
        seen.clear()
        assert uow.leads.get(other.id, with_user="nobody") is not None
        assert uow.users.get("nobody") is None
        assert len(seen) == 2
        assert uow.leads.get("no-such-lead", with_user=ALICE) is None
        assert uow.users.get(ALICE) is not None


def test_a_cards_comments_come_with_the_people_it_names_in_one_statement(
    crm: CRM, database: Database, clock: FakeClock
) -> None:
    lead = crm.create_lead(TENANT, ALICE, title="Fleet")
    for number, author in enumerate([ALICE, ADMIN, ALICE, ADMIN, ALICE, ADMIN, ALICE]):
        clock.advance(minutes=1)
        crm.comment(TENANT, author, lead.id, f"note {number}")
    ghost = Comment.write(
        lead=lead,
        text="from a user no longer known",
        mentions=(),
        stamp=Stamp(actor_id=UserId("gone"), at=AT),
    )
    with database.uow(TENANT) as uow:
        uow.comments.add(ghost)
        uow.commit()
    with database.uow(TENANT) as uow:
        plain = uow.comments.latest(lead.id, 5)
        everything = uow.comments.latest(lead.id, 20)
    assert [c.text for c in plain] == [f"note {n}" for n in (6, 5, 4, 3, 2)]
    assert everything[-1].id == ghost.id

    with statements(database) as seen, database.uow(TENANT) as uow:
        assert uow.comments.latest(lead.id, 5, with_users=[BOB]) == plain
        # The authors and the users asked for are in the unit of work now.
        users = uow.users.get_many([ALICE, BOB, ADMIN])
        assert sorted(users) == sorted([ALICE, BOB, ADMIN])
        assert users[BOB].display_name == "Bob Seller"
        assert len(seen) == 1
        # A comment whose author is unknown is still read, and nobody is read for it.
        assert uow.comments.latest(lead.id, 20, with_users=[BOB]) == everything
        assert uow.users.get("gone") is None
        assert len(seen) == 3
    with database.uow(TENANT) as uow:
        assert uow.comments.latest(lead.id, 5, with_users=[]) == plain
        only_alice = crm.create_lead(TENANT, ALICE, title="Quiet")
        assert uow.comments.latest(only_alice.id, 5, with_users=[ALICE, ALICE]) == []
        assert uow.users.get(ALICE) is not None


def test_a_cards_people_and_the_accounts_first_contacts_in_one_statement(
    crm: CRM, database: Database
) -> None:
    acme = crm.create_account(TENANT, ALICE, name="Acme")
    other = crm.create_account(TENANT, ALICE, name="Globex")
    by_name = {
        name: crm.create_contact(TENANT, ALICE, name=name, account_id=acme.id)
        for name in ["Zoe", "amy", "Bruno", "Carla"]
    }
    outsider = crm.create_contact(TENANT, ALICE, name="Aaron", account_id=other.id)
    on_lead = [by_name["Zoe"].id, outsider.id]

    with statements(database) as seen, database.uow(TENANT) as uow:
        kept = uow.contacts.get(by_name["Zoe"].id)
        people, first = uow.contacts.get_many_with_account(
            [*on_lead, "no-such-contact"], AccountId(acme.id), 3
        )
        assert [c.name for c in first] == ["amy", "Bruno", "Carla"]
        assert set(people) == set(on_lead)
        # One identity per contact: the one already loaded is handed out again.
        assert people[by_name["Zoe"].id] is kept
        assert first[0] is uow.contacts.get(by_name["amy"].id)
        assert len(seen) == 2

        _people, everyone = uow.contacts.get_many_with_account([], AccountId(acme.id), 50)
        assert [c.name for c in everyone] == ["amy", "Bruno", "Carla", "Zoe"]
        assert everyone[-1] is kept
        none, nobody = uow.contacts.get_many_with_account(on_lead, AccountId("none"), 50)
        assert set(none) == set(on_lead)
        assert nobody == []


def test_a_lead_comes_with_its_account_and_pipeline_in_one_statement(
    crm: CRM, database: Database
) -> None:
    account = crm.create_account(TENANT, ALICE, name="Acme")
    lead = crm.create_lead(TENANT, ALICE, title="Fleet", account_id=account.id)
    alone = crm.create_lead(TENANT, ALICE, title="Walk-in")
    with statements(database) as seen, database.uow(TENANT) as uow:
        loaded = uow.leads.get(lead.id)
        assert loaded is not None
        found = uow.accounts.get(AccountId(account.id))
        assert found is not None
        assert found.name == "Acme"
        pipeline = uow.pipelines.get(loaded.pipeline_id)
        assert pipeline is not None
        assert loaded.stage_id in {stage.id for stage in pipeline.stages}
        assert len(seen) == 1
        without = uow.leads.get(alone.id)
        assert without is not None
        assert without.account_id is None
        assert uow.leads.get("no-such-lead") is None
        assert len(seen) == 3


def test_a_lead_does_not_replace_an_account_the_unit_of_work_already_changed(
    crm: CRM, database: Database, clock: FakeClock
) -> None:
    account = crm.create_account(TENANT, ALICE, name="Acme")
    lead = crm.create_lead(TENANT, ALICE, title="Fleet", account_id=account.id)
    with database.uow(TENANT) as uow:
        changed = uow.accounts.get(AccountId(account.id))
        assert changed is not None
        changed.classify(Classification.CLIENT, Stamp(actor_id=ALICE, at=clock.now()))
        loaded = uow.leads.get(lead.id)
        assert loaded is not None
        assert uow.accounts.get(AccountId(account.id)) is changed
        uow.commit()
    assert crm.get_account(TENANT, ALICE, account.id).classification is Classification.CLIENT
