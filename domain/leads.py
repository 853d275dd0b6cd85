"""Leads (opportunities): one real sale each, with the people involved and the users following.

A lead has one primary *Contact*, *Other participants* (contacts with an optional role) and
*Followers* (users kept informed). Its *status* (open / won / lost / unqualified) is separate
from its *stage* in the pipeline; stages move only while the lead is open.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import TypedDict

from domain.common import Aggregate, Stamp
from domain.errors import InvalidInput, NotFound, RuleViolation
from domain.events import (
    CommentAdded,
    FollowerAdded,
    FollowerRemoved,
    LeadCreated,
    LeadEvent,
    LeadOwnerChanged,
    LeadStageChanged,
    LeadStatusChanged,
    LeadUpdated,
    ParticipantAdded,
    ParticipantRemoved,
    ParticipantRoleChanged,
    PrimaryContactChanged,
    ReminderCompleted,
    ReminderScheduled,
    changes_between,
)
from domain.ids import (
    AccountId,
    CommentId,
    ContactId,
    LeadId,
    PipelineId,
    ReminderId,
    StageId,
    TenantId,
    UserId,
    new_id,
)
from domain.settings import CustomValue, Pipeline
from domain.statuses import LeadStatus
from domain.validation import (
    REASON_MAX,
    SHORT_MAX,
    TEXT_MAX,
    TITLE_MAX,
    clean_line,
    clean_optional,
    clean_text,
)

PARTICIPANTS_MAX = 200
FOLLOWERS_MAX = 1000  # a company-wide deal may be followed by a whole sales force
MENTIONS_MAX = 50


class _EventBase(TypedDict):
    tenant_id: TenantId
    actor_id: UserId | None
    occurred_at: datetime
    subject_id: str
    account_id: AccountId | None


@dataclass(frozen=True, slots=True, kw_only=True)
class Participant:
    contact_id: ContactId
    role: str | None = None


@dataclass(slots=True, kw_only=True)
class Lead(Aggregate):
    id: LeadId
    number: int
    title: str
    owner_id: UserId
    pipeline_id: PipelineId
    stage_id: StageId
    account_id: AccountId | None = None
    contact_id: ContactId | None = None
    participants: tuple[Participant, ...] = ()
    follower_ids: frozenset[UserId] = frozenset()
    status: LeadStatus = LeadStatus.OPEN
    lost_reason: str | None = None
    amount: Decimal | None = None
    currency: str = "USD"
    close_date: date | None = None
    tags: frozenset[str] = frozenset()
    description: str | None = None
    custom_fields: dict[str, CustomValue] = field(default_factory=dict)
    origin_lead_id: LeadId | None = None
    created_at: datetime | None = None
    last_activity_at: datetime | None = None
    closed_at: datetime | None = None

    @classmethod
    def create(
        cls,
        *,
        tenant_id: TenantId,
        number: int,
        title: str,
        owner_id: UserId,
        pipeline: Pipeline,
        account_id: AccountId | None = None,
        contact_id: ContactId | None = None,
        amount: Decimal | None = None,
        currency: str = "USD",
        close_date: date | None = None,
        tags: frozenset[str] = frozenset(),
        description: str | None = None,
        origin_lead_id: LeadId | None = None,
        stamp: Stamp,
    ) -> Lead:
        """A new open lead at the pipeline's first stage, followed by its owner."""
        lead = cls(
            tenant_id=tenant_id,
            id=LeadId(new_id()),
            number=number,
            title=clean_line(title, "title", TITLE_MAX),
            owner_id=owner_id,
            pipeline_id=pipeline.id,
            stage_id=pipeline.first_stage().id,
            account_id=account_id,
            contact_id=contact_id,
            follower_ids=frozenset({owner_id}),
            amount=amount,
            currency=currency,
            close_date=close_date,
            tags=tags,
            description=clean_text(description, "description", TEXT_MAX, required=False) or None,
            origin_lead_id=origin_lead_id,
            created_at=stamp.at,
            last_activity_at=stamp.at,
        )
        lead.record(
            LeadCreated(
                tenant_id=tenant_id,
                actor_id=stamp.actor_id,
                occurred_at=stamp.at,
                subject_id=lead.id,
                account_id=account_id,
                number=number,
                title=lead.title,
                pipeline_id=pipeline.id,
                origin_lead_id=origin_lead_id,
                changes=changes_between({}, lead._snapshot()),
            )
        )
        return lead

    @property
    def is_open(self) -> bool:
        return self.status is LeadStatus.OPEN

    def _snapshot(self) -> dict[str, object]:
        return {
            "title": self.title,
            "amount": self.amount,
            "currency": self.currency,
            "close_date": self.close_date,
            "description": self.description,
            "tags": self.tags,
            "custom_fields": self.custom_fields,
            "account_id": self.account_id,
            "contact_id": self.contact_id,
            "owner_id": self.owner_id,
            "pipeline_id": self.pipeline_id,
            "stage_id": self.stage_id,
            "status": self.status,
        }

    def _emit(self, event: LeadEvent) -> None:
        self.last_activity_at = event.occurred_at
        self.record(event)

    def _base(self, stamp: Stamp) -> _EventBase:
        return {
            "tenant_id": self.tenant_id,
            "actor_id": stamp.actor_id,
            "occurred_at": stamp.at,
            "subject_id": self.id,
            "account_id": self.account_id,
        }

    def _details(self) -> dict[str, object]:
        keys = (
            "title",
            "amount",
            "currency",
            "close_date",
            "description",
            "tags",
            "custom_fields",
            "account_id",
        )
        snapshot = self._snapshot()
        return {key: snapshot[key] for key in keys}

    def _updated(self, before: dict[str, object], stamp: Stamp) -> None:
        changes = changes_between(before, self._details())
        if changes:
            self._emit(LeadUpdated(changes=changes, **self._base(stamp)))

    # --- details ----------------------------------------------------------------------------

    def update_details(
        self,
        *,
        title: str | None = None,
        amount: Decimal | None = None,
        clear_amount: bool = False,
        currency: str | None = None,
        close_date: date | None = None,
        clear_close_date: bool = False,
        description: str | None = None,
        stamp: Stamp,
    ) -> None:
        """Change the given fields; ``clear_*`` empties the optional ones."""
        before = self._details()
        if title is not None:
            self.title = clean_line(title, "title", TITLE_MAX)
        if amount is not None or clear_amount:
            self.amount = None if clear_amount else amount
        if currency is not None:
            self.currency = currency
        if close_date is not None or clear_close_date:
            self.close_date = None if clear_close_date else close_date
        if description is not None:
            self.description = (
                clean_text(description, "description", TEXT_MAX, required=False) or None
            )
        self._updated(before, stamp)

    def set_tags(self, tags: frozenset[str], stamp: Stamp) -> None:
        before = self._details()
        self.tags = tags
        self._updated(before, stamp)

    def set_custom_fields(self, values: dict[str, CustomValue], stamp: Stamp) -> None:
        before = self._details()
        self.custom_fields = dict(values)
        self._updated(before, stamp)

    def move_to_account(self, account_id: AccountId | None, stamp: Stamp) -> None:
        before = self._details()
        self.account_id = account_id
        self._updated(before, stamp)

    def change_owner(self, owner_id: UserId, stamp: Stamp) -> None:
        if owner_id == self.owner_id:
            return
        changes = changes_between({"owner_id": self.owner_id}, {"owner_id": owner_id})
        self.owner_id = owner_id
        self._emit(LeadOwnerChanged(changes=changes, **self._base(stamp)))
        self.add_follower(owner_id, stamp)

    # --- pipeline and status ----------------------------------------------------------------

    def _require_open(self) -> None:
        if not self.is_open:
            raise RuleViolation("lead.closed", lead_id=self.id, status=self.status.value)

    def change_stage(self, pipeline: Pipeline, stage_id: str, stamp: Stamp) -> None:
        """Stages move only while open; a closed lead must be reopened first."""
        self._require_open()
        if pipeline.id != self.pipeline_id:
            raise RuleViolation(
                "lead.stage_not_in_pipeline", stage_id=stage_id, pipeline_id=self.pipeline_id
            )
        stage = pipeline.stage(stage_id)
        if stage.id == self.stage_id:
            return
        changes = changes_between({"stage_id": self.stage_id}, {"stage_id": stage.id})
        self.stage_id = stage.id
        self._emit(LeadStageChanged(changes=changes, **self._base(stamp)))

    def move_to_pipeline(self, pipeline: Pipeline, stamp: Stamp) -> None:
        self._require_open()
        if pipeline.id == self.pipeline_id:
            return
        before = {"pipeline_id": self.pipeline_id, "stage_id": self.stage_id}
        self.pipeline_id, self.stage_id = pipeline.id, pipeline.first_stage().id
        after = {"pipeline_id": self.pipeline_id, "stage_id": self.stage_id}
        self._emit(LeadStageChanged(changes=changes_between(before, after), **self._base(stamp)))

    def _close(self, status: LeadStatus, reason: str | None, stamp: Stamp) -> None:
        self._require_open()
        before = {"status": self.status, "lost_reason": self.lost_reason}
        self.status, self.lost_reason, self.closed_at = status, reason, stamp.at
        after = {"status": self.status, "lost_reason": self.lost_reason}
        self._emit(
            LeadStatusChanged(
                changes=changes_between(before, after), lost_reason=reason, **self._base(stamp)
            )
        )

    def win(self, stamp: Stamp) -> None:
        self._close(LeadStatus.WON, None, stamp)

    def lose(self, reason: str, stamp: Stamp) -> None:
        self._close(LeadStatus.LOST, clean_line(reason, "reason", REASON_MAX), stamp)

    def disqualify(self, stamp: Stamp, reason: str | None = None) -> None:
        self._close(LeadStatus.UNQUALIFIED, clean_optional(reason, "reason", REASON_MAX), stamp)

    def reopen(self, stamp: Stamp) -> None:
        if self.is_open:
            raise RuleViolation("lead.already_open", lead_id=self.id)
        before = {"status": self.status, "lost_reason": self.lost_reason}
        self.status, self.lost_reason, self.closed_at = LeadStatus.OPEN, None, None
        after = {"status": self.status, "lost_reason": self.lost_reason}
        self._emit(LeadStatusChanged(changes=changes_between(before, after), **self._base(stamp)))

    # --- the people: primary Contact and other participants ---------------------------------

    def participant(self, contact_id: str) -> Participant | None:
        return next((p for p in self.participants if p.contact_id == contact_id), None)

    def involves(self, contact_id: str) -> bool:
        return self.contact_id == contact_id or self.participant(contact_id) is not None

    def set_primary_contact(
        self,
        contact_id: ContactId | None,
        stamp: Stamp,
        *,
        keep_previous_as_participant: bool = False,
    ) -> None:
        """The new Contact leaves the participants; the old one joins them only if asked."""
        if contact_id == self.contact_id:
            return
        previous = self.contact_id
        kept = tuple(p for p in self.participants if p.contact_id != contact_id)
        if keep_previous_as_participant and previous is not None:
            if len(kept) >= PARTICIPANTS_MAX:
                raise InvalidInput("input.too_many", field="participants", max=PARTICIPANTS_MAX)
            kept = (*kept, Participant(contact_id=previous))
        changes = changes_between({"contact_id": previous}, {"contact_id": contact_id})
        self.contact_id = contact_id
        self.participants = kept
        self._emit(PrimaryContactChanged(changes=changes, **self._base(stamp)))

    def add_participant(self, contact_id: ContactId, stamp: Stamp, role: str | None = None) -> None:
        if contact_id == self.contact_id:
            raise RuleViolation("lead.participant_is_primary", contact_id=contact_id)
        if self.participant(contact_id) is not None:
            raise RuleViolation("lead.participant_duplicate", contact_id=contact_id)
        if len(self.participants) >= PARTICIPANTS_MAX:
            raise InvalidInput("input.too_many", field="participants", max=PARTICIPANTS_MAX)
        label = clean_optional(role, "role", SHORT_MAX)
        self.participants = (*self.participants, Participant(contact_id=contact_id, role=label))
        self._emit(ParticipantAdded(contact_id=contact_id, role=label, **self._base(stamp)))

    def remove_participant(self, contact_id: str, stamp: Stamp) -> None:
        if self.participant(contact_id) is None:
            raise NotFound("participant", lead_id=self.id, contact_id=contact_id)
        self.participants = tuple(p for p in self.participants if p.contact_id != contact_id)
        self._emit(ParticipantRemoved(contact_id=contact_id, **self._base(stamp)))

    def set_participant_role(self, contact_id: str, role: str | None, stamp: Stamp) -> None:
        current = self.participant(contact_id)
        if current is None:
            raise NotFound("participant", lead_id=self.id, contact_id=contact_id)
        label = clean_optional(role, "role", SHORT_MAX)
        if label == current.role:
            return
        self.participants = tuple(
            Participant(contact_id=p.contact_id, role=label) if p.contact_id == contact_id else p
            for p in self.participants
        )
        changes = changes_between({"role": current.role}, {"role": label})
        self._emit(
            ParticipantRoleChanged(contact_id=contact_id, changes=changes, **self._base(stamp))
        )

    # --- followers: users kept informed -----------------------------------------------------

    def add_follower(self, user_id: UserId, stamp: Stamp) -> bool:
        """Following twice is harmless; returns whether anything changed."""
        if user_id in self.follower_ids:
            return False
        if len(self.follower_ids) >= FOLLOWERS_MAX:
            raise InvalidInput("input.too_many", field="followers", max=FOLLOWERS_MAX)
        self.follower_ids = self.follower_ids | {user_id}
        self._emit(FollowerAdded(user_id=user_id, **self._base(stamp)))
        return True

    def remove_follower(self, user_id: UserId, stamp: Stamp) -> None:
        if user_id not in self.follower_ids:
            raise NotFound("follower", lead_id=self.id, user_id=user_id)
        self.follower_ids = self.follower_ids - {user_id}
        self._emit(FollowerRemoved(user_id=user_id, **self._base(stamp)))


@dataclass(slots=True, kw_only=True)
class Comment(Aggregate):
    """A note on a lead; its own record so concurrent comments never conflict with edits."""

    id: CommentId
    lead_id: LeadId
    author_id: UserId
    text: str
    mentions: tuple[UserId, ...] = ()
    created_at: datetime

    @classmethod
    def write(cls, *, lead: Lead, text: str, mentions: tuple[UserId, ...], stamp: Stamp) -> Comment:
        if stamp.actor_id is None:
            raise InvalidInput("input.required", field="author")
        if len(mentions) > MENTIONS_MAX:
            raise InvalidInput("input.too_many", field="mentions", max=MENTIONS_MAX)
        comment = cls(
            tenant_id=lead.tenant_id,
            id=CommentId(new_id()),
            lead_id=lead.id,
            author_id=stamp.actor_id,
            text=clean_text(text, "text", TEXT_MAX),
            mentions=tuple(dict.fromkeys(mentions)),
            created_at=stamp.at,
        )
        comment.record(
            CommentAdded(
                tenant_id=lead.tenant_id,
                actor_id=stamp.actor_id,
                occurred_at=stamp.at,
                subject_id=lead.id,
                account_id=lead.account_id,
                comment_id=comment.id,
                text=comment.text,
                mentions=comment.mentions,
            )
        )
        return comment


@dataclass(slots=True, kw_only=True)
class Reminder(Aggregate):
    id: ReminderId
    lead_id: LeadId
    assignee_id: UserId
    due_at: datetime
    text: str
    created_by: UserId | None = None
    done: bool = False
    notified_at: datetime | None = None

    @classmethod
    def schedule(
        cls, *, lead: Lead, assignee_id: UserId, due_at: datetime, text: str, stamp: Stamp
    ) -> Reminder:
        if due_at.tzinfo is None:
            raise InvalidInput("input.naive_datetime", field="due_at")
        reminder = cls(
            tenant_id=lead.tenant_id,
            id=ReminderId(new_id()),
            lead_id=lead.id,
            assignee_id=assignee_id,
            due_at=due_at,
            text=clean_line(text, "text", REASON_MAX),
            created_by=stamp.actor_id,
        )
        reminder.record(
            ReminderScheduled(
                tenant_id=lead.tenant_id,
                actor_id=stamp.actor_id,
                occurred_at=stamp.at,
                subject_id=lead.id,
                account_id=lead.account_id,
                reminder_id=reminder.id,
                assignee_id=assignee_id,
                due_at=due_at,
                text=reminder.text,
            )
        )
        return reminder

    def complete(self, stamp: Stamp) -> None:
        if self.done:
            raise RuleViolation("reminder.already_done", reminder_id=self.id)
        self.done = True
        self.record(
            ReminderCompleted(
                tenant_id=self.tenant_id,
                actor_id=stamp.actor_id,
                occurred_at=stamp.at,
                subject_id=self.lead_id,
                reminder_id=self.id,
            )
        )
