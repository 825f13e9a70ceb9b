"""The `audit_log` table. Rows are only ever inserted: database triggers refuse UPDATE and DELETE
(migration 0010), and the service offers nothing else."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy import CheckConstraint, Index
from sqlmodel import Field, SQLModel

from vtn.core.database import JSONDoc, UTCDateTime

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")  # SQLite: INTEGER PRIMARY KEY = rowid


class Outcome(StrEnum):
    SUCCESS = "success"
    FAILURE = "failure"  # attempted and failed (a wrong password)
    REFUSED = "refused"  # not even attempted: the actor may not (a locked or disabled account)


ACTOR_MAX, ROLE_MAX, ACTION_MAX, TYPE_MAX, OBJECT_MAX = 200, 16, 64, 32, 200


class AuditRow(SQLModel, table=True):
    __tablename__ = "audit_log"
    __table_args__ = (
        CheckConstraint("outcome IN ('success', 'failure', 'refused')", name="outcome"),
        # each filter reads in id order, the order every listing uses
        Index("ix_audit_log_actor", "actor", "id"),
        Index("ix_audit_log_action", "action", "id"),
        Index("ix_audit_log_object", "object_id", "id"),
        Index("ix_audit_log_at", "at"),
        Index("ix_audit_log_operator", "operator", "id"),
        {"sqlite_autoincrement": True},  # ids are never reused, even for the last row
    )

    id: int | None = Field(default=None, sa_column=sa.Column(BigId, primary_key=True, autoincrement=True))
    at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    actor: str = Field(max_length=ACTOR_MAX, nullable=False)  # client id, console:<user>, cli:<os user>
    actor_role: str = Field(max_length=ROLE_MAX, nullable=False)  # BL, VEN, operator, fsp, cli, anonymous
    action: str = Field(max_length=ACTION_MAX, nullable=False)  # e.g. gb.dispatch, client.add, console.signin
    object_type: str = Field(max_length=TYPE_MAX, nullable=False)
    object_id: str | None = Field(default=None, max_length=OBJECT_MAX)
    outcome: str = Field(max_length=16, nullable=False)
    detail: dict[str, Any] | None = Field(default=None, sa_type=JSONDoc)
    operator: str = Field(default="", max_length=64, nullable=False)  # the tenant whose BL may read the line
