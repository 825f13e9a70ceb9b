"""gb_fsp_key: FSP public keys the network operator registered; acknowledgements and reports are verified with them.

Revision ID: 0014
Revises: 0012
"""
from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

import vtn.core.database

revision = "0014"
down_revision = "0012"
branch_labels = None
depends_on = None

String = sqlmodel.sql.sqltypes.AutoString


def upgrade() -> None:
    op.create_table(
        "gb_fsp_key",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("operator", String(length=64), nullable=False),
        sa.Column("ven_name", String(length=128), nullable=False),
        sa.Column("kid", String(length=128), nullable=False),
        sa.Column("jwk", vtn.core.database.JSONDoc(), nullable=False),
        sa.Column("created_at", vtn.core.database.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_by", String(length=200), nullable=False),
        sa.UniqueConstraint("operator", "ven_name", "kid", name="uq_gb_fsp_key"),
    )


def downgrade() -> None:
    op.drop_table("gb_fsp_key")
