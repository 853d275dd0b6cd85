"""The contact card: who the person is, and the status changes the rules allow right now."""

from __future__ import annotations

from cards import verbs
from cards.elements import (
    Card,
    Choice,
    DataValue,
    Element,
    card,
    choice_set,
    execute,
    open_url,
    plain,
    show_card,
)
from cards.i18n import Translator
from cards.lead import mailto_link
from domain.services import ContactView
from domain.statuses import CustomerStatus, allowed_manual_prospect


def _status_action(view: ContactView, t: Translator) -> Element:
    """Only the prospect statuses the deals allow are offered, so the card cannot propose a
    change the domain would refuse. If the current one is no longer allowed, nothing is
    preselected and the person must pick."""
    contact = view.contact
    allowed = allowed_manual_prospect(view.lead_statuses)
    prospect = choice_set(
        verbs.IN_PROSPECT_STATUS,
        t.t("input.prospect_status"),
        [Choice(value=status.value, title=t.prospect(status)) for status in allowed],
        value=contact.prospect_status.value if contact.prospect_status in allowed else None,
        required=True,
        error=t.t("input.required"),
    )
    customer = choice_set(
        verbs.IN_CUSTOMER_STATUS,
        t.t("input.customer_status"),
        [Choice(value=status.value, title=t.customer(status)) for status in CustomerStatus],
        value=contact.customer_status.value,
        required=True,
        error=t.t("input.required"),
    )
    data: dict[str, DataValue] = {verbs.CONTACT_ID: contact.id, verbs.VERSION: contact.version}
    save = execute(t.t("action.save"), verbs.CONTACT_SET_STATUS, data)
    return show_card(t.t("action.set_status"), [prospect, customer], [save])


def contact_card(view: ContactView, t: Translator) -> Card:
    contact = view.contact
    body: list[Element] = [plain(contact.name, size="large", weight="bolder")]
    details = [
        ("label.job_title", contact.job_title),
        ("label.account", view.account.name if view.account else None),
        ("label.email", contact.email),
        ("label.phone", contact.phone),
        ("label.tags", ", ".join(sorted(contact.tags)) or None),
        ("label.prospect_status", t.prospect(contact.prospect_status)),
        ("label.customer_status", t.customer(contact.customer_status)),
    ]
    body += [plain(value, label=t.label(key), spacing="none") for key, value in details if value]
    actions: list[Element] = []
    if view.can_change:
        actions.append(_status_action(view, t))
    if view.account is not None:
        data = {verbs.ACCOUNT_ID: view.account.id}
        actions.append(execute(t.t("action.open_account"), verbs.ACCOUNT_SHOW, data, inputs=False))
    link = mailto_link(contact.email, (), "") if contact.email else None
    if link:
        actions.append(open_url(t.t("label.email"), link))
    return card(t, body, actions, fallback_text=contact.name)
