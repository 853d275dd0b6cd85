"""Cards that are mostly words: welcome, help, errors and confirmations."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Final

from cards import verbs
from cards.elements import (
    Button,
    Card,
    Element,
    card,
    execute,
    from_button,
    plain,
    show_card,
    text,
    text_input,
)
from cards.i18n import Translator, error_message
from cards.lists import search_box
from domain.errors import DomainError
from domain.validation import TITLE_MAX

# How each command is typed: the command word, then its arguments (catalog keys, optional
# ones in brackets). The "for" keyword of new lead is a word of the catalog too.
USAGE: Final[Mapping[str, str]] = {
    "help": "",
    "new_lead": "<{title}> [{for} <{account}>]",
    "my_leads": "",
    "pipeline": "",
    "lead": "<{lead}>",
    "find": "<{text}>",
    "account": "<{name}>",
    "contact": "<{name}>",
    "follow": "<{lead}>",
    "unfollow": "<{lead}>",
    "notifications": "",
    "subscribe": "[{pipeline_or_tag}]",
    "unsubscribe": "",
}


def usage(t: Translator, command: str) -> str:
    """One command as the user should type it, in their language ("novo lead <título>...")."""
    arguments = USAGE[command].format(
        title=t.t("help.arg.title"),
        account=t.t("help.arg.account"),
        lead=t.t("help.arg.lead"),
        text=t.t("help.arg.text"),
        name=t.t("help.arg.name"),
        pipeline_or_tag=t.t("help.arg.pipeline_or_tag"),
        **{"for": t.command_word("for")},
    )
    return f"{t.command_word(command)} {arguments}".strip()


def _new_lead_action(t: Translator) -> Element:
    body = [
        text_input(
            verbs.IN_LEAD_TITLE,
            t.t("input.lead_title"),
            max_length=TITLE_MAX,
            required=True,
            error=t.t("input.required"),
        )
    ]
    create = execute(t.t("action.create"), verbs.LEAD_CREATE)
    return show_card(t.t("action.new_lead"), body, [create])


def _home_actions(t: Translator) -> list[Element]:
    return [
        execute(t.t("action.my_leads"), verbs.MY_LEADS, inputs=False),
        execute(t.t("action.pipeline"), verbs.PIPELINE, inputs=False),
        _new_lead_action(t),
        search_box(t),
    ]


def welcome_card(t: Translator) -> Card:
    body: list[Element] = [
        text(t.t("welcome.title"), size="large", weight="bolder"),
        text(t.t("welcome.intro")),
    ]
    body.extend(
        text(f"- {t.t(f'welcome.feature.{feature}')}", spacing="small")
        for feature in ("leads", "follow", "accounts", "find")
    )
    body.append(text(t.t("welcome.hint", command=t.command_word("help")), subtle=True))
    actions = [execute(t.t("action.help"), verbs.HELP, inputs=False), *_home_actions(t)]
    return card(t, body, actions, fallback_text=t.t("welcome.title"))


def help_card(t: Translator) -> Card:
    body: list[Element] = [
        text(t.t("help.title"), size="large", weight="bolder"),
        text(t.t("help.intro")),
    ]
    for command in USAGE:
        body.append(plain(usage(t, command), weight="bolder", spacing="medium"))
        body.append(text(t.t(f"help.desc.{command}"), subtle=True, spacing="none"))
    return card(t, body, _home_actions(t), fallback_text=t.t("help.title"))


def error_card(
    t: Translator,
    code: str,
    params: Mapping[str, object] | None = None,
    *,
    retry: Button | None = None,
) -> Card:
    """A refusal in the user's words. ``retry`` is typically "try again" or, after a
    conflict, a refresh of the record (its label is the caller's choice)."""
    message = error_message(t, code, params)
    body = [
        text(t.t("error.title"), weight="bolder", color="attention"),
        plain(message),  # may quote what people typed (a stage name, a field)
    ]
    actions = [from_button(retry)] if retry else []
    return card(t, body, actions, fallback_text=message)


def domain_error_card(t: Translator, error: DomainError, *, retry: Button | None = None) -> Card:
    return error_card(t, error.code, error.params, retry=retry)


def info_card(
    t: Translator,
    message: str,
    *,
    title: str | None = None,
    buttons: Sequence[Button] = (),
) -> Card:
    """A confirmation ("Lead #12 created"); ``message`` is already in the user's language."""
    body = [
        text(title or t.t("info.title"), weight="bolder", color="good"),
        plain(message),
    ]
    return card(t, body, [from_button(button) for button in buttons], fallback_text=message)
