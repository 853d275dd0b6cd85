"""Every card fits the 28 KB budget, even for a lead with 100 participants and 100 followers,
long texts and full pickers, in every language."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from cards import BUDGET_BYTES, card_size, lead_card
from cards.elements import StaleCard, card_json, card_json_of, measured
from cards.i18n import Translator
from cards.lead import LeadCardLimits
from cards.lists import fitted
from tests.cards.builders import BUILDERS, LONG
from tests.cards.conftest import make_contact, make_lead_view, make_user, walk


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_card_fits_the_budget(name: str, t: Translator) -> None:
    card = BUILDERS[name](t)
    compact = json.dumps(card, separators=(",", ":"))
    assert len(compact) <= BUDGET_BYTES == 28 * 1024
    assert card_size(card) == len(compact)
    assert len(compact.encode("utf-8")) <= BUDGET_BYTES


def test_size_is_measured_with_non_ascii_escaped() -> None:
    """The budget's measure; escaped text is never shorter than its UTF-8 bytes."""
    card = {"text": "é€"}
    assert card_size(card) == len('{"text":"\\u00e9\\u20ac"}')


def test_a_huge_lead_still_says_how_many_are_left_out(t: Translator) -> None:
    card = BUILDERS["lead_huge"](t)
    more = t.t("list.more", count=0).split("0")[0].strip()
    texts = [json.dumps(node, ensure_ascii=False) for node in walk(card)]
    assert any(more in text for text in texts)
    followers_line = next(
        node
        for node in walk(card)
        if node.get("type") == "RichTextBlock" and "Follower 0" in json.dumps(node)
    )
    assert "Follower 99" not in json.dumps(followers_line)


def test_limits_shrink_only_when_needed() -> None:
    t = Translator("en")
    small = lead_card(make_lead_view(participants=12), t)
    assert "and 2 more" in json.dumps(small)  # the default: 10 participants shown
    view = make_lead_view(participants=100, followers=100, long_names=True, title=LONG[:200])
    contacts = [make_contact(f"{LONG[:150]} {i}") for i in range(100)]
    colleagues = [make_user(f"{LONG[:150]} {i}", i) for i in range(100)]
    big = lead_card(view, t, account_contacts=contacts, colleagues=colleagues)
    assert card_size(big) <= BUDGET_BYTES
    roomy = lead_card(
        view,
        t,
        account_contacts=contacts,
        colleagues=colleagues,
        limits=LeadCardLimits(participants=100, followers=100, choices=100),
    )
    assert card_size(roomy) <= BUDGET_BYTES
    assert LeadCardLimits().halved().halved() == LeadCardLimits(
        participants=2, followers=3, choices=6, comment_chars=150, cc=5
    )


@pytest.mark.parametrize("name", ["lead_open", "lead_with_pickers", "lead_huge", "find_huge"])
def test_a_card_keeps_the_json_it_was_measured_as(name: str, t: Translator) -> None:
    """The answer sends this JSON instead of encoding the card again: it must be the card."""
    card = BUILDERS[name](t)
    assert card_json_of(card) == json.dumps(card, separators=(",", ":"))


def test_a_list_card_keeps_the_json_it_was_measured_as(t: Translator) -> None:
    card = fitted(lambda limit: {"type": "AdaptiveCard", "body": [{"n": n} for n in range(limit)]})
    assert card_json_of(card) == json.dumps(card, separators=(",", ":"))


@pytest.mark.parametrize(
    "change",
    [
        lambda c: c.__setitem__("version", "1.4"),
        lambda c: c.__delitem__("version"),
        lambda c: c.update(version="1.4"),
        lambda c: c.setdefault("speak", "hello"),
        lambda c: c.pop("version"),
        lambda c: c.popitem(),
        lambda c: c.clear(),
        lambda c: c.__ior__({"version": "1.4"}),
    ],
)
def test_changing_a_measured_card_forgets_its_json(change: Any) -> None:
    card = measured({"type": "AdaptiveCard", "version": "1.5", "body": []})
    assert card_json_of(card) is not None
    change(card)
    assert card_json_of(card) is None
    assert card_json(card) == json.dumps(card, separators=(",", ":"))
    assert card_json_of(measured(card)) == json.dumps(card, separators=(",", ":"))


def test_a_measured_card_is_shared_not_copied_by_deepcopy() -> None:
    """botbuilder deep-copies each activity it sends; the finished card needs no copy."""
    card = measured({"type": "AdaptiveCard", "body": [{"type": "TextBlock", "text": "x"}]})
    holder = {"attachments": [{"content": card}]}
    copied = copy.deepcopy(holder)
    assert copied["attachments"][0]["content"] is card
    assert copied["attachments"] is not holder["attachments"]


def test_a_card_changed_inside_after_it_was_measured_is_caught_in_tests() -> None:
    """Changes inside a measured card's lists are not tracked; the suite's check catches them."""
    card = measured({"type": "AdaptiveCard", "body": [{"type": "TextBlock", "text": "x"}]})
    card["body"].append({"type": "TextBlock", "text": "added later"})
    with pytest.raises(StaleCard):
        card_json_of(card)
