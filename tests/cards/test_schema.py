"""Every card validates against the official Adaptive Card 1.5 schema, in every language."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from cards.i18n import Translator
from tests.cards.builders import BUILDERS
from tests.cards.conftest import SCHEMA_PATH, CardValidator, make_lead_view


def test_the_schema_is_the_official_draft_06_one() -> None:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    assert schema["$schema"] == "http://json-schema.org/draft-06/schema#"
    assert schema["id"] == "http://adaptivecards.io/schemas/adaptive-card.json"
    assert "Action.Execute" in schema["definitions"]


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_card_is_valid_adaptive_card_1_5(
    name: str, t: Translator, card_validator: CardValidator
) -> None:
    card = BUILDERS[name](t)
    errors = sorted(card_validator.iter_errors(card), key=lambda error: list(error.path))
    assert [f"{list(e.path)}: {e.message[:200]}" for e in errors] == []
    assert card["version"] == "1.5"
    assert card["lang"] == t.locale


def _broken(card: dict[str, Any], how: str) -> dict[str, Any]:
    broken = copy.deepcopy(card)
    if how == "unknown element":
        broken["body"].append({"type": "Carousel", "pages": []})
    elif how == "unknown property":
        broken["body"][0]["colour"] = "red"
    elif how == "choice without value":
        show = next(a for a in broken["actions"] if a["type"] == "Action.ShowCard")
        del show["card"]["body"][0]["choices"][0]["value"]
    elif how == "verb not a string":
        execute = next(a for a in broken["actions"] if a["type"] == "Action.Execute")
        execute["verb"] = 42
    elif how == "refresh user ids not strings":
        broken["refresh"]["userIds"] = [1, 2]
    return broken


@pytest.mark.parametrize(
    "how",
    [
        "unknown element",
        "unknown property",
        "choice without value",
        "verb not a string",
        "refresh user ids not strings",
    ],
)
def test_validation_really_runs_a_broken_card_fails(
    how: str, card_validator: CardValidator
) -> None:
    card = BUILDERS["lead_open"](Translator("en"))
    assert card_validator.is_valid(card)
    assert not card_validator.is_valid(_broken(card, how))


def test_a_card_that_is_not_a_card_fails(card_validator: CardValidator) -> None:
    assert not card_validator.is_valid({"type": "HeroCard", "title": "x"})
    assert not card_validator.is_valid({"type": "AdaptiveCard", "body": [{"text": "x"}]})


def test_cards_are_plain_json(t: Translator) -> None:
    card = BUILDERS["lead_with_pickers"](t)
    assert json.loads(json.dumps(card)) == card
    assert make_lead_view().lead.title in json.dumps(card, ensure_ascii=False)


def test_the_schema_alone_does_not_check_fallbacks(
    card_validator: CardValidator,
) -> None:
    """Why test_contract validates every fallback itself: FallbackOption's ``pattern`` ignores
    non-strings, so the official schema accepts any object as a fallback."""
    card = BUILDERS["lead_open"](Translator("en"))
    execute = next(a for a in card["actions"] if a["type"] == "Action.Execute")
    execute["fallback"] = {"type": "Action.Submit", "data": 42}
    assert card_validator.is_valid(card)
