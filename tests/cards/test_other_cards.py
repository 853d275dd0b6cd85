"""Account, contact, list and message cards: what they show and offer."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from cards import (
    BUDGET_BYTES,
    Button,
    account_card,
    card_size,
    contact_card,
    domain_error_card,
    error_card,
    find_card,
    help_card,
    info_card,
    my_leads_card,
    pipeline_card,
    stages_by_id,
    verbs,
    welcome_card,
)
from cards.i18n import NBSP, Translator
from domain.errors import Conflict
from domain.statuses import LeadStatus
from tests.cards.builders import BUILDERS
from tests.cards.conftest import (
    STAMP,
    PageStub,
    PipelineStub,
    SearchStub,
    StageRowStub,
    account_rows,
    contact_rows,
    lead_rows,
    make_account_view,
    make_contact_view,
    make_pipeline,
    walk,
)


def text_of(card: dict[str, Any]) -> str:
    return json.dumps(card, ensure_ascii=False)


def verbs_of(card: dict[str, Any]) -> list[str]:
    return [str(n["verb"]) for n in walk(card) if n.get("type") == "Action.Execute"]


def executes(card: dict[str, Any], *verbs_wanted: str) -> list[dict[str, Any]]:
    return [
        node
        for node in walk(card)
        if node.get("type") == "Action.Execute" and node["verb"] in verbs_wanted
    ]


def choice_values(card: dict[str, Any], input_id: str) -> list[str]:
    picker = next(node for node in walk(card) if node.get("id") == input_id)
    return [choice["value"] for choice in picker["choices"]]


# --- account ----------------------------------------------------------------------------------


def test_account_shows_the_tenants_label_for_other_and_catalog_labels() -> None:
    view = make_account_view()
    text = text_of(account_card(view, Translator("fr")))
    assert "Partner" in text  # classification "other", named by the tenant
    assert "Family business, Exporter" in text
    assert "Centres d'intérêt" in text
    assert "Cloud hosting" in text
    assert "On-site training" in text
    assert "Olivia Owner, Ronaldo Responsible" in text


def test_account_relationships_show_direction_reason_and_the_other_account() -> None:
    text = text_of(account_card(make_account_view(relationships=2), Translator("en")))
    assert "→ Agency [Ltd](http://evil.example): Intermediary 0" in text
    assert "← Agency [Ltd](http://evil.example): Intermediary 1" in text


def test_account_documents_are_links() -> None:
    card = account_card(make_account_view(), Translator("en"))
    links = [n for n in walk(card) if n.get("type") == "Action.OpenUrl"]
    assert [(link["title"], link["url"]) for link in links] == [
        ("Contract 2025", "https://files.example/contract_(v2).pdf")
    ]


def test_account_actions_only_for_those_who_may_change_it() -> None:
    changes = {
        verbs.ACCOUNT_CLASSIFY,
        verbs.ACCOUNT_ADD_RELATIONSHIP,
        verbs.ACCOUNT_ADD_CONTACT,
        verbs.ACCOUNT_NEW_LEAD,
        verbs.ACCOUNT_EDIT,
    }
    assert changes <= set(verbs_of(BUILDERS["account"](Translator("en"))))
    assert not changes & set(verbs_of(BUILDERS["account_read_only"](Translator("en"))))


def test_account_classification_picker_offers_the_tenants_other_label() -> None:
    card = account_card(make_account_view(), Translator("pt-BR"))
    picker = next(n for n in walk(card) if n.get("id") == verbs.IN_CLASSIFICATION)
    assert [c["title"] for c in picker["choices"]] == ["Lead", "Prospect", "Cliente", "Partner"]
    assert picker["value"] == "other"


def test_account_lists_its_contacts_and_leads_with_open_buttons() -> None:
    pipeline = make_pipeline()
    card = account_card(
        make_account_view(),
        Translator("en"),
        contacts=contact_rows(2),
        leads=lead_rows(pipeline, 2),
        stages=stages_by_id([pipeline]),
    )
    opened = [n["data"] for n in executes(card, verbs.CONTACT_SHOW, verbs.LEAD_SHOW)]
    assert {"contact_id": "con-0", "verb": "contact.show"} in opened
    assert {"lead_id": "lead-1", "verb": "lead.show"} in opened


# --- contact ----------------------------------------------------------------------------------


def test_contact_with_an_open_lead_can_only_be_a_current_prospect() -> None:
    card = contact_card(make_contact_view(lead_statuses=(LeadStatus.OPEN,)), Translator("en"))
    assert choice_values(card, verbs.IN_PROSPECT_STATUS) == ["current"]
    assert choice_values(card, verbs.IN_CUSTOMER_STATUS) == ["current", "past", "none"]


def test_contact_with_a_won_lead_cannot_be_a_lost_prospect() -> None:
    card = contact_card(make_contact_view(lead_statuses=(LeadStatus.WON,)), Translator("en"))
    assert choice_values(card, verbs.IN_PROSPECT_STATUS) == ["current", "none"]


def test_contact_without_leads_may_take_any_status() -> None:
    card = contact_card(make_contact_view(lead_statuses=()), Translator("en"))
    assert choice_values(card, verbs.IN_PROSPECT_STATUS) == ["current", "lost", "none"]


def test_contact_shows_details_and_statuses_in_the_users_language() -> None:
    view = make_contact_view()
    card = contact_card(view, Translator("pt-BR"))
    text = text_of(card)
    for value in ("Carla Contact", "Buyer", "carla@client.example", "+55 11 5555-0000", "vip"):
        assert value in text
    assert "Não é cliente potencial" in text
    assert "Não é cliente" in text
    data = executes(card, verbs.CONTACT_SET_STATUS)[0]["data"]
    assert data[verbs.CONTACT_ID] == view.contact.id
    assert data[verbs.VERSION] == view.contact.version


def test_read_only_contact_offers_no_status_change() -> None:
    card = contact_card(make_contact_view(can_change=False), Translator("en"))
    assert verbs.CONTACT_SET_STATUS not in verbs_of(card)


# --- lists ------------------------------------------------------------------------------------


def test_find_has_three_sections_and_a_next_page_with_cursor_and_query() -> None:
    pipeline = make_pipeline()
    results = SearchStub(
        accounts=account_rows(2), contacts=contact_rows(2), leads=lead_rows(pipeline, 2)
    )
    card = find_card(
        results,
        Translator("fr"),
        query="acme",
        stages=stages_by_id([pipeline]),
        other_label="Partenaire",
        next_cursor="c2",
    )
    text = text_of(card)
    for title in ("Comptes", "Contacts", "Leads", "Résultats pour «\u00a0acme\u00a0»"):
        assert title in text
    next_page = next(n for n in executes(card, verbs.FIND) if "cursor" in n["data"])
    assert next_page["data"] == {"query": "acme", "cursor": "c2", "verb": "find"}
    assert "Nouveau (10\u00a0%)" in text  # an open lead shows its stage, translated


def test_find_without_results_says_so() -> None:
    card = BUILDERS["find_empty"](Translator("en"))
    assert "Nothing found for “acme”." in text_of(card)


def test_my_leads_pages_with_the_cursor() -> None:
    pipeline = make_pipeline()
    page = PageStub(items=lead_rows(pipeline, 3), next_cursor="next-1")
    card = my_leads_card(page, Translator("en"), stages=stages_by_id([pipeline]))
    data = [n["data"] for n in executes(card, verbs.MY_LEADS)]
    assert data == [{"cursor": "next-1", "verb": "my_leads"}]
    assert len(executes(card, verbs.LEAD_SHOW)) == 3
    assert "€1,234.50" in text_of(card)  # lead 0: EUR 1234.50


def test_pipeline_counts_and_amounts_per_stage_and_currency() -> None:
    pipeline = make_pipeline()
    rows = (
        StageRowStub(stage_id=pipeline.stages[0].id, currency="USD", count=2, amount=Decimal(10)),
        StageRowStub(stage_id=pipeline.stages[0].id, currency="EUR", count=1, amount=Decimal(5)),
        StageRowStub(stage_id=pipeline.stages[1].id, currency="USD", count=1, amount=Decimal(1)),
    )
    card = pipeline_card(PipelineStub(stages=rows), pipeline, Translator("en"))
    text = text_of(card)
    assert "3 leads · €5.00 · $10.00" in text
    assert "1 lead · $1.00" in text
    assert "0 leads" in text  # the stages without leads are listed too
    assert "4 leads · €5.00 · $11.00" in text
    assert NBSP not in text


def test_pipeline_offers_the_other_pipelines() -> None:
    card = BUILDERS["pipeline"](Translator("en"))
    switches = [n for n in executes(card, verbs.PIPELINE) if verbs.PIPELINE_ID in n["data"]]
    assert len(switches) == 2
    assert all(n["data"][verbs.PIPELINE_ID] for n in switches)


# --- messages ---------------------------------------------------------------------------------


def test_help_lists_every_command_in_the_users_words() -> None:
    text = text_of(help_card(Translator("pt-BR")))
    assert "novo lead <título> [para <conta>]" in text
    assert "deixar de seguir <número ou título>" in text
    assert "meus leads" in text
    fr = text_of(help_card(Translator("fr")))
    assert "nouveau lead <titre> [pour <compte>]" in fr
    assert "ne plus suivre <numéro ou titre>" in fr
    en = text_of(help_card(Translator("en")))
    for line in ("new lead <title> [for <account>]", "my leads", "find <text>", "notifications"):
        assert line in en


def test_welcome_says_what_teamcrm_does_with_buttons() -> None:
    card = welcome_card(Translator("fr"))
    assert "Bienvenue dans TeamCRM" in text_of(card)
    assert "**aide**" in text_of(card)
    assert {verbs.HELP, verbs.MY_LEADS, verbs.PIPELINE, verbs.LEAD_CREATE, verbs.FIND} <= set(
        verbs_of(card)
    )


def test_error_card_speaks_the_users_language_and_offers_the_retry() -> None:
    error = Conflict("lead", id="l1", expected=3, actual=4)
    retry = Button(title="Actualiser", verb=verbs.LEAD_REFRESH, data={verbs.LEAD_ID: "l1"})
    card = domain_error_card(Translator("fr"), error, retry=retry)
    text = text_of(card)
    assert "Quelqu'un a modifié ce lead" in text
    assert [n["data"] for n in walk(card) if n.get("type") == "Action.Execute"] == [
        {"lead_id": "l1", "verb": "lead.refresh"}
    ]
    assert "actions" not in error_card(Translator("en"), "lead.closed", {"status": "won"})


def test_info_card_shows_the_message_as_plain_text() -> None:
    card = info_card(Translator("en"), "Lead #12 *created*", title="Created")
    runs = [n for n in walk(card) if n.get("type") == "RichTextBlock"]
    assert runs[0]["inlines"] == ["Lead #12 *created*"]


def test_what_people_typed_is_never_markdown_in_lists_and_errors() -> None:
    sneaky = "[win](https://evil.example)"
    pipeline = make_pipeline()
    cards = [
        find_card(SearchStub(), Translator("en"), query=sneaky, stages={}, other_label="Other"),
        error_card(Translator("en"), "pipeline.duplicate_stage", {"stage": sneaky}),
    ]
    pipeline.name = sneaky
    cards.append(pipeline_card(PipelineStub(), pipeline, Translator("en")))
    for card in cards:
        blocks = [n["text"] for n in walk(card) if n.get("type") == "TextBlock"]
        assert not [block for block in blocks if "evil.example" in block]
        assert "evil.example" in text_of(card)


def _multi_choices(card: dict[str, Any]) -> dict[str, tuple[list[str], str | None]]:
    return {
        node["id"]: ([c["value"] for c in node["choices"]], node.get("value"))
        for node in walk(card)
        if node.get("isMultiSelect")
    }


def test_account_details_form_offers_the_catalogs_ticked_as_they_are() -> None:
    view = make_account_view()
    view.settings.add_characteristic("Listed company", STAMP)
    view.settings.retire_characteristic("exporter", STAMP)  # retired, but the account has it
    view.settings.retire_characteristic("listed-company", STAMP)  # retired, not set: gone
    card = account_card(view, Translator("en"))
    assert _multi_choices(card) == {
        verbs.IN_CHARACTERISTICS: (["family-business", "exporter"], "family-business,exporter"),
        verbs.IN_INTERESTS: (["cloud-hosting", "on-site-training"], "cloud-hosting"),
        verbs.IN_DISINTERESTS: (["cloud-hosting", "on-site-training"], "on-site-training"),
    }
    name = next(node for node in walk(card) if node.get("id") == verbs.IN_ACCOUNT_NAME)
    assert name["value"] == view.account.name


def test_catalogs_too_long_for_the_card_leave_the_form_without_them() -> None:
    view = make_account_view()
    for n in range(150):
        view.settings.add_characteristic(f"Characteristic {n:03d} " + "x" * 80, STAMP)
        view.settings.add_interest_area(f"Area {n:03d} " + "y" * 80, STAMP)
    card = account_card(view, Translator("en"))
    assert card_size(card) <= BUDGET_BYTES
    assert _multi_choices(card) == {}
    assert "too many catalog entries" in json.dumps(card)
    assert verbs.ACCOUNT_EDIT in set(verbs_of(card))
    small = account_card(make_account_view(), Translator("en"))
    assert "too many catalog entries" not in json.dumps(small)
