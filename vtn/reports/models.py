"""Report table. The wire model is `openadr3.models.Report`."""

from __future__ import annotations

from sqlalchemy import Index
from sqlmodel import Field

from openadr3.models import Report
from vtn.core.tables import ObjectRow

__all__ = ["Report", "ReportRow"]


class ReportRow(ObjectRow, table=True):
    __tablename__ = "report"
    __table_args__ = (
        Index("ix_report_created", "created_at", "id"),
        Index("ix_report_program", "program_id", "created_at", "id"),
        Index("ix_report_event", "event_id", "created_at", "id"),
        Index("ix_report_client", "client_name", "created_at", "id"),
        Index("ix_report_owner", "owner_ven_id", "created_at", "id"),
        Index("ix_report_name", "report_name", "created_at", "id"),
    )

    program_id: str = Field(max_length=128, foreign_key="program.id", nullable=False)
    event_id: str = Field(max_length=128, foreign_key="event.id", nullable=False)
    client_name: str = Field(max_length=128, nullable=False)
    owner_ven_id: str | None = Field(default=None, max_length=128, foreign_key="ven.id")
    # reportName when it fits (NULL otherwise): lookups by name, e.g. GB_EMERGENCY_STOP (migration 0012)
    report_name: str | None = Field(default=None, max_length=128)
