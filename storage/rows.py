"""The tables, as typed SQLAlchemy rows kept apart from the domain classes they persist.

Aggregates are stored one row each, their small collections as JSON, so loading one costs a
single round trip. Membership that lists filter on (responsibles, tags, followers...) is copied
into narrow index tables in the same transaction: plain B-trees work alike on SQLite and
PostgreSQL, and they carry the list's sort key so keyset pages read straight off the index.
Every table leads with ``tenant_id``.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from storage.types import UTCDateTime

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)

ID = String(64)
USER_ID = String(200)
TENANT_ID = String(64)
KEY = String(200)
# SQLite only autoincrements an INTEGER PRIMARY KEY; PostgreSQL gets a 64-bit identity.
SERIAL = BigInteger().with_variant(Integer(), "sqlite")

Json = dict[str, Any]


class Base(DeclarativeBase):
    metadata = metadata
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        date: Date(),
        Json: JSON(),
    }


# --- users and settings ----------------------------------------------------------------------


class UserRow(Base):
    __tablename__ = "users"
    __table_args__ = (
        Index("ix_users_tenant_name", "tenant_id", "name_key", "id"),
        Index("ix_users_tenant_manager", "tenant_id", "manager_id"),
        Index("ix_users_tenant_role", "tenant_id", "role"),
    )

    tenant_id: Mapped[str] = mapped_column(TENANT_ID, primary_key=True)
    id: Mapped[str] = mapped_column(USER_ID, primary_key=True)
    display_name: Mapped[str] = mapped_column(String(200))
    name_key: Mapped[str] = mapped_column(KEY)
    email: Mapped[str | None] = mapped_column(String(254))
    role: Mapped[str] = mapped_column(String(16))
    manager_id: Mapped[str | None] = mapped_column(USER_ID)
    version: Mapped[int] = mapped_column(Integer)


class SettingsRow(Base):
    __tablename__ = "tenant_settings"

    tenant_id: Mapped[str] = mapped_column(TENANT_ID, primary_key=True)
    other_label: Mapped[str] = mapped_column(String(100))
    default_currency: Mapped[str] = mapped_column(String(3))
    characteristics: Mapped[list[Any]] = mapped_column(JSON)
    interest_areas: Mapped[list[Any]] = mapped_column(JSON)
    custom_fields: Mapped[list[Any]] = mapped_column(JSON)
    version: Mapped[int] = mapped_column(Integer)


class PipelineRow(Base):
    __tablename__ = "pipelines"

    tenant_id: Mapped[str] = mapped_column(TENANT_ID, primary_key=True)
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    is_default: Mapped[bool] = mapped_column(Boolean)
    stages: Mapped[list[Any]] = mapped_column(JSON)
    version: Mapped[int] = mapped_column(Integer)


# --- accounts --------------------------------------------------------------------------------


class AccountRow(Base):
    __tablename__ = "accounts"
    __table_args__ = (
        Index("ix_accounts_tenant_name", "tenant_id", "name_key", "id"),
        Index("ix_accounts_tenant_classification", "tenant_id", "classification", "name_key", "id"),
    )

    tenant_id: Mapped[str] = mapped_column(TENANT_ID, primary_key=True)
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    name_key: Mapped[str] = mapped_column(KEY)
    classification: Mapped[str] = mapped_column(String(16))
    characteristics: Mapped[list[Any]] = mapped_column(JSON)
    interests: Mapped[list[Any]] = mapped_column(JSON)
    disinterests: Mapped[list[Any]] = mapped_column(JSON)
    responsible_ids: Mapped[list[Any]] = mapped_column(JSON)
    relationships: Mapped[list[Any]] = mapped_column(JSON)
    documents: Mapped[list[Any]] = mapped_column(JSON)
    tags: Mapped[list[Any]] = mapped_column(JSON)
    custom_fields: Mapped[Json] = mapped_column(JSON)
    prospect_status: Mapped[str] = mapped_column(String(16))
    customer_status: Mapped[str] = mapped_column(String(16))
    created_by: Mapped[str | None] = mapped_column(USER_ID)
    created_at: Mapped[datetime | None]
    version: Mapped[int] = mapped_column(Integer)


class AccountLabelRow(Base):
    """One row per responsible, tag, characteristic and (dis)interest of an account.

    ``name_key`` repeats the account's sort key so "accounts tagged X" pages off this index.
    """

    __tablename__ = "account_labels"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "account_id"], ["accounts.tenant_id", "accounts.id"], ondelete="CASCADE"
        ),
        Index("ix_account_labels_lookup", "tenant_id", "kind", "value", "name_key", "account_id"),
    )

    tenant_id: Mapped[str] = mapped_column(TENANT_ID, primary_key=True)
    account_id: Mapped[str] = mapped_column(ID, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    value: Mapped[str] = mapped_column(USER_ID, primary_key=True)
    name_key: Mapped[str] = mapped_column(KEY)


# --- contacts --------------------------------------------------------------------------------


class ContactRow(Base):
    __tablename__ = "contacts"
    __table_args__ = (
        Index("ix_contacts_tenant_name", "tenant_id", "name_key", "id"),
        Index("ix_contacts_tenant_email", "tenant_id", "email_key", "id"),
        Index("ix_contacts_tenant_prospect", "tenant_id", "prospect_status", "name_key", "id"),
        Index("ix_contacts_tenant_customer", "tenant_id", "customer_status", "name_key", "id"),
        Index("ix_contacts_tenant_account", "tenant_id", "account_id", "name_key", "id"),
        Index("ix_contacts_tenant_creator", "tenant_id", "created_by", "account_id"),
    )

    tenant_id: Mapped[str] = mapped_column(TENANT_ID, primary_key=True)
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    name_key: Mapped[str] = mapped_column(KEY)
    job_title: Mapped[str | None] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(254))
    email_key: Mapped[str | None] = mapped_column(String(254))
    phone: Mapped[str | None] = mapped_column(String(40))
    account_id: Mapped[str | None] = mapped_column(ID)
    tags: Mapped[list[Any]] = mapped_column(JSON)
    custom_fields: Mapped[Json] = mapped_column(JSON)
    prospect_status: Mapped[str] = mapped_column(String(16))
    customer_status: Mapped[str] = mapped_column(String(16))
    created_by: Mapped[str | None] = mapped_column(USER_ID)
    created_at: Mapped[datetime | None]
    version: Mapped[int] = mapped_column(Integer)


class ContactTagRow(Base):
    __tablename__ = "contact_tags"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "contact_id"], ["contacts.tenant_id", "contacts.id"], ondelete="CASCADE"
        ),
        Index("ix_contact_tags_lookup", "tenant_id", "tag", "name_key", "contact_id"),
    )

    tenant_id: Mapped[str] = mapped_column(TENANT_ID, primary_key=True)
    contact_id: Mapped[str] = mapped_column(ID, primary_key=True)
    tag: Mapped[str] = mapped_column(String(50), primary_key=True)
    name_key: Mapped[str] = mapped_column(KEY)


# --- leads -----------------------------------------------------------------------------------


class LeadRow(Base):
    __tablename__ = "leads"
    __table_args__ = (
        UniqueConstraint("tenant_id", "number"),
        Index("ix_leads_tenant_pipeline", "tenant_id", "pipeline_id", "number"),
        Index("ix_leads_tenant_stage", "tenant_id", "stage_id", "number"),
        Index("ix_leads_tenant_status", "tenant_id", "status", "number"),
        Index("ix_leads_tenant_account", "tenant_id", "account_id", "number"),
        Index("ix_leads_tenant_owner", "tenant_id", "owner_id", "number"),
        Index("ix_leads_tenant_contact", "tenant_id", "contact_id"),
        Index("ix_leads_tenant_title", "tenant_id", "title_key", "number"),
        Index("ix_leads_tenant_activity", "tenant_id", "status", "last_activity_at", "id"),
        Index(
            "ix_leads_tenant_summary",
            "tenant_id",
            "pipeline_id",
            "status",
            "stage_id",
            "currency",
            "amount_cents",
        ),
    )

    tenant_id: Mapped[str] = mapped_column(TENANT_ID, primary_key=True)
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    number: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(200))
    title_key: Mapped[str] = mapped_column(KEY)
    owner_id: Mapped[str] = mapped_column(USER_ID)
    pipeline_id: Mapped[str] = mapped_column(ID)
    stage_id: Mapped[str] = mapped_column(ID)
    account_id: Mapped[str | None] = mapped_column(ID)
    contact_id: Mapped[str | None] = mapped_column(ID)
    participants: Mapped[list[Any]] = mapped_column(JSON)
    follower_ids: Mapped[list[Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16))
    lost_reason: Mapped[str | None] = mapped_column(String(500))
    # Cents in an integer: exact on both engines (SQLite has no decimal type) and summable.
    amount_cents: Mapped[int | None] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    close_date: Mapped[date | None]
    tags: Mapped[list[Any]] = mapped_column(JSON)
    description: Mapped[str | None] = mapped_column(Text)
    custom_fields: Mapped[Json] = mapped_column(JSON)
    origin_lead_id: Mapped[str | None] = mapped_column(ID)
    created_at: Mapped[datetime | None]
    last_activity_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    version: Mapped[int] = mapped_column(Integer)


class LeadFollowerRow(Base):
    __tablename__ = "lead_followers"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "lead_id"], ["leads.tenant_id", "leads.id"], ondelete="CASCADE"
        ),
        Index("ix_lead_followers_user", "tenant_id", "user_id", "number"),
    )

    tenant_id: Mapped[str] = mapped_column(TENANT_ID, primary_key=True)
    lead_id: Mapped[str] = mapped_column(ID, primary_key=True)
    user_id: Mapped[str] = mapped_column(USER_ID, primary_key=True)
    number: Mapped[int] = mapped_column(Integer)


class LeadTagRow(Base):
    __tablename__ = "lead_tags"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "lead_id"], ["leads.tenant_id", "leads.id"], ondelete="CASCADE"
        ),
        Index("ix_lead_tags_tag", "tenant_id", "tag", "number"),
    )

    tenant_id: Mapped[str] = mapped_column(TENANT_ID, primary_key=True)
    lead_id: Mapped[str] = mapped_column(ID, primary_key=True)
    tag: Mapped[str] = mapped_column(String(50), primary_key=True)
    number: Mapped[int] = mapped_column(Integer)


class LeadParticipantRow(Base):
    __tablename__ = "lead_participants"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "lead_id"], ["leads.tenant_id", "leads.id"], ondelete="CASCADE"
        ),
        Index("ix_lead_participants_contact", "tenant_id", "contact_id", "number"),
    )

    tenant_id: Mapped[str] = mapped_column(TENANT_ID, primary_key=True)
    lead_id: Mapped[str] = mapped_column(ID, primary_key=True)
    contact_id: Mapped[str] = mapped_column(ID, primary_key=True)
    number: Mapped[int] = mapped_column(Integer)


class CommentRow(Base):
    __tablename__ = "comments"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "lead_id"], ["leads.tenant_id", "leads.id"], ondelete="CASCADE"
        ),
        Index("ix_comments_tenant_lead", "tenant_id", "lead_id", "created_at"),
    )

    tenant_id: Mapped[str] = mapped_column(TENANT_ID, primary_key=True)
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    lead_id: Mapped[str] = mapped_column(ID)
    author_id: Mapped[str] = mapped_column(USER_ID)
    text: Mapped[str] = mapped_column(Text)
    mentions: Mapped[list[Any]] = mapped_column(JSON)
    created_at: Mapped[datetime]
    version: Mapped[int] = mapped_column(Integer)


class ReminderRow(Base):
    __tablename__ = "reminders"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "lead_id"], ["leads.tenant_id", "leads.id"], ondelete="CASCADE"
        ),
        Index("ix_reminders_tenant_lead", "tenant_id", "lead_id"),
        Index("ix_reminders_due", "done", "due_at"),
    )

    tenant_id: Mapped[str] = mapped_column(TENANT_ID, primary_key=True)
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    lead_id: Mapped[str] = mapped_column(ID)
    assignee_id: Mapped[str] = mapped_column(USER_ID)
    due_at: Mapped[datetime]
    text: Mapped[str] = mapped_column(String(500))
    created_by: Mapped[str | None] = mapped_column(USER_ID)
    done: Mapped[bool] = mapped_column(Boolean)
    notified_at: Mapped[datetime | None]
    version: Mapped[int] = mapped_column(Integer)


# --- what happened: history and the outbox ---------------------------------------------------


class HistoryRow(Base):
    """Every domain event, kept for "what happened to this lead, by whom, when"."""

    __tablename__ = "history"
    __table_args__ = (
        Index("ix_history_subject", "tenant_id", "subject_kind", "subject_id", "id"),
        Index("ix_history_account", "tenant_id", "account_id", "id"),
    )

    id: Mapped[int] = mapped_column(SERIAL, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(TENANT_ID)
    subject_kind: Mapped[str] = mapped_column(String(16))
    subject_id: Mapped[str] = mapped_column(USER_ID)
    account_id: Mapped[str | None] = mapped_column(ID)
    event_name: Mapped[str] = mapped_column(String(64))
    actor_id: Mapped[str | None] = mapped_column(USER_ID)
    occurred_at: Mapped[datetime]
    payload: Mapped[Json] = mapped_column(JSON)


class OutboxRow(Base):
    """Events waiting to be turned into notifications, written with the change they describe."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_ready", "status", "available_at", "id"),)

    id: Mapped[int] = mapped_column(SERIAL, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(TENANT_ID)
    event_name: Mapped[str] = mapped_column(String(64))
    payload: Mapped[Json] = mapped_column(JSON)
    created_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer)
    available_at: Mapped[datetime]
    locked_by: Mapped[str | None] = mapped_column(String(100))
    locked_until: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    done_at: Mapped[datetime | None]


# --- the bot's own state (migration 0002) ----------------------------------------------------


class BotStateRow(Base):
    """botbuilder's conversation and user state, as JSON under an e_tag."""

    __tablename__ = "bot_state"

    tenant_id: Mapped[str] = mapped_column(TENANT_ID, primary_key=True)
    key: Mapped[str] = mapped_column(String(512), primary_key=True)
    value: Mapped[Json] = mapped_column(JSON)
    etag: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime]


class ConversationReferenceRow(Base):
    """Where the bot can write proactively; plain columns, never SDK objects."""

    __tablename__ = "conversation_references"
    __table_args__ = (
        Index("ix_conversation_references_user", "tenant_id", "aad_object_id", "conversation_type"),
    )

    tenant_id: Mapped[str] = mapped_column(TENANT_ID, primary_key=True)
    conversation_id: Mapped[str] = mapped_column(String(512), primary_key=True)
    conversation_type: Mapped[str] = mapped_column(String(16))
    service_url: Mapped[str] = mapped_column(String(500))
    channel_id: Mapped[str] = mapped_column(String(32))
    bot_id: Mapped[str] = mapped_column(String(200))
    user_id: Mapped[str | None] = mapped_column(String(200))
    aad_object_id: Mapped[str | None] = mapped_column(USER_ID)
    team_id: Mapped[str | None] = mapped_column(String(200))
    teams_channel_id: Mapped[str | None] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean)
    updated_at: Mapped[datetime]


class ProcessedActivityRow(Base):
    """Activity ids already applied, so a redelivered activity is recognised and skipped."""

    __tablename__ = "processed_activities"
    __table_args__ = (Index("ix_processed_activities_at", "processed_at"),)

    tenant_id: Mapped[str] = mapped_column(TENANT_ID, primary_key=True)
    activity_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    processed_at: Mapped[datetime]


BOT_TABLES = ("bot_state", "conversation_references", "processed_activities")


# --- follower notifications (migration 0005) -------------------------------------------------


class NotificationPreferencesRow(Base):
    """One user's notification choices and the language their notifications are written in."""

    __tablename__ = "notification_preferences"

    tenant_id: Mapped[str] = mapped_column(TENANT_ID, primary_key=True)
    user_id: Mapped[str] = mapped_column(USER_ID, primary_key=True)
    settings: Mapped[Json] = mapped_column(JSON)
    locale: Mapped[str | None] = mapped_column(String(20))
    version: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime]


class NotificationRow(Base):
    """One card for one person: the changes one actor made to one lead within the grouping
    window. ``replaces_id`` points at a card already sent, which this one updates in place."""

    __tablename__ = "notifications"
    __table_args__ = (
        Index("ix_notifications_ready", "status", "available_at", "id"),
        Index("ix_notifications_group", "tenant_id", "group_key", "id"),
        Index("ix_notifications_recipient", "tenant_id", "recipient_id", "status"),
    )

    id: Mapped[int] = mapped_column(SERIAL, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(TENANT_ID)
    recipient_id: Mapped[str] = mapped_column(USER_ID)
    lead_id: Mapped[str] = mapped_column(ID)
    actor_id: Mapped[str | None] = mapped_column(USER_ID)
    group_key: Mapped[str] = mapped_column(String(500))
    changes: Mapped[list[Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer)
    available_at: Mapped[datetime]
    locked_by: Mapped[str | None] = mapped_column(String(100))
    locked_until: Mapped[datetime | None]
    first_event_at: Mapped[datetime]
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]
    replaces_id: Mapped[int | None] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"))
    conversation_id: Mapped[str | None] = mapped_column(String(512))
    activity_id: Mapped[str | None] = mapped_column(String(200))
    last_error: Mapped[str | None] = mapped_column(Text)


class NotificationAttemptRow(Base):
    """Every delivery attempt, so "why didn't I get it?" has an answer."""

    __tablename__ = "notification_attempts"
    __table_args__ = (Index("ix_notification_attempts_notification", "notification_id", "id"),)

    id: Mapped[int] = mapped_column(SERIAL, primary_key=True, autoincrement=True)
    notification_id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"))
    tenant_id: Mapped[str] = mapped_column(TENANT_ID)
    at: Mapped[datetime]
    outcome: Mapped[str] = mapped_column(String(16))
    status_code: Mapped[int | None] = mapped_column(Integer)
    detail: Mapped[str | None] = mapped_column(Text)


class ChannelSubscriptionRow(Base):
    """A team channel that hears about new, won and lost leads of a pipeline or a tag."""

    __tablename__ = "channel_subscriptions"
    __table_args__ = (Index("ix_channel_subscriptions_target", "tenant_id", "target"),)

    tenant_id: Mapped[str] = mapped_column(TENANT_ID, primary_key=True)
    conversation_id: Mapped[str] = mapped_column(String(512), primary_key=True)
    target: Mapped[str] = mapped_column(String(200), primary_key=True)
    service_url: Mapped[str] = mapped_column(String(500))
    bot_id: Mapped[str] = mapped_column(String(200))
    created_by: Mapped[str] = mapped_column(USER_ID)
    created_at: Mapped[datetime]


class LeadCounterRow(Base):
    """The last lead number of each tenant. Taking the next one updates this row inside the
    creating transaction, so concurrent creations queue on it instead of colliding."""

    __tablename__ = "lead_counters"

    tenant_id: Mapped[str] = mapped_column(TENANT_ID, primary_key=True)
    last_number: Mapped[int] = mapped_column(Integer)
