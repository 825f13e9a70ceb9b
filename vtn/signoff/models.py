"""The sign-off record (docs/conformance.md, "Sandbox to live")."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Index
from sqlmodel import Field, SQLModel

from vtn.core.database import JSONDoc, UTCDateTime

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


class SignoffRow(SQLModel, table=True):
    """An FSP's request to take one VEN client live, with its VEN conformance report; decided once by an operator."""

    __tablename__ = "signoff"
    __table_args__ = (Index("ix_signoff_pending", "operator", "decision", "id"), {"sqlite_autoincrement": True})

    id: int | None = Field(default=None, sa_column=sa.Column(BigId, primary_key=True, autoincrement=True))
    operator: str = Field(default="", max_length=64, nullable=False)  # the tenant (vtn.auth.privacy)
    client_id: str = Field(max_length=128, nullable=False)
    report: dict[str, Any] = Field(sa_type=JSONDoc, nullable=False)  # the `oadr-conformance ven --json` report
    submitted_by: str = Field(max_length=200, nullable=False)
    submitted_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    approved_by: str | None = Field(default=None, max_length=200)  # who decided (approved or rejected)
    approved_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    decision: str | None = Field(default=None, max_length=16)  # None: pending; approved | rejected
    reason: str | None = Field(default=None, max_length=1000)
