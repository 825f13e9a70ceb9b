"""GB contract terms: how a dispatch against the run-time and notice terms is answered; an index for the
acknowledgement-deadline check's lookback; the report publishing an overdue-acknowledgement alarm (issue 16).

`gb_contract_terms.run_terms`: OFF | WARN | REFUSE (NULL: inherited, default WARN). `ix_event_operator_modified`
on event (operator, modified_at): the background check reads only dispatches written within the operator's longest
ack period plus a margin (vtn.contracts.acks.check_lookback). `gb_ack_alarm.report_id`: the GB_ACK_OVERDUE report.

Revision ID: 0025
Revises: 0020
"""
from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("gb_contract_terms", schema=None) as batch_op:
        batch_op.add_column(sa.Column("run_terms", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=True))
    with op.batch_alter_table("gb_ack_alarm", schema=None) as batch_op:
        batch_op.add_column(sa.Column("report_id", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=True))
    op.create_index("ix_event_operator_modified", "event", ["operator", "modified_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_event_operator_modified", table_name="event")
    with op.batch_alter_table("gb_ack_alarm", schema=None) as batch_op:
        batch_op.drop_column("report_id")
    with op.batch_alter_table("gb_contract_terms", schema=None) as batch_op:
        batch_op.drop_column("run_terms")
