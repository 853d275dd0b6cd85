"""The cards keep the contract in ``cards.verbs``: every action is a known verb with its fixed
data, gathers only the inputs the bot expects, and falls back to an equivalent Action.Submit."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from cards import verbs
from cards.i18n import Translator
from tests.cards.builders import BUILDERS
from tests.cards.conftest import schema_validator, walk

SUBMIT = schema_validator("Action.Submit")


def scoped_actions(
    card: dict[str, Any], inherited: frozenset[str] = frozenset()
) -> Iterator[tuple[dict[str, Any], frozenset[str]]]:
    """(action, ids of the inputs it gathers): a card's own inputs plus its parents', which
    is how Teams collects them for an action inside an Action.ShowCard."""
    own: set[str] = set()
    actions: list[dict[str, Any]] = list(card.get("actions", []))
    stack: list[Any] = list(card.get("body", []))
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if str(node.get("type", "")).startswith("Input."):
                own.add(str(node["id"]))
            if node.get("type") == "ActionSet":
                actions += node["actions"]
            if "selectAction" in node:
                actions.append(node["selectAction"])
            stack += [value for key, value in node.items() if key in {"items", "columns"}]
        elif isinstance(node, list):
            stack += node
    scope = inherited | own
    for action in actions:
        yield action, scope
        if action["type"] == "Action.ShowCard":
            yield from scoped_actions(action["card"], scope)
    if "refresh" in card:
        yield card["refresh"]["action"], frozenset()


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_every_action_keeps_the_verb_contract(name: str, t: Translator) -> None:
    card = BUILDERS[name](t)
    for action, inputs in scoped_actions(card):
        if action["type"] != "Action.Execute":
            continue
        verb = action["verb"]
        assert verb in verbs.CONTRACT, verb
        fixed, expected_inputs = verbs.CONTRACT[verb]
        data = action["data"]
        assert data[verbs.VERB] == verb
        assert set(fixed) <= set(data), (verb, data)
        assert all(isinstance(value, str | int) for value in data.values())
        gathered = frozenset() if action.get("associatedInputs") == "none" else inputs
        assert gathered <= set(expected_inputs), (verb, sorted(gathered))


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_every_execute_falls_back_to_an_equivalent_submit(name: str, t: Translator) -> None:
    card = BUILDERS[name](t)
    executes = [node for node in walk(card) if node.get("type") == "Action.Execute"]
    for action in executes:
        fallback = action["fallback"]
        errors = [error.message for error in SUBMIT.iter_errors(fallback)]
        assert errors == []
        assert fallback["type"] == "Action.Submit"
        assert fallback["data"] == action["data"]
        assert fallback["title"] == action["title"]
        assert fallback.get("associatedInputs") == action.get("associatedInputs")


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_input_ids_are_unique_within_a_card(name: str, t: Translator) -> None:
    card = BUILDERS[name](t)
    ids = [node["id"] for node in walk(card) if str(node.get("type", "")).startswith("Input.")]
    assert len(ids) == len(set(ids))


def test_the_contract_names_every_verb_constant() -> None:
    constants = {
        value
        for name, value in vars(verbs).items()
        if name.isupper() and isinstance(value, str) and not name.startswith("IN_")
    }
    data_keys = {
        verbs.VERB,
        verbs.LEAD_ID,
        verbs.ACCOUNT_ID,
        verbs.CONTACT_ID,
        verbs.PIPELINE_ID,
        verbs.VERSION,
        verbs.QUERY,
        verbs.CURSOR,
    }
    assert constants - data_keys == verbs.ALL_VERBS


def test_every_verb_appears_on_some_card() -> None:
    seen = {
        node["verb"]
        for build in BUILDERS.values()
        for node in walk(build(Translator("en")))
        if node.get("type") == "Action.Execute"
    }
    assert seen == verbs.ALL_VERBS
