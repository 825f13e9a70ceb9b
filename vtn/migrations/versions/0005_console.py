"""console: user accounts and browser sessions.

Revision ID: 0005
Revises: 0004
"""
from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

import vtn.core.database

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

String = sqlmodel.sql.sqltypes.AutoString
UTC = vtn.core.database.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "console_user",
        sa.Column("username", String(length=64), nullable=False),
        sa.Column("password_hash", String(length=256), nullable=False),
        sa.Column("role", String(length=16), nullable=False),
        sa.Column("ven_names", vtn.core.database.JSONDoc(), nullable=False),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        sa.Column("failed_attempts", sa.Integer(), nullable=False),
        sa.Column("locked_until", UTC(timezone=True), nullable=True),
        sa.Column("last_signin_at", UTC(timezone=True), nullable=True),
        sa.Column("created_at", UTC(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("username", name=op.f("pk_console_user")),
    )
    op.create_table(
        "console_session",
        sa.Column("id_hash", String(length=64), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("csrf_token", String(length=64), nullable=False),
        sa.Column("created_at", UTC(timezone=True), nullable=False),
        sa.Column("last_seen", UTC(timezone=True), nullable=False),
        sa.Column("expires_at", UTC(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["username"], ["console_user.username"], name=op.f("fk_console_session_username_console_user"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id_hash", name=op.f("pk_console_session")),
    )
    with op.batch_alter_table("console_session", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_console_session_username"), ["username"], unique=False)
        batch_op.create_index(batch_op.f("ix_console_session_expires_at"), ["expires_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("console_session", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_console_session_expires_at"))
        batch_op.drop_index(batch_op.f("ix_console_session_username"))
    op.drop_table("console_session")
    op.drop_table("console_user")
