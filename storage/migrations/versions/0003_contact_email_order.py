"""Contacts' email index carries the id, so "email starts with" pages read it in order.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_contacts_tenant_email", table_name="contacts")
    op.create_index("ix_contacts_tenant_email", "contacts", ["tenant_id", "email_key", "id"])


def downgrade() -> None:
    op.drop_index("ix_contacts_tenant_email", table_name="contacts")
    op.create_index("ix_contacts_tenant_email", "contacts", ["tenant_id", "email_key"])
