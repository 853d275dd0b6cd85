"""Core schema: users, settings, pipelines, accounts, contacts, leads, comments, reminders,
with their list-index tables, the history and the transactional outbox.

Revision ID: 0001
Revises:
Create Date: 2026-11-23 10:41:16.437421

"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "accounts",
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("name_key", sa.String(length=200), nullable=False),
        sa.Column("classification", sa.String(length=16), nullable=False),
        sa.Column("characteristics", sa.JSON(), nullable=False),
        sa.Column("interests", sa.JSON(), nullable=False),
        sa.Column("disinterests", sa.JSON(), nullable=False),
        sa.Column("responsible_ids", sa.JSON(), nullable=False),
        sa.Column("relationships", sa.JSON(), nullable=False),
        sa.Column("documents", sa.JSON(), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("custom_fields", sa.JSON(), nullable=False),
        sa.Column("prospect_status", sa.String(length=16), nullable=False),
        sa.Column("customer_status", sa.String(length=16), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_accounts")),
    )
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.create_index(
            "ix_accounts_tenant_classification",
            ["tenant_id", "classification", "name_key", "id"],
            unique=False,
        )
        batch_op.create_index(
            "ix_accounts_tenant_name", ["tenant_id", "name_key", "id"], unique=False
        )

    op.create_table(
        "contacts",
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("name_key", sa.String(length=200), nullable=False),
        sa.Column("job_title", sa.String(length=200), nullable=True),
        sa.Column("email", sa.String(length=254), nullable=True),
        sa.Column("email_key", sa.String(length=254), nullable=True),
        sa.Column("phone", sa.String(length=40), nullable=True),
        sa.Column("account_id", sa.String(length=64), nullable=True),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("custom_fields", sa.JSON(), nullable=False),
        sa.Column("prospect_status", sa.String(length=16), nullable=False),
        sa.Column("customer_status", sa.String(length=16), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_contacts")),
    )
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.create_index(
            "ix_contacts_tenant_account",
            ["tenant_id", "account_id", "name_key", "id"],
            unique=False,
        )
        batch_op.create_index(
            "ix_contacts_tenant_creator", ["tenant_id", "created_by"], unique=False
        )
        batch_op.create_index(
            "ix_contacts_tenant_customer",
            ["tenant_id", "customer_status", "name_key", "id"],
            unique=False,
        )
        batch_op.create_index("ix_contacts_tenant_email", ["tenant_id", "email_key"], unique=False)
        batch_op.create_index(
            "ix_contacts_tenant_name", ["tenant_id", "name_key", "id"], unique=False
        )
        batch_op.create_index(
            "ix_contacts_tenant_prospect",
            ["tenant_id", "prospect_status", "name_key", "id"],
            unique=False,
        )

    op.create_table(
        "history",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("subject_kind", sa.String(length=16), nullable=False),
        sa.Column("subject_id", sa.String(length=200), nullable=False),
        sa.Column("account_id", sa.String(length=64), nullable=True),
        sa.Column("event_name", sa.String(length=64), nullable=False),
        sa.Column("actor_id", sa.String(length=200), nullable=True),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_history")),
    )
    with op.batch_alter_table("history", schema=None) as batch_op:
        batch_op.create_index("ix_history_account", ["tenant_id", "account_id", "id"], unique=False)
        batch_op.create_index(
            "ix_history_subject", ["tenant_id", "subject_kind", "subject_id", "id"], unique=False
        )

    op.create_table(
        "leads",
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("title_key", sa.String(length=200), nullable=False),
        sa.Column("owner_id", sa.String(length=200), nullable=False),
        sa.Column("pipeline_id", sa.String(length=64), nullable=False),
        sa.Column("stage_id", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.String(length=64), nullable=True),
        sa.Column("contact_id", sa.String(length=64), nullable=True),
        sa.Column("participants", sa.JSON(), nullable=False),
        sa.Column("follower_ids", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("lost_reason", sa.String(length=500), nullable=True),
        sa.Column("amount_cents", sa.BigInteger(), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("close_date", sa.Date(), nullable=True),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("custom_fields", sa.JSON(), nullable=False),
        sa.Column("origin_lead_id", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_activity_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_leads")),
        sa.UniqueConstraint("tenant_id", "number", name=op.f("uq_leads_tenant_id_number")),
    )
    with op.batch_alter_table("leads", schema=None) as batch_op:
        batch_op.create_index(
            "ix_leads_tenant_account", ["tenant_id", "account_id", "number"], unique=False
        )
        batch_op.create_index(
            "ix_leads_tenant_activity",
            ["tenant_id", "status", "last_activity_at", "id"],
            unique=False,
        )
        batch_op.create_index("ix_leads_tenant_contact", ["tenant_id", "contact_id"], unique=False)
        batch_op.create_index(
            "ix_leads_tenant_owner", ["tenant_id", "owner_id", "number"], unique=False
        )
        batch_op.create_index(
            "ix_leads_tenant_pipeline", ["tenant_id", "pipeline_id", "number"], unique=False
        )
        batch_op.create_index(
            "ix_leads_tenant_stage", ["tenant_id", "stage_id", "number"], unique=False
        )
        batch_op.create_index(
            "ix_leads_tenant_status", ["tenant_id", "status", "number"], unique=False
        )
        batch_op.create_index(
            "ix_leads_tenant_summary",
            ["tenant_id", "pipeline_id", "status", "stage_id", "currency", "amount_cents"],
            unique=False,
        )
        batch_op.create_index(
            "ix_leads_tenant_title", ["tenant_id", "title_key", "number"], unique=False
        )

    op.create_table(
        "outbox",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("event_name", sa.String(length=64), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("available_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("locked_by", sa.String(length=100), nullable=True),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
    )
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.create_index("ix_outbox_ready", ["status", "available_at", "id"], unique=False)

    op.create_table(
        "pipelines",
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("is_default", sa.Boolean(), nullable=False),
        sa.Column("stages", sa.JSON(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_pipelines")),
    )
    op.create_table(
        "tenant_settings",
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("other_label", sa.String(length=100), nullable=False),
        sa.Column("default_currency", sa.String(length=3), nullable=False),
        sa.Column("characteristics", sa.JSON(), nullable=False),
        sa.Column("interest_areas", sa.JSON(), nullable=False),
        sa.Column("custom_fields", sa.JSON(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", name=op.f("pk_tenant_settings")),
    )
    op.create_table(
        "users",
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("id", sa.String(length=200), nullable=False),
        sa.Column("display_name", sa.String(length=200), nullable=False),
        sa.Column("name_key", sa.String(length=200), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=True),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("manager_id", sa.String(length=200), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_users")),
    )
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.create_index("ix_users_tenant_manager", ["tenant_id", "manager_id"], unique=False)
        batch_op.create_index("ix_users_tenant_name", ["tenant_id", "name_key", "id"], unique=False)
        batch_op.create_index("ix_users_tenant_role", ["tenant_id", "role"], unique=False)

    op.create_table(
        "account_labels",
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("value", sa.String(length=200), nullable=False),
        sa.Column("name_key", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id", "account_id"],
            ["accounts.tenant_id", "accounts.id"],
            name=op.f("fk_account_labels_tenant_id_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "tenant_id", "account_id", "kind", "value", name=op.f("pk_account_labels")
        ),
    )
    with op.batch_alter_table("account_labels", schema=None) as batch_op:
        batch_op.create_index(
            "ix_account_labels_lookup",
            ["tenant_id", "kind", "value", "name_key", "account_id"],
            unique=False,
        )

    op.create_table(
        "comments",
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("lead_id", sa.String(length=64), nullable=False),
        sa.Column("author_id", sa.String(length=200), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("mentions", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id", "lead_id"],
            ["leads.tenant_id", "leads.id"],
            name=op.f("fk_comments_tenant_id_lead_id_leads"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_comments")),
    )
    with op.batch_alter_table("comments", schema=None) as batch_op:
        batch_op.create_index(
            "ix_comments_tenant_lead", ["tenant_id", "lead_id", "created_at"], unique=False
        )

    op.create_table(
        "contact_tags",
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("contact_id", sa.String(length=64), nullable=False),
        sa.Column("tag", sa.String(length=50), nullable=False),
        sa.Column("name_key", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id", "contact_id"],
            ["contacts.tenant_id", "contacts.id"],
            name=op.f("fk_contact_tags_tenant_id_contact_id_contacts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "contact_id", "tag", name=op.f("pk_contact_tags")),
    )
    with op.batch_alter_table("contact_tags", schema=None) as batch_op:
        batch_op.create_index(
            "ix_contact_tags_lookup", ["tenant_id", "tag", "name_key", "contact_id"], unique=False
        )

    op.create_table(
        "lead_followers",
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("lead_id", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.String(length=200), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id", "lead_id"],
            ["leads.tenant_id", "leads.id"],
            name=op.f("fk_lead_followers_tenant_id_lead_id_leads"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "lead_id", "user_id", name=op.f("pk_lead_followers")),
    )
    with op.batch_alter_table("lead_followers", schema=None) as batch_op:
        batch_op.create_index(
            "ix_lead_followers_user", ["tenant_id", "user_id", "number"], unique=False
        )

    op.create_table(
        "lead_participants",
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("lead_id", sa.String(length=64), nullable=False),
        sa.Column("contact_id", sa.String(length=64), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id", "lead_id"],
            ["leads.tenant_id", "leads.id"],
            name=op.f("fk_lead_participants_tenant_id_lead_id_leads"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "tenant_id", "lead_id", "contact_id", name=op.f("pk_lead_participants")
        ),
    )
    with op.batch_alter_table("lead_participants", schema=None) as batch_op:
        batch_op.create_index(
            "ix_lead_participants_contact", ["tenant_id", "contact_id", "number"], unique=False
        )

    op.create_table(
        "lead_tags",
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("lead_id", sa.String(length=64), nullable=False),
        sa.Column("tag", sa.String(length=50), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id", "lead_id"],
            ["leads.tenant_id", "leads.id"],
            name=op.f("fk_lead_tags_tenant_id_lead_id_leads"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "lead_id", "tag", name=op.f("pk_lead_tags")),
    )
    with op.batch_alter_table("lead_tags", schema=None) as batch_op:
        batch_op.create_index("ix_lead_tags_tag", ["tenant_id", "tag", "number"], unique=False)

    op.create_table(
        "reminders",
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("lead_id", sa.String(length=64), nullable=False),
        sa.Column("assignee_id", sa.String(length=200), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("text", sa.String(length=500), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=True),
        sa.Column("done", sa.Boolean(), nullable=False),
        sa.Column("notified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id", "lead_id"],
            ["leads.tenant_id", "leads.id"],
            name=op.f("fk_reminders_tenant_id_lead_id_leads"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_reminders")),
    )
    with op.batch_alter_table("reminders", schema=None) as batch_op:
        batch_op.create_index("ix_reminders_due", ["done", "due_at"], unique=False)
        batch_op.create_index("ix_reminders_tenant_lead", ["tenant_id", "lead_id"], unique=False)


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("reminders", schema=None) as batch_op:
        batch_op.drop_index("ix_reminders_tenant_lead")
        batch_op.drop_index("ix_reminders_due")

    op.drop_table("reminders")
    with op.batch_alter_table("lead_tags", schema=None) as batch_op:
        batch_op.drop_index("ix_lead_tags_tag")

    op.drop_table("lead_tags")
    with op.batch_alter_table("lead_participants", schema=None) as batch_op:
        batch_op.drop_index("ix_lead_participants_contact")

    op.drop_table("lead_participants")
    with op.batch_alter_table("lead_followers", schema=None) as batch_op:
        batch_op.drop_index("ix_lead_followers_user")

    op.drop_table("lead_followers")
    with op.batch_alter_table("contact_tags", schema=None) as batch_op:
        batch_op.drop_index("ix_contact_tags_lookup")

    op.drop_table("contact_tags")
    with op.batch_alter_table("comments", schema=None) as batch_op:
        batch_op.drop_index("ix_comments_tenant_lead")

    op.drop_table("comments")
    with op.batch_alter_table("account_labels", schema=None) as batch_op:
        batch_op.drop_index("ix_account_labels_lookup")

    op.drop_table("account_labels")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_index("ix_users_tenant_role")
        batch_op.drop_index("ix_users_tenant_name")
        batch_op.drop_index("ix_users_tenant_manager")

    op.drop_table("users")
    op.drop_table("tenant_settings")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_ready")

    op.drop_table("outbox")
    op.drop_table("pipelines")
    with op.batch_alter_table("leads", schema=None) as batch_op:
        batch_op.drop_index("ix_leads_tenant_title")
        batch_op.drop_index("ix_leads_tenant_summary")
        batch_op.drop_index("ix_leads_tenant_status")
        batch_op.drop_index("ix_leads_tenant_stage")
        batch_op.drop_index("ix_leads_tenant_pipeline")
        batch_op.drop_index("ix_leads_tenant_owner")
        batch_op.drop_index("ix_leads_tenant_contact")
        batch_op.drop_index("ix_leads_tenant_activity")
        batch_op.drop_index("ix_leads_tenant_account")

    op.drop_table("leads")
    with op.batch_alter_table("history", schema=None) as batch_op:
        batch_op.drop_index("ix_history_subject")
        batch_op.drop_index("ix_history_account")

    op.drop_table("history")
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.drop_index("ix_contacts_tenant_prospect")
        batch_op.drop_index("ix_contacts_tenant_name")
        batch_op.drop_index("ix_contacts_tenant_email")
        batch_op.drop_index("ix_contacts_tenant_customer")
        batch_op.drop_index("ix_contacts_tenant_creator")
        batch_op.drop_index("ix_contacts_tenant_account")

    op.drop_table("contacts")
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.drop_index("ix_accounts_tenant_name")
        batch_op.drop_index("ix_accounts_tenant_classification")

    op.drop_table("accounts")
