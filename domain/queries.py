"""The read side: what lists and searches return, and the port that answers them.

Lists are summaries, not aggregates: cheap to read, never written back. Every list takes the
acting ``Viewer`` and applies the rules of ``domain.access`` (storage turns them into SQL
filters); pages are keyset pages with an opaque cursor, so deep pages cost what the first does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Generic, Protocol, TypeVar

from domain.access import Viewer
from domain.accounts import Classification
from domain.events import JsonValue
from domain.ids import (
    AccountId,
    ContactId,
    LeadId,
    PipelineId,
    StageId,
    TenantId,
    UserId,
)
from domain.statuses import CustomerStatus, LeadStatus, ProspectStatus
from domain.users import Role

T = TypeVar("T")

PAGE_SIZE = 20
PAGE_SIZE_MAX = 100


@dataclass(frozen=True, slots=True, kw_only=True)
class Page(Generic[T]):
    """One page of a list; pass ``next_cursor`` back to get the next (``None``: the end)."""

    items: tuple[T, ...]
    next_cursor: str | None = None


# --- summaries -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class UserSummary:
    id: UserId
    display_name: str
    email: str | None
    role: Role


@dataclass(frozen=True, slots=True, kw_only=True)
class AccountSummary:
    id: AccountId
    name: str
    classification: Classification
    prospect_status: ProspectStatus
    customer_status: CustomerStatus
    tags: frozenset[str]
    responsible_ids: frozenset[UserId]
    version: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ContactSummary:
    id: ContactId
    name: str
    email: str | None
    job_title: str | None
    account_id: AccountId | None
    account_name: str | None
    prospect_status: ProspectStatus
    customer_status: CustomerStatus
    version: int


@dataclass(frozen=True, slots=True, kw_only=True)
class LeadSummary:
    id: LeadId
    number: int
    title: str
    account_id: AccountId | None
    account_name: str | None
    contact_id: ContactId | None
    pipeline_id: PipelineId
    stage_id: StageId
    status: LeadStatus
    amount: Decimal | None
    currency: str
    owner_id: UserId
    close_date: date | None
    last_activity_at: datetime | None
    version: int


@dataclass(frozen=True, slots=True, kw_only=True)
class StageTotal:
    """Open leads at one stage in one currency (amounts in different currencies never add)."""

    stage_id: StageId
    currency: str
    count: int
    amount: Decimal


@dataclass(frozen=True, slots=True, kw_only=True)
class PipelineSummary:
    pipeline_id: PipelineId
    stages: tuple[StageTotal, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class SearchResults:
    """What the chat ``find`` command shows, a few of each kind."""

    accounts: tuple[AccountSummary, ...] = ()
    contacts: tuple[ContactSummary, ...] = ()
    leads: tuple[LeadSummary, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class HistoryEntry:
    id: int
    event_name: str
    subject_kind: str
    subject_id: str
    account_id: AccountId | None
    actor_id: UserId | None
    occurred_at: datetime
    payload: dict[str, JsonValue] = field(default_factory=dict)


# --- filters (every field set narrows the list; ``None`` means "any") -------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class AccountFilter:
    classification: Classification | None = None
    tag: str | None = None
    responsible_id: UserId | None = None
    characteristic: str | None = None
    interest: str | None = None
    name_prefix: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ContactFilter:
    prospect_status: ProspectStatus | None = None
    customer_status: CustomerStatus | None = None
    tag: str | None = None
    account_id: AccountId | None = None
    text_prefix: str | None = None
    """Matches the start of the name or of the email address, ignoring case."""


@dataclass(frozen=True, slots=True, kw_only=True)
class LeadFilter:
    pipeline_id: PipelineId | None = None
    stage_id: StageId | None = None
    status: LeadStatus | None = None
    tag: str | None = None
    account_id: AccountId | None = None
    owner_id: UserId | None = None
    follower_id: UserId | None = None
    participant_id: ContactId | None = None


# --- the port --------------------------------------------------------------------------------


class Queries(Protocol):
    """Read-only lists for one tenant. Each applies the viewer's access rules."""

    tenant_id: TenantId

    def viewer(self, user_id: UserId) -> Viewer:
        """The acting user with their scope (a manager's team), as the use cases build it."""
        ...

    def accounts(
        self,
        viewer: Viewer,
        where: AccountFilter = ...,
        *,
        limit: int = PAGE_SIZE,
        cursor: str | None = None,
    ) -> Page[AccountSummary]:
        """By name."""
        ...

    def contacts(
        self,
        viewer: Viewer,
        where: ContactFilter = ...,
        *,
        limit: int = PAGE_SIZE,
        cursor: str | None = None,
    ) -> Page[ContactSummary]:
        """By name."""
        ...

    def leads(
        self,
        viewer: Viewer,
        where: LeadFilter = ...,
        *,
        limit: int = PAGE_SIZE,
        cursor: str | None = None,
    ) -> Page[LeadSummary]:
        """Newest first (by number)."""
        ...

    def my_leads(
        self, viewer: Viewer, *, limit: int = PAGE_SIZE, cursor: str | None = None
    ) -> Page[LeadSummary]:
        """Leads the viewer owns or follows: open ones first, newest first within each."""
        ...

    def stale_leads(
        self,
        viewer: Viewer,
        *,
        idle_days: int,
        now: datetime,
        limit: int = PAGE_SIZE,
        cursor: str | None = None,
    ) -> Page[LeadSummary]:
        """Open leads without activity for ``idle_days``, the longest idle first."""
        ...

    def pipeline_summary(self, viewer: Viewer, pipeline_id: PipelineId) -> PipelineSummary: ...

    def find(self, viewer: Viewer, text: str, *, limit: int = 5) -> SearchResults:
        """Prefix of a name, title or email (any case), or a lead number ("42" or "#42")."""
        ...

    def users(
        self,
        *,
        name_prefix: str | None = None,
        limit: int = PAGE_SIZE,
        cursor: str | None = None,
    ) -> Page[UserSummary]: ...

    def history(
        self,
        viewer: Viewer,
        subject_kind: str,
        subject_id: str,
        *,
        limit: int = PAGE_SIZE,
        cursor: str | None = None,
    ) -> Page[HistoryEntry]:
        """Newest first. Raises ``AccessDenied`` when the viewer may not see the subject."""
        ...


class QueriesFactory(Protocol):
    def __call__(self, tenant_id: TenantId) -> Queries: ...
