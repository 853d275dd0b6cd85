"""Domain events: the single record of what changed, by whom and when.

History and notifications are both built from these, so every mutation of an aggregate appends
one. Events are plain frozen values that serialise to JSON-able dicts for the outbox.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, ClassVar, TypeAlias

from domain.ids import AccountId, TenantId, UserId

JsonValue: TypeAlias = "str | int | float | bool | list[JsonValue] | dict[str, JsonValue] | None"


def to_json(value: Any) -> JsonValue:
    """Render a domain value (enum, decimal, date, set, dataclass...) as plain JSON data."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, enum.Enum):
        return to_json(value.value)
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, frozenset | set):
        return sorted((to_json(item) for item in value), key=str)
    if isinstance(value, list | tuple):
        return [to_json(item) for item in value]
    if isinstance(value, Mapping):
        return {str(key): to_json(item) for key, item in value.items()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            field.name: to_json(getattr(value, field.name)) for field in dataclasses.fields(value)
        }
    raise TypeError(f"cannot render {type(value).__name__} as JSON")


@dataclass(frozen=True, slots=True, kw_only=True)
class Change:
    """One field's value before and after, as JSON data so it can be stored as is."""

    field: str
    before: JsonValue
    after: JsonValue


def changes_between(before: Mapping[str, Any], after: Mapping[str, Any]) -> tuple[Change, ...]:
    """The fields whose value differs, in a stable order."""
    result = []
    for key in sorted(set(before) | set(after)):
        old, new = to_json(before.get(key)), to_json(after.get(key))
        if old != new:
            result.append(Change(field=key, before=old, after=new))
    return tuple(result)


@dataclass(frozen=True, slots=True, kw_only=True)
class DomainEvent:
    """What happened (``name``), to which record (``subject_*``), by whom, when, and how."""

    name: ClassVar[str] = "event"
    subject_kind: ClassVar[str] = "record"

    tenant_id: TenantId
    actor_id: UserId | None
    occurred_at: datetime
    subject_id: str
    changes: tuple[Change, ...] = ()

    def as_record(self) -> dict[str, JsonValue]:
        """Everything the event says, as JSON data (the outbox and history payload)."""
        payload: dict[str, JsonValue] = {
            "name": self.name,
            "subject_kind": self.subject_kind,
        }
        for field in dataclasses.fields(self):
            payload[field.name] = to_json(getattr(self, field.name))
        return payload

    def change(self, field: str) -> Change | None:
        return next((c for c in self.changes if c.field == field), None)


# --- users and tenant settings ---------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class UserEvent(DomainEvent):
    subject_kind: ClassVar[str] = "user"


@dataclass(frozen=True, slots=True, kw_only=True)
class UserRegistered(UserEvent):
    name: ClassVar[str] = "user.registered"
    role: str


@dataclass(frozen=True, slots=True, kw_only=True)
class UserUpdated(UserEvent):
    name: ClassVar[str] = "user.updated"


@dataclass(frozen=True, slots=True, kw_only=True)
class TenantEvent(DomainEvent):
    subject_kind: ClassVar[str] = "tenant"


@dataclass(frozen=True, slots=True, kw_only=True)
class TenantSettingsChanged(TenantEvent):
    name: ClassVar[str] = "tenant.settings_changed"


@dataclass(frozen=True, slots=True, kw_only=True)
class PipelineEvent(DomainEvent):
    subject_kind: ClassVar[str] = "pipeline"


@dataclass(frozen=True, slots=True, kw_only=True)
class PipelineCreated(PipelineEvent):
    name: ClassVar[str] = "pipeline.created"


@dataclass(frozen=True, slots=True, kw_only=True)
class PipelineChanged(PipelineEvent):
    name: ClassVar[str] = "pipeline.changed"


# --- accounts --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class AccountEvent(DomainEvent):
    subject_kind: ClassVar[str] = "account"


@dataclass(frozen=True, slots=True, kw_only=True)
class AccountCreated(AccountEvent):
    name: ClassVar[str] = "account.created"


@dataclass(frozen=True, slots=True, kw_only=True)
class AccountUpdated(AccountEvent):
    name: ClassVar[str] = "account.updated"


@dataclass(frozen=True, slots=True, kw_only=True)
class AccountResponsibleAdded(AccountEvent):
    name: ClassVar[str] = "account.responsible_added"
    user_id: UserId


@dataclass(frozen=True, slots=True, kw_only=True)
class AccountResponsibleRemoved(AccountEvent):
    name: ClassVar[str] = "account.responsible_removed"
    user_id: UserId


@dataclass(frozen=True, slots=True, kw_only=True)
class AccountRelationshipAdded(AccountEvent):
    name: ClassVar[str] = "account.relationship_added"
    relationship_id: str
    other_account_id: AccountId
    reason: str
    direction: str


@dataclass(frozen=True, slots=True, kw_only=True)
class AccountRelationshipRemoved(AccountEvent):
    name: ClassVar[str] = "account.relationship_removed"
    relationship_id: str
    other_account_id: AccountId


@dataclass(frozen=True, slots=True, kw_only=True)
class AccountDocumentAdded(AccountEvent):
    name: ClassVar[str] = "account.document_added"
    document_id: str
    title: str
    url: str


@dataclass(frozen=True, slots=True, kw_only=True)
class AccountDocumentRemoved(AccountEvent):
    name: ClassVar[str] = "account.document_removed"
    document_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class AccountStatusChanged(AccountEvent):
    """Prospect / customer status moved, automatically (from a lead) or by hand."""

    name: ClassVar[str] = "account.status_changed"
    automatic: bool


# --- contacts --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class ContactEvent(DomainEvent):
    subject_kind: ClassVar[str] = "contact"
    account_id: AccountId | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ContactCreated(ContactEvent):
    name: ClassVar[str] = "contact.created"


@dataclass(frozen=True, slots=True, kw_only=True)
class ContactUpdated(ContactEvent):
    name: ClassVar[str] = "contact.updated"


@dataclass(frozen=True, slots=True, kw_only=True)
class ContactStatusChanged(ContactEvent):
    """Prospect / customer status moved, automatically (from a lead) or by hand."""

    name: ClassVar[str] = "contact.status_changed"
    automatic: bool


# --- leads -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class LeadEvent(DomainEvent):
    subject_kind: ClassVar[str] = "lead"
    account_id: AccountId | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class LeadCreated(LeadEvent):
    name: ClassVar[str] = "lead.created"
    number: int
    title: str
    pipeline_id: str
    origin_lead_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class LeadUpdated(LeadEvent):
    """Title, amount, currency, close date, description, tags or custom fields changed."""

    name: ClassVar[str] = "lead.updated"


@dataclass(frozen=True, slots=True, kw_only=True)
class LeadStageChanged(LeadEvent):
    name: ClassVar[str] = "lead.stage_changed"


@dataclass(frozen=True, slots=True, kw_only=True)
class LeadStatusChanged(LeadEvent):
    """Won, lost (with a reason), unqualified or reopened."""

    name: ClassVar[str] = "lead.status_changed"
    lost_reason: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class LeadOwnerChanged(LeadEvent):
    name: ClassVar[str] = "lead.owner_changed"


@dataclass(frozen=True, slots=True, kw_only=True)
class PrimaryContactChanged(LeadEvent):
    name: ClassVar[str] = "lead.primary_contact_changed"


@dataclass(frozen=True, slots=True, kw_only=True)
class ParticipantAdded(LeadEvent):
    name: ClassVar[str] = "lead.participant_added"
    contact_id: str
    role: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ParticipantRemoved(LeadEvent):
    name: ClassVar[str] = "lead.participant_removed"
    contact_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ParticipantRoleChanged(LeadEvent):
    name: ClassVar[str] = "lead.participant_role_changed"
    contact_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class FollowerAdded(LeadEvent):
    name: ClassVar[str] = "lead.follower_added"
    user_id: UserId


@dataclass(frozen=True, slots=True, kw_only=True)
class FollowerRemoved(LeadEvent):
    name: ClassVar[str] = "lead.follower_removed"
    user_id: UserId


@dataclass(frozen=True, slots=True, kw_only=True)
class CommentAdded(LeadEvent):
    name: ClassVar[str] = "lead.comment_added"
    comment_id: str
    text: str
    mentions: tuple[UserId, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class ReminderScheduled(LeadEvent):
    name: ClassVar[str] = "lead.reminder_scheduled"
    reminder_id: str
    assignee_id: UserId
    due_at: datetime
    text: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ReminderCompleted(LeadEvent):
    name: ClassVar[str] = "lead.reminder_completed"
    reminder_id: str


def event_names(events: Iterable[DomainEvent]) -> list[str]:
    """Handy in tests and logs: the names of a batch of events, in order."""
    return [event.name for event in events]
