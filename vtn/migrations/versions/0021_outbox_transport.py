"""notifications by transport: each outbox row names its transport (webhook, mqtt) and, for MQTT, its topics.

Existing rows are webhooks. One MQTT row carries every topic a change is published to (a JSON list), so a
fan-out to 10 000 VEN topics is one row, one claim and one outcome.

Revision ID: 0021
Revises: 0020
"""
from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None

String = sqlmodel.sql.sqltypes.AutoString


def upgrade() -> None:
    with op.batch_alter_table("notification_outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("transport", String(length=16), nullable=False, server_default="webhook"))
        batch_op.add_column(sa.Column("topics", sa.Text(), nullable=True))


def downgrade() -> None:
    op.execute("DELETE FROM notification_outbox WHERE transport <> 'webhook'")
    with op.batch_alter_table("notification_outbox", schema=None) as batch_op:
        batch_op.drop_column("topics")
        batch_op.drop_column("transport")
