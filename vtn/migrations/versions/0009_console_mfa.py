"""console_mfa: TOTP second factor, recovery codes, invitation links; invited accounts have no password yet.

Revision ID: 0009
Revises: 0007
"""
from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

import vtn.core.database

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

String = sqlmodel.sql.sqltypes.AutoString
UTC = vtn.core.database.UTCDateTime


def upgrade() -> None:
    with op.batch_alter_table("console_user", schema=None) as batch_op:
        batch_op.alter_column("password_hash", existing_type=String(length=256), nullable=True)
        batch_op.add_column(sa.Column("totp_secret", String(length=64), nullable=True))
        batch_op.add_column(sa.Column("totp_enabled_at", UTC(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("totp_last_step", sa.Integer(), nullable=True))
    with op.batch_alter_table("console_session", schema=None) as batch_op:
        batch_op.add_column(sa.Column("awaiting_code", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.create_table(
        "console_recovery_code",
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("code_hash", String(length=64), nullable=False),
        sa.Column("created_at", UTC(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["username"], ["console_user.username"], name=op.f("fk_console_recovery_code_username_console_user"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("username", "code_hash", name=op.f("pk_console_recovery_code")),
    )
    op.create_table(
        "console_invitation",
        sa.Column("token_hash", String(length=64), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("created_at", UTC(timezone=True), nullable=False),
        sa.Column("expires_at", UTC(timezone=True), nullable=False),
        sa.Column("used_at", UTC(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["username"], ["console_user.username"], name=op.f("fk_console_invitation_username_console_user"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_console_invitation")),
    )
    with op.batch_alter_table("console_invitation", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_console_invitation_username"), ["username"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("console_invitation", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_console_invitation_username"))
    op.drop_table("console_invitation")
    op.drop_table("console_recovery_code")
    with op.batch_alter_table("console_session", schema=None) as batch_op:
        batch_op.drop_column("awaiting_code")
    # Accounts still waiting for their invitation have no password: they cannot exist in the old schema.
    op.execute(sa.text("DELETE FROM console_user WHERE password_hash IS NULL"))
    with op.batch_alter_table("console_user", schema=None) as batch_op:
        batch_op.drop_column("totp_last_step")
        batch_op.drop_column("totp_enabled_at")
        batch_op.drop_column("totp_secret")
        batch_op.alter_column("password_hash", existing_type=String(length=256), nullable=False)
