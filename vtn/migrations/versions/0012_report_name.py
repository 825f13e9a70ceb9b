"""report.report_name: reports found by their reportName (e.g. the GB profile's emergency stops).

The board and `POST /events` look up every `GB_EMERGENCY_STOP` report; without the column that would be a
scan of every report document (readings included). Names longer than the column stay NULL: no
name the VTN looks up is that long.

Revision ID: 0012
Revises: 0007
"""
from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0012"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("report", schema=None) as batch_op:
        batch_op.add_column(sa.Column("report_name", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=True))
    if op.get_bind().dialect.name == "postgresql":
        op.execute("UPDATE report SET report_name = document->>'reportName' "
                   "WHERE length(document->>'reportName') <= 128")
    else:
        op.execute("UPDATE report SET report_name = json_extract(document, '$.reportName') "
                   "WHERE length(json_extract(document, '$.reportName')) <= 128")
    with op.batch_alter_table("report", schema=None) as batch_op:
        batch_op.create_index("ix_report_name", ["report_name", "created_at", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("report", schema=None) as batch_op:
        batch_op.drop_index("ix_report_name")
        batch_op.drop_column("report_name")
