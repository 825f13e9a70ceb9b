"""gb_contract_terms: contract terms per program and dispatch unit, stored as data (docs/gb-profile.md §2.1).

Revision ID: 0018
Revises: 0016
"""
from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

import vtn.core.database

revision = "0018"
down_revision = "0016"
branch_labels = None
depends_on = None

String = sqlmodel.sql.sqltypes.AutoString
When = vtn.core.database.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "gb_contract_terms",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("operator", String(length=64), nullable=False),
        sa.Column("program_id", String(length=128), nullable=False),
        sa.Column("unit", String(length=128), nullable=False),
        sa.Column("contract_id", String(length=128), nullable=True),
        sa.Column("ven_name", String(length=128), nullable=True),
        sa.Column("availability_price", sa.Float(), nullable=True),
        sa.Column("utilisation_price", sa.Float(), nullable=True),
        sa.Column("notice_minutes", sa.Integer(), nullable=True),
        sa.Column("min_run_minutes", sa.Integer(), nullable=True),
        sa.Column("max_run_minutes", sa.Integer(), nullable=True),
        sa.Column("max_weekly_run_minutes", sa.Integer(), nullable=True),
        sa.Column("min_capacity_kw", sa.Float(), nullable=True),
        sa.Column("max_capacity_kw", sa.Float(), nullable=True),
        sa.Column("ack_period_seconds", sa.Integer(), nullable=True),
        sa.Column("valid_from", When(timezone=True), nullable=True),
        sa.Column("valid_to", When(timezone=True), nullable=True),
        sa.Column("cutoff_weekday", sa.Integer(), nullable=True),
        sa.Column("cutoff_minute", sa.Integer(), nullable=True),
        sa.Column("cutoff_weeks_before", sa.Integer(), nullable=True),
        sa.Column("declaration_window_days", sa.Integer(), nullable=True),
        sa.Column("acceptance_mode", String(length=8), nullable=True),
        sa.Column("auction", sa.Boolean(), nullable=True),
        sa.Column("operator_managed", sa.Boolean(), nullable=True),
        sa.Column("outside_windows", String(length=8), nullable=True),
        sa.Column("rag_green_percent", sa.Float(), nullable=True),
        sa.Column("rag_amber_percent", sa.Float(), nullable=True),
        sa.Column("terms_url", String(length=2000), nullable=True),
        sa.Column("updated_at", When(timezone=True), nullable=False),
        sa.Column("updated_by", String(length=200), nullable=False),
        sa.UniqueConstraint("operator", "program_id", "unit", name="uq_gb_contract_terms"),
    )


def downgrade() -> None:
    op.drop_table("gb_contract_terms")
