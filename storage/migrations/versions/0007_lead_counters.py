"""A per-tenant lead counter, filled from the numbers already taken.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "lead_counters",
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("last_number", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", name=op.f("pk_lead_counters")),
    )
    leads = sa.table("leads", sa.column("tenant_id"), sa.column("number"))
    counters = sa.table("lead_counters", sa.column("tenant_id"), sa.column("last_number"))
    op.execute(
        counters.insert().from_select(
            ["tenant_id", "last_number"],
            sa.select(leads.c.tenant_id, sa.func.max(leads.c.number)).group_by(leads.c.tenant_id),
        )
    )


def downgrade() -> None:
    op.drop_table("lead_counters")
