"""In-memory implementations of the domain's ports, for fast rule tests.

They keep committed copies, hand out fresh copies and write back only on commit, with the same
version check as the real storage, so a failed use case leaves nothing half-written here too.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any, Self

from domain.accounts import Account
from domain.common import Aggregate
from domain.contacts import Contact
from domain.errors import Conflict
from domain.events import DomainEvent
from domain.ids import AccountId, ContactId, LeadId, TenantId, UserId
from domain.leads import Comment, Lead, Reminder
from domain.ports import LeadFact
from domain.settings import Pipeline, TenantSettings
from domain.users import Role, User


@dataclass
class TenantStore:
    users: dict[str, User] = field(default_factory=dict)
    settings: dict[str, TenantSettings] = field(default_factory=dict)
    pipelines: dict[str, Pipeline] = field(default_factory=dict)
    accounts: dict[str, Account] = field(default_factory=dict)
    contacts: dict[str, Contact] = field(default_factory=dict)
    leads: dict[str, Lead] = field(default_factory=dict)
    comments: dict[str, Comment] = field(default_factory=dict)
    reminders: dict[str, Reminder] = field(default_factory=dict)
    numbers: itertools.count[int] = field(default_factory=lambda: itertools.count(1))


class FakeDatabase:
    """Every tenant's records, plus the events committed so far (history and outbox in one)."""

    def __init__(self) -> None:
        self.tenants: dict[TenantId, TenantStore] = {}
        self.events: list[DomainEvent] = []
        self.commits = 0

    def store(self, tenant_id: TenantId) -> TenantStore:
        return self.tenants.setdefault(tenant_id, TenantStore())

    def uow(self, tenant_id: TenantId) -> FakeUnitOfWork:
        return FakeUnitOfWork(self, tenant_id)


class _Repo:
    def __init__(self, uow: FakeUnitOfWork, table: dict[str, Any]) -> None:
        self._uow = uow
        self._table = table

    def _load(self, key: str) -> Any:
        if key in self._uow.seen:
            return self._uow.seen[key][1]
        stored = self._table.get(key)
        if stored is None:
            return None
        loaded = copy.deepcopy(stored)
        self._uow.seen[key] = (self._table, loaded)
        return loaded

    def get(self, key: str) -> Any:
        return self._load(key)

    def get_many(self, keys: Iterable[str]) -> dict[str, Any]:
        result = {}
        for key in keys:
            item = self._load(key)
            if item is not None:
                result[key] = item
        return result

    def add(self, item: Aggregate) -> None:
        key = self._key(item)
        self._uow.seen[key] = (self._table, item)

    @staticmethod
    def _key(item: Aggregate) -> str:
        return str(item.id)  # type: ignore[attr-defined]

    def committed(self) -> list[Any]:
        return list(self._table.values())


class FakeUsers(_Repo):
    def count(self) -> int:
        return len(self._table)

    def team_of(self, manager_id: UserId) -> list[UserId]:
        return [u.id for u in self.committed() if u.manager_id == manager_id]

    def admins(self) -> list[UserId]:
        return [u.id for u in self.committed() if u.role is Role.ADMIN]


class FakeSettings(_Repo):
    def get(self, key: str = "settings") -> Any:
        return self._load(key)

    @staticmethod
    def _key(item: Aggregate) -> str:
        return "settings"


class FakePipelines(_Repo):
    def default(self) -> Pipeline | None:
        for pipeline in self.committed():
            if pipeline.is_default:
                return self._load(pipeline.id)  # type: ignore[no-any-return]
        pending = [item for table, item in self._uow.seen.values() if table is self._table]
        return next((p for p in pending if p.is_default), None)

    def list(self, *, with_settings: bool = False) -> list[Pipeline]:
        return [self._load(p.id) for p in self.committed()]


class FakeLeads(_Repo):
    def __init__(self, uow: FakeUnitOfWork, table: dict[str, Any], store: TenantStore) -> None:
        super().__init__(uow, table)
        self._store = store

    def get(self, key: str, *, with_user: str | None = None) -> Any:
        return self._load(key)

    def by_number(self, number: int) -> Lead | None:
        found = next((lead for lead in self.committed() if lead.number == number), None)
        return self._load(found.id) if found else None

    def next_number(self) -> int:
        return next(self._store.numbers)

    def facts_for_contact(self, contact_id: ContactId) -> list[LeadFact]:
        return [
            LeadFact(lead_id=lead.id, status=lead.status, contact_id=lead.contact_id)
            for lead in self.committed()
            if lead.contact_id == contact_id
        ]

    def facts_for_account(self, account_id: AccountId) -> list[LeadFact]:
        employees = {c.id for c in self._store.contacts.values() if c.account_id == account_id}
        return [
            LeadFact(lead_id=lead.id, status=lead.status, contact_id=lead.contact_id)
            for lead in self.committed()
            if lead.contact_id in employees
        ]

    def scope_works_with_contact(self, contact_id: ContactId, scope: frozenset[UserId]) -> bool:
        return any(
            lead.owner_id in scope and lead.involves(contact_id) for lead in self.committed()
        )


class FakeComments(_Repo):
    def latest(
        self, lead_id: LeadId, limit: int, *, with_users: Iterable[UserId] = ()
    ) -> list[Comment]:
        mine = [c for c in self.committed() if c.lead_id == lead_id]
        mine.sort(key=lambda c: c.created_at, reverse=True)
        return mine[:limit]


class FakeContacts(_Repo):
    def get_many_with_account(
        self, contact_ids: Iterable[str], account_id: AccountId, first: int
    ) -> tuple[dict[str, Any], list[Contact]]:
        theirs = [c for c in self.committed() if c.account_id == account_id]
        theirs.sort(key=lambda c: (c.name.casefold(), c.id))
        return self.get_many(contact_ids), [self._load(c.id) for c in theirs[:first]]


class FakeUnitOfWork:
    def __init__(self, database: FakeDatabase, tenant_id: TenantId) -> None:
        self.database = database
        self.tenant_id = tenant_id
        store = database.store(tenant_id)
        self.seen: dict[str, tuple[dict[str, Any], Aggregate]] = {}
        self.users = FakeUsers(self, store.users)
        self.settings = FakeSettings(self, store.settings)
        self.pipelines = FakePipelines(self, store.pipelines)
        self.accounts = _Repo(self, store.accounts)
        self.contacts = FakeContacts(self, store.contacts)
        self.leads = FakeLeads(self, store.leads, store)
        self.comments = FakeComments(self, store.comments)
        self.reminders = _Repo(self, store.reminders)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.rollback()

    def commit(self) -> None:
        changed = [(key, table, item) for key, (table, item) in self.seen.items() if item.events]
        for key, table, item in changed:
            stored = table.get(key)
            if stored is not None and stored.version != item.version:
                raise Conflict(type(item).__name__.lower(), id=key)
        for key, table, item in changed:
            events = item.pull_events()
            item.version += 1
            table[key] = copy.deepcopy(item)
            self.database.events.extend(events)
        self.database.commits += 1
        self.seen = {}

    def rollback(self) -> None:
        self.seen = {}


class FakeClock:
    """A clock tests move by hand, so time-dependent rules are deterministic."""

    def __init__(self, start: datetime | None = None) -> None:
        self.current = start or datetime(2026, 1, 5, 9, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self.current

    def advance(self, **delta: float) -> None:
        self.current += timedelta(**delta)
