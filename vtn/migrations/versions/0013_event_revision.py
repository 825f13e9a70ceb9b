"""event_revision: every version of a GB program's event, append-only (triggers refuse UPDATE and DELETE).

Events of GB programs stored before this revision get one row each: the event as it is now, actor `-`
(unknown). A later migration that recreates this table on SQLite (batch mode) must create the triggers again.

Revision ID: 0013
Revises: 0012
"""
from __future__ import annotations

from typing import Any

import sqlalchemy as sa
import sqlmodel
from alembic import op

import vtn.core.database
from vtn.migrations.append_only import create_triggers, drop_triggers

revision = "0013"
down_revision = "0014"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
String = sqlmodel.sql.sqltypes.AutoString
UTC = vtn.core.database.UTCDateTime
JSON = vtn.core.database.JSONDoc



def _metadata(document: dict[str, Any]) -> dict[str, list[Any]]:
    """Interval 0's payloads (GB dispatches keep their revision and signature there), by type."""
    for interval in document.get("intervals") or ():
        if isinstance(interval, dict) and interval.get("id") == 0:
            return {p.get("type"): p.get("values") or [] for p in interval.get("payloads") or () if isinstance(p, dict)}
    return {}


def _backfill() -> None:
    bind = op.get_bind()
    program = sa.table("program", sa.column("id", String()), sa.column("document", JSON()))
    event = sa.table("event", sa.column("id", String()), sa.column("program_id", String()), sa.column("document", JSON()),
                     sa.column("modified_at", UTC()), sa.column("operator", String()), sa.column("created_at", UTC()))
    history = sa.table("event_revision", sa.column("event_id", String()), sa.column("program_id", String()),
                       sa.column("revision", sa.Integer()), sa.column("document", JSON()), sa.column("modified_at", UTC()),
                       sa.column("actor", String()), sa.column("actor_role", String()), sa.column("operator", String()),
                       sa.column("signed", sa.Boolean()))
    gb = [pid for pid, doc in bind.execute(sa.select(program.c.id, program.c.document))
          if isinstance(doc, dict) and str(doc.get("programType") or "").startswith("GB_FLEX:")]
    if not gb:
        return
    rows = bind.execute(sa.select(event).where(event.c.program_id.in_(gb)).order_by(event.c.created_at, event.c.id))
    for row in rows.mappings().all():
        meta = _metadata(row["document"])
        number = (meta.get("GB_DISPATCH_REVISION") or [None])[0]
        bind.execute(history.insert().values(
            event_id=row["id"], program_id=row["program_id"],
            revision=number if isinstance(number, int) and not isinstance(number, bool) else 1,
            document=row["document"], modified_at=row["modified_at"], actor="-", actor_role="-",
            operator=row["operator"], signed="GB_SIGNATURE" in meta,
        ))


def upgrade() -> None:
    op.create_table(
        "event_revision",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("event_id", String(length=128), nullable=False),
        sa.Column("program_id", String(length=128), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("document", JSON(), nullable=False),
        sa.Column("modified_at", UTC(timezone=True), nullable=False),
        sa.Column("actor", String(length=200), nullable=False),
        sa.Column("actor_role", String(length=16), nullable=False),
        sa.Column("operator", String(length=64), nullable=False, server_default=""),
        sa.Column("signed", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_event_revision")),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("event_revision", schema=None) as batch_op:
        batch_op.create_index("ix_event_revision_event", ["event_id", "id"], unique=False)
    _backfill()
    create_triggers("event_revision")


def downgrade() -> None:
    drop_triggers("event_revision")
    with op.batch_alter_table("event_revision", schema=None) as batch_op:
        batch_op.drop_index("ix_event_revision_event")
    op.drop_table("event_revision")
