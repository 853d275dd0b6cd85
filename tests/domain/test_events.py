"""Every change is recorded as an event (who, when, what before and after); no-ops record nothing.

Errors carry stable codes and parameters the bot can translate.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from domain.accounts import Classification
from domain.common import Aggregate
from domain.errors import AccessDenied, Conflict, DomainError, InvalidInput, NotFound
from domain.events import Change, DomainEvent, changes_between, to_json
from domain.ids import UserId
from domain.services import CRM, NewContact
from domain.settings import CustomFieldKind, RecordKind
from domain.statuses import CustomerStatus, ProspectStatus
from domain.users import Role
from tests.domain.fakes import FakeClock, FakeDatabase
from tests.domain.people import ADMIN, ALICE, BOB, TENANT
from tests.domain.world import World

Call = Callable[[CRM, World], object]

# Each change use case, with the events it must record. Alice acts unless the call is admin-only.
CHANGES: dict[str, tuple[UserId, Call, set[str]]] = {
    "create_account": (
        ALICE,
        lambda c, w: c.create_account(TENANT, ALICE, name="New Co"),
        {"account.created"},
    ),
    "update_account": (
        ALICE,
        lambda c, w: c.update_account(
            TENANT, ALICE, w.account, name="Acme 2", classification=Classification.CLIENT
        ),
        {"account.updated"},
    ),
    "add_responsible": (
        ALICE,
        lambda c, w: c.add_responsible(TENANT, ALICE, w.account, BOB),
        {"account.responsible_added"},
    ),
    "add_relationship": (
        ALICE,
        lambda c, w: c.add_relationship(TENANT, ALICE, w.account, w.other_account, "Supplier"),
        {"account.relationship_added"},
    ),
    "remove_relationship": (
        ALICE,
        lambda c, w: c.remove_relationship(TENANT, ALICE, w.account, w.relationship),
        {"account.relationship_removed"},
    ),
    "add_document": (
        ALICE,
        lambda c, w: c.add_document(
            TENANT, ALICE, w.account, title="Deck", url="https://files.example/deck"
        ),
        {"account.document_added"},
    ),
    "remove_document": (
        ALICE,
        lambda c, w: c.remove_document(TENANT, ALICE, w.account, w.document),
        {"account.document_removed"},
    ),
    "set_account_statuses": (
        ALICE,
        lambda c, w: c.set_account_statuses(TENANT, ALICE, w.account, customer=CustomerStatus.PAST),
        {"account.status_changed"},
    ),
    "create_contact": (
        ALICE,
        lambda c, w: c.create_contact(TENANT, ALICE, name="Dora", account_id=w.account),
        {"contact.created"},
    ),
    "update_contact": (
        ALICE,
        lambda c, w: c.update_contact(TENANT, ALICE, w.contact, phone="+1 555 0199"),
        {"contact.updated"},
    ),
    "move_contact": (
        ALICE,
        lambda c, w: c.move_contact(TENANT, ALICE, w.participant, w.other_account),
        {"contact.updated"},
    ),
    "set_contact_statuses": (
        ALICE,
        lambda c, w: c.set_contact_statuses(
            TENANT, ALICE, w.participant, prospect=ProspectStatus.LOST
        ),
        {"contact.status_changed"},
    ),
    "create_lead": (
        ALICE,
        lambda c, w: c.create_lead(TENANT, ALICE, title="Another", contact_id=w.participant),
        {"lead.created", "contact.status_changed"},
    ),
    "update_lead": (
        ALICE,
        lambda c, w: c.update_lead(TENANT, ALICE, w.lead, amount="99.90"),
        {"lead.updated"},
    ),
    "move_lead_to_account": (
        ALICE,
        lambda c, w: c.move_lead_to_account(TENANT, ALICE, w.lead, w.other_account),
        {"lead.updated"},
    ),
    "change_owner": (
        ALICE,
        lambda c, w: c.change_owner(TENANT, ALICE, w.lead, BOB),
        {"lead.owner_changed", "lead.follower_added"},
    ),
    "change_stage": (
        ALICE,
        lambda c, w: c.change_stage(TENANT, ALICE, w.lead, w.stage),
        {"lead.stage_changed"},
    ),
    "move_lead_to_pipeline": (
        ALICE,
        lambda c, w: c.move_lead_to_pipeline(TENANT, ALICE, w.lead, w.pipeline),
        {"lead.stage_changed"},
    ),
    "win_lead": (
        ALICE,
        lambda c, w: c.win_lead(TENANT, ALICE, w.lead),
        {"lead.status_changed", "contact.status_changed", "account.status_changed"},
    ),
    "lose_lead": (
        ALICE,
        lambda c, w: c.lose_lead(TENANT, ALICE, w.lead, "Price"),
        {"lead.status_changed", "contact.status_changed", "account.status_changed"},
    ),
    "disqualify_lead": (
        ALICE,
        lambda c, w: c.disqualify_lead(TENANT, ALICE, w.lead),
        {"lead.status_changed", "contact.status_changed", "account.status_changed"},
    ),
    "set_primary_contact": (
        ALICE,
        lambda c, w: c.set_primary_contact(TENANT, ALICE, w.lead, None),
        {"lead.primary_contact_changed", "contact.status_changed", "account.status_changed"},
    ),
    "add_participant": (
        ALICE,
        lambda c, w: c.add_participant(TENANT, ALICE, w.lead, w.spare_contact, role="Legal"),
        {"lead.participant_added"},
    ),
    "add_new_participant": (
        ALICE,
        lambda c, w: c.add_new_participant(TENANT, ALICE, w.lead, NewContact(name="Finn")),
        {"lead.participant_added", "contact.created"},
    ),
    "remove_participant": (
        ALICE,
        lambda c, w: c.remove_participant(TENANT, ALICE, w.lead, w.participant),
        {"lead.participant_removed"},
    ),
    "set_participant_role": (
        ALICE,
        lambda c, w: c.set_participant_role(TENANT, ALICE, w.lead, w.participant, "Sponsor"),
        {"lead.participant_role_changed"},
    ),
    "add_follower": (
        ALICE,
        lambda c, w: c.add_follower(TENANT, ALICE, w.lead, BOB),
        {"lead.follower_added"},
    ),
    "unfollow": (ALICE, lambda c, w: c.unfollow(TENANT, ALICE, w.lead), {"lead.follower_removed"}),
    "comment": (
        ALICE,
        lambda c, w: c.comment(TENANT, ALICE, w.lead, "Hi @Bob", mentions=[BOB]),
        {"lead.comment_added"},
    ),
    "schedule_reminder": (
        ALICE,
        lambda c, w: c.schedule_reminder(
            TENANT, ALICE, w.lead, due_at=datetime(2026, 3, 1, tzinfo=UTC), text="Call"
        ),
        {"lead.reminder_scheduled"},
    ),
    "complete_reminder": (
        ALICE,
        lambda c, w: c.complete_reminder(TENANT, ALICE, w.reminder),
        {"lead.reminder_completed"},
    ),
    "duplicate_lead": (
        ALICE,
        lambda c, w: c.duplicate_lead(TENANT, ALICE, w.lead),
        {"lead.created", "lead.participant_added"},
    ),
    "set_other_label": (
        ADMIN,
        lambda c, w: c.set_other_label(TENANT, ADMIN, "Partner"),
        {"tenant.settings_changed"},
    ),
    "define_custom_field": (
        ADMIN,
        lambda c, w: c.define_custom_field(
            TENANT, ADMIN, label="Size", kind=CustomFieldKind.NUMBER, applies_to=RecordKind.LEAD
        ),
        {"tenant.settings_changed"},
    ),
    "add_stage": (
        ADMIN,
        lambda c, w: c.add_stage(TENANT, ADMIN, w.pipeline, "Signed", 95),
        {"pipeline.changed"},
    ),
    "change_role": (
        ADMIN,
        lambda c, w: c.change_role(TENANT, ADMIN, BOB, Role.MANAGER),
        {"user.updated"},
    ),
}


CAROL = UserId("aad-carol")

CHANGES.update(
    {
        "register_user": (
            CAROL,
            lambda c, w: c.register_user(TENANT, CAROL, display_name="Carol"),
            {"user.registered"},
        ),
        "set_account_characteristics": (
            ALICE,
            lambda c, w: c.set_account_characteristics(
                TENANT, ALICE, w.account, [w.characteristic]
            ),
            {"account.updated"},
        ),
        "set_account_interests": (
            ALICE,
            lambda c, w: c.set_account_interests(
                TENANT, ALICE, w.account, interests=[], disinterests=[w.interest]
            ),
            {"account.updated"},
        ),
        "remove_responsible": (
            ALICE,
            lambda c, w: c.remove_responsible(TENANT, ALICE, w.account, ADMIN),
            {"account.responsible_removed"},
        ),
        "reopen_lead": (
            ALICE,
            lambda c, w: c.reopen_lead(TENANT, ALICE, w.lead),
            {"lead.status_changed", "contact.status_changed", "account.status_changed"},
        ),
        "remove_follower": (
            ALICE,
            lambda c, w: c.remove_follower(TENANT, ALICE, w.lead, BOB),
            {"lead.follower_removed"},
        ),
        "follow": (ALICE, lambda c, w: c.follow(TENANT, ALICE, w.lead), {"lead.follower_added"}),
        "set_default_currency": (
            ADMIN,
            lambda c, w: c.set_default_currency(TENANT, ADMIN, "EUR"),
            {"tenant.settings_changed"},
        ),
        "add_characteristic": (
            ADMIN,
            lambda c, w: c.add_characteristic(TENANT, ADMIN, "Wholesale"),
            {"tenant.settings_changed"},
        ),
        "retire_characteristic": (
            ADMIN,
            lambda c, w: c.retire_characteristic(TENANT, ADMIN, w.characteristic),
            {"tenant.settings_changed"},
        ),
        "add_interest_area": (
            ADMIN,
            lambda c, w: c.add_interest_area(TENANT, ADMIN, "Security"),
            {"tenant.settings_changed"},
        ),
        "retire_interest_area": (
            ADMIN,
            lambda c, w: c.retire_interest_area(TENANT, ADMIN, w.interest),
            {"tenant.settings_changed"},
        ),
        "create_pipeline": (
            ADMIN,
            lambda c, w: c.create_pipeline(TENANT, ADMIN, name="Partners", stages=[("A", 5)]),
            {"pipeline.created"},
        ),
        "set_manager": (
            ADMIN,
            lambda c, w: c.set_manager(TENANT, ADMIN, ALICE, ADMIN),
            {"user.updated"},
        ),
    }
)

# What must already have happened for the change to be one.
SETUPS: dict[str, Call] = {
    "reopen_lead": lambda c, w: c.win_lead(TENANT, ALICE, w.lead),
    "remove_follower": lambda c, w: c.add_follower(TENANT, ALICE, w.lead, BOB),
    "follow": lambda c, w: c.unfollow(TENANT, ALICE, w.lead),
}

BASE_FIELDS = {"name", "subject_kind", "tenant_id", "actor_id", "occurred_at", "subject_id"}
BASE_FIELDS |= {"changes", "account_id"}

READS = {"get_user", "get_settings", "pipelines", "pipelines_and_settings", "get_account"}
READS |= {"account_view"}
READS |= {
    "get_contact",
    "contact_view",
    "get_lead",
    "lead_by_number",
    "lead_view",
    "lead_views_for",
}


def test_every_change_use_case_is_in_the_sweep() -> None:
    public = {name for name in dir(CRM) if not name.startswith("_")}
    assert public - READS == set(CHANGES)


@pytest.mark.parametrize("name", CHANGES)
def test_every_change_records_who_when_and_what(
    crm: CRM, world: World, database: FakeDatabase, clock: FakeClock, name: str
) -> None:
    actor, call, expected = CHANGES[name]
    if name in SETUPS:
        SETUPS[name](crm, world)
    clock.advance(days=1)
    before = len(database.events)
    call(crm, world)
    events = database.events[before:]
    assert {event.name for event in events} == expected
    for event in events:
        assert event.tenant_id == TENANT
        assert event.actor_id == actor
        assert event.occurred_at == clock.now()
        assert event.subject_id
        record = json.loads(json.dumps(event.as_record()))
        assert record["name"] == event.name
        assert record["subject_kind"] == event.name.split(".")[0]
        assert record["occurred_at"] == clock.now().isoformat()
        for change in event.changes:
            assert change.before != change.after
        # Field updates list their changes; additions and removals name the item instead.
        named_item = set(record) - BASE_FIELDS
        assert event.changes or named_item, event.name


def test_changes_name_the_fields_with_before_and_after(
    crm: CRM, world: World, database: FakeDatabase
) -> None:
    crm.update_lead(TENANT, ALICE, world.lead, title="Renamed", amount="10")
    (event,) = database.events[-1:]
    assert event.as_record()["changes"] == [
        {"field": "amount", "before": None, "after": "10.00"},
        {"field": "title", "before": "Website redesign", "after": "Renamed"},
    ]


NO_OPS: dict[str, Call] = {
    "rename_to_same": lambda c, w: c.update_account(TENANT, ALICE, w.account, name="Acme"),
    "same_tags": lambda c, w: c.update_account(TENANT, ALICE, w.account, tags=[]),
    "nothing_given": lambda c, w: c.update_lead(TENANT, ALICE, w.lead),
    "same_title": lambda c, w: c.update_lead(TENANT, ALICE, w.lead, title="Website redesign"),
    "same_contact_details": lambda c, w: c.update_contact(
        TENANT, ALICE, w.contact, email="carla@acme.example"
    ),
    "same_stage": lambda c, w: c.change_stage(
        TENANT, ALICE, w.lead, c.get_lead(TENANT, ALICE, w.lead).stage_id
    ),
    "same_owner": lambda c, w: c.change_owner(TENANT, ALICE, w.lead, ALICE),
    "same_role": lambda c, w: c.set_participant_role(TENANT, ALICE, w.lead, w.participant, "CFO"),
    "follow_again": lambda c, w: c.follow(TENANT, ALICE, w.lead),
    "existing_responsible": lambda c, w: c.add_responsible(TENANT, ALICE, w.account, ALICE),
    "same_primary": lambda c, w: c.set_primary_contact(TENANT, ALICE, w.lead, w.contact),
    "same_statuses": lambda c, w: c.set_contact_statuses(
        TENANT, ALICE, w.contact, prospect=ProspectStatus.CURRENT
    ),
    "same_pipeline": lambda c, w: c.move_lead_to_pipeline(
        TENANT, ALICE, w.lead, c.get_lead(TENANT, ALICE, w.lead).pipeline_id
    ),
    "same_account": lambda c, w: c.move_lead_to_account(TENANT, ALICE, w.lead, w.account),
    "same_employer": lambda c, w: c.move_contact(TENANT, ALICE, w.contact, w.account),
    "same_role_for_user": lambda c, w: c.change_role(TENANT, ADMIN, ALICE, Role.MEMBER),
    "same_manager": lambda c, w: c.set_manager(TENANT, ADMIN, ALICE, None),
    "same_currency": lambda c, w: c.set_default_currency(TENANT, ADMIN, "usd"),
    "same_profile": lambda c, w: c.register_user(
        TENANT, ALICE, display_name="Alice Seller", email="alice@example.com"
    ),
}


@pytest.mark.parametrize("call", NO_OPS.values(), ids=NO_OPS.keys())
def test_no_op_change_records_nothing_and_keeps_the_version(
    crm: CRM, world: World, database: FakeDatabase, call: Call
) -> None:
    versions = _versions(database)
    before = len(database.events)
    call(crm, world)
    assert database.events[before:] == []
    assert _versions(database) == versions


def _versions(database: FakeDatabase) -> dict[str, int]:
    store = database.store(TENANT)
    tables: list[Mapping[str, Aggregate]] = [store.users, store.settings, store.pipelines]
    tables += [store.accounts, store.contacts, store.leads, store.reminders]
    return {key: item.version for table in tables for key, item in table.items()}


# --- values and errors -----------------------------------------------------------------------


def test_to_json_renders_domain_values() -> None:
    assert to_json(
        {
            "when": datetime(2026, 1, 5, 9, 0, tzinfo=UTC),
            "amount": Decimal("10.50"),
            "tags": frozenset({"b", "a"}),
            "status": ProspectStatus.LOST,
            "pair": (1, None),
            "change": Change(field="x", before=1, after=2),
        }
    ) == {
        "when": "2026-01-05T09:00:00+00:00",
        "amount": "10.50",
        "tags": ["a", "b"],
        "status": "lost",
        "pair": [1, None],
        "change": {"field": "x", "before": 1, "after": 2},
    }
    with pytest.raises(TypeError):
        to_json(object())


def test_changes_between_lists_only_differences_in_field_order() -> None:
    assert changes_between({"b": 1, "a": "x", "c": None}, {"b": 2, "a": "x", "d": 4}) == (
        Change(field="b", before=1, after=2),
        Change(field="d", before=None, after=4),
    )


def test_event_record_has_every_field() -> None:
    event = DomainEvent(
        tenant_id=TENANT,
        actor_id=ALICE,
        occurred_at=datetime(2026, 1, 5, tzinfo=UTC),
        subject_id="x",
        changes=(Change(field="f", before=None, after="v"),),
    )
    assert event.as_record() == {
        "name": "event",
        "subject_kind": "record",
        "tenant_id": TENANT,
        "actor_id": ALICE,
        "occurred_at": "2026-01-05T00:00:00+00:00",
        "subject_id": "x",
        "changes": [{"field": "f", "before": None, "after": "v"}],
    }
    assert event.change("f") == Change(field="f", before=None, after="v")
    assert event.change("g") is None


def test_errors_carry_codes_and_parameters_not_sentences() -> None:
    error = NotFound("lead", lead_id="L1")
    assert (error.code, error.kind, error.params) == (
        "lead.not_found",
        "lead",
        {"kind": "lead", "lead_id": "L1"},
    )
    assert str(error) == "lead.not_found(kind='lead', lead_id='L1')"
    assert AccessDenied("account").code == "account.access_denied"
    assert Conflict("contact", id="c").code == "contact.conflict"
    assert InvalidInput().code == "input.invalid"
    assert str(DomainError()) == "domain.error"
    assert all(
        issubclass(kind, DomainError) for kind in (NotFound, AccessDenied, InvalidInput, Conflict)
    )


def test_use_case_errors_name_the_offending_record(crm: CRM, world: World) -> None:
    with pytest.raises(NotFound) as missing:
        crm.get_lead(TENANT, ALICE, "L-missing")
    assert missing.value.params == {"kind": "lead", "lead_id": "L-missing"}
    with pytest.raises(AccessDenied) as denied:
        crm.get_account(TENANT, BOB, world.account)
    assert denied.value.params == {"kind": "account", "account_id": world.account}


class NaiveClock:
    def now(self) -> datetime:
        return datetime(2026, 1, 5, 9, 0)  # noqa: DTZ001 - a naive clock is what is refused


def test_a_naive_clock_is_refused_before_anything_is_written() -> None:
    database = FakeDatabase()
    crm = CRM(database.uow, NaiveClock())
    with pytest.raises(InvalidInput, match=r"input\.naive_datetime"):
        crm.register_user(TENANT, ADMIN, display_name="Ada")
    assert database.events == []
    assert database.commits == 0


def _concrete_events(base: type[DomainEvent]) -> set[str]:
    names = set()
    for sub in base.__subclasses__():
        # Only the domain's own events: other packages' tests may subclass for their needs.
        if sub.name != DomainEvent.name and sub.__module__ == "domain.events":
            names.add(sub.name)
        names |= _concrete_events(sub)
    return names


def test_the_sweep_sees_every_kind_of_event() -> None:
    expected = set().union(*(names for _actor, _call, names in CHANGES.values()))
    assert _concrete_events(DomainEvent) == expected
