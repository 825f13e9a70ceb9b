"""gb_acceptance (declared windows and the operator's answers) and gb_ack_alarm (overdue acknowledgements).

Revision ID: 0018b
Revises: 0018
"""
from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

import vtn.core.database

revision = "0018b"
down_revision = "0018"
branch_labels = None
depends_on = None

String = sqlmodel.sql.sqltypes.AutoString
When = vtn.core.database.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "gb_acceptance",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("operator", String(length=64), nullable=False),
        sa.Column("program_id", String(length=128), nullable=False),
        sa.Column("report_id", String(length=128), nullable=False),
        sa.Column("ven_name", String(length=128), nullable=False),
        sa.Column("unit", String(length=128), nullable=False),
        sa.Column("week", String(length=10), nullable=False),
        sa.Column("start", When(timezone=True), nullable=False),
        sa.Column("end", When(timezone=True), nullable=False),
        sa.Column("direction", String(length=16), nullable=False),
        sa.Column("declared_kw", sa.Float(), nullable=False),
        sa.Column("bid_price", sa.Float(), nullable=True),
        sa.Column("status", String(length=8), nullable=False),
        sa.Column("accepted_kw", sa.Float(), nullable=True),
        sa.Column("awarded_price", sa.Float(), nullable=True),
        sa.Column("reason", String(length=1000), nullable=True),
        sa.Column("entered_by", String(length=200), nullable=False),
        sa.Column("operator_entered", sa.Boolean(), nullable=False),
        sa.Column("created_at", When(timezone=True), nullable=False),
        sa.Column("decided_by", String(length=200), nullable=True),
        sa.Column("decided_at", When(timezone=True), nullable=True),
        sa.Column("event_id", String(length=128), nullable=True),
    )
    op.create_index("ix_gb_acceptance_week", "gb_acceptance", ["operator", "program_id", "week", "ven_name"])
    op.create_index("ix_gb_acceptance_unit", "gb_acceptance", ["operator", "ven_name", "unit", "start"])
    op.create_index("ix_gb_acceptance_report", "gb_acceptance", ["report_id"])
    op.create_table(
        "gb_ack_alarm",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("operator", String(length=64), nullable=False),
        sa.Column("program_id", String(length=128), nullable=False),
        sa.Column("event_id", String(length=128), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("ven_name", String(length=128), nullable=False),
        sa.Column("unit", String(length=128), nullable=False),
        sa.Column("deadline", When(timezone=True), nullable=False),
        sa.Column("raised_at", When(timezone=True), nullable=False),
        sa.Column("cleared_at", When(timezone=True), nullable=True),
        sa.UniqueConstraint("event_id", "revision", "unit", name="uq_gb_ack_alarm"),
    )


def downgrade() -> None:
    op.drop_table("gb_ack_alarm")
    op.drop_index("ix_gb_acceptance_report", table_name="gb_acceptance")
    op.drop_index("ix_gb_acceptance_unit", table_name="gb_acceptance")
    op.drop_index("ix_gb_acceptance_week", table_name="gb_acceptance")
    op.drop_table("gb_acceptance")
