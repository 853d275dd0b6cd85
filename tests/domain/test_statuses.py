"""Prospect and customer statuses follow the leads where a person is the primary Contact."""

from __future__ import annotations

import pytest

from domain.errors import RuleViolation
from domain.events import AccountStatusChanged, ContactStatusChanged
from domain.services import CRM
from domain.statuses import (
    CustomerStatus,
    LeadStatus,
    ProspectStatus,
    Statuses,
    allowed_manual_prospect,
    check_manual_change,
    derive,
)
from tests.domain.factories import (
    account_statuses,
    contact_statuses,
    make_account,
    make_contact,
    make_lead,
)
from tests.domain.fakes import FakeClock, FakeDatabase
from tests.domain.people import ADMIN, TENANT

CURRENT_PROSPECT = (ProspectStatus.CURRENT, CustomerStatus.NONE)
LOST_PROSPECT = (ProspectStatus.LOST, CustomerStatus.NONE)
NOTHING = (ProspectStatus.NONE, CustomerStatus.NONE)


def _close(crm: CRM, lead_id: str, outcome: str) -> None:
    if outcome == "won":
        crm.win_lead(TENANT, ADMIN, lead_id)
    elif outcome == "lost":
        crm.lose_lead(TENANT, ADMIN, lead_id, "Too expensive")
    else:
        crm.disqualify_lead(TENANT, ADMIN, lead_id)


# --- contacts: automatic statuses ------------------------------------------------------------


def test_contact_without_leads_is_neither_prospect_nor_customer(crm: CRM) -> None:
    contact = make_contact(crm)
    assert contact_statuses(crm, contact.id) == NOTHING


def test_attached_lead_makes_contact_current_prospect(crm: CRM) -> None:
    contact = make_contact(crm)
    make_lead(crm, contact_id=contact.id)
    assert contact_statuses(crm, contact.id) == CURRENT_PROSPECT


def test_lead_attached_later_as_primary_makes_contact_current_prospect(crm: CRM) -> None:
    contact = make_contact(crm)
    lead = make_lead(crm)
    crm.set_primary_contact(TENANT, ADMIN, lead.id, contact.id)
    assert contact_statuses(crm, contact.id) == CURRENT_PROSPECT


@pytest.mark.parametrize("outcome", ["lost", "unqualified"])
def test_only_lead_closed_without_sale_makes_contact_lost_prospect(crm: CRM, outcome: str) -> None:
    contact = make_contact(crm)
    lead = make_lead(crm, contact_id=contact.id)
    _close(crm, lead.id, outcome)
    assert contact_statuses(crm, contact.id) == LOST_PROSPECT


def test_lost_and_unqualified_leads_together_make_lost_prospect(crm: CRM) -> None:
    contact = make_contact(crm)
    first = make_lead(crm, contact_id=contact.id)
    second = make_lead(crm, contact_id=contact.id)
    _close(crm, first.id, "lost")
    assert contact_statuses(crm, contact.id) == CURRENT_PROSPECT
    _close(crm, second.id, "unqualified")
    assert contact_statuses(crm, contact.id) == LOST_PROSPECT


def test_another_open_lead_keeps_contact_current_prospect(crm: CRM) -> None:
    contact = make_contact(crm)
    make_lead(crm, contact_id=contact.id)
    lost = make_lead(crm, contact_id=contact.id)
    _close(crm, lost.id, "lost")
    assert contact_statuses(crm, contact.id) == CURRENT_PROSPECT


def test_new_lead_makes_lost_prospect_current_again(crm: CRM) -> None:
    contact = make_contact(crm)
    lead = make_lead(crm, contact_id=contact.id)
    _close(crm, lead.id, "lost")
    make_lead(crm, contact_id=contact.id, title="Second chance")
    assert contact_statuses(crm, contact.id) == CURRENT_PROSPECT


def test_reopened_lost_lead_makes_contact_current_prospect_again(crm: CRM) -> None:
    contact = make_contact(crm)
    lead = make_lead(crm, contact_id=contact.id)
    _close(crm, lead.id, "lost")
    crm.reopen_lead(TENANT, ADMIN, lead.id)
    assert contact_statuses(crm, contact.id) == CURRENT_PROSPECT


def test_won_lead_makes_contact_current_customer(crm: CRM) -> None:
    contact = make_contact(crm)
    lead = make_lead(crm, contact_id=contact.id)
    crm.win_lead(TENANT, ADMIN, lead.id)
    assert contact_statuses(crm, contact.id) == (ProspectStatus.NONE, CustomerStatus.CURRENT)


def test_won_lead_with_another_open_lead_keeps_contact_prospect_too(crm: CRM) -> None:
    contact = make_contact(crm)
    make_lead(crm, contact_id=contact.id)
    won = make_lead(crm, contact_id=contact.id)
    crm.win_lead(TENANT, ADMIN, won.id)
    assert contact_statuses(crm, contact.id) == (ProspectStatus.CURRENT, CustomerStatus.CURRENT)


def test_current_customer_stays_after_the_won_lead_is_reopened(crm: CRM) -> None:
    contact = make_contact(crm)
    lead = make_lead(crm, contact_id=contact.id)
    crm.win_lead(TENANT, ADMIN, lead.id)
    crm.reopen_lead(TENANT, ADMIN, lead.id)
    assert contact_statuses(crm, contact.id) == (ProspectStatus.CURRENT, CustomerStatus.CURRENT)
    crm.lose_lead(TENANT, ADMIN, lead.id, "Budget cut")
    assert contact_statuses(crm, contact.id) == (ProspectStatus.LOST, CustomerStatus.CURRENT)


def test_current_customer_stays_when_later_leads_are_lost(crm: CRM) -> None:
    contact = make_contact(crm)
    won = make_lead(crm, contact_id=contact.id)
    crm.win_lead(TENANT, ADMIN, won.id)
    later = make_lead(crm, contact_id=contact.id, title="Upsell")
    crm.lose_lead(TENANT, ADMIN, later.id, "No budget")
    assert contact_statuses(crm, contact.id)[1] is CustomerStatus.CURRENT


def test_manual_past_customer_holds_until_another_lead_is_won(crm: CRM) -> None:
    contact = make_contact(crm)
    won = make_lead(crm, contact_id=contact.id)
    crm.win_lead(TENANT, ADMIN, won.id)
    crm.set_contact_statuses(TENANT, ADMIN, contact.id, customer=CustomerStatus.PAST)
    renewal = make_lead(crm, contact_id=contact.id, title="Renewal")
    assert contact_statuses(crm, contact.id) == (ProspectStatus.CURRENT, CustomerStatus.PAST)
    crm.win_lead(TENANT, ADMIN, renewal.id)
    assert contact_statuses(crm, contact.id)[1] is CustomerStatus.CURRENT


def test_changing_primary_contact_away_leaves_old_contact_without_statuses(crm: CRM) -> None:
    old, new = make_contact(crm, name="Old"), make_contact(crm, name="New")
    lead = make_lead(crm, contact_id=old.id)
    crm.set_primary_contact(TENANT, ADMIN, lead.id, new.id)
    assert contact_statuses(crm, old.id) == NOTHING
    assert contact_statuses(crm, new.id) == CURRENT_PROSPECT


def test_removing_primary_contact_leaves_contact_without_statuses(crm: CRM) -> None:
    contact = make_contact(crm)
    lead = make_lead(crm, contact_id=contact.id)
    crm.set_primary_contact(TENANT, ADMIN, lead.id, None)
    assert contact_statuses(crm, contact.id) == NOTHING


def test_changing_primary_contact_on_won_lead_makes_new_contact_current_customer(
    crm: CRM,
) -> None:
    old, new = make_contact(crm, name="Old"), make_contact(crm, name="New")
    lead = make_lead(crm, contact_id=old.id)
    crm.win_lead(TENANT, ADMIN, lead.id)
    crm.set_primary_contact(TENANT, ADMIN, lead.id, new.id)
    assert contact_statuses(crm, new.id) == (ProspectStatus.NONE, CustomerStatus.CURRENT)
    assert contact_statuses(crm, old.id) == NOTHING


def test_setting_the_same_primary_contact_again_changes_no_status(
    crm: CRM, database: FakeDatabase
) -> None:
    contact = make_contact(crm)
    lead = make_lead(crm, contact_id=contact.id)
    crm.win_lead(TENANT, ADMIN, lead.id)
    crm.set_contact_statuses(TENANT, ADMIN, contact.id, customer=CustomerStatus.PAST)
    before = len(database.events)
    crm.set_primary_contact(TENANT, ADMIN, lead.id, contact.id)
    assert contact_statuses(crm, contact.id)[1] is CustomerStatus.PAST
    assert database.events[before:] == []


def test_previous_contact_kept_as_participant_loses_the_lead_statuses(crm: CRM) -> None:
    old, new = make_contact(crm, name="Old"), make_contact(crm, name="New")
    lead = make_lead(crm, contact_id=old.id)
    crm.set_primary_contact(TENANT, ADMIN, lead.id, new.id, keep_previous_as_participant=True)
    assert contact_statuses(crm, old.id) == NOTHING


def test_other_participants_statuses_do_not_follow_the_lead(crm: CRM) -> None:
    primary, other = make_contact(crm, name="Primary"), make_contact(crm, name="Other")
    lead = make_lead(crm, contact_id=primary.id)
    crm.add_participant(TENANT, ADMIN, lead.id, other.id, role="CFO")
    assert contact_statuses(crm, other.id) == NOTHING
    crm.win_lead(TENANT, ADMIN, lead.id)
    assert contact_statuses(crm, other.id) == NOTHING
    assert contact_statuses(crm, primary.id)[1] is CustomerStatus.CURRENT


def test_participant_promoted_to_primary_takes_the_lead_statuses(crm: CRM) -> None:
    primary, other = make_contact(crm, name="Primary"), make_contact(crm, name="Other")
    lead = make_lead(crm, contact_id=primary.id)
    crm.add_participant(TENANT, ADMIN, lead.id, other.id)
    crm.set_primary_contact(TENANT, ADMIN, lead.id, other.id)
    assert contact_statuses(crm, other.id) == CURRENT_PROSPECT


def test_automatic_status_change_emits_event_with_before_and_after(
    crm: CRM, database: FakeDatabase, clock: FakeClock
) -> None:
    contact = make_contact(crm)
    clock.advance(hours=1)
    lead = make_lead(crm, contact_id=contact.id)
    event = next(e for e in database.events if isinstance(e, ContactStatusChanged))
    assert event.subject_id == contact.id
    assert event.automatic is True
    assert event.actor_id == ADMIN
    assert event.occurred_at == clock.now()
    change = event.change("prospect_status")
    assert change is not None
    assert (change.before, change.after) == ("none", "current")
    assert event.change("customer_status") is None
    assert lead.contact_id == contact.id


# --- contacts: manual changes ----------------------------------------------------------------


def _contact_with(crm: CRM, history: str) -> str:
    contact = make_contact(crm)
    if history == "none":
        return contact.id
    lead = make_lead(crm, contact_id=contact.id)
    if history != "open":
        _close(crm, lead.id, history)
    return contact.id


@pytest.mark.parametrize(
    ("history", "target"),
    [
        ("open", ProspectStatus.NONE),
        ("open", ProspectStatus.LOST),
        ("won", ProspectStatus.LOST),
    ],
)
def test_manual_prospect_change_contradicting_the_deals_is_refused(
    crm: CRM, database: FakeDatabase, history: str, target: ProspectStatus
) -> None:
    contact_id = _contact_with(crm, history)
    before_statuses = contact_statuses(crm, contact_id)
    before_events = len(database.events)
    with pytest.raises(RuleViolation) as refused:
        crm.set_contact_statuses(TENANT, ADMIN, contact_id, prospect=target)
    assert refused.value.code == "contact.status.manual_change_forbidden"
    assert refused.value.params["prospect"] == target.value
    assert contact_statuses(crm, contact_id) == before_statuses
    assert database.events[before_events:] == []


@pytest.mark.parametrize(
    ("history", "target"),
    [
        ("open", ProspectStatus.CURRENT),
        ("won", ProspectStatus.NONE),
        ("won", ProspectStatus.CURRENT),
        ("lost", ProspectStatus.NONE),
        ("lost", ProspectStatus.CURRENT),
        ("unqualified", ProspectStatus.NONE),
        ("none", ProspectStatus.LOST),
        ("none", ProspectStatus.CURRENT),
    ],
)
def test_manual_prospect_change_consistent_with_the_deals_is_allowed(
    crm: CRM, history: str, target: ProspectStatus
) -> None:
    contact_id = _contact_with(crm, history)
    crm.set_contact_statuses(TENANT, ADMIN, contact_id, prospect=target)
    assert contact_statuses(crm, contact_id)[0] is target


@pytest.mark.parametrize("history", ["none", "open", "won", "lost"])
@pytest.mark.parametrize("target", list(CustomerStatus))
def test_manual_customer_change_is_always_allowed(
    crm: CRM, history: str, target: CustomerStatus
) -> None:
    contact_id = _contact_with(crm, history)
    crm.set_contact_statuses(TENANT, ADMIN, contact_id, customer=target)
    assert contact_statuses(crm, contact_id)[1] is target


def test_manual_status_change_is_recorded_as_not_automatic(
    crm: CRM, database: FakeDatabase
) -> None:
    contact_id = _contact_with(crm, "won")
    crm.set_contact_statuses(TENANT, ADMIN, contact_id, customer=CustomerStatus.PAST)
    event = database.events[-1]
    assert isinstance(event, ContactStatusChanged)
    assert event.automatic is False
    assert event.changes == (event.change("customer_status"),)
    change = event.change("customer_status")
    assert change is not None
    assert (change.before, change.after) == ("current", "past")


def test_manual_status_change_to_the_same_statuses_emits_nothing(
    crm: CRM, database: FakeDatabase
) -> None:
    contact_id = _contact_with(crm, "open")
    before = len(database.events)
    crm.set_contact_statuses(TENANT, ADMIN, contact_id, prospect=ProspectStatus.CURRENT)
    assert database.events[before:] == []


# --- accounts --------------------------------------------------------------------------------


def test_employee_lead_moves_the_account_statuses_the_same_way(crm: CRM) -> None:
    account = make_account(crm)
    contact = make_contact(crm, account_id=account.id)
    assert account_statuses(crm, account.id) == NOTHING
    lead = make_lead(crm, contact_id=contact.id, account_id=account.id)
    assert account_statuses(crm, account.id) == CURRENT_PROSPECT
    crm.lose_lead(TENANT, ADMIN, lead.id, "Competitor")
    assert account_statuses(crm, account.id) == LOST_PROSPECT
    crm.reopen_lead(TENANT, ADMIN, lead.id)
    crm.win_lead(TENANT, ADMIN, lead.id)
    assert account_statuses(crm, account.id) == (ProspectStatus.NONE, CustomerStatus.CURRENT)


def test_account_counts_the_leads_of_all_its_employees(crm: CRM) -> None:
    account = make_account(crm)
    ceo = make_contact(crm, name="Ceo", account_id=account.id)
    cto = make_contact(crm, name="Cto", account_id=account.id)
    first = make_lead(crm, contact_id=ceo.id)
    make_lead(crm, contact_id=cto.id)
    crm.lose_lead(TENANT, ADMIN, first.id, "Timing")
    assert account_statuses(crm, account.id) == CURRENT_PROSPECT
    assert contact_statuses(crm, ceo.id) == LOST_PROSPECT


def test_account_stays_current_customer_when_a_second_employee_loses_a_lead(crm: CRM) -> None:
    account = make_account(crm)
    ceo = make_contact(crm, name="Ceo", account_id=account.id)
    cto = make_contact(crm, name="Cto", account_id=account.id)
    crm.win_lead(TENANT, ADMIN, make_lead(crm, contact_id=ceo.id).id)
    crm.lose_lead(TENANT, ADMIN, make_lead(crm, contact_id=cto.id).id, "No")
    assert account_statuses(crm, account.id) == (ProspectStatus.NONE, CustomerStatus.CURRENT)
    assert contact_statuses(crm, cto.id) == LOST_PROSPECT


def test_contact_without_account_moves_no_account(crm: CRM) -> None:
    account = make_account(crm)
    loner = make_contact(crm)
    make_lead(crm, contact_id=loner.id, account_id=account.id)
    assert account_statuses(crm, account.id) == NOTHING


def test_moving_primary_contact_to_another_company_moves_both_accounts(crm: CRM) -> None:
    acme, globex = make_account(crm, name="Acme"), make_account(crm, name="Globex")
    at_acme = make_contact(crm, name="A", account_id=acme.id)
    at_globex = make_contact(crm, name="G", account_id=globex.id)
    lead = make_lead(crm, contact_id=at_acme.id)
    crm.win_lead(TENANT, ADMIN, lead.id)
    crm.set_primary_contact(TENANT, ADMIN, lead.id, at_globex.id)
    assert account_statuses(crm, acme.id) == NOTHING
    assert account_statuses(crm, globex.id) == (ProspectStatus.NONE, CustomerStatus.CURRENT)


def test_participant_from_another_account_does_not_move_that_account(crm: CRM) -> None:
    acme, agency = make_account(crm, name="Acme"), make_account(crm, name="Agency")
    buyer = make_contact(crm, name="Buyer", account_id=acme.id)
    broker = make_contact(crm, name="Broker", account_id=agency.id)
    lead = make_lead(crm, contact_id=buyer.id)
    crm.add_participant(TENANT, ADMIN, lead.id, broker.id, role="Intermediary")
    crm.win_lead(TENANT, ADMIN, lead.id)
    assert account_statuses(crm, agency.id) == NOTHING


@pytest.mark.parametrize(
    ("history", "target"),
    [
        ("open", ProspectStatus.NONE),
        ("open", ProspectStatus.LOST),
        ("won", ProspectStatus.LOST),
    ],
)
def test_manual_account_change_contradicting_the_deals_is_refused(
    crm: CRM, history: str, target: ProspectStatus
) -> None:
    account = make_account(crm)
    contact = make_contact(crm, account_id=account.id)
    lead = make_lead(crm, contact_id=contact.id)
    if history == "won":
        crm.win_lead(TENANT, ADMIN, lead.id)
    before = account_statuses(crm, account.id)
    with pytest.raises(RuleViolation) as refused:
        crm.set_account_statuses(TENANT, ADMIN, account.id, prospect=target)
    assert refused.value.code == "account.status.manual_change_forbidden"
    assert account_statuses(crm, account.id) == before


@pytest.mark.parametrize("target", list(ProspectStatus))
def test_manual_account_change_is_free_once_all_leads_are_lost(
    crm: CRM, target: ProspectStatus
) -> None:
    account = make_account(crm)
    contact = make_contact(crm, account_id=account.id)
    crm.lose_lead(TENANT, ADMIN, make_lead(crm, contact_id=contact.id).id, "Price")
    crm.set_account_statuses(
        TENANT, ADMIN, account.id, prospect=target, customer=CustomerStatus.PAST
    )
    assert account_statuses(crm, account.id) == (target, CustomerStatus.PAST)


def test_account_status_change_emits_event(crm: CRM, database: FakeDatabase) -> None:
    account = make_account(crm)
    contact = make_contact(crm, account_id=account.id)
    make_lead(crm, contact_id=contact.id)
    event = next(e for e in database.events if isinstance(e, AccountStatusChanged))
    assert event.subject_id == account.id
    assert event.automatic is True
    change = event.change("prospect_status")
    assert change is not None
    assert (change.before, change.after) == ("none", "current")


# --- the pure rules --------------------------------------------------------------------------


def test_derive_without_leads_forgets_everything() -> None:
    previous = Statuses(prospect=ProspectStatus.LOST, customer=CustomerStatus.CURRENT)
    assert derive(previous, [], newly_won=False) == Statuses()


def test_derive_keeps_a_manual_customer_status_unless_newly_won() -> None:
    previous = Statuses(customer=CustomerStatus.PAST)
    kept = derive(previous, [LeadStatus.WON, LeadStatus.OPEN], newly_won=False)
    assert kept.customer is CustomerStatus.PAST
    won = derive(previous, [LeadStatus.WON], newly_won=True)
    assert won.customer is CustomerStatus.CURRENT


@pytest.mark.parametrize(
    ("leads", "expected"),
    [
        ([], tuple(ProspectStatus)),
        ([LeadStatus.OPEN], (ProspectStatus.CURRENT,)),
        ([LeadStatus.OPEN, LeadStatus.WON], (ProspectStatus.CURRENT,)),
        ([LeadStatus.WON], (ProspectStatus.CURRENT, ProspectStatus.NONE)),
        ([LeadStatus.LOST, LeadStatus.UNQUALIFIED], tuple(ProspectStatus)),
    ],
)
def test_allowed_manual_prospect_lists_only_the_permitted_choices(
    leads: list[LeadStatus], expected: tuple[ProspectStatus, ...]
) -> None:
    assert allowed_manual_prospect(leads) == expected


def test_manual_change_refusal_names_the_reason() -> None:
    with pytest.raises(RuleViolation) as refused:
        check_manual_change(
            Statuses(prospect=ProspectStatus.LOST), [LeadStatus.WON], kind="contact"
        )
    assert refused.value.params == {"reason": "won_lead", "prospect": "lost"}
