"""Bot state: botbuilder's key/value state, conversation references, processed activity ids.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "bot_state",
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("key", sa.String(length=512), nullable=False),
        sa.Column("value", sa.JSON(), nullable=False),
        sa.Column("etag", sa.String(length=64), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "key", name=op.f("pk_bot_state")),
    )
    op.create_table(
        "conversation_references",
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("conversation_id", sa.String(length=512), nullable=False),
        sa.Column("conversation_type", sa.String(length=16), nullable=False),
        sa.Column("service_url", sa.String(length=500), nullable=False),
        sa.Column("channel_id", sa.String(length=32), nullable=False),
        sa.Column("bot_id", sa.String(length=200), nullable=False),
        sa.Column("user_id", sa.String(length=200), nullable=True),
        sa.Column("aad_object_id", sa.String(length=200), nullable=True),
        sa.Column("team_id", sa.String(length=200), nullable=True),
        sa.Column("teams_channel_id", sa.String(length=200), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint(
            "tenant_id", "conversation_id", name=op.f("pk_conversation_references")
        ),
    )
    with op.batch_alter_table("conversation_references", schema=None) as batch_op:
        batch_op.create_index(
            "ix_conversation_references_user",
            ["tenant_id", "aad_object_id", "conversation_type"],
            unique=False,
        )

    op.create_table(
        "processed_activities",
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("activity_id", sa.String(length=200), nullable=False),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "activity_id", name=op.f("pk_processed_activities")),
    )
    with op.batch_alter_table("processed_activities", schema=None) as batch_op:
        batch_op.create_index("ix_processed_activities_at", ["processed_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("processed_activities", schema=None) as batch_op:
        batch_op.drop_index("ix_processed_activities_at")

    op.drop_table("processed_activities")
    with op.batch_alter_table("conversation_references", schema=None) as batch_op:
        batch_op.drop_index("ix_conversation_references_user")

    op.drop_table("conversation_references")
    op.drop_table("bot_state")
