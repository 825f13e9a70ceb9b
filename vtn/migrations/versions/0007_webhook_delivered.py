"""webhook_delivered: when each subscription's webhook was last answered 2xx.

Delivered notifications leave the outbox, so without this the operator could see failures but
never the last successful delivery to a push VEN.

Revision ID: 0007
Revises: 0006
"""
from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

import vtn.core.database

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "webhook_delivered",
        sa.Column("subscription_id", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("last_delivered_at", vtn.core.database.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("subscription_id", name=op.f("pk_webhook_delivered")),
    )


def downgrade() -> None:
    op.drop_table("webhook_delivered")
