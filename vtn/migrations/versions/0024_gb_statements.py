"""gb_statement, gb_statement_decision (append-only) and gb_statement_charges: monthly statements.

Revision ID: 0024
Revises: 0019 (assigned down_revision 0016; chained after h-ops-b's 0019, which follows h-ops-a's 0018b, so the
branch has one head — the integrator re-chains it after the last migration)
"""
from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

import vtn.core.database
from vtn.migrations.append_only import create_triggers, drop_triggers

revision = "0024"
down_revision = "0021"
branch_labels = None
depends_on = None

String = sqlmodel.sql.sqltypes.AutoString
Time = vtn.core.database.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "gb_statement",
        sa.Column("id", String(length=64), primary_key=True),
        sa.Column("operator", String(length=64), nullable=False),
        sa.Column("fsp", String(length=128), nullable=False),
        sa.Column("month", String(length=7), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("kind", String(length=12), nullable=False),
        sa.Column("reason", String(length=200), nullable=False),
        sa.Column("issued_at", Time(timezone=True), nullable=False),
        sa.Column("issued_by", String(length=200), nullable=False),
        sa.Column("total_pence", sa.BigInteger(), nullable=False),
        sa.Column("digest", String(length=64), nullable=False),
        sa.Column("document", vtn.core.database.JSONDoc(), nullable=False),
        sa.UniqueConstraint("operator", "fsp", "month", "version", name="uq_gb_statement"),
    )
    op.create_index("ix_gb_statement_month", "gb_statement", ["operator", "month"])
    op.create_table(
        "gb_statement_decision",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("statement_id", String(length=64), nullable=False),
        sa.Column("operator", String(length=64), nullable=False),
        sa.Column("fsp", String(length=128), nullable=False),
        sa.Column("decision", String(length=8), nullable=False),
        sa.Column("reason", String(length=1000), nullable=False),
        sa.Column("decided_by", String(length=200), nullable=False),
        sa.Column("decided_at", Time(timezone=True), nullable=False),
        sa.UniqueConstraint("statement_id", name="uq_gb_statement_decision"),
    )
    op.create_table(
        "gb_statement_charges",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("operator", String(length=64), nullable=False),
        sa.Column("program_id", String(length=128), nullable=False),
        sa.Column("monthly_fee_pence", sa.Integer(), nullable=False),
        sa.Column("late_ack_penalty_pence", sa.Integer(), nullable=False),
        sa.Column("updated_at", Time(timezone=True), nullable=False),
        sa.Column("updated_by", String(length=200), nullable=False),
        sa.UniqueConstraint("operator", "program_id", name="uq_gb_statement_charges"),
    )
    create_triggers("gb_statement")
    create_triggers("gb_statement_decision")


def downgrade() -> None:
    drop_triggers("gb_statement_decision")
    drop_triggers("gb_statement")
    op.drop_table("gb_statement_charges")
    op.drop_table("gb_statement_decision")
    op.drop_index("ix_gb_statement_month", table_name="gb_statement")
    op.drop_table("gb_statement")
