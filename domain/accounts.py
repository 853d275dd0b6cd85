"""Accounts: the client folder, the central record that groups a company's contacts and leads."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from domain.common import Aggregate, Stamp
from domain.errors import InvalidInput, NotFound, RuleViolation
from domain.events import (
    AccountCreated,
    AccountDocumentAdded,
    AccountDocumentRemoved,
    AccountRelationshipAdded,
    AccountRelationshipRemoved,
    AccountResponsibleAdded,
    AccountResponsibleRemoved,
    AccountStatusChanged,
    AccountUpdated,
    changes_between,
)
from domain.ids import AccountId, DocumentId, RelationshipId, TenantId, UserId, new_id
from domain.settings import CustomValue
from domain.statuses import CustomerStatus, ProspectStatus, Statuses, status_changes
from domain.validation import NAME_MAX, REASON_MAX, TITLE_MAX, clean_line, clean_url

RESPONSIBLES_MAX = 50
DOCUMENTS_MAX = 500
RELATIONSHIPS_MAX = 500


class Classification(StrEnum):
    LEAD = "lead"
    PROSPECT = "prospect"
    CLIENT = "client"
    OTHER = "other"


class Direction(StrEnum):
    """A relationship is stored on both accounts: outgoing on one, incoming on the other."""

    OUTGOING = "outgoing"
    INCOMING = "incoming"


@dataclass(frozen=True, slots=True, kw_only=True)
class Relationship:
    id: RelationshipId
    other_account_id: AccountId
    reason: str
    direction: Direction


@dataclass(frozen=True, slots=True, kw_only=True)
class Document:
    id: DocumentId
    title: str
    url: str
    added_by: UserId | None
    added_at: datetime


@dataclass(slots=True, kw_only=True)
class Account(Aggregate):
    id: AccountId
    name: str
    classification: Classification = Classification.LEAD
    characteristics: frozenset[str] = frozenset()
    interests: frozenset[str] = frozenset()
    disinterests: frozenset[str] = frozenset()
    responsible_ids: frozenset[UserId] = frozenset()
    relationships: tuple[Relationship, ...] = ()
    documents: tuple[Document, ...] = ()
    tags: frozenset[str] = frozenset()
    custom_fields: dict[str, CustomValue] = field(default_factory=dict)
    prospect_status: ProspectStatus = ProspectStatus.NONE
    customer_status: CustomerStatus = CustomerStatus.NONE
    created_by: UserId | None = None
    created_at: datetime | None = None

    @classmethod
    def create(
        cls,
        *,
        tenant_id: TenantId,
        name: str,
        classification: Classification = Classification.LEAD,
        responsible_ids: Iterable[UserId] = (),
        tags: frozenset[str] = frozenset(),
        stamp: Stamp,
    ) -> Account:
        account = cls(
            tenant_id=tenant_id,
            id=AccountId(new_id()),
            name=clean_line(name, "name", NAME_MAX),
            classification=classification,
            responsible_ids=frozenset(responsible_ids),
            tags=tags,
            created_by=stamp.actor_id,
            created_at=stamp.at,
        )
        if len(account.responsible_ids) > RESPONSIBLES_MAX:
            raise InvalidInput("input.too_many", field="responsibles", max=RESPONSIBLES_MAX)
        account.record(
            AccountCreated(
                tenant_id=tenant_id,
                actor_id=stamp.actor_id,
                occurred_at=stamp.at,
                subject_id=account.id,
                changes=changes_between({}, account._snapshot()),
            )
        )
        return account

    @property
    def statuses(self) -> Statuses:
        return Statuses(prospect=self.prospect_status, customer=self.customer_status)

    def _snapshot(self) -> dict[str, object]:
        return {
            "name": self.name,
            "classification": self.classification,
            "characteristics": self.characteristics,
            "interests": self.interests,
            "disinterests": self.disinterests,
            "tags": self.tags,
            "custom_fields": self.custom_fields,
        }

    def _updated(self, before: dict[str, object], stamp: Stamp) -> None:
        changes = changes_between(before, self._snapshot())
        if changes:
            self.record(
                AccountUpdated(
                    tenant_id=self.tenant_id,
                    actor_id=stamp.actor_id,
                    occurred_at=stamp.at,
                    subject_id=self.id,
                    changes=changes,
                )
            )

    def rename(self, name: str, stamp: Stamp) -> None:
        before = self._snapshot()
        self.name = clean_line(name, "name", NAME_MAX)
        self._updated(before, stamp)

    def classify(self, classification: Classification, stamp: Stamp) -> None:
        before = self._snapshot()
        self.classification = classification
        self._updated(before, stamp)

    def set_characteristics(
        self, keys: Iterable[str], *, catalog: frozenset[str], stamp: Stamp
    ) -> None:
        """Only active catalog entries may be added; retired ones already set may stay."""
        wanted = frozenset(keys)
        self._check_catalog(wanted - self.characteristics, catalog, "characteristics")
        before = self._snapshot()
        self.characteristics = wanted
        self._updated(before, stamp)

    def set_interests(
        self,
        *,
        interests: Iterable[str],
        disinterests: Iterable[str],
        catalog: frozenset[str],
        stamp: Stamp,
    ) -> None:
        wanted_in, wanted_out = frozenset(interests), frozenset(disinterests)
        self._check_catalog(wanted_in - self.interests, catalog, "interests")
        self._check_catalog(wanted_out - self.disinterests, catalog, "disinterests")
        both = wanted_in & wanted_out
        if both:
            raise RuleViolation("account.interest_and_disinterest", keys=sorted(both))
        before = self._snapshot()
        self.interests, self.disinterests = wanted_in, wanted_out
        self._updated(before, stamp)

    @staticmethod
    def _check_catalog(added: frozenset[str], catalog: frozenset[str], name: str) -> None:
        unknown = added - catalog
        if unknown:
            raise InvalidInput("input.unknown_catalog_entry", field=name, keys=sorted(unknown))

    def set_tags(self, tags: frozenset[str], stamp: Stamp) -> None:
        before = self._snapshot()
        self.tags = tags
        self._updated(before, stamp)

    def set_custom_fields(self, values: dict[str, CustomValue], stamp: Stamp) -> None:
        before = self._snapshot()
        self.custom_fields = dict(values)
        self._updated(before, stamp)

    # --- responsibles: they define who may see the account ---------------------------------

    def add_responsible(self, user_id: UserId, stamp: Stamp) -> None:
        if user_id in self.responsible_ids:
            return
        if len(self.responsible_ids) >= RESPONSIBLES_MAX:
            raise InvalidInput("input.too_many", field="responsibles", max=RESPONSIBLES_MAX)
        self.responsible_ids = self.responsible_ids | {user_id}
        self.record(
            AccountResponsibleAdded(
                tenant_id=self.tenant_id,
                actor_id=stamp.actor_id,
                occurred_at=stamp.at,
                subject_id=self.id,
                user_id=user_id,
            )
        )

    def remove_responsible(self, user_id: UserId, stamp: Stamp) -> None:
        if user_id not in self.responsible_ids:
            raise NotFound("responsible", account_id=self.id, user_id=user_id)
        if self.responsible_ids == {user_id}:
            # An account nobody is responsible for is visible only to admins: keep one.
            raise RuleViolation("account.last_responsible", account_id=self.id)
        self.responsible_ids = self.responsible_ids - {user_id}
        self.record(
            AccountResponsibleRemoved(
                tenant_id=self.tenant_id,
                actor_id=stamp.actor_id,
                occurred_at=stamp.at,
                subject_id=self.id,
                user_id=user_id,
            )
        )

    # --- relationships (both sides hold a copy, so each folder shows it) --------------------

    def link(
        self,
        *,
        relationship_id: RelationshipId,
        other: AccountId,
        reason: str,
        direction: Direction,
        stamp: Stamp,
    ) -> None:
        if other == self.id:
            raise RuleViolation("account.relationship_self", account_id=self.id)
        if len(self.relationships) >= RELATIONSHIPS_MAX:
            raise InvalidInput("input.too_many", field="relationships", max=RELATIONSHIPS_MAX)
        text = clean_line(reason, "reason", REASON_MAX)
        if any(
            r.other_account_id == other and r.reason.casefold() == text.casefold()
            for r in self.relationships
        ):
            raise RuleViolation("account.relationship_duplicate", other_account_id=other)
        self.relationships = (
            *self.relationships,
            Relationship(
                id=relationship_id, other_account_id=other, reason=text, direction=direction
            ),
        )
        self.record(
            AccountRelationshipAdded(
                tenant_id=self.tenant_id,
                actor_id=stamp.actor_id,
                occurred_at=stamp.at,
                subject_id=self.id,
                relationship_id=relationship_id,
                other_account_id=other,
                reason=text,
                direction=direction.value,
            )
        )

    def relationship(self, relationship_id: str) -> Relationship:
        found = next((r for r in self.relationships if r.id == relationship_id), None)
        if found is None:
            raise NotFound("relationship", relationship_id=relationship_id)
        return found

    def unlink(self, relationship_id: str, stamp: Stamp) -> Relationship:
        found = self.relationship(relationship_id)
        self.relationships = tuple(r for r in self.relationships if r.id != relationship_id)
        self.record(
            AccountRelationshipRemoved(
                tenant_id=self.tenant_id,
                actor_id=stamp.actor_id,
                occurred_at=stamp.at,
                subject_id=self.id,
                relationship_id=found.id,
                other_account_id=found.other_account_id,
            )
        )
        return found

    # --- documents --------------------------------------------------------------------------

    def add_document(self, *, title: str, url: str, stamp: Stamp) -> Document:
        if len(self.documents) >= DOCUMENTS_MAX:
            raise InvalidInput("input.too_many", field="documents", max=DOCUMENTS_MAX)
        document = Document(
            id=DocumentId(new_id()),
            title=clean_line(title, "title", TITLE_MAX),
            url=clean_url(url, https_only=True),
            added_by=stamp.actor_id,
            added_at=stamp.at,
        )
        self.documents = (*self.documents, document)
        self.record(
            AccountDocumentAdded(
                tenant_id=self.tenant_id,
                actor_id=stamp.actor_id,
                occurred_at=stamp.at,
                subject_id=self.id,
                document_id=document.id,
                title=document.title,
                url=document.url,
            )
        )
        return document

    def remove_document(self, document_id: str, stamp: Stamp) -> None:
        if not any(d.id == document_id for d in self.documents):
            raise NotFound("document", document_id=document_id)
        self.documents = tuple(d for d in self.documents if d.id != document_id)
        self.record(
            AccountDocumentRemoved(
                tenant_id=self.tenant_id,
                actor_id=stamp.actor_id,
                occurred_at=stamp.at,
                subject_id=self.id,
                document_id=document_id,
            )
        )

    # --- statuses ---------------------------------------------------------------------------

    def apply_statuses(self, statuses: Statuses, *, automatic: bool, stamp: Stamp) -> None:
        changes = status_changes(self.statuses, statuses)
        self.prospect_status, self.customer_status = statuses.prospect, statuses.customer
        if changes:
            self.record(
                AccountStatusChanged(
                    tenant_id=self.tenant_id,
                    actor_id=stamp.actor_id,
                    occurred_at=stamp.at,
                    subject_id=self.id,
                    changes=changes,
                    automatic=automatic,
                )
            )
