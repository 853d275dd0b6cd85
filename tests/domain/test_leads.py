"""Leads: stages and status, the people involved, followers, duplicates, comments, reminders."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from domain.errors import AccessDenied, Conflict, InvalidInput, NotFound, RuleViolation
from domain.events import (
    FollowerAdded,
    LeadCreated,
    LeadStageChanged,
    LeadStatusChanged,
    event_names,
)
from domain.ids import ContactId, UserId
from domain.leads import Participant
from domain.services import CRM, NewContact
from domain.statuses import LeadStatus
from tests.domain.factories import make_account, make_contact, make_lead
from tests.domain.fakes import FakeClock, FakeDatabase
from tests.domain.people import ADMIN, ALICE, BOB, OTHER_TENANT, TENANT


def _stages(crm: CRM) -> list[str]:
    pipeline = next(p for p in crm.pipelines(TENANT) if p.is_default)
    return [stage.id for stage in pipeline.stages]


def _other_pipeline_stage(crm: CRM) -> str:
    pipeline = crm.create_pipeline(
        TENANT, ADMIN, name="Renewals", stages=[("Due", 50), ("Signed", 90)]
    )
    return pipeline.stages[1].id


# --- stages and status -----------------------------------------------------------------------


def test_new_lead_is_open_at_the_first_stage_of_the_default_pipeline(crm: CRM) -> None:
    lead = make_lead(crm)
    assert lead.status is LeadStatus.OPEN
    assert lead.stage_id == _stages(crm)[0]
    assert lead.number == 1
    assert make_lead(crm).number == 2


def test_open_lead_changes_stage_and_records_before_and_after(
    crm: CRM, database: FakeDatabase
) -> None:
    lead = make_lead(crm)
    first, second = _stages(crm)[:2]
    changed = crm.change_stage(TENANT, ADMIN, lead.id, second)
    assert changed.stage_id == second
    event = database.events[-1]
    assert isinstance(event, LeadStageChanged)
    stage_change = event.change("stage_id")
    assert stage_change is not None
    assert (stage_change.before, stage_change.after) == (first, second)


def test_moving_to_the_current_stage_is_no_change(crm: CRM, database: FakeDatabase) -> None:
    lead = make_lead(crm)
    before = len(database.events)
    crm.change_stage(TENANT, ADMIN, lead.id, lead.stage_id)
    assert database.events[before:] == []


@pytest.mark.parametrize("outcome", ["won", "lost", "unqualified"])
def test_closed_lead_cannot_change_stage(crm: CRM, outcome: str) -> None:
    lead = make_lead(crm)
    if outcome == "won":
        crm.win_lead(TENANT, ADMIN, lead.id)
    elif outcome == "lost":
        crm.lose_lead(TENANT, ADMIN, lead.id, "Price")
    else:
        crm.disqualify_lead(TENANT, ADMIN, lead.id)
    with pytest.raises(RuleViolation) as refused:
        crm.change_stage(TENANT, ADMIN, lead.id, _stages(crm)[2])
    assert refused.value.code == "lead.closed"
    assert refused.value.params == {"lead_id": lead.id, "status": outcome}
    assert crm.get_lead(TENANT, ADMIN, lead.id).stage_id == _stages(crm)[0]


def test_closed_lead_cannot_be_closed_again(crm: CRM) -> None:
    lead = make_lead(crm)
    crm.win_lead(TENANT, ADMIN, lead.id)
    with pytest.raises(RuleViolation, match=r"lead\.closed"):
        crm.lose_lead(TENANT, ADMIN, lead.id, "Changed mind")


def test_reopened_lead_can_change_stage_again(crm: CRM) -> None:
    lead = make_lead(crm)
    crm.lose_lead(TENANT, ADMIN, lead.id, "Price")
    reopened = crm.reopen_lead(TENANT, ADMIN, lead.id)
    assert reopened.status is LeadStatus.OPEN
    assert reopened.lost_reason is None
    assert reopened.closed_at is None
    assert crm.change_stage(TENANT, ADMIN, lead.id, _stages(crm)[3]).stage_id == _stages(crm)[3]


def test_reopening_an_open_lead_is_refused(crm: CRM) -> None:
    lead = make_lead(crm)
    with pytest.raises(RuleViolation) as refused:
        crm.reopen_lead(TENANT, ADMIN, lead.id)
    assert refused.value.code == "lead.already_open"


def test_stage_of_another_pipeline_is_refused(crm: CRM) -> None:
    lead = make_lead(crm)
    foreign_stage = _other_pipeline_stage(crm)
    with pytest.raises(RuleViolation) as refused:
        crm.change_stage(TENANT, ADMIN, lead.id, foreign_stage)
    assert refused.value.code == "lead.stage_not_in_pipeline"
    assert refused.value.params["stage_id"] == foreign_stage
    assert refused.value.params["pipeline_id"] == lead.pipeline_id


def test_unknown_stage_is_not_found(crm: CRM) -> None:
    lead = make_lead(crm)
    with pytest.raises(NotFound) as refused:
        crm.change_stage(TENANT, ADMIN, lead.id, "no-such-stage")
    assert refused.value.code == "stage.not_found"


def test_moving_to_another_pipeline_starts_at_its_first_stage(crm: CRM) -> None:
    lead = make_lead(crm)
    renewals = crm.create_pipeline(TENANT, ADMIN, name="Renewals", stages=[("Due", 50)])
    moved = crm.move_lead_to_pipeline(TENANT, ADMIN, lead.id, renewals.id)
    assert (moved.pipeline_id, moved.stage_id) == (renewals.id, renewals.stages[0].id)
    assert crm.change_stage(TENANT, ADMIN, lead.id, renewals.stages[0].id).stage_id


def test_closed_lead_cannot_move_to_another_pipeline(crm: CRM) -> None:
    lead = make_lead(crm)
    renewals = crm.create_pipeline(TENANT, ADMIN, name="Renewals", stages=[("Due", 50)])
    crm.win_lead(TENANT, ADMIN, lead.id)
    with pytest.raises(RuleViolation, match=r"lead\.closed"):
        crm.move_lead_to_pipeline(TENANT, ADMIN, lead.id, renewals.id)


def test_winning_closes_the_lead_at_the_clock_time(crm: CRM, clock: FakeClock) -> None:
    lead = make_lead(crm)
    clock.advance(days=3)
    won = crm.win_lead(TENANT, ADMIN, lead.id)
    assert won.status is LeadStatus.WON
    assert not won.is_open
    assert won.closed_at == clock.now()


@pytest.mark.parametrize("reason", ["", "   ", "\n\t"])
def test_losing_requires_a_reason(crm: CRM, reason: str) -> None:
    lead = make_lead(crm)
    with pytest.raises(InvalidInput) as refused:
        crm.lose_lead(TENANT, ADMIN, lead.id, reason)
    assert refused.value.code == "input.required"
    assert refused.value.params == {"field": "reason"}
    assert crm.get_lead(TENANT, ADMIN, lead.id).is_open


def test_lost_lead_keeps_its_reason_and_says_it_in_the_event(
    crm: CRM, database: FakeDatabase
) -> None:
    lead = make_lead(crm)
    lost = crm.lose_lead(TENANT, ADMIN, lead.id, "  Went with   a competitor ")
    assert lost.lost_reason == "Went with a competitor"
    event = next(e for e in reversed(database.events) if isinstance(e, LeadStatusChanged))
    assert event.lost_reason == "Went with a competitor"
    status = event.change("status")
    assert status is not None
    assert (status.before, status.after) == ("open", "lost")


def test_disqualifying_needs_no_reason(crm: CRM) -> None:
    lead = make_lead(crm)
    assert crm.disqualify_lead(TENANT, ADMIN, lead.id).status is LeadStatus.UNQUALIFIED


def test_update_lead_cleans_and_records_the_details(crm: CRM, database: FakeDatabase) -> None:
    lead = make_lead(crm)
    updated = crm.update_lead(
        TENANT,
        ADMIN,
        lead.id,
        title=" Bigger  site ",
        amount="1200.5",
        currency="eur",
        close_date="2026-03-31",
        tags=["Q1", " q1 ", "Web"],
    )
    assert updated.title == "Bigger site"
    assert updated.amount == Decimal("1200.50")
    assert updated.currency == "EUR"
    assert updated.tags == frozenset({"q1", "web"})
    fields = {change.field for event in database.events[-2:] for change in event.changes}
    assert {"title", "amount", "currency", "close_date", "tags"} <= fields


@pytest.mark.parametrize("amount", ["-1", "abc", "1.001", "NaN", 1.5, True])
def test_bad_amount_on_a_lead_is_refused(crm: CRM, amount: object) -> None:
    lead = make_lead(crm)
    with pytest.raises(InvalidInput, match=r"input\.invalid_amount"):
        crm.update_lead(TENANT, ADMIN, lead.id, amount=amount)


def test_change_owner_makes_the_new_owner_follow(crm: CRM) -> None:
    lead = make_lead(crm)
    changed = crm.change_owner(TENANT, ADMIN, lead.id, ALICE)
    assert changed.owner_id == ALICE
    assert changed.follower_ids == {ADMIN, ALICE}


def test_lead_by_number_finds_the_lead(crm: CRM) -> None:
    lead = make_lead(crm)
    assert crm.lead_by_number(TENANT, ADMIN, lead.number).id == lead.id
    with pytest.raises(NotFound, match=r"lead\.not_found"):
        crm.lead_by_number(TENANT, ADMIN, 999)


# --- primary Contact and other participants --------------------------------------------------


def test_primary_contact_cannot_also_be_a_participant(crm: CRM) -> None:
    contact = make_contact(crm)
    lead = make_lead(crm, contact_id=contact.id)
    with pytest.raises(RuleViolation) as refused:
        crm.add_participant(TENANT, ADMIN, lead.id, contact.id)
    assert refused.value.code == "lead.participant_is_primary"
    assert refused.value.params == {"contact_id": contact.id}


def test_same_participant_cannot_be_added_twice(crm: CRM) -> None:
    lead = make_lead(crm)
    other = make_contact(crm)
    crm.add_participant(TENANT, ADMIN, lead.id, other.id, role="CFO")
    with pytest.raises(RuleViolation, match=r"lead\.participant_duplicate"):
        crm.add_participant(TENANT, ADMIN, lead.id, other.id, role="Buyer")
    assert crm.get_lead(TENANT, ADMIN, lead.id).participants == (
        Participant(contact_id=other.id, role="CFO"),
    )


def test_participant_roles_change_and_participants_leave(crm: CRM) -> None:
    lead = make_lead(crm)
    other = make_contact(crm)
    crm.add_participant(TENANT, ADMIN, lead.id, other.id)
    changed = crm.set_participant_role(TENANT, ADMIN, lead.id, other.id, "Sponsor")
    assert changed.participants == (Participant(contact_id=other.id, role="Sponsor"),)
    assert crm.remove_participant(TENANT, ADMIN, lead.id, other.id).participants == ()
    with pytest.raises(NotFound, match=r"participant\.not_found"):
        crm.remove_participant(TENANT, ADMIN, lead.id, other.id)


def _lead_with_people(crm: CRM) -> tuple[str, ContactId, ContactId, ContactId]:
    primary = make_contact(crm, name="Primary")
    cfo = make_contact(crm, name="Cfo")
    cto = make_contact(crm, name="Cto")
    lead = make_lead(crm, contact_id=primary.id)
    crm.add_participant(TENANT, ADMIN, lead.id, cfo.id, role="CFO")
    crm.add_participant(TENANT, ADMIN, lead.id, cto.id, role="CTO")
    return lead.id, primary.id, cfo.id, cto.id


def test_changing_primary_contact_drops_the_old_one_unless_asked(crm: CRM) -> None:
    lead_id, primary, cfo, cto = _lead_with_people(crm)
    newcomer = make_contact(crm, name="New")
    changed = crm.set_primary_contact(TENANT, ADMIN, lead_id, newcomer.id)
    assert changed.contact_id == newcomer.id
    assert changed.participants == (
        Participant(contact_id=cfo, role="CFO"),
        Participant(contact_id=cto, role="CTO"),
    )
    assert not changed.involves(primary)


def test_changing_primary_contact_keeps_the_old_one_as_participant_when_asked(crm: CRM) -> None:
    lead_id, primary, cfo, cto = _lead_with_people(crm)
    newcomer = make_contact(crm, name="New")
    changed = crm.set_primary_contact(
        TENANT, ADMIN, lead_id, newcomer.id, keep_previous_as_participant=True
    )
    assert changed.participants == (
        Participant(contact_id=cfo, role="CFO"),
        Participant(contact_id=cto, role="CTO"),
        Participant(contact_id=primary),
    )


def test_participant_made_primary_leaves_the_participants(crm: CRM) -> None:
    lead_id, primary, cfo, cto = _lead_with_people(crm)
    changed = crm.set_primary_contact(
        TENANT, ADMIN, lead_id, cfo, keep_previous_as_participant=True
    )
    assert changed.contact_id == cfo
    assert changed.participants == (
        Participant(contact_id=cto, role="CTO"),
        Participant(contact_id=primary),
    )


def test_new_participant_is_created_in_the_lead_account(crm: CRM, database: FakeDatabase) -> None:
    account = make_account(crm)
    lead = make_lead(crm, account_id=account.id)
    changed, contact = crm.add_new_participant(
        TENANT, ADMIN, lead.id, NewContact(name="Dora", email="dora@acme.example"), role="Legal"
    )
    assert contact.account_id == account.id
    assert changed.participants == (Participant(contact_id=contact.id, role="Legal"),)
    assert sorted(event_names(database.events[-2:])) == [
        "contact.created",
        "lead.participant_added",
    ]


# --- followers -------------------------------------------------------------------------------


def test_owner_follows_a_new_lead(crm: CRM) -> None:
    assert make_lead(crm, actor=ALICE).follower_ids == {ALICE}


def test_follower_must_be_a_user_of_the_tenant(crm: CRM, database: FakeDatabase) -> None:
    lead = make_lead(crm)
    crm.register_user(OTHER_TENANT, UserId("aad-stranger"), display_name="Stranger")
    for outsider in (UserId("aad-nobody"), UserId("aad-stranger")):
        before = len(database.events)
        with pytest.raises(NotFound) as refused:
            crm.add_follower(TENANT, ADMIN, lead.id, outsider)
        assert refused.value.code == "user.not_found"
        assert database.events[before:] == []


def test_following_is_independent_of_participating(crm: CRM) -> None:
    lead = make_lead(crm)
    contact = make_contact(crm)
    crm.add_participant(TENANT, ADMIN, lead.id, contact.id)
    followed = crm.add_follower(TENANT, ADMIN, lead.id, ALICE)
    assert followed.follower_ids == {ADMIN, ALICE}
    assert followed.participants == (Participant(contact_id=contact.id),)
    unfollowed = crm.unfollow(TENANT, ALICE, lead.id)
    assert unfollowed.follower_ids == {ADMIN}
    assert unfollowed.participants == (Participant(contact_id=contact.id),)


def test_adding_a_follower_twice_records_one_event(crm: CRM, database: FakeDatabase) -> None:
    lead = make_lead(crm)
    crm.add_follower(TENANT, ADMIN, lead.id, ALICE)
    crm.add_follower(TENANT, ADMIN, lead.id, ALICE)
    added = [e for e in database.events if isinstance(e, FollowerAdded) and e.user_id == ALICE]
    assert len(added) == 1


def test_only_someone_who_may_change_the_lead_adds_a_follower(crm: CRM) -> None:
    lead = make_lead(crm)
    with pytest.raises(AccessDenied, match=r"lead\.access_denied"):
        crm.add_follower(TENANT, BOB, lead.id, BOB)
    crm.add_follower(TENANT, ADMIN, lead.id, ALICE)
    with pytest.raises(AccessDenied, match=r"lead\.access_denied"):
        crm.add_follower(TENANT, ALICE, lead.id, BOB)


def test_follower_reads_that_lead_alone_and_changes_nothing(crm: CRM) -> None:
    account = make_account(crm)
    contact = make_contact(crm, account_id=account.id)
    lead = make_lead(crm, account_id=account.id, contact_id=contact.id)
    sibling = make_lead(crm, account_id=account.id, title="Sibling")
    crm.add_follower(TENANT, ADMIN, lead.id, ALICE)

    assert crm.get_lead(TENANT, ALICE, lead.id).id == lead.id
    view = crm.lead_view(TENANT, ALICE, lead.id)
    assert view.can_change is False
    assert view.viewer_follows is True
    crm.comment(TENANT, ALICE, lead.id, "Following along")
    for denied in (
        lambda: crm.get_account(TENANT, ALICE, account.id),
        lambda: crm.get_lead(TENANT, ALICE, sibling.id),
        lambda: crm.get_contact(TENANT, ALICE, contact.id),
        lambda: crm.update_lead(TENANT, ALICE, lead.id, title="Mine now"),
        lambda: crm.change_stage(TENANT, ALICE, lead.id, _stages(crm)[1]),
        lambda: crm.win_lead(TENANT, ALICE, lead.id),
    ):
        with pytest.raises(AccessDenied):
            denied()


def test_anyone_who_sees_a_lead_may_follow_it(crm: CRM) -> None:
    account = make_account(crm, responsible_ids=[ALICE])
    lead = make_lead(crm, account_id=account.id)
    assert ALICE in crm.follow(TENANT, ALICE, lead.id).follower_ids
    with pytest.raises(AccessDenied):
        crm.follow(TENANT, BOB, lead.id)


def test_unfollowing_a_lead_one_does_not_follow_is_not_found(crm: CRM) -> None:
    lead = make_lead(crm)
    with pytest.raises(NotFound, match=r"follower\.not_found"):
        crm.remove_follower(TENANT, ADMIN, lead.id, ALICE)


# --- duplicate for upsell / renewal ----------------------------------------------------------


def test_duplicate_copies_the_people_and_tags_and_starts_over(
    crm: CRM, database: FakeDatabase
) -> None:
    account = make_account(crm, responsible_ids=[ALICE])
    primary = make_contact(crm, name="Primary", account_id=account.id)
    cfo = make_contact(crm, name="Cfo", account_id=account.id)
    origin = make_lead(
        crm, actor=ALICE, account_id=account.id, contact_id=primary.id, tags=["renewal"]
    )
    crm.add_participant(TENANT, ALICE, origin.id, cfo.id, role="CFO")
    crm.add_follower(TENANT, ALICE, origin.id, BOB)
    crm.change_stage(TENANT, ALICE, origin.id, _stages(crm)[3])
    crm.win_lead(TENANT, ALICE, origin.id)

    copy = crm.duplicate_lead(TENANT, ADMIN, origin.id, title="Year 2")

    assert copy.id != origin.id
    assert copy.number > origin.number
    assert copy.title == "Year 2"
    assert copy.origin_lead_id == origin.id
    assert copy.status is LeadStatus.OPEN
    assert copy.stage_id == _stages(crm)[0]
    assert copy.account_id == account.id
    assert copy.contact_id == primary.id
    assert copy.participants == (Participant(contact_id=cfo.id, role="CFO"),)
    assert copy.follower_ids == {ALICE, BOB, ADMIN}
    assert copy.tags == {"renewal"}
    created = next(
        e for e in database.events if isinstance(e, LeadCreated) and e.subject_id == copy.id
    )
    assert created.origin_lead_id == origin.id
    assert crm.get_lead(TENANT, ADMIN, origin.id).status is LeadStatus.WON


def test_duplicate_keeps_the_title_when_none_given(crm: CRM) -> None:
    origin = make_lead(crm, title="Support contract")
    assert crm.duplicate_lead(TENANT, ADMIN, origin.id, title="  ").title == "Support contract"


# --- comments and reminders ------------------------------------------------------------------


def test_comment_records_its_mentions(crm: CRM, database: FakeDatabase) -> None:
    lead = make_lead(crm)
    comment = crm.comment(TENANT, ADMIN, lead.id, "Please call them", mentions=[ALICE, ALICE])
    assert comment.mentions == (ALICE,)
    assert comment.author_id == ADMIN
    assert crm.lead_view(TENANT, ADMIN, lead.id).latest_comments == (comment,)
    assert event_names(database.events[-1:]) == ["lead.comment_added"]


def test_comment_mentioning_an_unknown_user_is_refused(crm: CRM, database: FakeDatabase) -> None:
    lead = make_lead(crm)
    before = len(database.events)
    with pytest.raises(NotFound) as refused:
        crm.comment(TENANT, ADMIN, lead.id, "Hi", mentions=[ALICE, UserId("aad-ghost")])
    assert refused.value.params["user_id"] == "aad-ghost"
    assert database.events[before:] == []
    assert crm.lead_view(TENANT, ADMIN, lead.id).latest_comments == ()


def test_empty_comment_is_refused(crm: CRM) -> None:
    lead = make_lead(crm)
    with pytest.raises(InvalidInput, match=r"input\.required"):
        crm.comment(TENANT, ADMIN, lead.id, "  \n ")


def test_latest_comments_come_newest_first(crm: CRM, clock: FakeClock) -> None:
    lead = make_lead(crm)
    texts = []
    for index in range(7):
        clock.advance(minutes=1)
        texts.append(crm.comment(TENANT, ADMIN, lead.id, f"note {index}").text)
    latest = crm.lead_view(TENANT, ADMIN, lead.id).latest_comments
    assert [c.text for c in latest] == list(reversed(texts))[:5]


def test_reminder_is_scheduled_and_completed_once(crm: CRM, clock: FakeClock) -> None:
    lead = make_lead(crm)
    due = clock.now() + timedelta(days=2)
    reminder = crm.schedule_reminder(
        TENANT, ADMIN, lead.id, due_at=due, text="Follow up", assignee_id=ALICE
    )
    assert (reminder.assignee_id, reminder.due_at, reminder.done) == (ALICE, due, False)
    assert crm.complete_reminder(TENANT, ALICE, reminder.id).done is True
    with pytest.raises(RuleViolation, match=r"reminder\.already_done"):
        crm.complete_reminder(TENANT, ALICE, reminder.id)


def test_reminder_needs_an_aware_due_date_and_a_known_assignee(crm: CRM) -> None:
    lead = make_lead(crm)
    with pytest.raises(InvalidInput, match=r"input\.naive_datetime"):
        crm.schedule_reminder(
            TENANT,
            ADMIN,
            lead.id,
            due_at=datetime(2026, 2, 1, 9, 0),  # noqa: DTZ001 - the naive datetime is the point
            text="x",
        )
    with pytest.raises(NotFound, match=r"user\.not_found"):
        crm.schedule_reminder(
            TENANT,
            ADMIN,
            lead.id,
            due_at=datetime(2026, 2, 1, tzinfo=UTC),
            text="x",
            assignee_id=UserId("aad-ghost"),
        )


def test_someone_else_cannot_complete_a_reminder_without_change_rights(crm: CRM) -> None:
    lead = make_lead(crm)
    reminder = crm.schedule_reminder(
        TENANT, ADMIN, lead.id, due_at=datetime(2026, 2, 1, tzinfo=UTC), text="Call"
    )
    with pytest.raises(AccessDenied):
        crm.complete_reminder(TENANT, BOB, reminder.id)
    with pytest.raises(NotFound, match=r"reminder\.not_found"):
        crm.complete_reminder(TENANT, ADMIN, "no-such-reminder")


# --- optimistic concurrency ------------------------------------------------------------------


def test_stale_version_is_a_conflict_and_changes_nothing(crm: CRM, database: FakeDatabase) -> None:
    lead = make_lead(crm)
    stale = lead.version
    crm.update_lead(TENANT, ADMIN, lead.id, title="Renamed", expected_version=stale)
    before_events, before = len(database.events), crm.get_lead(TENANT, ADMIN, lead.id)
    with pytest.raises(Conflict) as refused:
        crm.change_stage(TENANT, ADMIN, lead.id, _stages(crm)[1], expected_version=stale)
    assert refused.value.code == "lead.conflict"
    assert refused.value.params == {
        "kind": "lead",
        "id": lead.id,
        "expected": stale,
        "actual": stale + 1,
    }
    assert crm.get_lead(TENANT, ADMIN, lead.id) == before
    assert database.events[before_events:] == []


def test_current_version_is_accepted_and_bumped(crm: CRM) -> None:
    lead = make_lead(crm)
    crm.change_stage(TENANT, ADMIN, lead.id, _stages(crm)[1], expected_version=lead.version)
    assert crm.get_lead(TENANT, ADMIN, lead.id).version == lead.version + 1


def test_unfollowing_with_a_stale_version_is_a_conflict(crm: CRM) -> None:
    lead = make_lead(crm)
    crm.add_follower(TENANT, ADMIN, lead.id, ALICE)
    with pytest.raises(Conflict):
        crm.remove_follower(TENANT, ALICE, lead.id, ALICE, expected_version=lead.version)
    assert ALICE in crm.get_lead(TENANT, ADMIN, lead.id).follower_ids
