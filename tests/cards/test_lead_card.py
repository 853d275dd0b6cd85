"""What the lead card offers depends on the lead's status and on the viewer's rights."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from cards import lead_card, mailto_link, verbs
from cards.i18n import Translator
from cards.lead import REFRESH_USERS_MAX, teams_user_id
from domain.statuses import LeadStatus
from tests.cards.conftest import OWNER, make_contact, make_lead_view, make_user, walk

CHANGE_VERBS = {
    verbs.LEAD_CHANGE_STAGE,
    verbs.LEAD_WIN,
    verbs.LEAD_LOSE,
    verbs.LEAD_DISQUALIFY,
    verbs.LEAD_REOPEN,
    verbs.LEAD_ADD_PARTICIPANT,
    verbs.LEAD_ADD_NEW_PARTICIPANT,
    verbs.LEAD_REMOVE_PARTICIPANT,
    verbs.LEAD_SET_PRIMARY_CONTACT,
    verbs.LEAD_ADD_FOLLOWER,
    verbs.LEAD_DUPLICATE,
    verbs.LEAD_EDIT,
}


def executes(card: dict[str, Any]) -> list[dict[str, Any]]:
    """Every Action.Execute of the card but the automatic refresh."""
    refresh = card.get("refresh", {}).get("action")
    return [
        node for node in walk(card) if node.get("type") == "Action.Execute" and node is not refresh
    ]


def offered(card: dict[str, Any]) -> set[str]:
    return {str(action["verb"]) for action in executes(card)}


def mailto(card: dict[str, Any]) -> str:
    links = [node["url"] for node in walk(card) if node.get("type") == "Action.OpenUrl"]
    found = [link for link in links if str(link).startswith("mailto:")]
    assert len(found) == 1
    return str(found[0])


def test_open_lead_offers_stage_change_and_closing_but_not_reopen() -> None:
    verbs_offered = offered(lead_card(make_lead_view(), Translator("en")))
    assert {verbs.LEAD_CHANGE_STAGE, verbs.LEAD_WIN, verbs.LEAD_LOSE} <= verbs_offered
    assert verbs.LEAD_DISQUALIFY in verbs_offered
    assert verbs.LEAD_REOPEN not in verbs_offered


def test_closed_lead_offers_reopen_and_no_stage_change() -> None:
    for status in (LeadStatus.WON, LeadStatus.LOST, LeadStatus.UNQUALIFIED):
        verbs_offered = offered(lead_card(make_lead_view(status=status), Translator("en")))
        assert verbs.LEAD_REOPEN in verbs_offered
        assert not {verbs.LEAD_CHANGE_STAGE, verbs.LEAD_WIN, verbs.LEAD_LOSE} & verbs_offered
        assert verbs.LEAD_DUPLICATE in verbs_offered  # a renewal starts from a won deal


def test_lost_lead_shows_its_status_and_reason() -> None:
    text = json.dumps(lead_card(make_lead_view(status=LeadStatus.LOST), Translator("pt-BR")))
    assert "Perdido" in text
    assert "Too expensive" in text


def test_follower_without_change_rights_sees_no_change_actions() -> None:
    card = lead_card(make_lead_view(can_change=False), Translator("fr"))
    verbs_offered = offered(card)
    assert not verbs_offered & CHANGE_VERBS
    assert {verbs.LEAD_UNFOLLOW, verbs.LEAD_COMMENT, verbs.LEAD_REFRESH} <= verbs_offered
    assert not [node for node in walk(card) if str(node.get("type", "")).startswith("Input.")][1:]


def test_follow_or_unfollow_depends_on_whether_the_viewer_follows() -> None:
    following = offered(lead_card(make_lead_view(viewer_follows=True), Translator("en")))
    assert verbs.LEAD_UNFOLLOW in following
    assert verbs.LEAD_FOLLOW not in following
    watching = offered(lead_card(make_lead_view(viewer_follows=False), Translator("en")))
    assert verbs.LEAD_FOLLOW in watching
    assert verbs.LEAD_UNFOLLOW not in watching


def test_actions_carry_the_lead_id_and_version_never_display_text() -> None:
    view = make_lead_view()
    for action in executes(lead_card(view, Translator("en"))):
        data = action["data"]
        assert data[verbs.LEAD_ID] == view.lead.id
        if action["verb"] != verbs.LEAD_REFRESH:
            assert data[verbs.VERSION] == 7
        assert set(data) <= {verbs.VERB, verbs.LEAD_ID, verbs.VERSION}


def test_stage_picker_lists_the_pipelines_stages_with_the_current_one_selected() -> None:
    view = make_lead_view()
    card = lead_card(view, Translator("fr"))
    picker = next(node for node in walk(card) if node.get("id") == verbs.IN_STAGE_ID)
    assert [choice["value"] for choice in picker["choices"]] == [s.id for s in view.pipeline.stages]
    assert picker["value"] == view.stage.id
    assert picker["choices"][2]["title"] == "Proposition (50\u00a0%)"


def test_mailto_has_the_contact_in_to_and_participants_in_cc() -> None:
    view = make_lead_view(participants=3, title="Renewal 2026 & more? 50%")
    link = mailto(lead_card(view, Translator("en")))
    parts = urlsplit(link)
    assert parts.scheme == "mailto"
    assert unquote(parts.path) == "carla@client.example"
    query = parse_qs(parts.query)
    assert query["cc"] == [",".join(f"participant.{i}@client.example" for i in range(3))]
    assert query["subject"] == ["Renewal 2026 & more? 50%"]
    assert " " not in link
    assert "&more" not in link  # the "&" of the title is encoded, it cannot start a field


def test_mailto_link_encoding_and_length() -> None:
    link = mailto_link("o'neil+crm@example.com", ["a@x.example", "a@x.example"], "Q1 / Café")
    assert link == "mailto:o%27neil%2Bcrm@example.com?cc=a@x.example&subject=Q1%20%2F%20Caf%C3%A9"
    assert mailto_link(None, [], "x") is None
    assert mailto_link(None, ["a@x.example"], "") == "mailto:?cc=a@x.example"
    many = [f"person{i}.with.a.long.address@client.example" for i in range(200)]
    capped = mailto_link("to@client.example", many, "Deal", max_length=2000)
    assert capped is not None
    assert len(capped) <= 2000
    assert capped.startswith("mailto:to@client.example?cc=person0.")
    assert capped.endswith("&subject=Deal")


def test_no_email_action_when_nobody_has_an_address() -> None:
    view = make_lead_view(participants=0)
    assert view.contact is not None
    view = replace(view, contact=replace(view.contact, email=None))
    card = lead_card(view, Translator("en"))
    assert not [n for n in walk(card) if str(n.get("url", "")).startswith("mailto:")]


def test_refresh_targets_owner_and_followers_capped_at_60() -> None:
    view = make_lead_view(followers=100)
    refresh = lead_card(view, Translator("en"))["refresh"]
    assert refresh["action"]["verb"] == verbs.LEAD_REFRESH
    assert refresh["action"]["data"][verbs.LEAD_ID] == view.lead.id
    assert len(refresh["userIds"]) == REFRESH_USERS_MAX
    assert refresh["userIds"][0] == teams_user_id(OWNER) == f"8:orgid:{OWNER}"
    assert len(set(refresh["userIds"])) == REFRESH_USERS_MAX


def test_refresh_uses_the_teams_ids_the_bot_passes() -> None:
    ids = [f"29:user-{i}" for i in range(70)] + ["29:user-0"]
    refresh = lead_card(make_lead_view(), Translator("en"), refresh_user_ids=ids)["refresh"]
    assert refresh["userIds"] == ids[:60]


def test_people_are_listed_with_roles_and_long_lists_are_cut() -> None:
    card = lead_card(make_lead_view(participants=30, followers=40), Translator("fr"))
    text = json.dumps(card, ensure_ascii=False)
    assert "Participant 0 (Role 0)" in text
    assert "Participant 29" not in text
    assert "et 20 de plus" in text  # 10 participants shown of 30
    assert "et 25 de plus" in text  # 15 followers shown of 40
    assert "Autres participants" in text
    assert "Abonnés" in text


def test_pickers_offer_only_people_not_already_on_the_lead() -> None:
    view = make_lead_view(participants=2, followers=2)
    newcomer = make_contact("Nina Newcomer", account_id=view.lead.account_id)
    already = view.participants[0][0]
    colleague = make_user("Colin Colleague", 7)
    card = lead_card(
        view,
        Translator("en"),
        account_contacts=[newcomer, already],
        colleagues=[colleague, view.followers[0]],
    )

    def choices(input_id: str) -> list[str]:
        picker = next(node for node in walk(card) if node.get("id") == input_id)
        return [choice["value"] for choice in picker["choices"]]

    assert choices(verbs.IN_PARTICIPANT_ID) == [newcomer.id]
    assert choices(verbs.IN_FOLLOWER_USER_ID) == [colleague.id]
    assert choices(verbs.IN_REMOVE_CONTACT_ID) == [c.id for c, _role in view.participants]
    assert newcomer.id in choices(verbs.IN_PRIMARY_CONTACT_ID)


def test_comment_authors_and_times_are_shown() -> None:
    view = make_lead_view(comments=1)
    text = json.dumps(lead_card(view, Translator("pt-BR")), ensure_ascii=False)
    assert "Follower 0 · 05/01/2026 09:30" in text
    assert "Call them back on Monday." in text


def test_user_text_is_never_read_as_markdown() -> None:
    title = "**Big** [deal](https://evil.example)"
    card = lead_card(make_lead_view(title=title), Translator("en"))
    blocks = [node for node in walk(card) if node.get("type") == "TextBlock"]
    assert not [block for block in blocks if "evil.example" in block["text"]]
    runs = [node for node in walk(card) if node.get("type") == "RichTextBlock"]
    assert any(title in json.dumps(run["inlines"], ensure_ascii=False) for run in runs)


def test_french_labels_put_a_no_break_space_before_the_colon() -> None:
    card = lead_card(make_lead_view(), Translator("fr"))
    labels = [
        run["text"]
        for node in walk(card)
        if node.get("type") == "RichTextBlock"
        for run in node["inlines"]
        if isinstance(run, dict) and run.get("weight") == "bolder"
    ]
    assert "Compte\u00a0: " in labels
    assert "Account: " in [
        run["text"]
        for node in walk(lead_card(make_lead_view(), Translator("en")))
        if node.get("type") == "RichTextBlock"
        for run in node["inlines"]
        if isinstance(run, dict)
    ]


def test_details_form_is_filled_in_with_the_lead_as_it_is() -> None:
    view = make_lead_view()
    view.lead.description = "Fleet of 40 vans.\nDelivery in two batches."
    card = lead_card(view, Translator("fr"))
    form = next(
        node
        for node in walk(card)
        if node.get("type") == "Action.ShowCard"
        and any(a.get("verb") == verbs.LEAD_EDIT for a in node["card"]["actions"])
    )
    assert form["title"] == "Modifier les détails"
    values = {node["id"]: node.get("value") for node in walk(form["card"]) if "id" in node}
    assert values == {
        verbs.IN_EDIT_TITLE: "Renewal 2026 & more?",
        verbs.IN_AMOUNT: "1\u202f234,50",
        verbs.IN_CURRENCY: "USD",
        verbs.IN_CLOSE_DATE: "2026-03-31",
        verbs.IN_TAGS: "q1, upsell",
        verbs.IN_DESCRIPTION: "Fleet of 40 vans.\nDelivery in two batches.",
    }
    assert "Delivery in two batches." in json.dumps(card["body"], ensure_ascii=False)


def test_a_lead_without_details_offers_an_empty_form() -> None:
    view = make_lead_view()
    view.lead.amount = None
    view.lead.close_date = None
    view.lead.tags = frozenset()
    card = lead_card(view, Translator("en"))
    inputs = [
        node
        for node in walk(card)
        if node.get("id") in {verbs.IN_AMOUNT, verbs.IN_CLOSE_DATE, verbs.IN_TAGS}
    ]
    assert len(inputs) == 3
    assert all("value" not in node for node in inputs)


def test_a_description_too_long_to_carry_is_left_out_of_the_form() -> None:
    """4,000 CJK characters take 24 KB of the card's 28 KB escaped: the form leaves the input
    out (saving then keeps the description) and says why."""
    view = make_lead_view()
    view.lead.description = "\u5951" * 4000
    card = lead_card(view, Translator("en"))
    assert verbs.IN_DESCRIPTION not in {node.get("id") for node in walk(card)}
    assert "too long to edit here" in json.dumps(card)
    assert verbs.LEAD_EDIT in offered(card)
