"""audit_log: the append-only audit trail; triggers refuse UPDATE and DELETE on both databases.

A later migration that recreates this table on SQLite (batch mode) must create the triggers again.

Revision ID: 0010
Revises: 0007
"""
from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

import vtn.core.database
from vtn.migrations.append_only import create_triggers, drop_triggers

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
String = sqlmodel.sql.sqltypes.AutoString
UTC = vtn.core.database.UTCDateTime



def upgrade() -> None:
    op.create_table(
        "audit_log",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("at", UTC(timezone=True), nullable=False),
        sa.Column("actor", String(length=200), nullable=False),
        sa.Column("actor_role", String(length=16), nullable=False),
        sa.Column("action", String(length=64), nullable=False),
        sa.Column("object_type", String(length=32), nullable=False),
        sa.Column("object_id", String(length=200), nullable=True),
        sa.Column("outcome", String(length=16), nullable=False),
        sa.Column("detail", vtn.core.database.JSONDoc(), nullable=True),
        sa.Column("operator", String(length=64), nullable=False, server_default=""),
        sa.CheckConstraint("outcome IN ('success', 'failure', 'refused')", name=op.f("ck_audit_log_outcome")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.create_index("ix_audit_log_actor", ["actor", "id"], unique=False)
        batch_op.create_index("ix_audit_log_action", ["action", "id"], unique=False)
        batch_op.create_index("ix_audit_log_object", ["object_id", "id"], unique=False)
        batch_op.create_index("ix_audit_log_at", ["at"], unique=False)
        batch_op.create_index("ix_audit_log_operator", ["operator", "id"], unique=False)
    create_triggers("audit_log")


def downgrade() -> None:
    drop_triggers("audit_log")
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_log_at")
        batch_op.drop_index("ix_audit_log_object")
        batch_op.drop_index("ix_audit_log_action")
        batch_op.drop_index("ix_audit_log_actor")
    op.drop_table("audit_log")
