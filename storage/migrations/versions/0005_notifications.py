"""Follower notifications: preferences, one row per card to deliver, and every attempt.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from storage.types import UTCDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

SERIAL = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "notification_preferences",
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("user_id", sa.String(200), nullable=False),
        sa.Column("settings", sa.JSON(), nullable=False),
        sa.Column("locale", sa.String(20), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "user_id", name=op.f("pk_notification_preferences")),
    )
    op.create_table(
        "notifications",
        sa.Column("id", SERIAL, autoincrement=True, nullable=False),
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("recipient_id", sa.String(200), nullable=False),
        sa.Column("lead_id", sa.String(64), nullable=False),
        sa.Column("actor_id", sa.String(200), nullable=True),
        sa.Column("group_key", sa.String(500), nullable=False),
        sa.Column("changes", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("available_at", UTCDateTime(), nullable=False),
        sa.Column("locked_by", sa.String(100), nullable=True),
        sa.Column("locked_until", UTCDateTime(), nullable=True),
        sa.Column("first_event_at", UTCDateTime(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("sent_at", UTCDateTime(), nullable=True),
        sa.Column("replaces_id", SERIAL, nullable=True),
        sa.Column("conversation_id", sa.String(512), nullable=True),
        sa.Column("activity_id", sa.String(200), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notifications")),
    )
    op.create_index("ix_notifications_ready", "notifications", ["status", "available_at", "id"])
    op.create_index("ix_notifications_group", "notifications", ["tenant_id", "group_key", "id"])
    op.create_index(
        "ix_notifications_recipient", "notifications", ["tenant_id", "recipient_id", "status"]
    )
    op.create_table(
        "notification_attempts",
        sa.Column("id", SERIAL, autoincrement=True, nullable=False),
        sa.Column("notification_id", SERIAL, nullable=False),
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notification_attempts")),
    )
    op.create_index(
        "ix_notification_attempts_notification",
        "notification_attempts",
        ["notification_id", "id"],
    )


def downgrade() -> None:
    op.drop_table("notification_attempts")
    op.drop_index("ix_notifications_recipient", table_name="notifications")
    op.drop_index("ix_notifications_group", table_name="notifications")
    op.drop_index("ix_notifications_ready", table_name="notifications")
    op.drop_table("notifications")
    op.drop_table("notification_preferences")
