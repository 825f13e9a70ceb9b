"""gb_reading, gb_unit_baseline, gb_delivery_report: versioned meter data, unit baselines, per-event delivery reports.

Revision ID: 0019
Revises: 0018b (assigned 0016; chained after ops-a's 0018 and 0018b, merged into this branch from main)
"""
from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

import vtn.core.database

revision = "0019"
down_revision = "0018b"
branch_labels = None
depends_on = None

String = sqlmodel.sql.sqltypes.AutoString
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Time = vtn.core.database.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "gb_reading",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("operator", String(length=64), nullable=False),
        sa.Column("fsp", String(length=128), nullable=False),
        sa.Column("unit", String(length=128), nullable=False),
        sa.Column("kind", String(length=16), nullable=False),
        sa.Column("start", Time(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("quality", String(length=16), nullable=True),
        sa.Column("report_id", String(length=128), nullable=False),
        sa.Column("received_at", Time(timezone=True), nullable=False),
        sa.UniqueConstraint("operator", "unit", "kind", "start", "version", name="uq_gb_reading"),
    )
    op.create_index("ix_gb_reading_unit", "gb_reading", ["operator", "unit", "start"])
    op.create_index("ix_gb_reading_fsp", "gb_reading", ["operator", "fsp", "received_at"])
    op.create_table(
        "gb_unit_baseline",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("operator", String(length=64), nullable=False),
        sa.Column("unit", String(length=128), nullable=False),
        sa.Column("method", String(length=16), nullable=False),
        sa.Column("spec", vtn.core.database.JSONDoc(), nullable=False),
        sa.Column("updated_at", Time(timezone=True), nullable=False),
        sa.Column("updated_by", String(length=200), nullable=False),
        sa.UniqueConstraint("operator", "unit", name="uq_gb_unit_baseline"),
    )
    op.create_table(
        "gb_delivery_report",
        sa.Column("id", String(length=64), primary_key=True),
        sa.Column("operator", String(length=64), nullable=False),
        sa.Column("program_id", String(length=128), nullable=False),
        sa.Column("event_id", String(length=128), nullable=False),
        sa.Column("fsp", String(length=128), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("latest", sa.Boolean(), nullable=False),
        sa.Column("stale", sa.Boolean(), nullable=False),
        sa.Column("reason", String(length=200), nullable=False),
        sa.Column("window_start", Time(timezone=True), nullable=False),
        sa.Column("window_end", Time(timezone=True), nullable=False),
        sa.Column("issued_at", Time(timezone=True), nullable=False),
        sa.Column("document", vtn.core.database.JSONDoc(), nullable=False),
        sa.Column("baseline", vtn.core.database.JSONDoc(), nullable=False),
        sa.UniqueConstraint("event_id", "version", name="uq_gb_delivery_report"),
    )
    op.create_index("ix_gb_delivery_report_fsp", "gb_delivery_report", ["operator", "fsp", "issued_at"])
    op.create_index("ix_gb_delivery_report_window", "gb_delivery_report", ["operator", "window_end"])


def downgrade() -> None:
    op.drop_index("ix_gb_delivery_report_window", table_name="gb_delivery_report")
    op.drop_index("ix_gb_delivery_report_fsp", table_name="gb_delivery_report")
    op.drop_table("gb_delivery_report")
    op.drop_table("gb_unit_baseline")
    op.drop_index("ix_gb_reading_fsp", table_name="gb_reading")
    op.drop_index("ix_gb_reading_unit", table_name="gb_reading")
    op.drop_table("gb_reading")
