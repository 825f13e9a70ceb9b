"""object_target.created_at: a target filter walks its index in list order, not a sort of every match.

`GET /events?targetType=…&targetValues=…` pages by (created_at, id). With the object's `created_at`
copied into its target rows, the index (object_type, type, value, created_at, object_id) yields one
value's matches already in that order, so a page of 50 reads ~50 index entries instead of sorting
every match (641 ms at 1 000 000 events on SQLite). It replaces ix_object_target_lookup, whose
lookups it still serves (same leading columns, still covering object_id).

Revision ID: 0015
Revises: 0013
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import vtn.core.database

revision = "0015"
down_revision = "0013"
branch_labels = None
depends_on = None

# object_target.object_type → the table holding the object (created_at never changes after insert).
TABLES = {"PROGRAM": "program", "EVENT": "event", "VEN": "ven", "RESOURCE": "resource",
          "SUBSCRIPTION": "subscription", "REPORT": "report"}


def upgrade() -> None:
    with op.batch_alter_table("object_target", schema=None) as batch_op:
        batch_op.add_column(sa.Column("created_at", vtn.core.database.UTCDateTime(), nullable=True))
    for object_type, table in TABLES.items():
        op.execute(f"UPDATE object_target SET created_at = (SELECT {table}.created_at FROM {table} "
                   f"WHERE {table}.id = object_target.object_id) WHERE object_type = '{object_type}'")
    # A target row whose object is gone (none should exist) has no list position: drop it.
    op.execute("DELETE FROM object_target WHERE created_at IS NULL")
    with op.batch_alter_table("object_target", schema=None) as batch_op:
        batch_op.alter_column("created_at", existing_type=vtn.core.database.UTCDateTime(), nullable=False)
        batch_op.drop_index("ix_object_target_lookup")
        batch_op.create_index("ix_object_target_lookup", ["object_type", "type", "value", "created_at", "object_id"],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table("object_target", schema=None) as batch_op:
        batch_op.drop_index("ix_object_target_lookup")
        batch_op.create_index("ix_object_target_lookup", ["object_type", "type", "value", "object_id"], unique=False)
        batch_op.drop_column("created_at")
