"""The account card: the client folder with its people, relationships, catalogs, documents
and leads, and the changes its responsibles may make."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Final

from cards import verbs
from cards.elements import (
    BUDGET_BYTES,
    Card,
    Choice,
    DataValue,
    Element,
    action_set,
    capped,
    card,
    card_size,
    choice_set,
    execute,
    heading,
    joined,
    more_line,
    open_url,
    plain,
    show_card,
    text,
    text_input,
)
from cards.i18n import Translator
from cards.lead import Colleague, Pickable, colleague_inputs, tags_input
from cards.lists import ContactRow, LeadRow, contact_row, fitted, lead_row
from domain.accounts import Classification, Direction
from domain.services import AccountView
from domain.settings import CatalogEntry, Stage
from domain.validation import (
    EMAIL_MAX,
    NAME_MAX,
    REASON_MAX,
    TITLE_MAX,
    URL_MAX,
)

DOCUMENTS_SHOWN: Final = 6
COLLEAGUES_OFFERED: Final = 25
DOCUMENTS_OFFERED: Final = 25  # the newest, to take off; older ones stay


def _labels(entries: Sequence[CatalogEntry], keys: frozenset[str]) -> list[str]:
    """Catalog labels in catalog order; a key the catalog lost still shows, as its key."""
    by_key = {entry.key: entry.label for entry in entries}
    ordered = [entry.key for entry in entries if entry.key in keys]
    ordered += sorted(keys - set(ordered))
    return [by_key.get(key, key) for key in ordered]


def _catalogs(view: AccountView, t: Translator, limit: int) -> list[Element]:
    account, settings = view.account, view.settings
    body: list[Element] = []
    for label, entries, keys in (
        ("label.characteristics", settings.characteristics, account.characteristics),
        ("label.interests", settings.interest_areas, account.interests),
        ("label.disinterests", settings.interest_areas, account.disinterests),
    ):
        if keys:
            body.append(plain(joined(t, _labels(entries, keys), limit), label=t.label(label)))
    return body


def _relationships(view: AccountView, t: Translator, limit: int) -> list[Element]:
    relationships = view.account.relationships
    if not relationships:
        return []
    shown, hidden = capped(relationships, limit)
    body = [heading(t.t("label.relationships"))]
    for relationship in shown:
        other = view.related.get(relationship.other_account_id)
        key = (
            "relationship.outgoing"
            if relationship.direction is Direction.OUTGOING
            else "relationship.incoming"
        )
        name = other.name if other else t.t("account.unknown")
        body.append(plain(t.t(key, account=name, reason=relationship.reason), spacing="none"))
    return body + more_line(t, hidden)


def _documents(view: AccountView, t: Translator) -> list[Element]:
    documents = view.account.documents
    if not documents:
        return []
    shown, hidden = capped(documents, DOCUMENTS_SHOWN)
    links = [open_url(document.title, document.url) for document in shown]
    return [heading(t.t("label.documents")), action_set(links), *more_line(t, hidden)]


def _catalog_inputs(view: AccountView, t: Translator) -> list[Element]:
    """One multiple choice per catalog the tenant keeps: its active entries and any retired
    one the account still has (left out, saving would drop it)."""
    account, settings = view.account, view.settings
    inputs: list[Element] = []
    for input_id, label, entries, keys in (
        (
            verbs.IN_CHARACTERISTICS,
            "label.characteristics",
            settings.characteristics,
            account.characteristics,
        ),
        (verbs.IN_INTERESTS, "label.interests", settings.interest_areas, account.interests),
        (
            verbs.IN_DISINTERESTS,
            "label.disinterests",
            settings.interest_areas,
            account.disinterests,
        ),
    ):
        offered = [entry for entry in entries if not entry.retired or entry.key in keys]
        known = {entry.key for entry in offered}
        choices = [Choice(value=entry.key, title=entry.label) for entry in offered]
        choices += [Choice(value=key, title=key) for key in sorted(keys - known)]
        if not choices:
            continue
        value = ",".join(choice.value for choice in choices if choice.value in keys)
        inputs.append(choice_set(input_id, t.t(label), choices, value=value or None, multi=True))
    return inputs


def _edit_action(
    view: AccountView, t: Translator, data: Mapping[str, DataValue], catalogs: bool
) -> Element:
    """The name, the tags and the catalog entries, filled in as they are; blank tags clear
    them. ``catalogs`` False leaves the catalogs out (a saved form then keeps them)."""
    account = view.account
    body = [
        text_input(
            verbs.IN_ACCOUNT_NAME,
            t.t("input.name"),
            max_length=NAME_MAX,
            value=account.name,
            required=True,
            error=t.t("input.required"),
        ),
        tags_input(t, account.tags),
    ]
    if catalogs:
        body += _catalog_inputs(view, t)
    elif view.settings.characteristics or view.settings.interest_areas:
        body.append(text(t.t("account.catalogs_too_long"), subtle=True))
    save = execute(t.t("action.save"), verbs.ACCOUNT_EDIT, data)
    return show_card(t.t("action.edit"), body, [save])


def _responsibles_action(
    view: AccountView, t: Translator, data: Mapping[str, DataValue], colleagues: Sequence[Colleague]
) -> Element:
    """Who is responsible decides who sees the account: add a colleague (picked, or by email
    for anyone the picker doesn't list) or remove one, never the last."""
    body = colleague_inputs(
        t,
        colleagues,
        already=set(view.account.responsible_ids),
        picked_id=verbs.IN_RESPONSIBLE_USER_ID,
        email_id=verbs.IN_RESPONSIBLE_EMAIL,
        limit=COLLEAGUES_OFFERED,
    )
    add = execute(t.t("action.add"), verbs.ACCOUNT_ADD_RESPONSIBLE, data)
    sections = [show_card(t.t("action.add_responsible"), body, [add])]
    if len(view.responsibles) > 1:
        choices = [Choice(value=user.id, title=user.display_name) for user in view.responsibles]
        body = [
            choice_set(
                verbs.IN_REMOVE_RESPONSIBLE_ID,
                t.t("input.responsible"),
                choices,
                required=True,
                error=t.t("input.required"),
            )
        ]
        remove = execute(t.t("action.remove"), verbs.ACCOUNT_REMOVE_RESPONSIBLE, data)
        sections.append(show_card(t.t("action.remove_responsible"), body, [remove]))
    return show_card(t.t("label.responsibles"), [], sections)


def _documents_action(view: AccountView, t: Translator, data: Mapping[str, DataValue]) -> Element:
    """A link to a document (a proposal, a contract in SharePoint...), or one taken off."""
    required = t.t("input.required")
    body = [
        text_input(
            verbs.IN_DOCUMENT_TITLE,
            t.t("input.document_title"),
            max_length=TITLE_MAX,
            required=True,
            error=required,
        ),
        text_input(
            verbs.IN_DOCUMENT_URL,
            t.t("input.document_url"),
            max_length=URL_MAX,
            style="url",
            required=True,
            error=required,
        ),
    ]
    add = execute(t.t("action.add"), verbs.ACCOUNT_ADD_DOCUMENT, data)
    sections = [show_card(t.t("action.add_document"), body, [add])]
    documents = view.account.documents[-DOCUMENTS_OFFERED:]
    if documents:
        choices = [Choice(value=document.id, title=document.title) for document in documents]
        body = [
            choice_set(
                verbs.IN_REMOVE_DOCUMENT_ID,
                t.t("input.document"),
                choices[::-1],  # newest first
                required=True,
                error=required,
            )
        ]
        remove = execute(t.t("action.remove"), verbs.ACCOUNT_REMOVE_DOCUMENT, data)
        sections.append(show_card(t.t("action.remove_document"), body, [remove]))
    return show_card(t.t("label.documents"), [], sections)


def _actions(
    view: AccountView,
    t: Translator,
    other_accounts: Sequence[Pickable],
    colleagues: Sequence[Colleague],
    catalogs: bool,
) -> list[Element]:
    account = view.account
    data: dict[str, DataValue] = {verbs.ACCOUNT_ID: account.id, verbs.VERSION: account.version}
    required = t.t("input.required")
    actions: list[Element] = []
    if view.can_change:
        choices = [
            Choice(value=value.value, title=t.classification(value, view.settings.other_label))
            for value in Classification
        ]
        body = [
            choice_set(
                verbs.IN_CLASSIFICATION,
                t.t("input.classification"),
                choices,
                value=account.classification.value,
                required=True,
                error=required,
            )
        ]
        save = execute(t.t("action.save"), verbs.ACCOUNT_CLASSIFY, data)
        actions.append(show_card(t.t("action.classify"), body, [save]))
        actions.append(_edit_action(view, t, data, catalogs))
        actions.append(_responsibles_action(view, t, data, colleagues))

        more: list[Element] = []
        others = [other for other in other_accounts if other.id != account.id][:25]
        if others:
            body = [
                choice_set(
                    verbs.IN_OTHER_ACCOUNT_ID,
                    t.t("input.other_account"),
                    [Choice(value=other.id, title=other.name) for other in others],
                    required=True,
                    error=required,
                ),
                text_input(
                    verbs.IN_RELATIONSHIP_REASON,
                    t.t("input.relationship_reason"),
                    max_length=REASON_MAX,
                    required=True,
                    error=required,
                ),
            ]
            add = execute(t.t("action.add"), verbs.ACCOUNT_ADD_RELATIONSHIP, data)
            more.append(show_card(t.t("action.add_relationship"), body, [add]))
        more.append(_documents_action(view, t, data))

        body = [
            text_input(
                verbs.IN_CONTACT_NAME,
                t.t("input.name"),
                max_length=NAME_MAX,
                required=True,
                error=required,
            ),
            text_input(
                verbs.IN_CONTACT_EMAIL, t.t("input.email"), max_length=EMAIL_MAX, style="email"
            ),
            text_input(verbs.IN_CONTACT_JOB_TITLE, t.t("input.job_title"), max_length=TITLE_MAX),
        ]
        add = execute(t.t("action.add"), verbs.ACCOUNT_ADD_CONTACT, data)
        actions.append(show_card(t.t("action.add_contact"), body, [add]))

        body = [
            text_input(
                verbs.IN_LEAD_TITLE,
                t.t("input.lead_title"),
                max_length=TITLE_MAX,
                required=True,
                error=required,
            )
        ]
        new_lead_data: dict[str, DataValue] = {verbs.ACCOUNT_ID: account.id}
        create = execute(t.t("action.create"), verbs.ACCOUNT_NEW_LEAD, new_lead_data)
        actions.append(show_card(t.t("action.new_lead"), body, [create]))
        # Teams shows six buttons: the rarer changes wait behind "More".
        actions.append(show_card(t.t("action.more"), [], more))
    return actions


def _build(
    view: AccountView,
    t: Translator,
    *,
    contacts: Sequence[ContactRow],
    leads: Sequence[LeadRow],
    stages: Mapping[str, Stage],
    other_accounts: Sequence[Pickable],
    colleagues: Sequence[Colleague],
    limit: int,
    catalogs: bool,
) -> Card:
    account = view.account
    classification = t.classification(account.classification, view.settings.other_label)
    body: list[Element] = [
        plain(account.name, size="large", weight="bolder"),
        plain(classification, label=t.label("label.classification"), spacing="none"),
        plain(t.prospect(account.prospect_status), label=t.label("label.prospect_status")),
        plain(t.customer(account.customer_status), label=t.label("label.customer_status")),
    ]
    if view.responsibles:
        names = sorted((user.display_name for user in view.responsibles), key=str.casefold)
        body.append(plain(joined(t, names, limit), label=t.label("label.responsibles")))
    if account.tags:
        body.append(plain(", ".join(sorted(account.tags)), label=t.label("label.tags")))
    for element in body[2:]:
        element["spacing"] = "none"
    body += _catalogs(view, t, limit)
    body += _relationships(view, t, limit)
    body += _documents(view, t)
    if contacts:
        shown, hidden = capped(contacts, limit)
        body += [heading(t.t("label.contacts")), *(contact_row(t, c) for c in shown)]
        body += more_line(t, hidden)
    if leads:
        shown_leads, hidden = capped(leads, limit)
        body += [heading(t.t("label.leads")), *(lead_row(t, lead, stages) for lead in shown_leads)]
        body += more_line(t, hidden)
    actions = _actions(view, t, other_accounts, colleagues, catalogs)
    return card(t, body, actions, fallback_text=account.name)


def account_card(
    view: AccountView,
    t: Translator,
    *,
    contacts: Sequence[ContactRow] = (),
    leads: Sequence[LeadRow] = (),
    stages: Mapping[str, Stage] | None = None,
    other_accounts: Sequence[Pickable] = (),
    colleagues: Sequence[Colleague] = (),
) -> Card:
    """``contacts`` and ``leads`` are the folder's (the view does not carry them), ``stages``
    resolves the leads' stages (``cards.lists.stages_by_id``), ``other_accounts`` are the
    accounts proposed for a new relationship, ``colleagues`` those proposed as responsibles. A
    tenant's catalogs may hold 200 entries each:
    when their choices leave no room even for the shortest lists, the details form goes
    without them."""

    def build(catalogs: bool) -> Callable[[int], Card]:
        return lambda limit: _build(
            view,
            t,
            contacts=contacts,
            leads=leads,
            stages=stages or {},
            other_accounts=other_accounts,
            colleagues=colleagues,
            limit=limit,
            catalogs=catalogs,
        )

    result = fitted(build(catalogs=True), limit=15)
    if card_size(result) > BUDGET_BYTES:
        result = fitted(build(catalogs=False), limit=15)
    return result
