"""Tenant settings: the label of "other", currency, catalogs, custom fields and pipelines."""

from __future__ import annotations

import pytest

from domain.errors import InvalidInput, NotFound, RuleViolation
from domain.events import TenantSettingsChanged
from domain.services import CRM
from domain.settings import CustomFieldKind, RecordKind, slug
from tests.domain.factories import make_lead
from tests.domain.fakes import FakeDatabase
from tests.domain.people import ADMIN, TENANT


def test_other_label_is_set_and_recorded(crm: CRM, database: FakeDatabase) -> None:
    crm.set_other_label(TENANT, ADMIN, " Outros ")
    assert crm.get_settings(TENANT).other_label == "Outros"
    event = database.events[-1]
    assert isinstance(event, TenantSettingsChanged)
    change = event.change("other_label")
    assert change is not None
    assert (change.before, change.after) == ("Other", "Outros")


def test_same_other_label_emits_nothing(crm: CRM, database: FakeDatabase) -> None:
    before = len(database.events)
    crm.set_other_label(TENANT, ADMIN, "Other")
    assert database.events[before:] == []


def test_default_currency_is_used_by_new_leads(crm: CRM) -> None:
    crm.set_default_currency(TENANT, ADMIN, "brl")
    assert make_lead(crm).currency == "BRL"
    with pytest.raises(InvalidInput, match=r"input\.invalid_currency"):
        crm.set_default_currency(TENANT, ADMIN, "EURO")


def test_catalog_keys_are_slugs_of_the_labels(crm: CRM) -> None:
    assert crm.add_characteristic(TENANT, ADMIN, "Médias Entreprises") == "medias-entreprises"
    assert slug("Ação & Varejo") == "acao-varejo"


def test_duplicate_catalog_entry_is_refused_until_retired(crm: CRM) -> None:
    key = crm.add_characteristic(TENANT, ADMIN, "Retail")
    with pytest.raises(RuleViolation, match=r"catalog\.duplicate"):
        crm.add_characteristic(TENANT, ADMIN, "retail")
    crm.retire_characteristic(TENANT, ADMIN, key)
    assert key not in crm.get_settings(TENANT).active_characteristics()
    assert crm.add_characteristic(TENANT, ADMIN, "Retail") == key
    assert key in crm.get_settings(TENANT).active_characteristics()


def test_retiring_an_unknown_or_retired_entry_is_not_found(crm: CRM) -> None:
    key = crm.add_characteristic(TENANT, ADMIN, "Retail")
    crm.retire_characteristic(TENANT, ADMIN, key)
    with pytest.raises(NotFound, match=r"catalog_entry\.not_found"):
        crm.retire_characteristic(TENANT, ADMIN, key)
    with pytest.raises(NotFound):
        crm.retire_characteristic(TENANT, ADMIN, "never-existed")


def test_retired_entry_keeps_its_label(crm: CRM) -> None:
    key = crm.add_characteristic(TENANT, ADMIN, "Retail")
    crm.retire_characteristic(TENANT, ADMIN, key)
    (entry,) = crm.get_settings(TENANT).characteristics
    assert (entry.key, entry.label, entry.retired) == (key, "Retail", True)


def test_custom_field_label_is_unique_per_record_kind(crm: CRM) -> None:
    crm.define_custom_field(
        TENANT, ADMIN, label="Budget", kind=CustomFieldKind.NUMBER, applies_to=RecordKind.LEAD
    )
    crm.define_custom_field(
        TENANT, ADMIN, label="Budget", kind=CustomFieldKind.NUMBER, applies_to=RecordKind.ACCOUNT
    )
    with pytest.raises(RuleViolation, match=r"custom_field\.duplicate"):
        crm.define_custom_field(
            TENANT, ADMIN, label="budget", kind=CustomFieldKind.TEXT, applies_to=RecordKind.LEAD
        )


def test_choice_field_needs_choices_and_others_keep_none(crm: CRM) -> None:
    with pytest.raises(InvalidInput, match=r"input\.required"):
        crm.define_custom_field(
            TENANT, ADMIN, label="Tier", kind=CustomFieldKind.CHOICE, applies_to=RecordKind.LEAD
        )
    text = crm.define_custom_field(
        TENANT,
        ADMIN,
        label="Note",
        kind=CustomFieldKind.TEXT,
        applies_to=RecordKind.LEAD,
        choices=("ignored",),
    )
    assert text.choices == ()
    choice = crm.define_custom_field(
        TENANT,
        ADMIN,
        label="Tier",
        kind=CustomFieldKind.CHOICE,
        applies_to=RecordKind.LEAD,
        choices=("Gold", " Gold ", "Silver"),
    )
    assert choice.choices == ("Gold", "Silver")


def test_lead_custom_fields_follow_the_definitions(crm: CRM) -> None:
    crm.define_custom_field(
        TENANT, ADMIN, label="Budget", kind=CustomFieldKind.NUMBER, applies_to=RecordKind.LEAD
    )
    lead = make_lead(crm)
    changed = crm.update_lead(TENANT, ADMIN, lead.id, custom_fields={"budget": "10.5"})
    assert str(changed.custom_fields["budget"]) == "10.5"
    with pytest.raises(InvalidInput, match=r"input\.invalid_number"):
        crm.update_lead(TENANT, ADMIN, lead.id, custom_fields={"budget": "ten"})


def test_pipeline_is_created_with_ordered_stages(crm: CRM) -> None:
    pipeline = crm.create_pipeline(
        TENANT, ADMIN, name="Renewals", stages=[("Due", 40), ("Quoted", 70)]
    )
    assert [(s.name, s.probability) for s in pipeline.stages] == [("Due", 40), ("Quoted", 70)]
    assert not pipeline.is_default
    stage = crm.add_stage(TENANT, ADMIN, pipeline.id, "Signed", 95)
    (stored,) = [p for p in crm.pipelines(TENANT) if p.id == pipeline.id]
    assert stored.stages[-1] == stage


@pytest.mark.parametrize(
    ("stages", "code"),
    [
        ([], "input.required"),
        ([("Due", 40), ("due", 50)], "pipeline.duplicate_stage"),
        ([("Due", 101)], "input.invalid_probability"),
        ([("Due", -1)], "input.invalid_probability"),
        ([(" ", 10)], "input.required"),
    ],
)
def test_bad_pipeline_is_refused(crm: CRM, stages: list[tuple[str, int]], code: str) -> None:
    with pytest.raises((InvalidInput, RuleViolation)) as refused:
        crm.create_pipeline(TENANT, ADMIN, name="Broken", stages=stages)
    assert refused.value.code == code
    assert len(crm.pipelines(TENANT)) == 1


def test_pipeline_names_are_unique(crm: CRM) -> None:
    with pytest.raises(RuleViolation, match=r"pipeline\.duplicate"):
        crm.create_pipeline(TENANT, ADMIN, name=" sales ", stages=[("A", 10)])


def test_duplicate_stage_name_is_refused_when_adding(crm: CRM) -> None:
    pipeline = crm.pipelines(TENANT)[0]
    with pytest.raises(RuleViolation, match=r"pipeline\.duplicate_stage"):
        crm.add_stage(TENANT, ADMIN, pipeline.id, "new", 5)
    with pytest.raises(NotFound, match=r"pipeline\.not_found"):
        crm.add_stage(TENANT, ADMIN, "no-such-pipeline", "Extra", 5)
