"""Reading cards the way a person clicks them: find a button by verb, the choices of an input."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any


def walk(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from walk(value)
    elif isinstance(node, list):
        for item in node:
            yield from walk(item)


def actions(card: dict[str, Any], verb: str) -> list[dict[str, Any]]:
    """Every Action.Execute of the card (shown or inside a ShowCard) with that verb."""
    return [
        node
        for node in walk(card)
        if node.get("type") == "Action.Execute" and node.get("verb") == verb
    ]


def action_data(card: dict[str, Any], verb: str) -> dict[str, Any]:
    found = actions(card, verb)
    assert found, f"no {verb!r} button on the card"
    data: dict[str, Any] = dict(found[0].get("data") or {})
    return data


def has_action(card: dict[str, Any], verb: str) -> bool:
    return bool(actions(card, verb))


def choices(card: dict[str, Any], input_id: str) -> dict[str, str]:
    """title -> value of an Input.ChoiceSet."""
    for node in walk(card):
        if node.get("type") == "Input.ChoiceSet" and node.get("id") == input_id:
            return {c["title"]: c["value"] for c in node.get("choices", [])}
    raise AssertionError(f"no choice set {input_id!r} on the card")


def texts(card: dict[str, Any]) -> str:
    """All visible text of a card, to assert what a person reads."""
    parts = []
    for node in walk(card):
        for key in ("text", "title", "value"):
            value = node.get(key)
            if isinstance(value, str):
                parts.append(value)
        # RichTextBlock inlines may be bare strings (text people typed).
        parts.extend(item for item in node.get("inlines", []) if isinstance(item, str))
    return "\n".join(parts)
