"""The card a follower receives, and the cards where people choose what they hear.

A notification says what changed (before -> after), who changed it and when, then carries the
lead as that follower sees it, with its actions, so they can act from the notification itself.
Change records come from the dispatcher as plain JSON (see ``bot.notify.dispatcher``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Final

from cards import verbs
from cards.elements import (
    BUDGET_BYTES,
    Card,
    Element,
    card,
    card_size,
    execute,
    measured,
    plain,
    text,
    toggle,
)
from cards.i18n import Translator
from cards.lead import Colleague, LeadCardLimits, Pickable, lead_card
from domain.ids import LeadId
from domain.notifications import ALL_KINDS, NotificationKind, NotificationPreferences
from domain.services import LeadView
from domain.statuses import LeadStatus
from domain.users import User

CHANGES_SHOWN: Final = 10
KINDS_ORDER: Final = (
    NotificationKind.STAGE,
    NotificationKind.STATUS,
    NotificationKind.COMMENT,
    NotificationKind.PEOPLE,
    NotificationKind.AMOUNT_DATE,
)
ARROW: Final = " → "


def kind_input(kind: NotificationKind) -> str:
    return f"{verbs.IN_KIND_PREFIX}{kind.value}"


def _stage_name(view: LeadView, t: Translator, stage_id: Any) -> str:
    stage = next((s for s in view.pipeline.stages if s.id == stage_id), None)
    return t.stage(stage) if stage is not None else "?"


def _status(t: Translator, value: Any) -> str:
    try:
        return t.lead_status(LeadStatus(value))
    except ValueError:
        return str(value)


def _amount(t: Translator, value: Any, currency: str) -> str:
    if value in (None, ""):
        return "—"
    try:
        return t.format_amount(Decimal(str(value)), currency)
    except InvalidOperation:
        return str(value)


def _date(t: Translator, value: Any) -> str:
    if not isinstance(value, str) or not value:
        return "—"
    try:
        return t.format_date(date.fromisoformat(value))
    except ValueError:
        return value


def _name(names: Mapping[str, Any], value: Any) -> str:
    found = names.get(str(value)) if value else None
    return str(found) if found else "—"


def describe(view: LeadView, t: Translator, change: Mapping[str, Any]) -> list[str]:
    """One change record as the lines a person reads."""
    event = change.get("event")
    fields = {c.get("field"): c for c in change.get("changes", []) if isinstance(c, Mapping)}
    raw_names = change.get("names")
    names: Mapping[str, Any] = raw_names if isinstance(raw_names, Mapping) else {}
    lines: list[str] = []
    if event == "lead.stage_changed" and "stage_id" in fields:
        before = _stage_name(view, t, fields["stage_id"].get("before"))
        after = _stage_name(view, t, fields["stage_id"].get("after"))
        lines.append(f"{t.t('label.stage')}: {before}{ARROW}{after}")
    elif event == "lead.status_changed" and "status" in fields:
        before = _status(t, fields["status"].get("before"))
        after = _status(t, fields["status"].get("after"))
        line = f"{t.t('label.status')}: {before}{ARROW}{after}"
        reason = change.get("reason")
        lines.append(f"{line} ({reason})" if isinstance(reason, str) and reason else line)
    elif event == "lead.comment_added":
        lines.append(t.t("notify.comment", text=str(change.get("text", ""))[:600]))
    elif event == "lead.participant_added":
        lines.append(t.t("notify.participant_added", name=_name(names, change.get("contact_id"))))
    elif event == "lead.participant_removed":
        lines.append(t.t("notify.participant_removed", name=_name(names, change.get("contact_id"))))
    elif event == "lead.primary_contact_changed" and "contact_id" in fields:
        before = _name(names, fields["contact_id"].get("before"))
        after = _name(names, fields["contact_id"].get("after"))
        lines.append(f"{t.t('label.contact')}: {before}{ARROW}{after}")
    elif event == "lead.reminder_due":
        due = change.get("due_at")
        try:
            shown = t.format_datetime(datetime.fromisoformat(str(due)))
        except ValueError:
            shown = str(due)
        lines.append(t.t("notify.reminder", text=str(change.get("text", "")), due=shown))
    elif event == "lead.updated":
        currency = view.lead.currency
        if "currency" in fields:
            currency = str(fields["currency"].get("after") or currency)
        if "amount" in fields:
            before_currency = str(fields.get("currency", {}).get("before") or currency)
            before = _amount(t, fields["amount"].get("before"), before_currency)
            after = _amount(t, fields["amount"].get("after"), currency)
            lines.append(f"{t.t('label.amount')}: {before}{ARROW}{after}")
        if "close_date" in fields:
            before = _date(t, fields["close_date"].get("before"))
            after = _date(t, fields["close_date"].get("after"))
            lines.append(f"{t.t('label.close_date')}: {before}{ARROW}{after}")
    return lines


def notification_card(
    view: LeadView,
    t: Translator,
    *,
    changes: Sequence[Mapping[str, Any]],
    actor: User | None,
    at: datetime,
    account_contacts: Sequence[Pickable] = (),
    colleagues: Sequence[Colleague] = (),
) -> Card:
    """What changed, by whom, when; then the lead card itself, plus "choose what I hear"."""
    lines = [line for change in changes[-CHANGES_SHOWN:] for line in describe(view, t, change)]
    reminders_only = bool(changes) and all(
        change.get("event") == "lead.reminder_due" for change in changes
    )
    title = (
        t.t("notify.reminder_title", title=view.lead.title)
        if reminders_only
        else t.t(
            "notify.title",
            actor=actor.display_name if actor else t.t("user.unknown"),
            title=view.lead.title,
        )
    )
    header: list[Element] = [
        text(
            title,
            weight="bolder",
            size="medium",
        ),
        text(t.format_datetime(at), subtle=True, spacing="none"),
    ]
    header += [plain(line, spacing="small") for line in lines]
    hidden = len(changes) - CHANGES_SHOWN
    if hidden > 0:
        header.append(text(t.plural("notify.more_changes", hidden), subtle=True))
    banner: Element = {"type": "Container", "style": "emphasis", "items": header}
    choose = execute(
        t.t("action.choose_what_i_hear"),
        verbs.NOTIFY_LEAD,
        {verbs.LEAD_ID: view.lead.id},
        inputs=False,
        secondary=True,
    )
    limits = LeadCardLimits()
    while True:
        base = lead_card(
            view,
            t,
            account_contacts=account_contacts,
            colleagues=colleagues,
            limits=limits,
        )
        result = measured(
            {**base, "body": [banner, *base["body"]], "actions": [*base.get("actions", []), choose]}
        )
        smaller = limits.halved()
        if card_size(result) <= BUDGET_BYTES or smaller == limits:
            return result
        limits = smaller


def _kind_toggles(t: Translator, chosen: frozenset[NotificationKind]) -> list[Element]:
    return [
        toggle(kind_input(kind), t.t(f"notify.kind.{kind.value}"), value=kind in chosen)
        for kind in KINDS_ORDER
    ]


def preferences_card(preferences: NotificationPreferences, t: Translator) -> Card:
    """The ``notifications`` command: my defaults for every lead I follow."""
    body: list[Element] = [
        text(t.t("notifications.title"), size="large", weight="bolder"),
        text(t.t("notifications.summary")),
        text(t.t("notify.defaults"), weight="bolder"),
        *_kind_toggles(t, preferences.defaults),
        toggle(verbs.IN_MUTE_ALL, t.t("notify.mute_all"), value=preferences.muted_all),
    ]
    if preferences.lead_kinds or preferences.muted_leads:
        count = len(set(preferences.lead_kinds) | set(preferences.muted_leads))
        body.append(text(t.plural("notify.lead_overrides", count), subtle=True))
    save = execute(t.t("action.save"), verbs.NOTIFY_SAVE_DEFAULTS)
    return card(t, body, [save], fallback_text=t.t("notifications.title"))


def lead_preferences_card(
    preferences: NotificationPreferences, t: Translator, *, lead_id: str, lead_title: str
) -> Card:
    """ "Choose what I hear" for one lead."""
    chosen = preferences.lead_kinds.get(LeadId(lead_id), preferences.defaults)
    body: list[Element] = [
        text(t.t("notify.for_lead", title=lead_title), size="medium", weight="bolder"),
        *_kind_toggles(t, frozenset(chosen)),
        toggle(
            verbs.IN_MUTE_LEAD,
            t.t("notify.mute_lead"),
            value=lead_id in preferences.muted_leads,
        ),
    ]
    data = {verbs.LEAD_ID: lead_id}
    actions = [
        execute(t.t("action.save"), verbs.NOTIFY_SAVE_LEAD, data),
        execute(t.t("action.open"), verbs.LEAD_SHOW, data, inputs=False),
        execute(t.t("notifications.title"), verbs.NOTIFY_SETTINGS, inputs=False, secondary=True),
    ]
    return card(t, body, actions, fallback_text=lead_title)


def chosen_kinds(values: Mapping[str, object]) -> list[str]:
    """The kinds switched on in a preferences card's submitted data."""
    return [
        kind.value
        for kind in ALL_KINDS
        if values.get(kind_input(kind)) is True
        or str(values.get(kind_input(kind), "")).lower() == "true"
    ]


def channel_post_card(view: LeadView, t: Translator, *, event: str) -> Card:
    """A post in a subscribed channel: facts anyone there may read, and an *Open* button that
    checks each person's own access when pressed."""
    lead = view.lead
    title_key = {"created": "channel.post.created", "won": "channel.post.won"}.get(
        event, "channel.post.lost"
    )
    body: list[Element] = [text(t.t(title_key, title=lead.title), size="medium", weight="bolder")]
    facts: list[tuple[str, str | None]] = [
        ("label.account", view.account.name if view.account else None),
        ("label.stage", t.stage(view.stage) if lead.is_open else t.lead_status(lead.status)),
        (
            "label.amount",
            t.format_amount(lead.amount, lead.currency) if lead.amount is not None else None,
        ),
        ("label.close_date", t.format_date(lead.close_date) if lead.close_date else None),
        ("label.owner", view.owner.display_name if view.owner else None),
    ]
    body += [plain(value, label=t.t(key), spacing="none") for key, value in facts if value]
    if lead.lost_reason:
        body.append(plain(lead.lost_reason, subtle=True))
    open_lead = execute(t.t("action.open"), verbs.LEAD_SHOW, {verbs.LEAD_ID: lead.id}, inputs=False)
    return card(t, body, [open_lead], fallback_text=t.t(title_key, title=lead.title))
