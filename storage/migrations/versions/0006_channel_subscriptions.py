"""Team channels subscribed to a pipeline or a tag (posts for new, won and lost leads).

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from storage.types import UTCDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "channel_subscriptions",
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("conversation_id", sa.String(512), nullable=False),
        sa.Column("target", sa.String(200), nullable=False),
        sa.Column("service_url", sa.String(500), nullable=False),
        sa.Column("bot_id", sa.String(200), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint(
            "tenant_id", "conversation_id", "target", name=op.f("pk_channel_subscriptions")
        ),
    )
    op.create_index(
        "ix_channel_subscriptions_target", "channel_subscriptions", ["tenant_id", "target"]
    )


def downgrade() -> None:
    op.drop_index("ix_channel_subscriptions_target", table_name="channel_subscriptions")
    op.drop_table("channel_subscriptions")
