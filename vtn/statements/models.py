"""Tables of vtn/statements (migration 0024): statement versions, the FSP's decisions, per-program charges.

`gb_statement` and `gb_statement_decision` are append-only (database triggers refuse UPDATE and DELETE): a
recomputation is a new version, a decision a new row; nothing issued is ever overwritten.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Column, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from vtn.core.database import JSONDoc, UTCDateTime

PROVISIONAL, FINAL = "PROVISIONAL", "FINAL"
APPROVED, REJECTED = "APPROVED", "REJECTED"


class StatementRow(SQLModel, table=True):
    """One version of the statement of one FSP for one London month, in one operator (tenant)."""

    __tablename__ = "gb_statement"
    __table_args__ = (
        UniqueConstraint("operator", "fsp", "month", "version", name="uq_gb_statement"),
        Index("ix_gb_statement_month", "operator", "month"),
    )

    id: str = Field(primary_key=True, max_length=64)
    operator: str = Field(max_length=64, nullable=False)
    fsp: str = Field(max_length=128, nullable=False)  # the FSP's venName
    month: str = Field(max_length=7, nullable=False)  # YYYY-MM, London calendar month
    version: int = Field(nullable=False)
    kind: str = Field(max_length=12, nullable=False)  # PROVISIONAL | FINAL
    reason: str = Field(default="", max_length=200, nullable=False)
    issued_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    issued_by: str = Field(default="", max_length=200, nullable=False)
    total_pence: int = Field(sa_column=Column(BigInteger(), nullable=False))
    digest: str = Field(max_length=64, nullable=False)  # sha256 of the lines: a recomputation that changes nothing
    document: dict[str, Any] = Field(sa_type=JSONDoc, nullable=False)


class StatementDecisionRow(SQLModel, table=True):
    """The FSP's approval or rejection (with its reason) of one provisional version; one per version."""

    __tablename__ = "gb_statement_decision"
    __table_args__ = (UniqueConstraint("statement_id", name="uq_gb_statement_decision"),)

    id: int | None = Field(default=None, primary_key=True)
    statement_id: str = Field(max_length=64, nullable=False)
    operator: str = Field(max_length=64, nullable=False)
    fsp: str = Field(max_length=128, nullable=False)
    decision: str = Field(max_length=8, nullable=False)  # APPROVED | REJECTED
    reason: str = Field(default="", max_length=1000, nullable=False)
    decided_by: str = Field(max_length=200, nullable=False)
    decided_at: datetime = Field(sa_type=UTCDateTime, nullable=False)


class StatementChargesRow(SQLModel, table=True):
    """Fees and penalties of a program's statements, in pence (the contract terms of vtn.contracts carry prices
    but no fees): a monthly fee and a penalty per overdue acknowledgement."""

    __tablename__ = "gb_statement_charges"
    __table_args__ = (UniqueConstraint("operator", "program_id", name="uq_gb_statement_charges"),)

    id: int | None = Field(default=None, primary_key=True)
    operator: str = Field(max_length=64, nullable=False)
    program_id: str = Field(max_length=128, nullable=False)
    monthly_fee_pence: int = Field(default=0, nullable=False)
    late_ack_penalty_pence: int = Field(default=0, nullable=False)
    updated_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    updated_by: str = Field(default="", max_length=200, nullable=False)
