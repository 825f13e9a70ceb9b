"""outbox: indexes for the delivery claim.

- (status, id): the claim walks pending rows oldest first; with only (status, next_attempt_at,
  id) the database sorted every pending row on each claim.
- (callback_key, id, status, next_attempt_at) replaces (callback_key, id): the per-callback
  probe reads the first k live rows of a callback from the index alone, in id order.

Revision ID: 0006
Revises: 0005
"""
from __future__ import annotations

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("notification_outbox", schema=None) as batch_op:
        batch_op.create_index("ix_notification_outbox_claim", ["status", "id"], unique=False)
        batch_op.create_index(
            "ix_notification_outbox_callback_live", ["callback_key", "id", "status", "next_attempt_at"], unique=False
        )
        batch_op.drop_index("ix_notification_outbox_callback")


def downgrade() -> None:
    with op.batch_alter_table("notification_outbox", schema=None) as batch_op:
        batch_op.create_index("ix_notification_outbox_callback", ["callback_key", "id"], unique=False)
        batch_op.drop_index("ix_notification_outbox_callback_live")
        batch_op.drop_index("ix_notification_outbox_claim")
