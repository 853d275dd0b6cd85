"""Contacts: the people at customers who take part in deals (never users of the tenant)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from domain.common import Aggregate, Stamp
from domain.events import ContactCreated, ContactStatusChanged, ContactUpdated, changes_between
from domain.ids import AccountId, ContactId, TenantId, UserId, new_id
from domain.settings import CustomValue
from domain.statuses import CustomerStatus, ProspectStatus, Statuses, status_changes
from domain.validation import (
    NAME_MAX,
    TITLE_MAX,
    clean_email,
    clean_line,
    clean_optional,
    clean_phone,
)


@dataclass(slots=True, kw_only=True)
class Contact(Aggregate):
    id: ContactId
    name: str
    job_title: str | None = None
    email: str | None = None
    phone: str | None = None
    account_id: AccountId | None = None
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
        job_title: str | None = None,
        email: str | None = None,
        phone: str | None = None,
        account_id: AccountId | None = None,
        tags: frozenset[str] = frozenset(),
        stamp: Stamp,
    ) -> Contact:
        contact = cls(
            tenant_id=tenant_id,
            id=ContactId(new_id()),
            name=clean_line(name, "name", NAME_MAX),
            job_title=clean_optional(job_title, "job_title", TITLE_MAX),
            email=clean_email(email),
            phone=clean_phone(phone),
            account_id=account_id,
            tags=tags,
            created_by=stamp.actor_id,
            created_at=stamp.at,
        )
        contact.record(
            ContactCreated(
                tenant_id=tenant_id,
                actor_id=stamp.actor_id,
                occurred_at=stamp.at,
                subject_id=contact.id,
                account_id=account_id,
                changes=changes_between({}, contact._snapshot()),
            )
        )
        return contact

    @property
    def statuses(self) -> Statuses:
        return Statuses(prospect=self.prospect_status, customer=self.customer_status)

    def _snapshot(self) -> dict[str, object]:
        return {
            "name": self.name,
            "job_title": self.job_title,
            "email": self.email,
            "phone": self.phone,
            "account_id": self.account_id,
            "tags": self.tags,
            "custom_fields": self.custom_fields,
        }

    def update(
        self,
        *,
        name: str | None = None,
        job_title: str | None = None,
        email: str | None = None,
        phone: str | None = None,
        stamp: Stamp,
    ) -> None:
        """Change the given fields; an empty string clears an optional one."""
        before = self._snapshot()
        if name is not None:
            self.name = clean_line(name, "name", NAME_MAX)
        if job_title is not None:
            self.job_title = clean_optional(job_title, "job_title", TITLE_MAX)
        if email is not None:
            self.email = clean_email(email)
        if phone is not None:
            self.phone = clean_phone(phone)
        self._updated(before, stamp)

    def move_to_account(self, account_id: AccountId | None, stamp: Stamp) -> None:
        before = self._snapshot()
        self.account_id = account_id
        self._updated(before, stamp)

    def set_tags(self, tags: frozenset[str], stamp: Stamp) -> None:
        before = self._snapshot()
        self.tags = tags
        self._updated(before, stamp)

    def set_custom_fields(self, values: dict[str, CustomValue], stamp: Stamp) -> None:
        before = self._snapshot()
        self.custom_fields = dict(values)
        self._updated(before, stamp)

    def _updated(self, before: dict[str, object], stamp: Stamp) -> None:
        changes = changes_between(before, self._snapshot())
        if changes:
            self.record(
                ContactUpdated(
                    tenant_id=self.tenant_id,
                    actor_id=stamp.actor_id,
                    occurred_at=stamp.at,
                    subject_id=self.id,
                    account_id=self.account_id,
                    changes=changes,
                )
            )

    def apply_statuses(self, statuses: Statuses, *, automatic: bool, stamp: Stamp) -> None:
        changes = status_changes(self.statuses, statuses)
        self.prospect_status, self.customer_status = statuses.prospect, statuses.customer
        if changes:
            self.record(
                ContactStatusChanged(
                    tenant_id=self.tenant_id,
                    actor_id=stamp.actor_id,
                    occurred_at=stamp.at,
                    subject_id=self.id,
                    account_id=self.account_id,
                    changes=changes,
                    automatic=automatic,
                )
            )
