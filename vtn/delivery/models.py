"""Tables of vtn/delivery: readings derived from GB_READINGS reports, unit baselines, delivery reports (0019)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Column, Index, Integer, UniqueConstraint
from sqlmodel import Field, SQLModel

from vtn.core.database import JSONDoc, UTCDateTime


class ReadingRow(SQLModel, table=True):
    """One version of one reading: (operator, unit, kind, start, version) is unique.

    Derived from a GB_READINGS report in the same transaction (the report stays the wire record). The same value
    sent again stores nothing (a retry or re-upload never double-counts); a different value is a correction and
    becomes the next version. Computations read the highest version of each (unit, kind, start).
    """

    __tablename__ = "gb_reading"
    __table_args__ = (
        UniqueConstraint("operator", "unit", "kind", "start", "version", name="uq_gb_reading"),
        Index("ix_gb_reading_unit", "operator", "unit", "start"),
        Index("ix_gb_reading_fsp", "operator", "fsp", "received_at"),
    )

    id: int | None = Field(default=None, sa_column=Column(BigInteger().with_variant(Integer(), "sqlite"),
                                                          primary_key=True, autoincrement=True))
    operator: str = Field(max_length=64, nullable=False)
    fsp: str = Field(max_length=128, nullable=False)  # the report's clientName
    unit: str = Field(max_length=128, nullable=False)  # meterable unit
    kind: str = Field(max_length=16, nullable=False)  # POWER_KW | ENERGY_KWH
    start: datetime = Field(sa_type=UTCDateTime, nullable=False)
    version: int = Field(nullable=False)
    value: float | None = Field(default=None)  # None: MISSING / BAD (a gap stays a gap)
    quality: str | None = Field(default=None, max_length=16)
    report_id: str = Field(max_length=128, nullable=False)
    received_at: datetime = Field(sa_type=UTCDateTime, nullable=False)


class UnitBaselineRow(SQLModel, table=True):
    """The baseline method of one meterable unit (gb_profile.delivery.BaselineSpec as JSON), set by the operator."""

    __tablename__ = "gb_unit_baseline"
    __table_args__ = (UniqueConstraint("operator", "unit", name="uq_gb_unit_baseline"),)

    id: int | None = Field(default=None, primary_key=True)
    operator: str = Field(max_length=64, nullable=False)
    unit: str = Field(max_length=128, nullable=False)
    method: str = Field(max_length=16, nullable=False)
    spec: dict[str, Any] = Field(sa_type=JSONDoc, nullable=False)
    updated_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    updated_by: str = Field(default="", max_length=200, nullable=False)


class DeliveryReportRow(SQLModel, table=True):
    """One version of one event's delivery report; never overwritten (a recomputation is a new version).

    `stale`: readings affecting the report arrived after it was issued; the worker issues the next version.
    """

    __tablename__ = "gb_delivery_report"
    __table_args__ = (
        UniqueConstraint("event_id", "version", name="uq_gb_delivery_report"),
        Index("ix_gb_delivery_report_fsp", "operator", "fsp", "issued_at"),
        Index("ix_gb_delivery_report_window", "operator", "window_end"),
    )

    id: str = Field(primary_key=True, max_length=64)
    operator: str = Field(max_length=64, nullable=False)
    program_id: str = Field(max_length=128, nullable=False)
    event_id: str = Field(max_length=128, nullable=False)
    fsp: str = Field(max_length=128, nullable=False)
    version: int = Field(nullable=False)
    latest: bool = Field(default=True, nullable=False)
    stale: bool = Field(default=False, nullable=False)
    reason: str = Field(default="", max_length=200, nullable=False)  # why this version: issued, late readings...
    window_start: datetime = Field(sa_type=UTCDateTime, nullable=False)  # counted start
    window_end: datetime = Field(sa_type=UTCDateTime, nullable=False)  # end of the rebound window
    issued_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    document: dict[str, Any] = Field(sa_type=JSONDoc, nullable=False)
    baseline: dict[str, Any] = Field(sa_type=JSONDoc, nullable=False)  # frozen: unit -> {start: kW}
