"""What the domain needs from the outside world, as Protocols the outer layers implement.

Repositories are bound to one tenant when the unit of work is built, so no lookup can reach
another tenant's records: a foreign id simply is not found.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from types import TracebackType
from typing import Protocol, Self

from domain.accounts import Account
from domain.contacts import Contact
from domain.ids import AccountId, ContactId, LeadId, TenantId, UserId
from domain.leads import Comment, Lead, Reminder
from domain.settings import Pipeline, TenantSettings
from domain.statuses import LeadStatus
from domain.users import User


@dataclass(frozen=True, slots=True, kw_only=True)
class LeadFact:
    """The little a status computation needs to know about one lead."""

    lead_id: LeadId
    status: LeadStatus
    contact_id: ContactId | None


class UserRepository(Protocol):
    def get(self, user_id: str) -> User | None: ...
    def get_many(self, user_ids: Iterable[str]) -> dict[UserId, User]: ...
    def add(self, user: User) -> None: ...
    def count(self) -> int: ...
    def team_of(self, manager_id: UserId) -> list[UserId]: ...
    def admins(self) -> list[UserId]: ...


class SettingsRepository(Protocol):
    def get(self) -> TenantSettings | None: ...
    def add(self, settings: TenantSettings) -> None: ...


class PipelineRepository(Protocol):
    def get(self, pipeline_id: str) -> Pipeline | None: ...
    def add(self, pipeline: Pipeline) -> None: ...
    def default(self) -> Pipeline | None: ...
    def list(self, *, with_settings: bool = False) -> list[Pipeline]:
        """Default first, then by name. ``with_settings``: the tenant's settings are loaded in
        the same read (list cards name stages and the tenant's labels)."""
        ...


class AccountRepository(Protocol):
    def get(self, account_id: str) -> Account | None: ...
    def get_many(self, account_ids: Iterable[str]) -> dict[AccountId, Account]: ...
    def add(self, account: Account) -> None: ...


class ContactRepository(Protocol):
    def get(self, contact_id: str) -> Contact | None: ...
    def get_many(self, contact_ids: Iterable[str]) -> dict[ContactId, Contact]: ...
    def get_many_with_account(
        self, contact_ids: Iterable[str], account_id: AccountId, first: int
    ) -> tuple[dict[ContactId, Contact], list[Contact]]:
        """These contacts, and the account's ``first`` contacts by name: a lead card names its
        people and offers the account's in its pickers, read together."""
        ...

    def add(self, contact: Contact) -> None: ...


class LeadRepository(Protocol):
    def get(self, lead_id: str, *, with_user: str | None = None) -> Lead | None:
        """``with_user``: that user is loaded in the same read (the one about to change it)."""
        ...

    def by_number(self, number: int) -> Lead | None: ...
    def add(self, lead: Lead) -> None: ...
    def next_number(self) -> int: ...
    def facts_for_contact(self, contact_id: ContactId) -> list[LeadFact]:
        """Leads whose primary Contact is this contact."""
        ...

    def facts_for_account(self, account_id: AccountId) -> list[LeadFact]:
        """Leads whose primary Contact works for this account."""
        ...

    def scope_works_with_contact(self, contact_id: ContactId, scope: frozenset[UserId]) -> bool:
        """Whether someone in ``scope`` owns a lead where the contact is Contact or participant."""
        ...


class CommentRepository(Protocol):
    def add(self, comment: Comment) -> None: ...
    def latest(
        self, lead_id: LeadId, limit: int, *, with_users: Iterable[UserId] = ()
    ) -> list[Comment]:
        """Newest first. ``with_users``: these users and the comments' authors are loaded in the
        same read, so a card's names come from the unit of work rather than another query."""
        ...


class ReminderRepository(Protocol):
    def get(self, reminder_id: str) -> Reminder | None: ...
    def add(self, reminder: Reminder) -> None: ...


class UnitOfWork(Protocol):
    """One transaction for one use case: the records and their events commit together."""

    tenant_id: TenantId
    users: UserRepository
    settings: SettingsRepository
    pipelines: PipelineRepository
    accounts: AccountRepository
    contacts: ContactRepository
    leads: LeadRepository
    comments: CommentRepository
    reminders: ReminderRepository

    def __enter__(self) -> Self: ...
    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...
    def commit(self) -> None: ...
    def rollback(self) -> None: ...


class UnitOfWorkFactory(Protocol):
    def __call__(self, tenant_id: TenantId) -> UnitOfWork: ...
