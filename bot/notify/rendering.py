"""Notification cards for a batch of recipients: one card per kind of viewer, not per person.

A change followed by a thousand people needs a thousand cards but only a handful of distinct
ones. What a notification card depends on, besides the change itself (its records, actor and
time) and the lead as loaded for the batch:
- the recipient's language;
- whether they may work the lead (``can_change``: the actions, and then the pickers) and
  whether they follow it (*Follow* or *Unfollow*);
- for those who may work it, the account's contacts they may see (the participant picker).
Nothing else carries the recipient: actions carry the lead's id and version, the refresh
goes to the owner and followers alike, the colleague picker is the tenant's. So the card is
drawn once per distinct combination and shared (read-only) by everyone it fits.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from cards.i18n import Translator, resolve_locale
from cards.notification import notification_card
from domain.errors import DomainError
from domain.ids import TenantId, UserId
from domain.queries import ContactFilter
from domain.services import CRM, LeadView
from domain.users import User
from storage.database import Database
from storage.notifications import NotificationJob

CONTACTS_OFFERED = 50
COLLEAGUES_OFFERED = 50

Card = dict[str, Any]
# The changes as a key: equal records give equal text whatever their keys' order.
_changes_key = json.JSONEncoder(sort_keys=True, default=str).encode


class BatchRenderer:
    """Renders the cards of one claimed batch (or of its refresh); every cache lives as long as
    the lead views it was given, which were loaded together."""

    def __init__(
        self,
        database: Database,
        crm: CRM,
        locales: Callable[[str, Sequence[str]], dict[str, str]],
    ) -> None:
        self._database = database
        self._crm = crm
        self._locales_of = locales
        self._locales: dict[tuple[str, str], str] = {}
        self._translators: dict[str, Translator] = {}
        self._actors: dict[tuple[str, str], User | None] = {}
        self._colleagues: dict[str, tuple[Any, ...]] = {}
        self._contacts: dict[tuple[Any, ...], tuple[Any, ...]] = {}
        self._cards: dict[tuple[Any, ...], Card] = {}
        self._leads: dict[int, object] = {}
        self.rendered = 0  # how many cards were actually drawn (the rest were shared)

    def load_locales(self, tenant_id: str, user_ids: Sequence[str]) -> None:
        """Everyone's language in one query rather than one per card."""
        found = self._locales_of(tenant_id, user_ids)
        for user_id in user_ids:
            self._locales[(tenant_id, user_id)] = resolve_locale(found.get(user_id))

    def card(self, job: NotificationJob, view: LeadView) -> Card:
        locale = self._locales.get((job.tenant_id, job.recipient_id))
        if locale is None:
            self.load_locales(job.tenant_id, [job.recipient_id])
            locale = self._locales[(job.tenant_id, job.recipient_id)]
        contacts = self._contacts_for(job, view) if view.can_change else ()
        # Views of one load share their lead object; holding it keeps its id from being reused.
        self._leads.setdefault(id(view.lead), view.lead)
        key = (
            job.tenant_id,
            job.lead_id,
            id(view.lead),
            locale,
            view.can_change,
            view.viewer_follows,
            tuple((contact.id, contact.name) for contact in contacts),
            job.actor_id,
            job.first_event_at,
            _changes_key(job.changes),
        )
        found = self._cards.get(key)
        if found is None:
            found = notification_card(
                view,
                self._translator(locale),
                changes=job.changes,
                actor=self._actor(job.tenant_id, job.actor_id),
                at=job.first_event_at,
                account_contacts=contacts,
                colleagues=self._colleagues_of(job.tenant_id) if view.can_change else (),
            )
            self._cards[key] = found
            self.rendered += 1
        return found

    def _translator(self, locale: str) -> Translator:
        found = self._translators.get(locale)
        if found is None:
            found = self._translators[locale] = Translator.for_teams(locale)
        return found

    def _actor(self, tenant_id: str, actor_id: UserId | None) -> User | None:
        if actor_id is None:
            return None
        key = (tenant_id, actor_id)
        if key not in self._actors:
            try:
                self._actors[key] = self._crm.get_user(TenantId(tenant_id), actor_id)
            except DomainError:
                self._actors[key] = None
        return self._actors[key]

    def _colleagues_of(self, tenant_id: str) -> tuple[Any, ...]:
        found = self._colleagues.get(tenant_id)
        if found is None:
            queries = self._database.queries(TenantId(tenant_id))
            found = self._colleagues[tenant_id] = queries.users(limit=COLLEAGUES_OFFERED).items
        return found

    def _contacts_for(self, job: NotificationJob, view: LeadView) -> tuple[Any, ...]:
        """The account's contacts this viewer may pick: what they see depends on their role and
        the portfolio they share (``Viewer.scope``), so people of one sight share one query."""
        account_id = view.lead.account_id
        if not account_id:
            return ()
        queries = self._database.queries(job.tenant_id)
        viewer = view.viewer or queries.viewer(job.recipient_id)
        sight = (
            job.tenant_id,
            account_id,
            viewer.is_admin,
            frozenset() if viewer.is_admin else viewer.scope,
        )
        found = self._contacts.get(sight)
        if found is None:
            page = queries.contacts(
                viewer, ContactFilter(account_id=account_id), limit=CONTACTS_OFFERED
            )
            found = self._contacts[sight] = page.items
        return found
