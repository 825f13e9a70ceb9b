"""OpenADR 3.1.0 beside 3.0.1: an `extra` JSON column on every object table, optional subscription programID.

`extra` holds what only 3.1.0 can say (openadr3.convert, docs/openadr-3.1.md); the 3.0.1 document is unchanged.
A 3.1.0 subscription need not name a program, so subscription.program_id becomes nullable.

Revision ID: 0020
Revises: 0016
"""
from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

import vtn.core.database

revision = "0020"
down_revision = "0018b"
branch_labels = None
depends_on = None

TABLES = ("program", "event", "report", "subscription", "ven", "resource")


def upgrade() -> None:
    for table in TABLES:
        # not batch mode: copying `program` or `ven` fails on the foreign keys pointing at them (0016)
        op.add_column(table, sa.Column("extra", vtn.core.database.JSONDoc(), nullable=True))
    with op.batch_alter_table("subscription", schema=None) as batch_op:
        batch_op.alter_column("program_id", existing_type=sqlmodel.sql.sqltypes.AutoString(length=128), nullable=True)


def downgrade() -> None:
    op.execute("DELETE FROM subscription WHERE program_id IS NULL")
    with op.batch_alter_table("subscription", schema=None) as batch_op:
        batch_op.alter_column("program_id", existing_type=sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False)
    for table in TABLES:
        op.drop_column(table, "extra")  # not batch mode (see upgrade); SQLite has DROP COLUMN since 3.35
