"""The shape of the main cards, written out: a change to what users can do shows up here as a
diff to review, not as a silent side effect of a refactoring."""

from __future__ import annotations

from typing import Any

from cards import contact_card, lead_card
from cards.i18n import Translator
from domain.statuses import LeadStatus
from tests.cards.conftest import make_contact, make_contact_view, make_lead_view, make_user

Outline = list[tuple[Any, ...]]


def outline(card: dict[str, Any]) -> Outline:
    """Each action as (title, verb) or (title, its inputs, its own actions) for show cards."""
    shape: Outline = []
    for action in card.get("actions", []):
        if action["type"] == "Action.ShowCard":
            inputs = [element["id"] for element in action["card"]["body"] if "id" in element]
            shape.append((action["title"], inputs, outline(action["card"])))
        elif action["type"] == "Action.Execute":
            shape.append((action["title"], action["verb"]))
        else:
            shape.append((action["title"], action["type"]))
    return shape


def test_open_lead_for_someone_who_works_it() -> None:
    card = lead_card(
        make_lead_view(),
        Translator("en"),
        account_contacts=[make_contact("Nina")],
        colleagues=[make_user("Colin")],
    )
    assert outline(card) == [
        ("Change stage", ["stage_id"], [("Move", "lead.change_stage")]),
        (
            "Won / Lost",
            ["reason"],
            [("Won", "lead.win"), ("Lost", "lead.lose"), ("Unqualified", "lead.disqualify")],
        ),
        (
            "People",
            [],
            [
                (
                    "Add a participant",
                    ["participant_contact_id", "participant_role"],
                    [("Add", "lead.add_participant")],
                ),
                (
                    "Add a new person",
                    ["new_contact_name", "new_contact_email", "new_contact_role"],
                    [("Add", "lead.add_new_participant")],
                ),
                (
                    "Remove a participant",
                    ["remove_contact_id"],
                    [("Remove", "lead.remove_participant")],
                ),
                (
                    "Change the Contact",
                    ["primary_contact_id", "keep_previous"],
                    [("Save", "lead.set_primary_contact")],
                ),
                (
                    "Add a follower",
                    ["follower_user_id", "follower_email"],
                    [("Add", "lead.add_follower")],
                ),
            ],
        ),
        ("Unfollow", "lead.unfollow"),
        ("Comment", ["comment_text"], [("Post", "lead.comment")]),
        (
            "More",
            [],
            [
                (
                    "Edit details",
                    ["edit_title", "amount", "currency", "close_date", "tags", "description"],
                    [("Save", "lead.edit")],
                ),
                (
                    "Duplicate (upsell / renewal)",
                    ["duplicate_title"],
                    [("Duplicate (upsell / renewal)", "lead.duplicate")],
                ),
                (
                    "Remind me",
                    ["reminder_date", "reminder_time", "reminder_text"],
                    [("Save", "lead.remind")],
                ),
                ("Email the Contact", "Action.OpenUrl"),
                ("Refresh", "lead.refresh"),
            ],
        ),
    ]


def test_won_lead_for_a_follower() -> None:
    card = lead_card(
        make_lead_view(status=LeadStatus.WON, can_change=False, viewer_follows=True),
        Translator("en"),
    )
    assert outline(card) == [
        ("Unfollow", "lead.unfollow"),
        ("Comment", ["comment_text"], [("Post", "lead.comment")]),
        ("More", [], [("Email the Contact", "Action.OpenUrl"), ("Refresh", "lead.refresh")]),
    ]


def test_contact_card() -> None:
    card = contact_card(make_contact_view(), Translator("en"))
    assert outline(card) == [
        (
            "Change statuses",
            ["prospect_status", "customer_status"],
            [("Save", "contact.set_status")],
        ),
        ("Open the account", "account.show"),
        ("Email", "Action.OpenUrl"),
    ]
