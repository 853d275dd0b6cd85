"""Small constructors for Adaptive Card 1.5 elements, so every card gets the same habits:
user text never parsed as markdown, every Action.Execute with its Action.Submit fallback,
inputs with labels, and long lists cut with "and N more".
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, TypeVar

from cards import verbs
from cards.i18n import Translator

Element = dict[str, Any]
Card = dict[str, Any]
DataValue = str | int | bool
Data = Mapping[str, DataValue]

SCHEMA_URL: Final = "http://adaptivecards.io/schemas/adaptive-card.json"
CARD_VERSION: Final = "1.5"
BUDGET_BYTES: Final = 28 * 1024
CHOICE_TITLE_MAX: Final = 80
ELLIPSIS: Final = "…"

T = TypeVar("T")


def card_json(card: Card) -> str:
    """The card as the budget measures it: compact JSON with non-ASCII escaped, which is never
    smaller than the UTF-8 bytes of any other encoding of it."""
    return card_json_of(card) or json.dumps(card, separators=(",", ":"))


def card_size(card: Card) -> int:
    return len(card_json(card))


class Measured(dict[str, Any]):
    """A finished card that keeps the JSON it was measured as.

    A lead card is 10-20 KB: encoding it costs about as much as reading the lead, and the
    bot would otherwise encode it twice (the size check, then the answer). Changing one of
    its keys forgets the JSON; what lies inside its lists must not be changed at all.
    """

    def __init__(self, card: Card, encoded: str) -> None:
        super().__init__(card)
        self.encoded: str | None = encoded

    def __deepcopy__(self, memo: dict[int, Any]) -> Measured:
        """Itself: a finished card is not changed, and botbuilder deep-copies every activity
        it sends (for a list card, a tenth of the turn)."""
        return self


def _forgetting(name: str) -> Any:
    method = getattr(dict, name)

    def forget(self: Measured, *args: Any, **kwargs: Any) -> Any:
        self.encoded = None
        return method(self, *args, **kwargs)

    forget.__name__ = name
    return forget


for _name in (
    "__setitem__",
    "__delitem__",
    "__ior__",
    "clear",
    "pop",
    "popitem",
    "setdefault",
    "update",
):
    setattr(Measured, _name, _forgetting(_name))


class StaleCard(AssertionError):
    """A measured card was changed inside after it was measured (see ``Measured``)."""


# The test suite turns this on: every measured card's JSON is then checked against a fresh
# encoding when it is used, so a builder that changes a finished card cannot go unnoticed.
VERIFY_MEASURED = False


def card_json_of(value: object) -> str | None:
    """The JSON a measured card was measured as, if it still holds."""
    if not isinstance(value, Measured):
        return None
    stale = (
        VERIFY_MEASURED
        and value.encoded is not None
        and value.encoded != json.dumps(value, separators=(",", ":"))
    )
    if stale:
        raise StaleCard("a measured card was changed after it was measured")
    return value.encoded


def measured(card: Card) -> Measured:
    """The card with its JSON: what a builder that checks the budget returns."""
    if isinstance(card, Measured) and card.encoded is not None:
        return card
    return Measured(card, json.dumps(card, separators=(",", ":")))


_RUNS_OF_SPACE = re.compile("[^\\S\u00a0\u202f]+")  # keeps no-break spaces: they are on purpose


def shorten(text: str, limit: int) -> str:
    """At most ``limit`` characters, with an ellipsis when cut; a single line stays single."""
    text = _RUNS_OF_SPACE.sub(" ", text).strip() if "\n" not in text else text.strip()
    return text if len(text) <= limit else text[: max(limit - 1, 0)].rstrip() + ELLIPSIS


@dataclass(frozen=True, slots=True, kw_only=True)
class Button:
    """An action a caller asks a card to offer (info and error cards, "next page")."""

    title: str
    verb: str
    data: Mapping[str, DataValue] = field(default_factory=dict)


def card(
    t: Translator,
    body: list[Element],
    actions: Sequence[Element] = (),
    *,
    fallback_text: str | None = None,
    refresh: Element | None = None,
) -> Card:
    result: Card = {
        "type": "AdaptiveCard",
        "$schema": SCHEMA_URL,
        "version": CARD_VERSION,
        "lang": t.locale,
        "body": body,
    }
    if actions:
        result["actions"] = list(actions)
    if refresh is not None:
        result["refresh"] = refresh
    if fallback_text:
        result["fallbackText"] = fallback_text
    return result


def sub_card(body: list[Element], actions: Sequence[Element] = ()) -> Card:
    """The card inside an Action.ShowCard: no version or schema needed there."""
    result: Card = {"type": "AdaptiveCard", "body": body}
    if actions:
        result["actions"] = list(actions)
    return result


# --- text -----------------------------------------------------------------------------------


def text(
    value: str,
    *,
    size: str | None = None,
    weight: str | None = None,
    subtle: bool = False,
    color: str | None = None,
    separator: bool = False,
    spacing: str | None = None,
    max_lines: int | None = None,
) -> Element:
    """Our own catalog text, which may use the markdown subset Teams renders."""
    element: Element = {"type": "TextBlock", "text": value, "wrap": True}
    if size:
        element["size"] = size
    if weight:
        element["weight"] = weight
    if subtle:
        element["isSubtle"] = True
    if color:
        element["color"] = color
    if separator:
        element["separator"] = True
    if spacing:
        element["spacing"] = spacing
    if max_lines:
        element["maxLines"] = max_lines
    return element


def plain(
    value: str,
    *,
    label: str | None = None,
    size: str | None = None,
    weight: str | None = None,
    subtle: bool = False,
    spacing: str | None = None,
) -> Element:
    """Text people typed (titles, names, comments): a RichTextBlock, whose text runs are never
    read as markdown, so "[click](http://…)" in a lead title stays text instead of a link.
    ``label`` is a bold prefix, already punctuated (``Translator.label``)."""
    run: Element = {"type": "TextRun", "text": value}
    if size:
        run["size"] = size
    if weight:
        run["weight"] = weight
    if subtle:
        run["isSubtle"] = True
    inlines: list[Element | str] = []
    if label:
        inlines.append({"type": "TextRun", "text": label, "weight": "bolder"})
    inlines.append(run if len(run) > 2 else value)
    element: Element = {"type": "RichTextBlock", "inlines": inlines}
    if spacing:
        element["spacing"] = spacing
    return element


def heading(value: str, *, separator: bool = True) -> Element:
    return text(value, weight="bolder", separator=separator, spacing="medium")


def more_line(t: Translator, hidden: int) -> list[Element]:
    return [text(t.t("list.more", count=hidden), subtle=True, spacing="none")] if hidden else []


def capped(items: Sequence[T], limit: int) -> tuple[Sequence[T], int]:
    """The first ``limit`` items and how many were left out."""
    return items[:limit], max(len(items) - limit, 0)


def joined(t: Translator, names: Sequence[str], limit: int) -> str:
    shown, hidden = capped(names, limit)
    line = ", ".join(shown)
    return f"{line} {t.t('list.more', count=hidden)}" if hidden else line


# --- actions --------------------------------------------------------------------------------


def execute(
    title: str,
    verb: str,
    data: Data | None = None,
    *,
    inputs: bool = True,
    style: str | None = None,
    secondary: bool = False,
) -> Element:
    """Action.Execute with the Action.Submit fallback Teams asks for. Both send the same
    data, the verb included, so the bot reads an old client's message the same way.

    ``inputs=False`` keeps a button from gathering (and validating) inputs it doesn't use.
    """
    payload: dict[str, DataValue] = dict(data or {})
    payload[verbs.VERB] = verb
    submit: Element = {"type": "Action.Submit", "title": title, "data": dict(payload)}
    action: Element = {"type": "Action.Execute", "title": title, "verb": verb, "data": payload}
    if not inputs:
        action["associatedInputs"] = "none"
        submit["associatedInputs"] = "none"
    if style:
        action["style"] = style
    if secondary:
        action["mode"] = "secondary"
    action["fallback"] = submit
    return action


def from_button(button: Button) -> Element:
    return execute(button.title, button.verb, button.data, inputs=False)


def show_card(
    title: str, body: list[Element], actions: Sequence[Element], *, secondary: bool = False
) -> Element:
    action: Element = {"type": "Action.ShowCard", "title": title, "card": sub_card(body, actions)}
    if secondary:
        action["mode"] = "secondary"
    return action


def open_url(title: str, url: str, *, secondary: bool = False) -> Element:
    action: Element = {"type": "Action.OpenUrl", "title": title, "url": url}
    if secondary:
        action["mode"] = "secondary"
    return action


def action_set(actions: Sequence[Element], *, spacing: str | None = None) -> Element:
    element: Element = {"type": "ActionSet", "actions": list(actions)}
    if spacing:
        element["spacing"] = spacing
    return element


def item_row(content: list[Element], button: Element) -> Element:
    """One list entry: its description on the left, its "Open" button on the right."""
    return {
        "type": "ColumnSet",
        "separator": True,
        "columns": [
            {"type": "Column", "width": "stretch", "items": content},
            {
                "type": "Column",
                "width": "auto",
                "verticalContentAlignment": "center",
                "items": [action_set([button])],
            },
        ],
    }


# --- inputs ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Choice:
    value: str
    title: str


def choice_set(
    input_id: str,
    label: str,
    choices: Iterable[Choice],
    *,
    value: str | None = None,
    required: bool = False,
    error: str | None = None,
    multi: bool = False,
) -> Element:
    """``multi``: several choices, sent (and given as ``value``) comma-separated."""
    element: Element = {
        "type": "Input.ChoiceSet",
        "id": input_id,
        "label": label,
        "style": "compact",
        "choices": [
            {"title": shorten(choice.title, CHOICE_TITLE_MAX), "value": choice.value}
            for choice in choices
        ],
    }
    if multi:
        element["isMultiSelect"] = True
    if value is not None:
        element["value"] = value
    if required:
        element["isRequired"] = True
        if error:
            element["errorMessage"] = error
    return element


def text_input(
    input_id: str,
    label: str,
    *,
    max_length: int,
    value: str | None = None,
    multiline: bool = False,
    style: str | None = None,
    placeholder: str | None = None,
    required: bool = False,
    error: str | None = None,
) -> Element:
    element: Element = {
        "type": "Input.Text",
        "id": input_id,
        "label": label,
        "maxLength": max_length,
    }
    if value:
        element["value"] = value
    if multiline:
        element["isMultiline"] = True
    if style:
        element["style"] = style
    if placeholder:
        element["placeholder"] = placeholder
    if required:
        element["isRequired"] = True
        if error:
            element["errorMessage"] = error
    return element


def toggle(input_id: str, title: str, *, value: bool = False) -> Element:
    return {
        "type": "Input.Toggle",
        "id": input_id,
        "title": title,
        "value": "true" if value else "false",
        "valueOn": "true",
        "valueOff": "false",
    }
