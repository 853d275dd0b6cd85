"""Use cases: load through the unit of work, check access, call the aggregates, recompute the
derived statuses, commit. One method is one transaction.

Every method takes the tenant and the acting user; ids from another tenant are simply not found
because the unit of work is bound to the tenant. ``expected_version`` lets a card that was
rendered from an older version be refused instead of silently overwriting a newer change.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import ParamSpec, TypeVar

from domain.access import (
    Viewer,
    can_change_account,
    can_change_contact,
    can_change_lead,
    can_view_account,
    can_view_contact,
    can_view_lead,
)
from domain.accounts import Account, Classification, Direction, Relationship
from domain.common import Clock, Stamp, SystemClock
from domain.contacts import Contact
from domain.errors import AccessDenied, Conflict, NotFound, RuleViolation
from domain.ids import (
    AccountId,
    ContactId,
    LeadId,
    RelationshipId,
    TenantId,
    UserId,
    new_id,
)
from domain.leads import Comment, Lead, Reminder
from domain.ports import LeadFact, UnitOfWork, UnitOfWorkFactory
from domain.settings import (
    CustomFieldDef,
    CustomFieldKind,
    Pipeline,
    RecordKind,
    Stage,
    TenantSettings,
    apply_custom_fields,
)
from domain.statuses import (
    CustomerStatus,
    LeadStatus,
    ProspectStatus,
    Statuses,
    check_manual_change,
    derive,
)
from domain.users import Role, User
from domain.validation import (
    clean_amount,
    clean_currency,
    clean_date,
    clean_tags,
)

LATEST_COMMENTS = 5
RACE_ATTEMPTS = 5

P = ParamSpec("P")
R = TypeVar("R")


def retrying_races(method: Callable[P, R]) -> Callable[P, R]:
    """Creations carry no version to check, so a Conflict there is a race (two new leads
    taking the same number at once): run the use case again, on fresh data."""

    @functools.wraps(method)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        for _attempt in range(RACE_ATTEMPTS - 1):
            try:
                return method(*args, **kwargs)
            except Conflict:
                continue
        return method(*args, **kwargs)

    return wrapper


@dataclass(frozen=True, slots=True, kw_only=True)
class NewContact:
    """A person typed into a card, created and attached in the same transaction."""

    name: str
    email: str | None = None
    job_title: str | None = None
    phone: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class LeadView:
    """A lead with everything a card shows, resolved for one viewer."""

    lead: Lead
    pipeline: Pipeline
    stage: Stage
    account: Account | None
    contact: Contact | None
    participants: tuple[tuple[Contact, str | None], ...]
    followers: tuple[User, ...]
    owner: User | None
    latest_comments: tuple[Comment, ...]
    can_change: bool
    viewer_follows: bool
    comment_authors: Mapping[UserId, User] = field(default_factory=dict)
    # Who it was resolved for: the card's choices are listed with the same rights.
    viewer: Viewer | None = None
    # The account's first contacts by name, for the card's pickers, when they were asked for
    # and the viewer may change the lead and see the account; None when not read here.
    account_people: tuple[Contact, ...] | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ContactView:
    contact: Contact
    account: Account | None
    lead_statuses: tuple[LeadStatus, ...]
    can_change: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class AccountView:
    account: Account
    settings: TenantSettings
    responsibles: tuple[User, ...]
    related: Mapping[AccountId, Account] = field(default_factory=dict)
    lead_statuses: tuple[LeadStatus, ...] = ()
    can_change: bool = False


def _check_version(kind: str, record_id: str, actual: int, expected: int | None) -> None:
    if expected is not None and expected != actual:
        raise Conflict(kind, id=record_id, expected=expected, actual=actual)


@dataclass(frozen=True, slots=True)
class _Changed:
    """What a lead change loaded, kept for the view its caller asks for right after."""

    tenant_id: TenantId
    viewer: Viewer
    lead: Lead
    account: Account | None
    loaded_version: int
    pipeline: Pipeline | None = None


class CRM:
    """The application service the bot talks to. Besides its collaborators it keeps only, per
    thread, what the last lead change loaded (see ``lead_view``'s ``changed``)."""

    def __init__(self, uow_factory: UnitOfWorkFactory, clock: Clock | None = None) -> None:
        self._uow_factory = uow_factory
        self._clock = clock or SystemClock()
        self._last_change = threading.local()

    # --- plumbing ---------------------------------------------------------------------------

    def _stamp(self, actor_id: UserId | None) -> Stamp:
        return Stamp(actor_id=actor_id, at=self._clock.now())

    @staticmethod
    def _viewer(uow: UnitOfWork, actor_id: UserId, *, with_lead: str | None = None) -> Viewer:
        """``with_lead``: the lead the use case goes on to load, read with the actor's user in
        one statement (nothing is checked about it here)."""
        if with_lead is not None:
            uow.leads.get(with_lead, with_user=actor_id)
        user = uow.users.get(actor_id)
        if user is None:
            raise NotFound("user", user_id=actor_id)
        scope = {user.id}
        if user.role is Role.MANAGER:
            scope.update(uow.users.team_of(user.id))
        return Viewer(user_id=user.id, role=user.role, scope=frozenset(scope))

    @staticmethod
    def _settings(uow: UnitOfWork) -> TenantSettings:
        settings = uow.settings.get()
        if settings is None:
            raise NotFound("tenant", tenant_id=uow.tenant_id)
        return settings

    @staticmethod
    def _require_admin(viewer: Viewer) -> None:
        if not viewer.is_admin:
            raise AccessDenied("tenant", user_id=viewer.user_id)

    @staticmethod
    def _account(uow: UnitOfWork, account_id: str) -> Account:
        account = uow.accounts.get(account_id)
        if account is None:
            raise NotFound("account", account_id=account_id)
        return account

    @staticmethod
    def _contact(uow: UnitOfWork, contact_id: str) -> Contact:
        contact = uow.contacts.get(contact_id)
        if contact is None:
            raise NotFound("contact", contact_id=contact_id)
        return contact

    @staticmethod
    def _lead(uow: UnitOfWork, lead_id: str) -> Lead:
        lead = uow.leads.get(lead_id)
        if lead is None:
            raise NotFound("lead", lead_id=lead_id)
        return lead

    @staticmethod
    def _pipeline(uow: UnitOfWork, pipeline_id: str) -> Pipeline:
        pipeline = uow.pipelines.get(pipeline_id)
        if pipeline is None:
            raise NotFound("pipeline", pipeline_id=pipeline_id)
        return pipeline

    @staticmethod
    def _user(uow: UnitOfWork, user_id: str) -> User:
        user = uow.users.get(user_id)
        if user is None:
            raise NotFound("user", user_id=user_id)
        return user

    def _account_for_change(
        self, uow: UnitOfWork, viewer: Viewer, account_id: str, expected_version: int | None
    ) -> Account:
        account = self._account(uow, account_id)
        if not can_change_account(viewer, account):
            raise AccessDenied("account", account_id=account_id)
        _check_version("account", account.id, account.version, expected_version)
        return account

    def _lead_account(self, uow: UnitOfWork, lead: Lead) -> Account | None:
        return uow.accounts.get(lead.account_id) if lead.account_id else None

    def _lead_for_change(
        self, uow: UnitOfWork, viewer: Viewer, lead_id: str, expected_version: int | None
    ) -> Lead:
        lead = self._lead(uow, lead_id)
        account = self._lead_account(uow, lead)
        if not can_change_lead(viewer, lead, account):
            raise AccessDenied("lead", lead_id=lead_id)
        _check_version("lead", lead.id, lead.version, expected_version)
        self._last_change.value = _Changed(uow.tenant_id, viewer, lead, account, lead.version)
        return lead

    def _keep_pipeline(self, pipeline: Pipeline) -> None:
        """The pipeline a lead change loaded anyway, for its card (see ``lead_view``)."""
        kept: _Changed | None = getattr(self._last_change, "value", None)
        if kept is not None:
            self._last_change.value = replace(kept, pipeline=pipeline)

    def _handed_over(self, tenant_id: TenantId, actor_id: UserId, changed: Lead) -> _Changed | None:
        """What the change that returned ``changed`` loaded, if that change was committed (its
        events taken and its version moved on by exactly one) by this actor in this tenant."""
        kept: _Changed | None = getattr(self._last_change, "value", None)
        self._last_change.value = None
        if kept is None or kept.lead is not changed:
            return None
        committed = not changed.events and changed.version == kept.loaded_version + 1
        if not committed or kept.tenant_id != tenant_id or kept.viewer.user_id != actor_id:
            return None
        return kept

    def _contact_access(
        self, uow: UnitOfWork, viewer: Viewer, contact: Contact
    ) -> tuple[Account | None, bool]:
        employer = uow.accounts.get(contact.account_id) if contact.account_id else None
        if viewer.is_admin or (employer is not None and can_view_account(viewer, employer)):
            return employer, True
        works = uow.leads.scope_works_with_contact(contact.id, viewer.scope)
        return employer, can_view_contact(
            viewer, contact, employer, works_on_lead_with_contact=works
        )

    def _visible_contact(self, uow: UnitOfWork, viewer: Viewer, contact_id: str) -> Contact:
        contact = self._contact(uow, contact_id)
        _employer, visible = self._contact_access(uow, viewer, contact)
        if not visible:
            raise AccessDenied("contact", contact_id=contact_id)
        return contact

    def _visible_account(self, uow: UnitOfWork, viewer: Viewer, account_id: str) -> Account:
        account = self._account(uow, account_id)
        if not can_view_account(viewer, account):
            raise AccessDenied("account", account_id=account_id)
        return account

    # --- derived statuses -------------------------------------------------------------------

    @staticmethod
    def _merged_facts(
        facts: list[LeadFact], changed: Iterable[Lead], include: set[LeadId]
    ) -> list[LeadStatus]:
        """Facts from the store, overridden by the leads this transaction changed."""
        by_id = {fact.lead_id: fact.status for fact in facts}
        for lead in changed:
            if lead.id in include:
                by_id[lead.id] = lead.status
            else:
                by_id.pop(lead.id, None)
        return list(by_id.values())

    def _recompute_statuses(
        self,
        uow: UnitOfWork,
        stamp: Stamp,
        *,
        changed: list[Lead],
        contact_ids: Iterable[ContactId | None],
        newly_won: Iterable[ContactId | None] = (),
    ) -> None:
        """Move the statuses of the contacts (and their employers) whose leads just changed."""
        won = {cid for cid in newly_won if cid is not None}
        contacts = uow.contacts.get_many({cid for cid in contact_ids if cid is not None})
        for contact in contacts.values():
            include = {lead.id for lead in changed if lead.contact_id == contact.id}
            leads = self._merged_facts(uow.leads.facts_for_contact(contact.id), changed, include)
            contact.apply_statuses(
                derive(contact.statuses, leads, newly_won=contact.id in won),
                automatic=True,
                stamp=stamp,
            )
        account_ids = {c.account_id for c in contacts.values() if c.account_id is not None}
        primaries = uow.contacts.get_many(
            {lead.contact_id for lead in changed if lead.contact_id is not None}
        )
        for account in uow.accounts.get_many(account_ids).values():
            employees = {c.id for c in contacts.values() if c.account_id == account.id}
            include = {
                lead.id
                for lead in changed
                if lead.contact_id is not None
                and primaries.get(lead.contact_id) is not None
                and primaries[lead.contact_id].account_id == account.id
            }
            leads = self._merged_facts(uow.leads.facts_for_account(account.id), changed, include)
            account.apply_statuses(
                derive(account.statuses, leads, newly_won=bool(employees & won)),
                automatic=True,
                stamp=stamp,
            )

    # --- tenants and users ------------------------------------------------------------------

    def register_user(
        self,
        tenant_id: TenantId,
        user_id: UserId,
        *,
        display_name: str | None,
        email: str | None = None,
    ) -> User:
        """Called on every install and first message: idempotent, keeps the profile current.

        The first user of a tenant becomes its admin and the tenant gets its settings and
        default pipeline in the same transaction.
        """
        stamp = self._stamp(user_id)
        with self._uow_factory(tenant_id) as uow:
            existing = uow.users.get(user_id)
            if existing is not None:
                existing.update_profile(
                    display_name=display_name or existing.display_name, email=email, stamp=stamp
                )
                uow.commit()
                return existing
            first = uow.users.count() == 0
            user = User.register(
                tenant_id=tenant_id,
                user_id=user_id,
                display_name=display_name or user_id,
                email=email,
                first_of_tenant=first,
                stamp=stamp,
            )
            uow.users.add(user)
            if uow.settings.get() is None:
                uow.settings.add(TenantSettings.create(tenant_id, stamp))
            if uow.pipelines.default() is None:
                uow.pipelines.add(Pipeline.default(tenant_id, stamp))
            uow.commit()
            return user

    def get_user(self, tenant_id: TenantId, user_id: UserId) -> User:
        with self._uow_factory(tenant_id) as uow:
            return self._user(uow, user_id)

    def change_role(
        self, tenant_id: TenantId, actor_id: UserId, user_id: UserId, role: Role
    ) -> User:
        stamp = self._stamp(actor_id)
        with self._uow_factory(tenant_id) as uow:
            self._require_admin(self._viewer(uow, actor_id))
            user = self._user(uow, user_id)
            if (
                user.role is Role.ADMIN
                and role is not Role.ADMIN
                and uow.users.admins() == [user.id]
            ):
                # A tenant without an admin could never be configured again.
                raise RuleViolation("user.last_admin", user_id=user_id)
            user.change_role(role, stamp)
            uow.commit()
            return user

    def set_manager(
        self, tenant_id: TenantId, actor_id: UserId, user_id: UserId, manager_id: UserId | None
    ) -> User:
        stamp = self._stamp(actor_id)
        with self._uow_factory(tenant_id) as uow:
            self._require_admin(self._viewer(uow, actor_id))
            user = self._user(uow, user_id)
            manager = self._user(uow, manager_id) if manager_id is not None else None
            user.set_manager(manager, stamp)
            uow.commit()
            return user

    # --- tenant settings (admins) -----------------------------------------------------------

    def get_settings(self, tenant_id: TenantId) -> TenantSettings:
        with self._uow_factory(tenant_id) as uow:
            return self._settings(uow)

    def set_other_label(self, tenant_id: TenantId, actor_id: UserId, label: str) -> None:
        stamp = self._stamp(actor_id)
        with self._uow_factory(tenant_id) as uow:
            self._require_admin(self._viewer(uow, actor_id))
            self._settings(uow).set_other_label(label, stamp)
            uow.commit()

    def set_default_currency(self, tenant_id: TenantId, actor_id: UserId, currency: str) -> None:
        stamp = self._stamp(actor_id)
        with self._uow_factory(tenant_id) as uow:
            self._require_admin(self._viewer(uow, actor_id))
            self._settings(uow).set_default_currency(currency, stamp)
            uow.commit()

    def add_characteristic(self, tenant_id: TenantId, actor_id: UserId, label: str) -> str:
        stamp = self._stamp(actor_id)
        with self._uow_factory(tenant_id) as uow:
            self._require_admin(self._viewer(uow, actor_id))
            key = self._settings(uow).add_characteristic(label, stamp)
            uow.commit()
            return key

    def retire_characteristic(self, tenant_id: TenantId, actor_id: UserId, key: str) -> None:
        stamp = self._stamp(actor_id)
        with self._uow_factory(tenant_id) as uow:
            self._require_admin(self._viewer(uow, actor_id))
            self._settings(uow).retire_characteristic(key, stamp)
            uow.commit()

    def add_interest_area(self, tenant_id: TenantId, actor_id: UserId, label: str) -> str:
        stamp = self._stamp(actor_id)
        with self._uow_factory(tenant_id) as uow:
            self._require_admin(self._viewer(uow, actor_id))
            key = self._settings(uow).add_interest_area(label, stamp)
            uow.commit()
            return key

    def retire_interest_area(self, tenant_id: TenantId, actor_id: UserId, key: str) -> None:
        """Accounts keep a retired area of (dis)interest, but nobody can pick it again."""
        stamp = self._stamp(actor_id)
        with self._uow_factory(tenant_id) as uow:
            self._require_admin(self._viewer(uow, actor_id))
            self._settings(uow).retire_interest_area(key, stamp)
            uow.commit()

    def define_custom_field(
        self,
        tenant_id: TenantId,
        actor_id: UserId,
        *,
        label: str,
        kind: CustomFieldKind,
        applies_to: RecordKind,
        choices: tuple[str, ...] = (),
    ) -> CustomFieldDef:
        stamp = self._stamp(actor_id)
        with self._uow_factory(tenant_id) as uow:
            self._require_admin(self._viewer(uow, actor_id))
            definition = self._settings(uow).define_custom_field(
                label=label, kind=kind, applies_to=applies_to, choices=choices, stamp=stamp
            )
            uow.commit()
            return definition

    def create_pipeline(
        self, tenant_id: TenantId, actor_id: UserId, *, name: str, stages: list[tuple[str, int]]
    ) -> Pipeline:
        stamp = self._stamp(actor_id)
        with self._uow_factory(tenant_id) as uow:
            self._require_admin(self._viewer(uow, actor_id))
            if any(p.name.casefold() == name.strip().casefold() for p in uow.pipelines.list()):
                raise RuleViolation("pipeline.duplicate", name=name)
            pipeline = Pipeline.create(
                tenant_id=tenant_id, name=name, stages=stages, is_default=False, stamp=stamp
            )
            uow.pipelines.add(pipeline)
            uow.commit()
            return pipeline

    def add_stage(
        self, tenant_id: TenantId, actor_id: UserId, pipeline_id: str, name: str, probability: int
    ) -> Stage:
        stamp = self._stamp(actor_id)
        with self._uow_factory(tenant_id) as uow:
            self._require_admin(self._viewer(uow, actor_id))
            stage = self._pipeline(uow, pipeline_id).add_stage(name, probability, stamp)
            uow.commit()
            return stage

    def pipelines(self, tenant_id: TenantId) -> list[Pipeline]:
        with self._uow_factory(tenant_id) as uow:
            return uow.pipelines.list()

    def pipelines_and_settings(self, tenant_id: TenantId) -> tuple[list[Pipeline], TenantSettings]:
        """What list cards name (stages, the tenant's labels), read together."""
        with self._uow_factory(tenant_id) as uow:
            pipelines = uow.pipelines.list(with_settings=True)
            return pipelines, self._settings(uow)

    # --- accounts ---------------------------------------------------------------------------

    def create_account(
        self,
        tenant_id: TenantId,
        actor_id: UserId,
        *,
        name: str,
        classification: Classification = Classification.LEAD,
        tags: Iterable[str] = (),
        responsible_ids: Iterable[UserId] = (),
    ) -> Account:
        """The creator is responsible unless others are named, so they can see what they made."""
        stamp = self._stamp(actor_id)
        with self._uow_factory(tenant_id) as uow:
            self._viewer(uow, actor_id)
            responsibles = set(responsible_ids) or {actor_id}
            missing = responsibles - set(uow.users.get_many(responsibles))
            if missing:
                raise NotFound("user", user_id=sorted(missing)[0])
            account = Account.create(
                tenant_id=tenant_id,
                name=name,
                classification=classification,
                responsible_ids=responsibles,
                tags=clean_tags(tags),
                stamp=stamp,
            )
            uow.accounts.add(account)
            uow.commit()
            return account

    def account_view(self, tenant_id: TenantId, actor_id: UserId, account_id: str) -> AccountView:
        with self._uow_factory(tenant_id) as uow:
            viewer = self._viewer(uow, actor_id)
            account = self._visible_account(uow, viewer, account_id)
            related_ids = {r.other_account_id for r in account.relationships}
            return AccountView(
                account=account,
                settings=self._settings(uow),
                responsibles=tuple(uow.users.get_many(account.responsible_ids).values()),
                related=uow.accounts.get_many(related_ids),
                lead_statuses=tuple(f.status for f in uow.leads.facts_for_account(account.id)),
                can_change=can_change_account(viewer, account),
            )

    def get_account(self, tenant_id: TenantId, actor_id: UserId, account_id: str) -> Account:
        with self._uow_factory(tenant_id) as uow:
            return self._visible_account(uow, self._viewer(uow, actor_id), account_id)

    def update_account(
        self,
        tenant_id: TenantId,
        actor_id: UserId,
        account_id: str,
        *,
        name: str | None = None,
        classification: Classification | None = None,
        tags: Iterable[str] | None = None,
        custom_fields: Mapping[str, object] | None = None,
        characteristics: Iterable[str] | None = None,
        interests: Iterable[str] | None = None,
        disinterests: Iterable[str] | None = None,
        expected_version: int | None = None,
    ) -> Account:
        """Every given field in one transaction (a details form is saved whole or not at all);
        catalog keys as ``set_account_characteristics`` and ``set_account_interests`` take."""
        stamp = self._stamp(actor_id)
        with self._uow_factory(tenant_id) as uow:
            viewer = self._viewer(uow, actor_id)
            account = self._account_for_change(uow, viewer, account_id, expected_version)
            if name is not None:
                account.rename(name, stamp)
            if classification is not None:
                account.classify(classification, stamp)
            if tags is not None:
                account.set_tags(clean_tags(tags), stamp)
            if characteristics is not None:
                catalog = self._settings(uow).active_characteristics()
                account.set_characteristics(characteristics, catalog=catalog, stamp=stamp)
            if interests is not None or disinterests is not None:
                account.set_interests(
                    interests=account.interests if interests is None else interests,
                    disinterests=account.disinterests if disinterests is None else disinterests,
                    catalog=self._settings(uow).active_interest_areas(),
                    stamp=stamp,
                )
            if custom_fields is not None:
                values = apply_custom_fields(
                    self._settings(uow).custom_fields,
                    RecordKind.ACCOUNT,
                    account.custom_fields,
                    dict(custom_fields),
                )
                account.set_custom_fields(values, stamp)
            uow.commit()
            return account

    def set_account_characteristics(
        self,
        tenant_id: TenantId,
        actor_id: UserId,
        account_id: str,
        keys: Iterable[str],
        *,
        expected_version: int | None = None,
    ) -> Account:
        stamp = self._stamp(actor_id)
        with self._uow_factory(tenant_id) as uow:
            viewer = self._viewer(uow, actor_id)
            account = self._account_for_change(uow, viewer, account_id, expected_version)
            catalog = self._settings(uow).active_characteristics()
            account.set_characteristics(keys, catalog=catalog, stamp=stamp)
            uow.commit()
            return account

    def set_account_interests(
        self,
        tenant_id: TenantId,
        actor_id: UserId,
        account_id: str,
        *,
        interests: Iterable[str],
        disinterests: Iterable[str],
        expected_version: int | None = None,
    ) -> Account:
        stamp = self._stamp(actor_id)
        with self._uow_factory(tenant_id) as uow:
            viewer = self._viewer(uow, actor_id)
            account = self._account_for_change(uow, viewer, account_id, expected_version)
            account.set_interests(
                interests=interests,
                disinterests=disinterests,
                catalog=self._settings(uow).active_interest_areas(),
                stamp=stamp,
            )
            uow.commit()
            return account

    def add_responsible(
        self, tenant_id: TenantId, actor_id: UserId, account_id: str, user_id: UserId
    ) -> Account:
        stamp = self._stamp(actor_id)
        with self._uow_factory(tenant_id) as uow:
            viewer = self._viewer(uow, actor_id)
            account = self._account_for_change(uow, viewer, account_id, None)
            account.add_responsible(self._user(uow, user_id).id, stamp)
            uow.commit()
            return account

    def remove_responsible(
        self, tenant_id: TenantId, actor_id: UserId, account_id: str, user_id: UserId
    ) -> Account:
        stamp = self._stamp(actor_id)
        with self._uow_factory(tenant_id) as uow:
            viewer = self._viewer(uow, actor_id)
            account = self._account_for_change(uow, viewer, account_id, None)
            account.remove_responsible(user_id, stamp)
            uow.commit()
            return account

    def add_relationship(
        self,
        tenant_id: TenantId,
        actor_id: UserId,
        account_id: str,
        other_account_id: str,
        reason: str,
    ) -> Relationship:
        """Stored on both accounts so each folder shows it; the other side must be visible."""
        stamp = self._stamp(actor_id)
        with self._uow_factory(tenant_id) as uow:
            viewer = self._viewer(uow, actor_id)
            account = self._account_for_change(uow, viewer, account_id, None)
            other = self._visible_account(uow, viewer, other_account_id)
            relationship_id = RelationshipId(new_id())
            account.link(
                relationship_id=relationship_id,
                other=other.id,
                reason=reason,
                direction=Direction.OUTGOING,
                stamp=stamp,
            )
            other.link(
                relationship_id=relationship_id,
                other=account.id,
                reason=reason,
                direction=Direction.INCOMING,
                stamp=stamp,
            )
            uow.commit()
            return account.relationship(relationship_id)

    def remove_relationship(
        self, tenant_id: TenantId, actor_id: UserId, account_id: str, relationship_id: str
    ) -> None:
        stamp = self._stamp(actor_id)
        with self._uow_factory(tenant_id) as uow:
            viewer = self._viewer(uow, actor_id)
            account = self._account_for_change(uow, viewer, account_id, None)
            removed = account.unlink(relationship_id, stamp)
            other = uow.accounts.get(removed.other_account_id)
            if other is not None and any(r.id == relationship_id for r in other.relationships):
                other.unlink(relationship_id, stamp)
            uow.commit()

    def add_document(
        self, tenant_id: TenantId, actor_id: UserId, account_id: str, *, title: str, url: str
    ) -> Account:
        stamp = self._stamp(actor_id)
        with self._uow_factory(tenant_id) as uow:
            viewer = self._viewer(uow, actor_id)
            account = self._account_for_change(uow, viewer, account_id, None)
            account.add_document(title=title, url=url, stamp=stamp)
            uow.commit()
            return account

    def remove_document(
        self, tenant_id: TenantId, actor_id: UserId, account_id: str, document_id: str
    ) -> Account:
        stamp = self._stamp(actor_id)
        with self._uow_factory(tenant_id) as uow:
            viewer = self._viewer(uow, actor_id)
            account = self._account_for_change(uow, viewer, account_id, None)
            account.remove_document(document_id, stamp)
            uow.commit()
            return account

    def set_account_statuses(
        self,
        tenant_id: TenantId,
        actor_id: UserId,
        account_id: str,
        *,
        prospect: ProspectStatus | None = None,
        customer: CustomerStatus | None = None,
        expected_version: int | None = None,
    ) -> Account:
        """A manual change, refused where it would contradict the account's deals."""
        stamp = self._stamp(actor_id)
        with self._uow_factory(tenant_id) as uow:
            viewer = self._viewer(uow, actor_id)
            account = self._account_for_change(uow, viewer, account_id, expected_version)
            target = Statuses(
                prospect=prospect or account.prospect_status,
                customer=customer or account.customer_status,
            )
            leads = [fact.status for fact in uow.leads.facts_for_account(account.id)]
            if prospect is not None:
                check_manual_change(target, leads, kind="account")
            account.apply_statuses(target, automatic=False, stamp=stamp)
            uow.commit()
            return account

    # --- contacts ---------------------------------------------------------------------------

    def create_contact(
        self,
        tenant_id: TenantId,
        actor_id: UserId,
        *,
        name: str,
        job_title: str | None = None,
        email: str | None = None,
        phone: str | None = None,
        account_id: str | None = None,
        tags: Iterable[str] = (),
    ) -> Contact:
        stamp = self._stamp(actor_id)
        with self._uow_factory(tenant_id) as uow:
            viewer = self._viewer(uow, actor_id)
            contact = self._new_contact(
                uow,
                viewer,
                stamp,
                NewContact(name=name, job_title=job_title, email=email, phone=phone),
                account_id=account_id,
                tags=tags,
            )
            uow.commit()
            return contact

    def _new_contact(
        self,
        uow: UnitOfWork,
        viewer: Viewer,
        stamp: Stamp,
        draft: NewContact,
        *,
        account_id: str | None,
        tags: Iterable[str] = (),
    ) -> Contact:
        employer = self._visible_account(uow, viewer, account_id) if account_id else None
        contact = Contact.create(
            tenant_id=uow.tenant_id,
            name=draft.name,
            job_title=draft.job_title,
            email=draft.email,
            phone=draft.phone,
            account_id=employer.id if employer else None,
            tags=clean_tags(tags),
            stamp=stamp,
        )
        uow.contacts.add(contact)
        return contact

    def contact_view(self, tenant_id: TenantId, actor_id: UserId, contact_id: str) -> ContactView:
        with self._uow_factory(tenant_id) as uow:
            viewer = self._viewer(uow, actor_id)
            contact = self._contact(uow, contact_id)
            employer, visible = self._contact_access(uow, viewer, contact)
            if not visible:
                raise AccessDenied("contact", contact_id=contact_id)
            return ContactView(
                contact=contact,
                account=employer,
                lead_statuses=tuple(f.status for f in uow.leads.facts_for_contact(contact.id)),
                can_change=True,
            )

    def get_contact(self, tenant_id: TenantId, actor_id: UserId, contact_id: str) -> Contact:
        return self.contact_view(tenant_id, actor_id, contact_id).contact

    def update_contact(
        self,
        tenant_id: TenantId,
        actor_id: UserId,
        contact_id: str,
        *,
        name: str | None = None,
        job_title: str | None = None,
        email: str | None = None,
        phone: str | None = None,
        tags: Iterable[str] | None = None,
        custom_fields: Mapping[str, object] | None = None,
        expected_version: int | None = None,
    ) -> Contact:
        stamp = self._stamp(actor_id)
        with self._uow_factory(tenant_id) as uow:
            viewer = self._viewer(uow, actor_id)
            contact = self._changeable_contact(uow, viewer, contact_id, expected_version)
            contact.update(name=name, job_title=job_title, email=email, phone=phone, stamp=stamp)
            if tags is not None:
                contact.set_tags(clean_tags(tags), stamp)
            if custom_fields is not None:
                values = apply_custom_fields(
                    self._settings(uow).custom_fields,
                    RecordKind.CONTACT,
                    contact.custom_fields,
                    dict(custom_fields),
                )
                contact.set_custom_fields(values, stamp)
            uow.commit()
            return contact

    def _changeable_contact(
        self, uow: UnitOfWork, viewer: Viewer, contact_id: str, expected_version: int | None
    ) -> Contact:
        contact = self._contact(uow, contact_id)
        employer = uow.accounts.get(contact.account_id) if contact.account_id else None
        works = uow.leads.scope_works_with_contact(contact.id, viewer.scope)
        if not can_change_contact(viewer, contact, employer, works_on_lead_with_contact=works):
            raise AccessDenied("contact", contact_id=contact_id)
        _check_version("contact", contact.id, contact.version, expected_version)
        return contact

    def move_contact(
        self, tenant_id: TenantId, actor_id: UserId, contact_id: str, account_id: str | None
    ) -> Contact:
        stamp = self._stamp(actor_id)
        with self._uow_factory(tenant_id) as uow:
            viewer = self._viewer(uow, actor_id)
            contact = self._changeable_contact(uow, viewer, contact_id, None)
            target = self._visible_account(uow, viewer, account_id) if account_id else None
            contact.move_to_account(target.id if target else None, stamp)
            uow.commit()
            return contact

    def set_contact_statuses(
        self,
        tenant_id: TenantId,
        actor_id: UserId,
        contact_id: str,
        *,
        prospect: ProspectStatus | None = None,
        customer: CustomerStatus | None = None,
        expected_version: int | None = None,
    ) -> Contact:
        """A manual change, refused where it would contradict the contact's deals."""
        stamp = self._stamp(actor_id)
        with self._uow_factory(tenant_id) as uow:
            viewer = self._viewer(uow, actor_id)
            contact = self._changeable_contact(uow, viewer, contact_id, expected_version)
            target = Statuses(
                prospect=prospect or contact.prospect_status,
                customer=customer or contact.customer_status,
            )
            leads = [fact.status for fact in uow.leads.facts_for_contact(contact.id)]
            if prospect is not None:
                check_manual_change(target, leads, kind="contact")
            contact.apply_statuses(target, automatic=False, stamp=stamp)
            uow.commit()
            return contact

    # --- leads ------------------------------------------------------------------------------

    @retrying_races
    def create_lead(
        self,
        tenant_id: TenantId,
        actor_id: UserId,
        *,
        title: str,
        account_id: str | None = None,
        contact_id: str | None = None,
        pipeline_id: str | None = None,
        amount: object = None,
        currency: str | None = None,
        close_date: object = None,
        tags: Iterable[str] = (),
        description: str | None = None,
    ) -> Lead:
        stamp = self._stamp(actor_id)
        with self._uow_factory(tenant_id) as uow:
            viewer = self._viewer(uow, actor_id)
            account = self._visible_account(uow, viewer, account_id) if account_id else None
            contact = self._visible_contact(uow, viewer, contact_id) if contact_id else None
            if pipeline_id:
                pipeline: Pipeline | None = self._pipeline(uow, pipeline_id)
            else:
                # With the tenant's settings (the default currency, below): one read, not two.
                defaults = [p for p in uow.pipelines.list(with_settings=True) if p.is_default]
                pipeline = min(defaults, key=lambda p: p.id) if defaults else None
            if pipeline is None:
                raise NotFound("pipeline", pipeline_id="default")
            lead = Lead.create(
                tenant_id=tenant_id,
                number=uow.leads.next_number(),
                title=title,
                owner_id=viewer.user_id,
                pipeline=pipeline,
                account_id=account.id if account else None,
                contact_id=contact.id if contact else None,
                amount=clean_amount(amount),
                currency=clean_currency(currency or self._settings(uow).default_currency),
                close_date=clean_date(close_date, "close_date"),
                tags=clean_tags(tags),
                description=description,
                stamp=stamp,
            )
            uow.leads.add(lead)
            self._recompute_statuses(uow, stamp, changed=[lead], contact_ids=[lead.contact_id])
            loaded = lead.version
            uow.commit()
            # For the card that answers it (see ``lead_view``), like any other lead change.
            self._last_change.value = _Changed(tenant_id, viewer, lead, account, loaded, pipeline)
            return lead

    def get_lead(self, tenant_id: TenantId, actor_id: UserId, lead_id: str) -> Lead:
        with self._uow_factory(tenant_id) as uow:
            viewer = self._viewer(uow, actor_id, with_lead=lead_id)
            lead = self._lead(uow, lead_id)
            if not can_view_lead(viewer, lead, self._lead_account(uow, lead)):
                raise AccessDenied("lead", lead_id=lead_id)
            return lead

    def lead_by_number(self, tenant_id: TenantId, actor_id: UserId, number: int) -> Lead:
        with self._uow_factory(tenant_id) as uow:
            viewer = self._viewer(uow, actor_id)
            lead = uow.leads.by_number(number)
            if lead is None:
                raise NotFound("lead", number=number)
            if not can_view_lead(viewer, lead, self._lead_account(uow, lead)):
                raise AccessDenied("lead", lead_id=lead.id)
            return lead

    def lead_view(
        self,
        tenant_id: TenantId,
        actor_id: UserId,
        lead_id: str,
        *,
        changed: Lead | None = None,
        account_people: int = 0,
    ) -> LeadView:
        """The lead and everything its card shows, read through one unit of work.

        ``changed``: the lead a change use case just returned, for the card that answers it.
        The viewer, lead and account that change loaded (milliseconds ago, and the lead as it
        committed it) are used again rather than read a second time.
        ``account_people``: how many of the account's contacts the card's pickers offer; read
        with the lead's own people when the viewer may change the lead and see the account.
        """
        kept = self._handed_over(tenant_id, actor_id, changed) if changed is not None else None
        pipeline = None
        with self._uow_factory(tenant_id) as uow:
            if kept is not None and kept.lead.id == lead_id:
                viewer, lead, account = kept.viewer, kept.lead, kept.account
                if kept.pipeline is not None and kept.pipeline.id == lead.pipeline_id:
                    pipeline = kept.pipeline
            else:
                lead = self._lead(uow, lead_id)
                viewer = None
                account = self._lead_account(uow, lead)
            # Everyone the card names, and the viewer, come with the comments: one read.
            named = [actor_id, lead.owner_id, *lead.follower_ids]
            comments = tuple(uow.comments.latest(lead.id, LATEST_COMMENTS, with_users=named))
            if viewer is None:
                viewer = self._viewer(uow, actor_id)
            if not can_view_lead(viewer, lead, account):
                raise AccessDenied("lead", lead_id=lead_id)
            can_change = can_change_lead(viewer, lead, account)
            offered = account is not None and can_change and can_view_account(viewer, account)
            return replace(
                self._lead_view_base(
                    uow,
                    lead,
                    account,
                    comments,
                    pipeline,
                    account_people=account_people if offered else 0,
                ),
                can_change=can_change,
                viewer_follows=viewer.user_id in lead.follower_ids,
                viewer=viewer,
            )

    def lead_views_for(
        self, tenant_id: TenantId, lead_id: str, user_ids: Iterable[UserId]
    ) -> dict[UserId, LeadView]:
        """The lead as each of these people sees it, loaded once: a change seen by a thousand
        followers must not load the lead and its people a thousand times. People who may not
        see the lead (or are unknown) are left out."""
        with self._uow_factory(tenant_id) as uow:
            lead = uow.leads.get(lead_id)
            if lead is None:
                return {}
            account = self._lead_account(uow, lead)
            base = self._lead_view_base(uow, lead, account)
            views: dict[UserId, LeadView] = {}
            for user_id in dict.fromkeys(user_ids):
                try:
                    viewer = self._viewer(uow, user_id)
                except NotFound:
                    continue
                if can_view_lead(viewer, lead, account):
                    views[user_id] = replace(
                        base,
                        can_change=can_change_lead(viewer, lead, account),
                        viewer_follows=user_id in lead.follower_ids,
                        viewer=viewer,
                    )
            return views

    def _lead_view_base(
        self,
        uow: UnitOfWork,
        lead: Lead,
        account: Account | None,
        comments: tuple[Comment, ...] | None = None,
        pipeline: Pipeline | None = None,
        *,
        account_people: int = 0,
    ) -> LeadView:
        """Everything a lead card shows but the viewer's own rights; with ``account_people``,
        that many of the account's contacts too (the caller has checked the viewer's rights)."""
        if pipeline is None:
            pipeline = self._pipeline(uow, lead.pipeline_id)
        on_lead = [p.contact_id for p in lead.participants] + (
            [lead.contact_id] if lead.contact_id else []
        )
        listed: list[Contact] | None = None
        if account_people > 0 and account is not None:
            people, listed = uow.contacts.get_many_with_account(on_lead, account.id, account_people)
        else:
            people = uow.contacts.get_many(on_lead)
        if comments is None:
            named = [lead.owner_id, *lead.follower_ids]
            comments = tuple(uow.comments.latest(lead.id, LATEST_COMMENTS, with_users=named))
        users = uow.users.get_many(
            [*lead.follower_ids, lead.owner_id, *(c.author_id for c in comments)]
        )
        followers = sorted(
            (users[uid] for uid in lead.follower_ids if uid in users),
            key=lambda u: u.display_name.casefold(),
        )
        return LeadView(
            lead=lead,
            pipeline=pipeline,
            stage=pipeline.stage(lead.stage_id),
            account=account,
            contact=people.get(lead.contact_id) if lead.contact_id else None,
            participants=tuple(
                (people[p.contact_id], p.role) for p in lead.participants if p.contact_id in people
            ),
            followers=tuple(followers),
            owner=users.get(lead.owner_id),
            latest_comments=comments,
            can_change=False,
            viewer_follows=False,
            comment_authors={
                c.author_id: users[c.author_id] for c in comments if c.author_id in users
            },
            account_people=tuple(listed) if listed is not None else None,
        )

    def update_lead(
        self,
        tenant_id: TenantId,
        actor_id: UserId,
        lead_id: str,
        *,
        title: str | None = None,
        amount: object = None,
        clear_amount: bool = False,
        currency: str | None = None,
        close_date: object = None,
        clear_close_date: bool = False,
        description: str | None = None,
        tags: Iterable[str] | None = None,
        custom_fields: Mapping[str, object] | None = None,
        expected_version: int | None = None,
    ) -> Lead:
        stamp = self._stamp(actor_id)
        with self._uow_factory(tenant_id) as uow:
            viewer = self._viewer(uow, actor_id, with_lead=lead_id)
            lead = self._lead_for_change(uow, viewer, lead_id, expected_version)
            lead.update_details(
                title=title,
                amount=clean_amount(amount),
                clear_amount=clear_amount,
                currency=clean_currency(currency) if currency is not None else None,
                close_date=clean_date(close_date, "close_date"),
                clear_close_date=clear_close_date,
                description=description,
                stamp=stamp,
            )
            if tags is not None:
                lead.set_tags(clean_tags(tags), stamp)
            if custom_fields is not None:
                values = apply_custom_fields(
                    self._settings(uow).custom_fields,
                    RecordKind.LEAD,
                    lead.custom_fields,
                    dict(custom_fields),
                )
                lead.set_custom_fields(values, stamp)
            uow.commit()
            return lead

    def move_lead_to_account(
        self,
        tenant_id: TenantId,
        actor_id: UserId,
        lead_id: str,
        account_id: str | None,
        *,
        expected_version: int | None = None,
    ) -> Lead:
        stamp = self._stamp(actor_id)
        with self._uow_factory(tenant_id) as uow:
            viewer = self._viewer(uow, actor_id, with_lead=lead_id)
            lead = self._lead_for_change(uow, viewer, lead_id, expected_version)
            account = self._visible_account(uow, viewer, account_id) if account_id else None
            lead.move_to_account(account.id if account else None, stamp)
            uow.commit()
            return lead

    def change_owner(
        self,
        tenant_id: TenantId,
        actor_id: UserId,
        lead_id: str,
        owner_id: UserId,
        *,
        expected_version: int | None = None,
    ) -> Lead:
        stamp = self._stamp(actor_id)
        with self._uow_factory(tenant_id) as uow:
            viewer = self._viewer(uow, actor_id, with_lead=lead_id)
            lead = self._lead_for_change(uow, viewer, lead_id, expected_version)
            lead.change_owner(self._user(uow, owner_id).id, stamp)
            uow.commit()
            return lead

    def change_stage(
        self,
        tenant_id: TenantId,
        actor_id: UserId,
        lead_id: str,
        stage_id: str,
        *,
        expected_version: int | None = None,
    ) -> Lead:
        stamp = self._stamp(actor_id)
        with self._uow_factory(tenant_id) as uow:
            viewer = self._viewer(uow, actor_id, with_lead=lead_id)
            lead = self._lead_for_change(uow, viewer, lead_id, expected_version)
            pipeline = self._pipeline(uow, lead.pipeline_id)
            if not any(s.id == stage_id for s in pipeline.stages) and not any(
                s.id == stage_id for p in uow.pipelines.list() for s in p.stages
            ):
                # A stage of another tenant looks exactly like one that never existed.
                raise NotFound("stage", stage_id=stage_id)
            lead.change_stage(pipeline, stage_id, stamp)
            uow.commit()
            self._keep_pipeline(pipeline)
            return lead

    def move_lead_to_pipeline(
        self,
        tenant_id: TenantId,
        actor_id: UserId,
        lead_id: str,
        pipeline_id: str,
        *,
        expected_version: int | None = None,
    ) -> Lead:
        stamp = self._stamp(actor_id)
        with self._uow_factory(tenant_id) as uow:
            viewer = self._viewer(uow, actor_id, with_lead=lead_id)
            lead = self._lead_for_change(uow, viewer, lead_id, expected_version)
            pipeline = self._pipeline(uow, pipeline_id)
            lead.move_to_pipeline(pipeline, stamp)
            uow.commit()
            self._keep_pipeline(pipeline)
            return lead

    def _close(
        self,
        tenant_id: TenantId,
        actor_id: UserId,
        lead_id: str,
        *,
        status: LeadStatus,
        reason: str | None,
        expected_version: int | None,
    ) -> Lead:
        stamp = self._stamp(actor_id)
        with self._uow_factory(tenant_id) as uow:
            viewer = self._viewer(uow, actor_id, with_lead=lead_id)
            lead = self._lead_for_change(uow, viewer, lead_id, expected_version)
            if status is LeadStatus.WON:
                lead.win(stamp)
            elif status is LeadStatus.LOST:
                lead.lose(reason or "", stamp)
            elif status is LeadStatus.UNQUALIFIED:
                lead.disqualify(stamp, reason)
            else:
                lead.reopen(stamp)
            self._recompute_statuses(
                uow,
                stamp,
                changed=[lead],
                contact_ids=[lead.contact_id],
                newly_won=[lead.contact_id] if status is LeadStatus.WON else [],
            )
            uow.commit()
            return lead

    def win_lead(
        self,
        tenant_id: TenantId,
        actor_id: UserId,
        lead_id: str,
        *,
        expected_version: int | None = None,
    ) -> Lead:
        return self._close(
            tenant_id,
            actor_id,
            lead_id,
            status=LeadStatus.WON,
            reason=None,
            expected_version=expected_version,
        )

    def lose_lead(
        self,
        tenant_id: TenantId,
        actor_id: UserId,
        lead_id: str,
        reason: str,
        *,
        expected_version: int | None = None,
    ) -> Lead:
        return self._close(
            tenant_id,
            actor_id,
            lead_id,
            status=LeadStatus.LOST,
            reason=reason,
            expected_version=expected_version,
        )

    def disqualify_lead(
        self,
        tenant_id: TenantId,
        actor_id: UserId,
        lead_id: str,
        reason: str | None = None,
        *,
        expected_version: int | None = None,
    ) -> Lead:
        return self._close(
            tenant_id,
            actor_id,
            lead_id,
            status=LeadStatus.UNQUALIFIED,
            reason=reason,
            expected_version=expected_version,
        )

    def reopen_lead(
        self,
        tenant_id: TenantId,
        actor_id: UserId,
        lead_id: str,
        *,
        expected_version: int | None = None,
    ) -> Lead:
        return self._close(
            tenant_id,
            actor_id,
            lead_id,
            status=LeadStatus.OPEN,
            reason=None,
            expected_version=expected_version,
        )

    def set_primary_contact(
        self,
        tenant_id: TenantId,
        actor_id: UserId,
        lead_id: str,
        contact_id: str | None,
        *,
        keep_previous_as_participant: bool = False,
        expected_version: int | None = None,
    ) -> Lead:
        stamp = self._stamp(actor_id)
        with self._uow_factory(tenant_id) as uow:
            viewer = self._viewer(uow, actor_id, with_lead=lead_id)
            lead = self._lead_for_change(uow, viewer, lead_id, expected_version)
            contact = self._visible_contact(uow, viewer, contact_id) if contact_id else None
            previous = lead.contact_id
            if (contact.id if contact else None) == previous:
                # Naming the same Contact again is no change: it must not re-promote a contact
                # someone marked past customer since the lead was won.
                return lead
            lead.set_primary_contact(
                contact.id if contact else None,
                stamp,
                keep_previous_as_participant=keep_previous_as_participant,
            )
            self._recompute_statuses(
                uow,
                stamp,
                changed=[lead],
                contact_ids=[previous, lead.contact_id],
                newly_won=[lead.contact_id] if lead.status is LeadStatus.WON else [],
            )
            uow.commit()
            return lead

    def add_participant(
        self,
        tenant_id: TenantId,
        actor_id: UserId,
        lead_id: str,
        contact_id: str,
        *,
        role: str | None = None,
        expected_version: int | None = None,
    ) -> Lead:
        stamp = self._stamp(actor_id)
        with self._uow_factory(tenant_id) as uow:
            viewer = self._viewer(uow, actor_id, with_lead=lead_id)
            lead = self._lead_for_change(uow, viewer, lead_id, expected_version)
            contact = self._visible_contact(uow, viewer, contact_id)
            lead.add_participant(contact.id, stamp, role)
            uow.commit()
            return lead

    def add_new_participant(
        self,
        tenant_id: TenantId,
        actor_id: UserId,
        lead_id: str,
        draft: NewContact,
        *,
        role: str | None = None,
        expected_version: int | None = None,
    ) -> tuple[Lead, Contact]:
        """A person typed into the card: created in the lead's account and added, atomically."""
        stamp = self._stamp(actor_id)
        with self._uow_factory(tenant_id) as uow:
            viewer = self._viewer(uow, actor_id, with_lead=lead_id)
            lead = self._lead_for_change(uow, viewer, lead_id, expected_version)
            account = self._lead_account(uow, lead)
            employer = account.id if account and can_view_account(viewer, account) else None
            contact = self._new_contact(uow, viewer, stamp, draft, account_id=employer)
            lead.add_participant(contact.id, stamp, role)
            uow.commit()
            return lead, contact

    def remove_participant(
        self,
        tenant_id: TenantId,
        actor_id: UserId,
        lead_id: str,
        contact_id: str,
        *,
        expected_version: int | None = None,
    ) -> Lead:
        stamp = self._stamp(actor_id)
        with self._uow_factory(tenant_id) as uow:
            viewer = self._viewer(uow, actor_id, with_lead=lead_id)
            lead = self._lead_for_change(uow, viewer, lead_id, expected_version)
            lead.remove_participant(contact_id, stamp)
            uow.commit()
            return lead

    def set_participant_role(
        self,
        tenant_id: TenantId,
        actor_id: UserId,
        lead_id: str,
        contact_id: str,
        role: str | None,
        *,
        expected_version: int | None = None,
    ) -> Lead:
        stamp = self._stamp(actor_id)
        with self._uow_factory(tenant_id) as uow:
            viewer = self._viewer(uow, actor_id, with_lead=lead_id)
            lead = self._lead_for_change(uow, viewer, lead_id, expected_version)
            lead.set_participant_role(contact_id, role, stamp)
            uow.commit()
            return lead

    def add_follower(
        self,
        tenant_id: TenantId,
        actor_id: UserId,
        lead_id: str,
        user_id: UserId,
        *,
        expected_version: int | None = None,
    ) -> Lead:
        """Only someone who may change the lead adds a colleague, who may then read it."""
        stamp = self._stamp(actor_id)
        with self._uow_factory(tenant_id) as uow:
            viewer = self._viewer(uow, actor_id, with_lead=lead_id)
            lead = self._lead_for_change(uow, viewer, lead_id, expected_version)
            lead.add_follower(self._user(uow, user_id).id, stamp)
            uow.commit()
            return lead

    def remove_follower(
        self,
        tenant_id: TenantId,
        actor_id: UserId,
        lead_id: str,
        user_id: UserId,
        *,
        expected_version: int | None = None,
    ) -> Lead:
        stamp = self._stamp(actor_id)
        with self._uow_factory(tenant_id) as uow:
            viewer = self._viewer(uow, actor_id)
            if user_id == actor_id:
                # Leaving needs only sight of the lead, but the version is still checked.
                lead = self._lead(uow, lead_id)
                if not can_view_lead(viewer, lead, self._lead_account(uow, lead)):
                    raise AccessDenied("lead", lead_id=lead_id)
                _check_version("lead", lead.id, lead.version, expected_version)
            else:
                lead = self._lead_for_change(uow, viewer, lead_id, expected_version)
            lead.remove_follower(user_id, stamp)
            uow.commit()
            return lead

    def follow(self, tenant_id: TenantId, actor_id: UserId, lead_id: str) -> Lead:
        """Anyone who can see a lead may follow it; following alone grants nothing more."""
        stamp = self._stamp(actor_id)
        with self._uow_factory(tenant_id) as uow:
            viewer = self._viewer(uow, actor_id, with_lead=lead_id)
            lead = self._lead(uow, lead_id)
            if not can_view_lead(viewer, lead, self._lead_account(uow, lead)):
                raise AccessDenied("lead", lead_id=lead_id)
            lead.add_follower(viewer.user_id, stamp)
            uow.commit()
            return lead

    def unfollow(self, tenant_id: TenantId, actor_id: UserId, lead_id: str) -> Lead:
        return self.remove_follower(tenant_id, actor_id, lead_id, actor_id)

    def comment(
        self,
        tenant_id: TenantId,
        actor_id: UserId,
        lead_id: str,
        text: str,
        *,
        mentions: Iterable[UserId] = (),
    ) -> Comment:
        """Followers may comment too: talking about a deal is what following is for."""
        stamp = self._stamp(actor_id)
        with self._uow_factory(tenant_id) as uow:
            viewer = self._viewer(uow, actor_id, with_lead=lead_id)
            lead = self._lead(uow, lead_id)
            if not can_view_lead(viewer, lead, self._lead_account(uow, lead)):
                raise AccessDenied("lead", lead_id=lead_id)
            wanted = tuple(dict.fromkeys(mentions))
            known = uow.users.get_many(wanted)
            unknown = [uid for uid in wanted if uid not in known]
            if unknown:
                raise NotFound("user", user_id=unknown[0])
            comment = Comment.write(lead=lead, text=text, mentions=wanted, stamp=stamp)
            uow.comments.add(comment)
            uow.commit()
            return comment

    def schedule_reminder(
        self,
        tenant_id: TenantId,
        actor_id: UserId,
        lead_id: str,
        *,
        due_at: datetime,
        text: str,
        assignee_id: UserId | None = None,
    ) -> Reminder:
        stamp = self._stamp(actor_id)
        with self._uow_factory(tenant_id) as uow:
            viewer = self._viewer(uow, actor_id, with_lead=lead_id)
            lead = self._lead_for_change(uow, viewer, lead_id, None)
            assignee = self._user(uow, assignee_id or actor_id)
            reminder = Reminder.schedule(
                lead=lead, assignee_id=assignee.id, due_at=due_at, text=text, stamp=stamp
            )
            uow.reminders.add(reminder)
            uow.commit()
            return reminder

    def complete_reminder(
        self, tenant_id: TenantId, actor_id: UserId, reminder_id: str
    ) -> Reminder:
        stamp = self._stamp(actor_id)
        with self._uow_factory(tenant_id) as uow:
            viewer = self._viewer(uow, actor_id)
            reminder = uow.reminders.get(reminder_id)
            if reminder is None:
                raise NotFound("reminder", reminder_id=reminder_id)
            if reminder.assignee_id != actor_id:
                self._lead_for_change(uow, viewer, reminder.lead_id, None)
            reminder.complete(stamp)
            uow.commit()
            return reminder

    @retrying_races
    def duplicate_lead(
        self,
        tenant_id: TenantId,
        actor_id: UserId,
        lead_id: str,
        *,
        title: str | None = None,
    ) -> Lead:
        """Upsell or renewal: same account, people and tags; open at the first stage."""
        stamp = self._stamp(actor_id)
        with self._uow_factory(tenant_id) as uow:
            viewer = self._viewer(uow, actor_id, with_lead=lead_id)
            origin = self._lead_for_change(uow, viewer, lead_id, None)
            pipeline = self._pipeline(uow, origin.pipeline_id)
            lead = Lead.create(
                tenant_id=tenant_id,
                number=uow.leads.next_number(),
                title=title if title and title.strip() else origin.title,
                owner_id=viewer.user_id,
                pipeline=pipeline,
                account_id=origin.account_id,
                contact_id=origin.contact_id,
                currency=origin.currency,
                tags=origin.tags,
                origin_lead_id=origin.id,
                stamp=stamp,
            )
            for participant in origin.participants:
                lead.add_participant(participant.contact_id, stamp, participant.role)
            for follower in sorted(origin.follower_ids):
                lead.add_follower(follower, stamp)
            uow.leads.add(lead)
            self._recompute_statuses(uow, stamp, changed=[lead], contact_ids=[lead.contact_id])
            uow.commit()
            return lead
