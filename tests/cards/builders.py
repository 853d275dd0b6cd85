"""Every card the bot can send, in the variants that change its shape, keyed by a readable
name: the schema, size and contract tests run over all of them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from decimal import Decimal
from typing import Any

from cards import (
    Button,
    Translator,
    account_card,
    contact_card,
    error_card,
    find_card,
    help_card,
    info_card,
    lead_card,
    my_leads_card,
    pipeline_card,
    stages_by_id,
    verbs,
    welcome_card,
)
from cards.notification import lead_preferences_card, notification_card, preferences_card
from domain.ids import LeadId, TenantId, UserId
from domain.notifications import NotificationKind, NotificationPreferences
from domain.statuses import LeadStatus
from tests.cards.conftest import (
    NOW,
    PageStub,
    PipelineStub,
    SearchStub,
    StageRowStub,
    account_rows,
    contact_rows,
    lead_rows,
    make_account,
    make_account_view,
    make_contact,
    make_contact_view,
    make_lead_view,
    make_pipeline,
    make_user,
)

CardBuilder = Callable[[Translator], dict[str, Any]]

LONG = "Ünïcødé “quoted” & <tagged> [link](http://evil.example) " * 20


def _lead_with_pickers(t: Translator) -> dict[str, Any]:
    view = make_lead_view()
    contacts = [
        make_contact(f"Colleague of Carla {i}", account_id=view.lead.account_id) for i in range(5)
    ]
    colleagues = [make_user(f"Teammate {i}", i) for i in range(5)]
    return lead_card(view, t, account_contacts=contacts, colleagues=colleagues)


def _huge_lead(t: Translator) -> dict[str, Any]:
    view = make_lead_view(
        participants=100,
        followers=100,
        comments=5,
        long_names=True,
        title=LONG[:200],
        comment_text=(LONG * 4)[:4000],
    )
    view.lead.description = (LONG * 4)[:4000]
    contacts = [make_contact(f"{LONG[:150]} {i}") for i in range(100)]
    colleagues = [make_user(f"{LONG[:150]} {i}", i) for i in range(100)]
    return lead_card(view, t, account_contacts=contacts, colleagues=colleagues)


def _huge_lead_escaped_description(t: Translator) -> dict[str, Any]:
    """The longest description that escapes worst: 4,000 characters of 6 bytes each."""
    view = make_lead_view(participants=100, followers=100, comments=5, long_names=True)
    view.lead.description = "契約" * 2000
    contacts = [make_contact(f"{LONG[:150]} {i}") for i in range(100)]
    return lead_card(view, t, account_contacts=contacts)


def _pipeline(t: Translator) -> dict[str, Any]:
    pipeline = make_pipeline()
    rows = (
        StageRowStub(
            stage_id=pipeline.stages[0].id, currency="USD", count=3, amount=Decimal("1500")
        ),
        StageRowStub(
            stage_id=pipeline.stages[0].id, currency="EUR", count=1, amount=Decimal("99.90")
        ),
        StageRowStub(
            stage_id=pipeline.stages[2].id, currency="USD", count=2, amount=Decimal("1234567.5")
        ),
    )
    others = [make_pipeline(), make_pipeline()]
    return pipeline_card(PipelineStub(stages=rows), pipeline, t, pipelines=others)


def _find(t: Translator, count: int, *, long: bool = False) -> dict[str, Any]:
    pipeline = make_pipeline()
    text = LONG[:200] if long else ""
    results = SearchStub(
        accounts=account_rows(count, name=text or "Acme"),
        contacts=contact_rows(count, name=text or "Carla"),
        leads=lead_rows(pipeline, count, title=text or "Deal"),
    )
    return find_card(
        results,
        t,
        query="acme",
        stages=stages_by_id([pipeline]),
        other_label="Partner",
        next_cursor="cursor-2" if count else None,
    )


def _my_leads(t: Translator, count: int) -> dict[str, Any]:
    pipeline = make_pipeline()
    page = PageStub(items=lead_rows(pipeline, count), next_cursor="cursor-2" if count else None)
    return my_leads_card(page, t, stages=stages_by_id([pipeline]))


def _account(t: Translator, *, can_change: bool = True, big: bool = False) -> dict[str, Any]:
    view = make_account_view(can_change=can_change, relationships=60 if big else 2)
    pipeline = make_pipeline()
    count = 100 if big else 3
    return account_card(
        view,
        t,
        contacts=contact_rows(count, name=LONG[:150] if big else "Person"),
        leads=lead_rows(pipeline, count, title=LONG[:150] if big else "Deal"),
        stages=stages_by_id([pipeline]),
        other_accounts=[make_account(f"Other {i}") for i in range(40 if big else 3)],
        colleagues=[make_user(f"{LONG[:150] if big else 'Teammate'} {i}", i) for i in range(40)],
    )


def _changes(view: Any, count: int) -> list[dict[str, Any]]:
    """One change record of every kind the dispatcher writes, repeated up to ``count``."""
    stages = [stage.id for stage in view.pipeline.stages]
    contact = view.contact.id if view.contact else "c-1"
    kinds: list[dict[str, Any]] = [
        {
            "event": "lead.stage_changed",
            "changes": [{"field": "stage_id", "before": stages[0], "after": stages[1]}],
        },
        {
            "event": "lead.status_changed",
            "changes": [{"field": "status", "before": "open", "after": "lost"}],
            "reason": LONG[:200],
        },
        {"event": "lead.comment_added", "text": LONG},
        {"event": "lead.participant_added", "contact_id": contact, "names": {contact: "Carla"}},
        {"event": "lead.participant_removed", "contact_id": "gone", "names": {}},
        {
            "event": "lead.primary_contact_changed",
            "changes": [{"field": "contact_id", "before": None, "after": contact}],
            "names": {contact: "Carla"},
        },
        {
            "event": "lead.updated",
            "changes": [
                {"field": "amount", "before": "1000.00", "after": "2500.50"},
                {"field": "close_date", "before": None, "after": "2026-12-31"},
            ],
        },
    ]
    return [kinds[i % len(kinds)] for i in range(count)]


def _notification(t: Translator, *, count: int = 7, huge: bool = False) -> dict[str, Any]:
    view = make_lead_view(participants=100, followers=100) if huge else make_lead_view()
    actor = make_user("Alice Seller")
    return notification_card(
        view, t, changes=_changes(view, count), actor=actor, at=view.lead.created_at or NOW
    )


def _preferences(*, custom: bool) -> NotificationPreferences:
    preferences = NotificationPreferences(tenant_id=TenantId("t"), user_id=UserId("u"))
    if custom:
        preferences.defaults = frozenset({NotificationKind.STAGE, NotificationKind.STATUS})
        preferences.lead_kinds = {LeadId("l-1"): frozenset({NotificationKind.COMMENT})}
        preferences.muted_leads = frozenset({LeadId("l-2")})
        preferences.muted_all = True
    return preferences


BUILDERS: dict[str, CardBuilder] = {
    "notification": _notification,
    "notification_huge": lambda t: _notification(t, count=60, huge=True),
    "preferences": lambda t: preferences_card(_preferences(custom=False), t),
    "preferences_custom": lambda t: preferences_card(_preferences(custom=True), t),
    "lead_preferences": lambda t: lead_preferences_card(
        _preferences(custom=True), t, lead_id="l-1", lead_title=LONG[:200]
    ),
    "welcome": welcome_card,
    "help": help_card,
    "lead_open": lambda t: lead_card(make_lead_view(), t),
    "lead_with_pickers": _lead_with_pickers,
    "lead_lost": lambda t: lead_card(make_lead_view(status=LeadStatus.LOST), t),
    "lead_won_not_following": lambda t: lead_card(
        make_lead_view(status=LeadStatus.WON, viewer_follows=False), t
    ),
    "lead_follower_only": lambda t: lead_card(make_lead_view(can_change=False), t),
    "lead_empty": lambda t: lead_card(
        replace(make_lead_view(participants=0, followers=0, comments=0), contact=None, owner=None),
        t,
    ),
    "lead_huge": _huge_lead,
    "lead_huge_escaped_description": _huge_lead_escaped_description,
    "account": _account,
    "account_read_only": lambda t: _account(t, can_change=False),
    "account_huge": lambda t: _account(t, big=True),
    "contact_open_lead": lambda t: contact_card(make_contact_view(), t),
    "contact_won_lead": lambda t: contact_card(
        make_contact_view(lead_statuses=(LeadStatus.WON, LeadStatus.LOST)), t
    ),
    "contact_read_only": lambda t: contact_card(make_contact_view(can_change=False), t),
    "find": lambda t: _find(t, 3),
    "find_empty": lambda t: _find(t, 0),
    "find_huge": lambda t: _find(t, 100, long=True),
    "my_leads": lambda t: _my_leads(t, 5),
    "my_leads_empty": lambda t: _my_leads(t, 0),
    "my_leads_huge": lambda t: _my_leads(t, 100),
    "pipeline": _pipeline,
    "pipeline_empty": lambda t: pipeline_card(PipelineStub(), make_pipeline(), t),
    "error": lambda t: error_card(t, "lead.closed", {"lead_id": "x", "status": "won"}),
    "error_with_retry": lambda t: error_card(
        t,
        "lead.conflict",
        {"id": "x", "expected": 1, "actual": 2},
        retry=Button(title=t.t("action.refresh"), verb=verbs.LEAD_REFRESH, data={"lead_id": "x"}),
    ),
    "info": lambda t: info_card(
        t,
        LONG[:300],
        buttons=[Button(title=t.t("action.open"), verb=verbs.LEAD_SHOW, data={"lead_id": "x"})],
    ),
}
