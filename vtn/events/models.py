"""Event table. The wire model is `openadr3.models.Event`."""

from __future__ import annotations

from sqlalchemy import Index
from sqlmodel import Field

from openadr3.models import Event
from vtn.core.tables import ObjectRow

__all__ = ["Event", "EventRow"]


class EventRow(ObjectRow, table=True):
    __tablename__ = "event"
    __table_args__ = (
        Index("ix_event_created", "created_at", "id"),
        Index("ix_event_program", "program_id", "created_at", "id"),
        Index("ix_event_untargeted", "targeted", "created_at"),
    )

    program_id: str = Field(max_length=128, foreign_key="program.id", nullable=False)
