"""List cards (search results, my leads, the pipeline): lists come from the read side's
summaries, not from whole aggregates, so the cards ask only for the fields they show."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date
from decimal import Decimal
from typing import Final, Protocol, TypeVar

from cards import verbs
from cards.elements import (
    BUDGET_BYTES,
    Card,
    Element,
    capped,
    card,
    card_size,
    execute,
    heading,
    item_row,
    measured,
    more_line,
    plain,
    show_card,
    text,
    text_input,
)
from cards.i18n import Translator
from cards.lead import stage_label
from domain.accounts import Classification
from domain.settings import Pipeline, Stage
from domain.statuses import LeadStatus
from domain.validation import SHORT_MAX

LIST_MAX: Final = 25  # per section: the bot pages with a cursor beyond this

T = TypeVar("T")


# The rows are Protocols named after the fields of ``domain.queries``' summaries, so the bot
# passes what its queries return, and tests pass small stand-ins.


class LeadRow(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def number(self) -> int: ...
    @property
    def title(self) -> str: ...
    @property
    def status(self) -> LeadStatus: ...
    @property
    def stage_id(self) -> str: ...
    @property
    def account_name(self) -> str | None: ...
    @property
    def amount(self) -> Decimal | None: ...
    @property
    def currency(self) -> str: ...
    @property
    def close_date(self) -> date | None: ...


class AccountRow(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def classification(self) -> Classification: ...


class ContactRow(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def email(self) -> str | None: ...
    @property
    def job_title(self) -> str | None: ...
    @property
    def account_name(self) -> str | None: ...


class SearchRows(Protocol):
    @property
    def accounts(self) -> Sequence[AccountRow]: ...
    @property
    def contacts(self) -> Sequence[ContactRow]: ...
    @property
    def leads(self) -> Sequence[LeadRow]: ...


class LeadRows(Protocol):
    """A page of leads: ``items`` and the cursor of the next page (``None`` at the end)."""

    @property
    def items(self) -> Sequence[LeadRow]: ...
    @property
    def next_cursor(self) -> str | None: ...


class StageRow(Protocol):
    """Open leads at one stage in one currency."""

    @property
    def stage_id(self) -> str: ...
    @property
    def currency(self) -> str: ...
    @property
    def count(self) -> int: ...
    @property
    def amount(self) -> Decimal: ...


class PipelineRows(Protocol):
    @property
    def stages(self) -> Sequence[StageRow]: ...


def stages_by_id(pipelines: Iterable[Pipeline]) -> dict[str, Stage]:
    """Lists show a lead's stage by id; this is the lookup they need, from the pipelines."""
    return {stage.id: stage for pipeline in pipelines for stage in pipeline.stages}


# --- rows -----------------------------------------------------------------------------------


def _open(t: Translator, verb: str, key: str, record_id: str) -> Element:
    return execute(t.t("action.open"), verb, {key: record_id}, inputs=False)


def lead_row(t: Translator, lead: LeadRow, stages: Mapping[str, Stage]) -> Element:
    details = [lead.account_name] if lead.account_name else []
    stage = stages.get(lead.stage_id)
    if lead.status is LeadStatus.OPEN and stage is not None:
        details.append(stage_label(t, stage))
    else:
        details.append(t.lead_status(lead.status))
    if lead.amount is not None:
        details.append(t.format_amount(lead.amount, lead.currency))
    if lead.close_date is not None:
        details.append(t.format_date(lead.close_date))
    content = [
        plain(f"#{lead.number} · {lead.title}", weight="bolder"),
        plain(" · ".join(details), subtle=True, spacing="none"),
    ]
    return item_row(content, _open(t, verbs.LEAD_SHOW, verbs.LEAD_ID, lead.id))


def account_row(t: Translator, account: AccountRow, other_label: str) -> Element:
    content = [
        plain(account.name, weight="bolder"),
        plain(t.classification(account.classification, other_label), subtle=True, spacing="none"),
    ]
    return item_row(content, _open(t, verbs.ACCOUNT_SHOW, verbs.ACCOUNT_ID, account.id))


def contact_row(t: Translator, contact: ContactRow) -> Element:
    details = [part for part in (contact.job_title, contact.account_name, contact.email) if part]
    content = [plain(contact.name, weight="bolder")]
    if details:
        content.append(plain(" · ".join(details), subtle=True, spacing="none"))
    return item_row(content, _open(t, verbs.CONTACT_SHOW, verbs.CONTACT_ID, contact.id))


def section(
    t: Translator, title: str, items: Sequence[T], row: Callable[[T], Element], limit: int
) -> list[Element]:
    """A titled part of a list card: the first ``limit`` rows, then "and N more"."""
    if not items:
        return []
    shown, hidden = capped(items, limit)
    return [heading(title), *(row(item) for item in shown), *more_line(t, hidden)]


def fitted(build: Callable[[int], Card], limit: int = LIST_MAX) -> Card:
    """Rebuild with fewer rows until the card fits the budget (long titles add up)."""
    while True:
        result = measured(build(limit))
        if card_size(result) <= BUDGET_BYTES or limit == 1:
            return result
        limit = max(limit // 2, 1)


def search_box(t: Translator, query: str = "") -> Element:
    body = [text_input(verbs.IN_QUERY, t.t("input.search"), max_length=SHORT_MAX, value=query)]
    return show_card(t.t("action.find"), body, [execute(t.t("action.find"), verbs.FIND)])


# --- cards ----------------------------------------------------------------------------------


def find_card(
    results: SearchRows,
    t: Translator,
    *,
    query: str,
    stages: Mapping[str, Stage],
    other_label: str,
    next_cursor: str | None = None,
) -> Card:
    """Search results in three sections. ``stages`` resolves the leads' stages (see
    ``stages_by_id``), ``other_label`` is the tenant's word for the "other" classification."""

    def build(limit: int) -> Card:
        body: list[Element] = [
            plain(t.t("find.title", query=query), size="medium", weight="bolder")
        ]
        body += section(
            t,
            t.t("find.accounts"),
            results.accounts,
            lambda account: account_row(t, account, other_label),
            limit,
        )
        body += section(
            t, t.t("find.contacts"), results.contacts, lambda c: contact_row(t, c), limit
        )
        body += section(
            t, t.t("find.leads"), results.leads, lambda lead: lead_row(t, lead, stages), limit
        )
        if len(body) == 1:
            body.append(plain(t.t("find.none", query=query), subtle=True))
        actions = [search_box(t, query)]
        if next_cursor:
            data = {verbs.QUERY: query, verbs.CURSOR: next_cursor}
            actions.append(execute(t.t("action.next_page"), verbs.FIND, data, inputs=False))
        return card(t, body, actions, fallback_text=t.t("find.title", query=query))

    return fitted(build)


def my_leads_card(page: LeadRows, t: Translator, *, stages: Mapping[str, Stage]) -> Card:
    """The leads the user owns or follows; "next page" carries the page's cursor."""

    def build(limit: int) -> Card:
        body: list[Element] = [text(t.t("my_leads.title"), size="medium", weight="bolder")]
        if page.items:
            body += section(
                t, t.t("find.leads"), page.items, lambda lead: lead_row(t, lead, stages), limit
            )[1:]
        else:
            body.append(text(t.t("my_leads.none"), subtle=True))
        actions = []
        if page.next_cursor:
            data = {verbs.CURSOR: page.next_cursor}
            actions.append(execute(t.t("action.next_page"), verbs.MY_LEADS, data, inputs=False))
        actions.append(execute(t.t("action.pipeline"), verbs.PIPELINE, inputs=False))
        return card(t, body, actions, fallback_text=t.t("my_leads.title"))

    return fitted(build)


def _amounts(t: Translator, amounts: Mapping[str, Decimal]) -> str:
    return " · ".join(t.format_amount(amounts[code], code) for code in sorted(amounts))


def pipeline_card(
    summary: PipelineRows,
    pipeline: Pipeline,
    t: Translator,
    *,
    pipelines: Sequence[Pipeline] = (),
) -> Card:
    """Count and amount of open leads per stage, in the pipeline's order, with the total per
    currency (amounts in different currencies never add up). ``pipelines`` are the others
    the user may switch to."""
    counts: dict[str, int] = {}
    amounts: dict[str, dict[str, Decimal]] = {}
    for row in summary.stages:
        counts[row.stage_id] = counts.get(row.stage_id, 0) + row.count
        per_currency = amounts.setdefault(row.stage_id, {})
        per_currency[row.currency] = per_currency.get(row.currency, Decimal(0)) + row.amount
    body: list[Element] = [
        plain(t.t("pipeline.title", name=pipeline.name), size="medium", weight="bolder")
    ]
    grand: dict[str, Decimal] = {}
    for stage in pipeline.stages:
        count = counts.get(stage.id, 0)
        line = t.plural("pipeline.leads", count)
        if count:
            line = f"{line} · {_amounts(t, amounts.get(stage.id, {}))}"
        for code, amount in amounts.get(stage.id, {}).items():
            grand[code] = grand.get(code, Decimal(0)) + amount
        body.append(plain(stage_label(t, stage), weight="bolder"))
        body.append(plain(line, subtle=True, spacing="none"))
    grand_count = sum(counts.get(stage.id, 0) for stage in pipeline.stages)
    if grand_count == 0:
        body.append(text(t.t("pipeline.empty"), subtle=True))
    total_line = t.plural("pipeline.leads", grand_count)
    if grand_count:
        total_line = f"{total_line} · {_amounts(t, grand)}"
    body.append(plain(total_line, label=t.label("pipeline.total"), spacing="medium"))
    actions = [execute(t.t("action.my_leads"), verbs.MY_LEADS, inputs=False)]
    others = [other for other in pipelines if other.id != pipeline.id][:LIST_MAX]
    if others:
        buttons = [
            execute(other.name, verbs.PIPELINE, {verbs.PIPELINE_ID: other.id}, inputs=False)
            for other in others
        ]
        actions.append(show_card(t.t("pipeline.switch"), [], buttons))
    return card(t, body, actions, fallback_text=t.t("pipeline.title", name=pipeline.name))
