"""Conversion between domain aggregates and row values, in one place.

The domain never sees a row and rows never hold domain objects, so either side can change its
shape with only this module to update. Values going out are plain dicts for Core statements;
rows coming in are Core ``Row``s of a table's columns, read by attribute, typed as the row class
so mypy checks each name.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from domain.accounts import Account, Classification, Direction, Document, Relationship
from domain.contacts import Contact
from domain.ids import (
    AccountId,
    CommentId,
    ContactId,
    DocumentId,
    LeadId,
    PipelineId,
    RelationshipId,
    ReminderId,
    StageId,
    TenantId,
    UserId,
)
from domain.leads import Comment, Lead, Participant, Reminder
from domain.settings import (
    CatalogEntry,
    CustomFieldDef,
    CustomFieldKind,
    CustomValue,
    Pipeline,
    RecordKind,
    Stage,
    TenantSettings,
)
from domain.statuses import CustomerStatus, LeadStatus, ProspectStatus
from domain.users import Role, User
from storage.rows import (
    AccountRow,
    CommentRow,
    ContactRow,
    LeadRow,
    PipelineRow,
    ReminderRow,
    SettingsRow,
    UserRow,
)

Values = dict[str, Any]
CENTS = Decimal(100)


def sort_key(text: str | None) -> str | None:
    """Case-insensitive order and prefix search use one folded copy of the text.

    NUL is dropped: PostgreSQL refuses it in text, and a search typed with one must still
    answer (stored names never contain it: the domain strips control characters).
    """
    return text.casefold().replace("\x00", "") if text is not None else None


def amount_to_cents(amount: Decimal | None) -> int | None:
    return None if amount is None else int(amount * CENTS)


def cents_to_amount(cents: int | None) -> Decimal | None:
    return None if cents is None else (Decimal(cents) / CENTS).quantize(Decimal("0.01"))


def _custom_out(values: dict[str, CustomValue]) -> dict[str, Any]:
    """Custom values keep their kind in JSON, so a number never comes back as a string."""
    result: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, Decimal):
            result[key] = {"t": "number", "v": str(value)}
        elif isinstance(value, date):
            result[key] = {"t": "date", "v": value.isoformat()}
        else:
            result[key] = {"t": "text", "v": value}
    return result


def _custom_in(data: dict[str, Any]) -> dict[str, CustomValue]:
    result: dict[str, CustomValue] = {}
    for key, item in data.items():
        kind, raw = item["t"], item["v"]
        if kind == "number":
            result[key] = Decimal(raw)
        elif kind == "date":
            result[key] = date.fromisoformat(raw)
        else:
            result[key] = str(raw)
    return result


# --- users, settings, pipelines --------------------------------------------------------------


def user_values(user: User) -> Values:
    return {
        "tenant_id": user.tenant_id,
        "id": user.id,
        "display_name": user.display_name,
        "name_key": sort_key(user.display_name),
        "email": user.email,
        "role": user.role.value,
        "manager_id": user.manager_id,
    }


def user_from(row: UserRow) -> User:
    return User(
        tenant_id=TenantId(row.tenant_id),
        version=row.version,
        id=UserId(row.id),
        display_name=row.display_name,
        email=row.email,
        role=Role(row.role),
        manager_id=UserId(row.manager_id) if row.manager_id else None,
    )


def _entries_out(entries: tuple[CatalogEntry, ...]) -> list[Any]:
    return [{"key": e.key, "label": e.label, "retired": e.retired} for e in entries]


def _entries_in(data: list[Any]) -> tuple[CatalogEntry, ...]:
    return tuple(CatalogEntry(key=e["key"], label=e["label"], retired=e["retired"]) for e in data)


def settings_values(settings: TenantSettings) -> Values:
    return {
        "tenant_id": settings.tenant_id,
        "other_label": settings.other_label,
        "default_currency": settings.default_currency,
        "characteristics": _entries_out(settings.characteristics),
        "interest_areas": _entries_out(settings.interest_areas),
        "custom_fields": [
            {
                "key": d.key,
                "label": d.label,
                "kind": d.kind.value,
                "applies_to": d.applies_to.value,
                "choices": list(d.choices),
            }
            for d in settings.custom_fields
        ],
    }


def settings_from(row: SettingsRow) -> TenantSettings:
    return TenantSettings(
        tenant_id=TenantId(row.tenant_id),
        version=row.version,
        other_label=row.other_label,
        default_currency=row.default_currency,
        characteristics=_entries_in(row.characteristics),
        interest_areas=_entries_in(row.interest_areas),
        custom_fields=tuple(
            CustomFieldDef(
                key=d["key"],
                label=d["label"],
                kind=CustomFieldKind(d["kind"]),
                applies_to=RecordKind(d["applies_to"]),
                choices=tuple(d["choices"]),
            )
            for d in row.custom_fields
        ),
    )


def pipeline_values(pipeline: Pipeline) -> Values:
    return {
        "tenant_id": pipeline.tenant_id,
        "id": pipeline.id,
        "name": pipeline.name,
        "is_default": pipeline.is_default,
        "stages": [
            {"id": s.id, "name": s.name, "probability": s.probability, "key": s.key}
            for s in pipeline.stages
        ],
    }


def pipeline_from(row: PipelineRow) -> Pipeline:
    return Pipeline(
        tenant_id=TenantId(row.tenant_id),
        version=row.version,
        id=PipelineId(row.id),
        name=row.name,
        is_default=row.is_default,
        stages=tuple(
            Stage(id=StageId(s["id"]), name=s["name"], probability=s["probability"], key=s["key"])
            for s in row.stages
        ),
    )


# --- accounts and contacts -------------------------------------------------------------------


def account_values(account: Account) -> Values:
    return {
        "tenant_id": account.tenant_id,
        "id": account.id,
        "name": account.name,
        "name_key": sort_key(account.name),
        "classification": account.classification.value,
        "characteristics": sorted(account.characteristics),
        "interests": sorted(account.interests),
        "disinterests": sorted(account.disinterests),
        "responsible_ids": sorted(account.responsible_ids),
        "relationships": [
            {
                "id": r.id,
                "other_account_id": r.other_account_id,
                "reason": r.reason,
                "direction": r.direction.value,
            }
            for r in account.relationships
        ],
        "documents": [
            {
                "id": d.id,
                "title": d.title,
                "url": d.url,
                "added_by": d.added_by,
                "added_at": d.added_at.isoformat(),
            }
            for d in account.documents
        ],
        "tags": sorted(account.tags),
        "custom_fields": _custom_out(account.custom_fields),
        "prospect_status": account.prospect_status.value,
        "customer_status": account.customer_status.value,
        "created_by": account.created_by,
        "created_at": account.created_at,
    }


def account_labels(account: Account) -> set[tuple[str, str]]:
    """The (kind, value) pairs copied into ``account_labels`` for list filters."""
    return (
        {("responsible", v) for v in account.responsible_ids}
        | {("tag", v) for v in account.tags}
        | {("characteristic", v) for v in account.characteristics}
        | {("interest", v) for v in account.interests}
        | {("disinterest", v) for v in account.disinterests}
    )


def account_from(row: AccountRow) -> Account:
    return Account(
        tenant_id=TenantId(row.tenant_id),
        version=row.version,
        id=AccountId(row.id),
        name=row.name,
        classification=Classification(row.classification),
        characteristics=frozenset(row.characteristics),
        interests=frozenset(row.interests),
        disinterests=frozenset(row.disinterests),
        responsible_ids=frozenset(UserId(v) for v in row.responsible_ids),
        relationships=tuple(
            Relationship(
                id=RelationshipId(r["id"]),
                other_account_id=AccountId(r["other_account_id"]),
                reason=r["reason"],
                direction=Direction(r["direction"]),
            )
            for r in row.relationships
        ),
        documents=tuple(
            Document(
                id=DocumentId(d["id"]),
                title=d["title"],
                url=d["url"],
                added_by=UserId(d["added_by"]) if d["added_by"] else None,
                added_at=datetime.fromisoformat(d["added_at"]),
            )
            for d in row.documents
        ),
        tags=frozenset(row.tags),
        custom_fields=_custom_in(row.custom_fields),
        prospect_status=ProspectStatus(row.prospect_status),
        customer_status=CustomerStatus(row.customer_status),
        created_by=UserId(row.created_by) if row.created_by else None,
        created_at=row.created_at,
    )


def contact_values(contact: Contact) -> Values:
    return {
        "tenant_id": contact.tenant_id,
        "id": contact.id,
        "name": contact.name,
        "name_key": sort_key(contact.name),
        "job_title": contact.job_title,
        "email": contact.email,
        "email_key": sort_key(contact.email),
        "phone": contact.phone,
        "account_id": contact.account_id,
        "tags": sorted(contact.tags),
        "custom_fields": _custom_out(contact.custom_fields),
        "prospect_status": contact.prospect_status.value,
        "customer_status": contact.customer_status.value,
        "created_by": contact.created_by,
        "created_at": contact.created_at,
    }


def contact_from(row: ContactRow) -> Contact:
    return Contact(
        tenant_id=TenantId(row.tenant_id),
        version=row.version,
        id=ContactId(row.id),
        name=row.name,
        job_title=row.job_title,
        email=row.email,
        phone=row.phone,
        account_id=AccountId(row.account_id) if row.account_id else None,
        tags=frozenset(row.tags),
        custom_fields=_custom_in(row.custom_fields),
        prospect_status=ProspectStatus(row.prospect_status),
        customer_status=CustomerStatus(row.customer_status),
        created_by=UserId(row.created_by) if row.created_by else None,
        created_at=row.created_at,
    )


# --- leads, comments, reminders --------------------------------------------------------------


def lead_values(lead: Lead) -> Values:
    return {
        "tenant_id": lead.tenant_id,
        "id": lead.id,
        "number": lead.number,
        "title": lead.title,
        "title_key": sort_key(lead.title),
        "owner_id": lead.owner_id,
        "pipeline_id": lead.pipeline_id,
        "stage_id": lead.stage_id,
        "account_id": lead.account_id,
        "contact_id": lead.contact_id,
        "participants": [{"contact_id": p.contact_id, "role": p.role} for p in lead.participants],
        "follower_ids": sorted(lead.follower_ids),
        "status": lead.status.value,
        "lost_reason": lead.lost_reason,
        "amount_cents": amount_to_cents(lead.amount),
        "currency": lead.currency,
        "close_date": lead.close_date,
        "tags": sorted(lead.tags),
        "description": lead.description,
        "custom_fields": _custom_out(lead.custom_fields),
        "origin_lead_id": lead.origin_lead_id,
        "created_at": lead.created_at,
        "last_activity_at": lead.last_activity_at,
        "closed_at": lead.closed_at,
    }


def lead_from(row: LeadRow) -> Lead:
    return Lead(
        tenant_id=TenantId(row.tenant_id),
        version=row.version,
        id=LeadId(row.id),
        number=row.number,
        title=row.title,
        owner_id=UserId(row.owner_id),
        pipeline_id=PipelineId(row.pipeline_id),
        stage_id=StageId(row.stage_id),
        account_id=AccountId(row.account_id) if row.account_id else None,
        contact_id=ContactId(row.contact_id) if row.contact_id else None,
        participants=tuple(
            Participant(contact_id=ContactId(p["contact_id"]), role=p["role"])
            for p in row.participants
        ),
        follower_ids=frozenset(UserId(v) for v in row.follower_ids),
        status=LeadStatus(row.status),
        lost_reason=row.lost_reason,
        amount=cents_to_amount(row.amount_cents),
        currency=row.currency,
        close_date=row.close_date,
        tags=frozenset(row.tags),
        description=row.description,
        custom_fields=_custom_in(row.custom_fields),
        origin_lead_id=LeadId(row.origin_lead_id) if row.origin_lead_id else None,
        created_at=row.created_at,
        last_activity_at=row.last_activity_at,
        closed_at=row.closed_at,
    )


def comment_values(comment: Comment) -> Values:
    return {
        "tenant_id": comment.tenant_id,
        "id": comment.id,
        "lead_id": comment.lead_id,
        "author_id": comment.author_id,
        "text": comment.text,
        "mentions": list(comment.mentions),
        "created_at": comment.created_at,
    }


def comment_from(row: CommentRow) -> Comment:
    return Comment(
        tenant_id=TenantId(row.tenant_id),
        version=row.version,
        id=CommentId(row.id),
        lead_id=LeadId(row.lead_id),
        author_id=UserId(row.author_id),
        text=row.text,
        mentions=tuple(UserId(m) for m in row.mentions),
        created_at=row.created_at,
    )


def reminder_values(reminder: Reminder) -> Values:
    return {
        "tenant_id": reminder.tenant_id,
        "id": reminder.id,
        "lead_id": reminder.lead_id,
        "assignee_id": reminder.assignee_id,
        "due_at": reminder.due_at,
        "text": reminder.text,
        "created_by": reminder.created_by,
        "done": reminder.done,
        "notified_at": reminder.notified_at,
    }


def reminder_from(row: ReminderRow) -> Reminder:
    return Reminder(
        tenant_id=TenantId(row.tenant_id),
        version=row.version,
        id=ReminderId(row.id),
        lead_id=LeadId(row.lead_id),
        assignee_id=UserId(row.assignee_id),
        due_at=row.due_at,
        text=row.text,
        created_by=UserId(row.created_by) if row.created_by else None,
        done=row.done,
        notified_at=row.notified_at,
    )
