"""operator tenancy: every object, client, console account and heartbeat belongs to one operator.

One VTN can host several network operators; each is a VTN of its own to its clients. Names that the
spec makes unique per VTN (programName, venName) become unique per operator. Existing rows belong
to the default operator (''), so a single-operator install needs no flag. Subscriptions remember the
client that created them: only that client is shown their webhook bearer tokens.

Revision ID: 0008
Revises: 0007
"""
from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

TENANT_TABLES = (
    "program", "event", "report", "subscription", "ven", "resource", "auth_client", "console_user",
    "client_heartbeat", "notification_outbox",
)


def _operator_column() -> sa.Column:  # type: ignore[type-arg]
    return sa.Column("operator", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False, server_default="")


def upgrade() -> None:
    for table in TENANT_TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(_operator_column())
    with op.batch_alter_table("program", schema=None) as batch_op:
        batch_op.drop_constraint("uq_program_program_name", type_="unique")
        batch_op.create_unique_constraint("uq_program_operator_name", ["operator", "program_name"])
    with op.batch_alter_table("ven", schema=None) as batch_op:
        batch_op.drop_constraint("uq_ven_ven_name", type_="unique")
        batch_op.create_unique_constraint("uq_ven_operator_name", ["operator", "ven_name"])
    with op.batch_alter_table("subscription", schema=None) as batch_op:
        batch_op.add_column(sa.Column("owner_client_id", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("subscription", schema=None) as batch_op:
        batch_op.drop_column("owner_client_id")
    with op.batch_alter_table("ven", schema=None) as batch_op:
        batch_op.drop_constraint("uq_ven_operator_name", type_="unique")
        batch_op.create_unique_constraint("uq_ven_ven_name", ["ven_name"])
    with op.batch_alter_table("program", schema=None) as batch_op:
        batch_op.drop_constraint("uq_program_operator_name", type_="unique")
        batch_op.create_unique_constraint("uq_program_program_name", ["program_name"])
    for table in reversed(TENANT_TABLES):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column("operator")
