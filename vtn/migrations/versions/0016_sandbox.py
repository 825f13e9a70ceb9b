"""sandbox to live: VEN clients get a stage, programs and events a sandbox mark, and the sign-off table.

Existing clients stay `live` (nothing changes for them). Existing programs whose name marks them sandbox
(vtn.programs.models.is_sandbox_name: the console's NGED-OU_2MIN-SANDBOX) and their events are marked.

Revision ID: 0016
Revises: 0015
"""
from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

import vtn.core.database

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

String = sqlmodel.sql.sqltypes.AutoString
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("auth_client", schema=None) as batch_op:
        batch_op.add_column(sa.Column("stage", String(length=16), nullable=False, server_default="live"))
    # A plain-text default on SQLite: an expression default makes batch mode copy the table, and dropping `program`
    # then fails on the foreign keys of its events (PRAGMA foreign_keys is on).
    false = "0" if op.get_bind().dialect.name == "sqlite" else sa.false()
    for table in ("program", "event"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("sandbox", sa.Boolean(), nullable=False, server_default=false))
    _mark_sandbox_programs()
    op.create_table(
        "signoff",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("operator", String(length=64), nullable=False),
        sa.Column("client_id", String(length=128), nullable=False),
        sa.Column("report", vtn.core.database.JSONDoc(), nullable=False),
        sa.Column("submitted_by", String(length=200), nullable=False),
        sa.Column("submitted_at", vtn.core.database.UTCDateTime(timezone=True), nullable=False),
        sa.Column("approved_by", String(length=200), nullable=True),
        sa.Column("approved_at", vtn.core.database.UTCDateTime(timezone=True), nullable=True),
        sa.Column("decision", String(length=16), nullable=True),
        sa.Column("reason", String(length=1000), nullable=True),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_signoff_pending", "signoff", ["operator", "decision", "id"])


def _mark_sandbox_programs() -> None:
    from vtn.programs.models import is_sandbox_name  # the same rule the service applies on writes

    bind = op.get_bind()
    program = sa.table("program", sa.column("id", sa.String), sa.column("program_name", sa.String),
                       sa.column("sandbox", sa.Boolean))
    event = sa.table("event", sa.column("program_id", sa.String), sa.column("sandbox", sa.Boolean))
    ids = [row.id for row in bind.execute(sa.select(program.c.id, program.c.program_name)
                                          .where(program.c.program_name.like("%-SANDBOX%")))
           if is_sandbox_name(row.program_name)]
    if ids:
        bind.execute(program.update().where(program.c.id.in_(ids)).values(sandbox=True))
        bind.execute(event.update().where(event.c.program_id.in_(ids)).values(sandbox=True))


def downgrade() -> None:
    op.drop_index("ix_signoff_pending", table_name="signoff")
    op.drop_table("signoff")
    for table in ("event", "program"):
        # not batch mode: copying `program` fails on its events' foreign keys (SQLite has DROP COLUMN since 3.35)
        op.drop_column(table, "sandbox")
    with op.batch_alter_table("auth_client", schema=None) as batch_op:
        batch_op.drop_column("stage")
