"""notifications: outbox, webhook signing key, change revision, client heartbeat.

Revision ID: 0003
Revises: 0002
"""
from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

import vtn.core.database

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
String = sqlmodel.sql.sqltypes.AutoString
UTC = vtn.core.database.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "notification_outbox",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("message_id", String(length=64), nullable=False),
        sa.Column("subscription_id", String(length=128), nullable=False),
        sa.Column("callback_key", String(length=64), nullable=False),
        sa.Column("callback_url", sa.Text(), nullable=False),
        sa.Column("bearer_token", sa.Text(), nullable=True),
        sa.Column("object_type", String(length=16), nullable=False),
        sa.Column("operation", String(length=8), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("status", String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", UTC(timezone=True), nullable=False),
        sa.Column("next_attempt_at", UTC(timezone=True), nullable=False),
        sa.Column("lease_until", UTC(timezone=True), nullable=True),
        sa.Column("last_attempt_at", UTC(timezone=True), nullable=True),
        sa.Column("last_status", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notification_outbox")),
    )
    with op.batch_alter_table("notification_outbox", schema=None) as batch_op:
        batch_op.create_index("ix_notification_outbox_status", ["status", "next_attempt_at", "id"], unique=False)
        batch_op.create_index("ix_notification_outbox_callback", ["callback_key", "id"], unique=False)
    op.create_table(
        "webhook_signing_key",
        sa.Column("kid", String(length=64), nullable=False),
        sa.Column("private_key", String(length=128), nullable=False),
        sa.Column("created_at", UTC(timezone=True), nullable=False),
        sa.Column("retired_at", UTC(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("kid", name=op.f("pk_webhook_signing_key")),
    )
    op.create_table(
        "change_revision",
        sa.Column("name", String(length=32), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_change_revision")),
    )
    op.create_table(
        "client_heartbeat",
        sa.Column("client_id", String(length=128), nullable=False),
        sa.Column("ven_name", String(length=128), nullable=True),
        sa.Column("last_seen", UTC(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("client_id", name=op.f("pk_client_heartbeat")),
    )


def downgrade() -> None:
    op.drop_table("client_heartbeat")
    op.drop_table("change_revision")
    op.drop_table("webhook_signing_key")
    with op.batch_alter_table("notification_outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_notification_outbox_callback")
        batch_op.drop_index("ix_notification_outbox_status")
    op.drop_table("notification_outbox")
