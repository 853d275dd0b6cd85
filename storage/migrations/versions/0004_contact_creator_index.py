"""Contacts' creator index carries the account, so "created by my scope, without an account"
(one branch of the contact access rule) is a range read rather than a scan of every contact
without an account.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_contacts_tenant_creator", table_name="contacts")
    op.create_index(
        "ix_contacts_tenant_creator", "contacts", ["tenant_id", "created_by", "account_id"]
    )


def downgrade() -> None:
    op.drop_index("ix_contacts_tenant_creator", table_name="contacts")
    op.create_index("ix_contacts_tenant_creator", "contacts", ["tenant_id", "created_by"])
