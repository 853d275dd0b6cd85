"""Who hears about what: notification kinds, each follower's preferences, and the recipients of
one lead event.

Followers choose, per lead and as a personal default, which kinds of change they hear about
(like Odoo's follower subtypes); they can mute one lead or everything. The person who made a
change never hears about it. A user @mentioned in a comment hears about it even when they
don't follow the lead (unless they muted everything).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import ClassVar, Protocol

from domain.common import Aggregate, Clock, Stamp, SystemClock
from domain.errors import InvalidInput, RuleViolation
from domain.events import JsonValue, UserEvent, changes_between
from domain.ids import LeadId, TenantId, UserId
from domain.users import Role

LEAD_OVERRIDES_MAX = 1000


class NotificationKind(StrEnum):
    STAGE = "stage"
    STATUS = "status"  # won, lost, unqualified, reopened
    COMMENT = "comment"
    PEOPLE = "people"  # participants added or removed, primary Contact changed
    AMOUNT_DATE = "amount_date"


ALL_KINDS: frozenset[NotificationKind] = frozenset(NotificationKind)

_BY_EVENT: Mapping[str, NotificationKind] = {
    "lead.stage_changed": NotificationKind.STAGE,
    "lead.status_changed": NotificationKind.STATUS,
    "lead.comment_added": NotificationKind.COMMENT,
    "lead.participant_added": NotificationKind.PEOPLE,
    "lead.participant_removed": NotificationKind.PEOPLE,
    "lead.primary_contact_changed": NotificationKind.PEOPLE,
}
_AMOUNT_DATE_FIELDS = frozenset({"amount", "currency", "close_date"})


def kind_of(record: Mapping[str, JsonValue]) -> NotificationKind | None:
    """The kind of a lead event (as stored in the outbox), or ``None`` if nobody hears of it."""
    name = record.get("name")
    if not isinstance(name, str):
        return None
    if name in _BY_EVENT:
        return _BY_EVENT[name]
    if name == "lead.updated":
        changes = record.get("changes")
        fields = {
            change.get("field")
            for change in (changes if isinstance(changes, list) else [])
            if isinstance(change, dict)
        }
        if fields & _AMOUNT_DATE_FIELDS:
            return NotificationKind.AMOUNT_DATE
    return None


def mentions_of(record: Mapping[str, JsonValue]) -> frozenset[UserId]:
    raw = record.get("mentions")
    if not isinstance(raw, list):
        return frozenset()
    return frozenset(UserId(m) for m in raw if isinstance(m, str))


@dataclass(frozen=True, slots=True, kw_only=True)
class PreferencesChanged(UserEvent):
    name: ClassVar[str] = "user.notification_preferences_changed"


@dataclass(slots=True, kw_only=True)
class NotificationPreferences(Aggregate):
    """One user's choices. Absent preferences mean: every kind, nothing muted."""

    user_id: UserId
    defaults: frozenset[NotificationKind] = ALL_KINDS
    lead_kinds: dict[LeadId, frozenset[NotificationKind]] = field(default_factory=dict)
    muted_leads: frozenset[LeadId] = frozenset()
    muted_all: bool = False

    def wants(self, lead_id: str, kind: NotificationKind, *, mentioned: bool = False) -> bool:
        if self.muted_all:
            return False
        if mentioned and kind is NotificationKind.COMMENT:
            return True
        if lead_id in self.muted_leads:
            return False
        return kind in self.lead_kinds.get(LeadId(lead_id), self.defaults)

    def _snapshot(self) -> dict[str, object]:
        return {
            "defaults": self.defaults,
            "lead_kinds": dict(self.lead_kinds),
            "muted_leads": self.muted_leads,
            "muted_all": self.muted_all,
        }

    def _changed(self, before: dict[str, object], stamp: Stamp) -> None:
        changes = changes_between(before, self._snapshot())
        if changes:
            self.record(
                PreferencesChanged(
                    tenant_id=self.tenant_id,
                    actor_id=stamp.actor_id,
                    occurred_at=stamp.at,
                    subject_id=self.user_id,
                    changes=changes,
                )
            )

    def set_defaults(self, kinds: Iterable[str], stamp: Stamp) -> None:
        before = self._snapshot()
        self.defaults = _kinds(kinds)
        self._changed(before, stamp)

    def set_lead_kinds(self, lead_id: LeadId, kinds: Iterable[str], stamp: Stamp) -> None:
        """What this one lead tells me; un-mutes it, since choosing kinds means listening."""
        if lead_id not in self.lead_kinds and len(self.lead_kinds) >= LEAD_OVERRIDES_MAX:
            raise InvalidInput("input.too_many", field="leads", max=LEAD_OVERRIDES_MAX)
        before = self._snapshot()
        self.lead_kinds = {**self.lead_kinds, lead_id: _kinds(kinds)}
        self.muted_leads = self.muted_leads - {lead_id}
        self._changed(before, stamp)

    def mute_lead(self, lead_id: LeadId, muted: bool, stamp: Stamp) -> None:
        before = self._snapshot()
        self.muted_leads = self.muted_leads | {lead_id} if muted else self.muted_leads - {lead_id}
        self._changed(before, stamp)

    def mute_all(self, muted: bool, stamp: Stamp) -> None:
        before = self._snapshot()
        self.muted_all = muted
        self._changed(before, stamp)


def _kinds(values: Iterable[str]) -> frozenset[NotificationKind]:
    try:
        return frozenset(NotificationKind(value) for value in values)
    except ValueError:
        raise InvalidInput(
            "input.invalid_choice", field="kinds", choices=sorted(k.value for k in ALL_KINDS)
        ) from None


def recipients(
    event: Mapping[str, JsonValue],
    *,
    followers: Iterable[UserId],
    preferences: Mapping[UserId, NotificationPreferences],
) -> dict[UserId, NotificationKind]:
    """Everyone who hears about this lead event, with the kind they hear it as.

    Followers who want that kind, plus users @mentioned in a comment; never the actor.
    """
    kind = kind_of(event)
    if kind is None:
        return {}
    lead_id = event.get("subject_id")
    actor = event.get("actor_id")
    if not isinstance(lead_id, str):
        return {}
    mentioned = mentions_of(event) if kind is NotificationKind.COMMENT else frozenset()
    result: dict[UserId, NotificationKind] = {}
    for user_id in {*followers, *mentioned}:
        if user_id == actor:
            continue
        choice = preferences.get(user_id)
        is_mentioned = user_id in mentioned
        if choice is None or choice.wants(lead_id, kind, mentioned=is_mentioned):
            result[user_id] = kind
    return result


class PreferencesStore(Protocol):
    def preferences_of(self, tenant_id: str, user_id: str) -> NotificationPreferences: ...
    def save_preferences(self, preferences: NotificationPreferences) -> None: ...


class LeadVisibility(Protocol):
    """Raises the domain's refusal when the user may not see the lead (``CRM.get_lead``)."""

    def __call__(self, tenant_id: TenantId, user_id: UserId, lead_id: str, /) -> object: ...


class NotificationSettings:
    """The use cases behind "choose what I hear": read and change one's own preferences."""

    def __init__(
        self, store: PreferencesStore, can_see: LeadVisibility, clock: Clock | None = None
    ) -> None:
        self._store = store
        self._can_see = can_see
        self._clock = clock or SystemClock()

    def _stamp(self, user_id: UserId) -> Stamp:
        return Stamp(actor_id=user_id, at=self._clock.now())

    def of(self, tenant_id: TenantId, user_id: UserId) -> NotificationPreferences:
        return self._store.preferences_of(tenant_id, user_id)

    def set_defaults(
        self, tenant_id: TenantId, user_id: UserId, *, kinds: Iterable[str], muted_all: bool
    ) -> NotificationPreferences:
        preferences = self._store.preferences_of(tenant_id, user_id)
        stamp = self._stamp(user_id)
        preferences.set_defaults(kinds, stamp)
        preferences.mute_all(muted_all, stamp)
        self._store.save_preferences(preferences)
        return preferences

    def set_for_lead(
        self,
        tenant_id: TenantId,
        user_id: UserId,
        lead_id: str,
        *,
        kinds: Iterable[str],
        muted: bool,
    ) -> NotificationPreferences:
        self._can_see(tenant_id, user_id, lead_id)
        preferences = self._store.preferences_of(tenant_id, user_id)
        stamp = self._stamp(user_id)
        preferences.set_lead_kinds(LeadId(lead_id), kinds, stamp)
        preferences.mute_lead(LeadId(lead_id), muted, stamp)
        self._store.save_preferences(preferences)
        return preferences


CHANNEL_EVENTS = frozenset({"lead.created", "lead.status_changed"})
CHANNEL_STATUSES = frozenset({"won", "lost"})


def check_can_subscribe_channel(role: Role) -> None:
    """Everyone in a channel sees what it is subscribed to, whatever their portfolio: only
    the people who may see the whole team's deals can open that window."""
    if role not in {Role.ADMIN, Role.MANAGER}:
        raise RuleViolation("channel.not_allowed")


def channel_event(record: Mapping[str, JsonValue]) -> str | None:
    """``created``, ``won`` or ``lost`` for the events channels hear about, else ``None``."""
    name = record.get("name")
    if name == "lead.created":
        return "created"
    if name != "lead.status_changed":
        return None
    changes = record.get("changes")
    for change in changes if isinstance(changes, list) else []:
        if isinstance(change, dict) and change.get("field") == "status":
            after = change.get("after")
            if isinstance(after, str) and after in CHANNEL_STATUSES:
                return after
    return None
