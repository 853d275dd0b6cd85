"""What each tenant configures: the label of "other", catalogs, custom fields and pipelines."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import TypeAlias

from domain.common import Aggregate, Stamp
from domain.errors import InvalidInput, NotFound, RuleViolation
from domain.events import (
    PipelineChanged,
    PipelineCreated,
    TenantSettingsChanged,
    changes_between,
)
from domain.ids import PipelineId, StageId, TenantId, new_id
from domain.validation import (
    SHORT_MAX,
    TEXT_MAX,
    clean_currency,
    clean_date,
    clean_line,
)

CustomValue: TypeAlias = str | Decimal | date
CATALOG_MAX = 200
CUSTOM_FIELDS_MAX = 50
CHOICES_MAX = 50
STAGES_MAX = 20


def slug(label: str) -> str:
    """A stable key for a label, so renaming a catalog entry keeps what refers to it."""
    ascii_text = unicodedata.normalize("NFKD", label).encode("ascii", "ignore").decode()
    text = re.sub(r"[^a-z0-9]+", "-", ascii_text.casefold()).strip("-")
    return text or new_id()[:8]


@dataclass(frozen=True, slots=True, kw_only=True)
class CatalogEntry:
    key: str
    label: str
    retired: bool = False


class CustomFieldKind(StrEnum):
    TEXT = "text"
    NUMBER = "number"
    DATE = "date"
    CHOICE = "choice"


class RecordKind(StrEnum):
    ACCOUNT = "account"
    CONTACT = "contact"
    LEAD = "lead"


@dataclass(frozen=True, slots=True, kw_only=True)
class CustomFieldDef:
    key: str
    label: str
    kind: CustomFieldKind
    applies_to: RecordKind
    choices: tuple[str, ...] = ()

    def parse(self, value: object) -> CustomValue | None:
        """Check a value against the field's kind; ``None`` or blank clears the field."""
        if value is None or value == "":
            return None
        name = f"custom.{self.key}"
        if self.kind is CustomFieldKind.TEXT:
            return clean_line(value, name, TEXT_MAX)
        if self.kind is CustomFieldKind.NUMBER:
            if isinstance(value, Decimal | int) and not isinstance(value, bool):
                number = Decimal(value)
                if not number.is_finite():
                    raise InvalidInput("input.invalid_number", field=name)
                return number
            if isinstance(value, str):
                try:
                    number = Decimal(value.strip())
                except ArithmeticError:
                    raise InvalidInput("input.invalid_number", field=name) from None
                if number.is_finite():
                    return number
            raise InvalidInput("input.invalid_number", field=name)
        if self.kind is CustomFieldKind.DATE:
            return clean_date(value, name)
        text = clean_line(value, name, SHORT_MAX)
        if text not in self.choices:
            raise InvalidInput("input.invalid_choice", field=name, choices=list(self.choices))
        return text


def apply_custom_fields(
    definitions: tuple[CustomFieldDef, ...],
    kind: RecordKind,
    current: dict[str, CustomValue],
    updates: dict[str, object],
) -> dict[str, CustomValue]:
    """Merge updates into custom values, refusing fields the tenant never defined."""
    known = {d.key: d for d in definitions if d.applies_to is kind}
    result = dict(current)
    for key, raw in updates.items():
        definition = known.get(key)
        if definition is None:
            raise InvalidInput("input.unknown_custom_field", field=key)
        value = definition.parse(raw)
        if value is None:
            result.pop(key, None)
        else:
            result[key] = value
    return result


@dataclass(slots=True, kw_only=True)
class TenantSettings(Aggregate):
    """One per tenant: the vocabulary and catalogs its people pick from."""

    other_label: str = "Other"
    default_currency: str = "USD"
    characteristics: tuple[CatalogEntry, ...] = ()
    interest_areas: tuple[CatalogEntry, ...] = ()
    custom_fields: tuple[CustomFieldDef, ...] = ()

    @classmethod
    def create(cls, tenant_id: TenantId, stamp: Stamp) -> TenantSettings:
        """A new tenant's settings: the defaults, recorded so history starts at the beginning."""
        settings = cls(tenant_id=tenant_id)
        settings._changed({}, stamp)
        return settings

    def _snapshot(self) -> dict[str, object]:
        return {
            "other_label": self.other_label,
            "default_currency": self.default_currency,
            "characteristics": [entry.key for entry in self.characteristics if not entry.retired],
            "interest_areas": [entry.key for entry in self.interest_areas if not entry.retired],
            "custom_fields": [d.key for d in self.custom_fields],
        }

    def _changed(self, before: dict[str, object], stamp: Stamp) -> None:
        changes = changes_between(before, self._snapshot())
        if changes:
            self.record(
                TenantSettingsChanged(
                    tenant_id=self.tenant_id,
                    actor_id=stamp.actor_id,
                    occurred_at=stamp.at,
                    subject_id=self.tenant_id,
                    changes=changes,
                )
            )

    def set_other_label(self, label: str, stamp: Stamp) -> None:
        before = self._snapshot()
        self.other_label = clean_line(label, "other_label", SHORT_MAX)
        self._changed(before, stamp)

    def set_default_currency(self, currency: str, stamp: Stamp) -> None:
        before = self._snapshot()
        self.default_currency = clean_currency(currency)
        self._changed(before, stamp)

    @staticmethod
    def _add_entry(entries: tuple[CatalogEntry, ...], label: str) -> tuple[CatalogEntry, ...]:
        text = clean_line(label, "label", SHORT_MAX)
        key = slug(text)
        existing = next((entry for entry in entries if entry.key == key), None)
        if existing is not None and not existing.retired:
            raise RuleViolation("catalog.duplicate", key=key)
        if len(entries) >= CATALOG_MAX:
            raise InvalidInput("input.too_many", field="catalog", max=CATALOG_MAX)
        kept = tuple(entry for entry in entries if entry.key != key)
        return (*kept, CatalogEntry(key=key, label=text))

    @staticmethod
    def _retire_entry(entries: tuple[CatalogEntry, ...], key: str) -> tuple[CatalogEntry, ...]:
        """Retired entries stay readable on the records that use them but can't be picked."""
        if not any(entry.key == key and not entry.retired for entry in entries):
            raise NotFound("catalog_entry", key=key)
        return tuple(
            CatalogEntry(key=e.key, label=e.label, retired=True) if e.key == key else e
            for e in entries
        )

    def add_characteristic(self, label: str, stamp: Stamp) -> str:
        before = self._snapshot()
        self.characteristics = self._add_entry(self.characteristics, label)
        self._changed(before, stamp)
        return self.characteristics[-1].key

    def retire_characteristic(self, key: str, stamp: Stamp) -> None:
        before = self._snapshot()
        self.characteristics = self._retire_entry(self.characteristics, key)
        self._changed(before, stamp)

    def add_interest_area(self, label: str, stamp: Stamp) -> str:
        before = self._snapshot()
        self.interest_areas = self._add_entry(self.interest_areas, label)
        self._changed(before, stamp)
        return self.interest_areas[-1].key

    def retire_interest_area(self, key: str, stamp: Stamp) -> None:
        before = self._snapshot()
        self.interest_areas = self._retire_entry(self.interest_areas, key)
        self._changed(before, stamp)

    def active_characteristics(self) -> frozenset[str]:
        return frozenset(e.key for e in self.characteristics if not e.retired)

    def active_interest_areas(self) -> frozenset[str]:
        return frozenset(e.key for e in self.interest_areas if not e.retired)

    def define_custom_field(
        self,
        *,
        label: str,
        kind: CustomFieldKind,
        applies_to: RecordKind,
        choices: tuple[str, ...] = (),
        stamp: Stamp,
    ) -> CustomFieldDef:
        text = clean_line(label, "label", SHORT_MAX)
        key = slug(text)
        if any(d.key == key and d.applies_to is applies_to for d in self.custom_fields):
            raise RuleViolation("custom_field.duplicate", key=key)
        if len(self.custom_fields) >= CUSTOM_FIELDS_MAX:
            raise InvalidInput("input.too_many", field="custom_fields", max=CUSTOM_FIELDS_MAX)
        cleaned = tuple(dict.fromkeys(clean_line(c, "choice", SHORT_MAX) for c in choices))
        if kind is CustomFieldKind.CHOICE and not cleaned:
            raise InvalidInput("input.required", field="choices")
        if len(cleaned) > CHOICES_MAX:
            raise InvalidInput("input.too_many", field="choices", max=CHOICES_MAX)
        definition = CustomFieldDef(
            key=key,
            label=text,
            kind=kind,
            applies_to=applies_to,
            choices=cleaned if kind is CustomFieldKind.CHOICE else (),
        )
        before = self._snapshot()
        self.custom_fields = (*self.custom_fields, definition)
        self._changed(before, stamp)
        return definition


# --- pipelines -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Stage:
    """A step of a pipeline. ``key`` marks the built-in stages the bot can translate."""

    id: StageId
    name: str
    probability: int
    key: str | None = None


DEFAULT_STAGES: tuple[tuple[str, str, int], ...] = (
    ("new", "New", 10),
    ("qualified", "Qualified", 25),
    ("proposal", "Proposal", 50),
    ("negotiation", "Negotiation", 75),
)


@dataclass(slots=True, kw_only=True)
class Pipeline(Aggregate):
    """Ordered stages a lead moves through; a tenant may run several (new business, renewals)."""

    id: PipelineId
    name: str
    stages: tuple[Stage, ...] = field(default_factory=tuple)
    is_default: bool = False

    @classmethod
    def create(
        cls,
        *,
        tenant_id: TenantId,
        name: str,
        stages: list[tuple[str, int]],
        is_default: bool,
        stamp: Stamp,
    ) -> Pipeline:
        pipeline = cls(
            tenant_id=tenant_id,
            id=PipelineId(new_id()),
            name=clean_line(name, "name", SHORT_MAX),
            is_default=is_default,
        )
        pipeline.stages = pipeline._build_stages(stages)
        pipeline.record(
            PipelineCreated(
                tenant_id=tenant_id,
                actor_id=stamp.actor_id,
                occurred_at=stamp.at,
                subject_id=pipeline.id,
                changes=changes_between({}, pipeline._snapshot()),
            )
        )
        return pipeline

    @classmethod
    def default(cls, tenant_id: TenantId, stamp: Stamp) -> Pipeline:
        """The pipeline a new tenant starts with, its stages keyed so the bot can translate."""
        pipeline = cls.create(
            tenant_id=tenant_id,
            name="Sales",
            stages=[(name, probability) for _key, name, probability in DEFAULT_STAGES],
            is_default=True,
            stamp=stamp,
        )
        pipeline.stages = tuple(
            Stage(id=stage.id, name=stage.name, probability=stage.probability, key=key)
            for stage, (key, _name, _p) in zip(pipeline.stages, DEFAULT_STAGES, strict=True)
        )
        return pipeline

    def _build_stages(self, stages: list[tuple[str, int]]) -> tuple[Stage, ...]:
        if not stages:
            raise InvalidInput("input.required", field="stages")
        if len(stages) > STAGES_MAX:
            raise InvalidInput("input.too_many", field="stages", max=STAGES_MAX)
        result = []
        seen: set[str] = set()
        for name, probability in stages:
            text = clean_line(name, "stage", SHORT_MAX)
            if text.casefold() in seen:
                raise RuleViolation("pipeline.duplicate_stage", stage=text)
            seen.add(text.casefold())
            if not isinstance(probability, int) or not 0 <= probability <= 100:
                raise InvalidInput("input.invalid_probability", field="probability")
            result.append(Stage(id=StageId(new_id()), name=text, probability=probability))
        return tuple(result)

    def _snapshot(self) -> dict[str, object]:
        return {
            "name": self.name,
            "stages": [f"{s.name} ({s.probability}%)" for s in self.stages],
            "is_default": self.is_default,
        }

    def stage(self, stage_id: str) -> Stage:
        """The stage of this pipeline with that id; any other id is refused."""
        found = next((s for s in self.stages if s.id == stage_id), None)
        if found is None:
            raise RuleViolation(
                "lead.stage_not_in_pipeline", stage_id=stage_id, pipeline_id=self.id
            )
        return found

    def first_stage(self) -> Stage:
        return self.stages[0]

    def position(self, stage_id: str) -> int:
        return next(i for i, s in enumerate(self.stages) if s.id == stage_id)

    def add_stage(self, name: str, probability: int, stamp: Stamp) -> Stage:
        before = self._snapshot()
        names = [(s.name, s.probability) for s in self.stages]
        new = self._build_stages([*names, (name, probability)])[-1]
        self.stages = (*self.stages, new)
        self.record(
            PipelineChanged(
                tenant_id=self.tenant_id,
                actor_id=stamp.actor_id,
                occurred_at=stamp.at,
                subject_id=self.id,
                changes=changes_between(before, self._snapshot()),
            )
        )
        return new
