"""Event table and the revision history of GB events. The wire model is `openadr3.models.Event`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Index
from sqlmodel import Field, SQLModel

from openadr3.models import Event
from vtn.core.database import JSONDoc, UTCDateTime
from vtn.core.tables import ObjectRow

__all__ = ["Event", "EventRevisionRow", "EventRow"]

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")  # SQLite: INTEGER PRIMARY KEY = rowid


class EventRow(ObjectRow, table=True):
    __tablename__ = "event"
    __table_args__ = (
        Index("ix_event_created", "created_at", "id"),
        Index("ix_event_program", "program_id", "created_at", "id"),
        Index("ix_event_untargeted", "targeted", "created_at"),
        Index("ix_event_operator_modified", "operator", "modified_at"),  # the ack-deadline check's lookback
    )

    program_id: str = Field(max_length=128, foreign_key="program.id", nullable=False)
    sandbox: bool = Field(default=False, nullable=False)  # its program's, copied so privacy needs no join


class EventRevisionRow(SQLModel, table=True):
    """Every version of an event of a GB program, as stored (docs/gb-profile.md §5.4).

    Rows are only ever inserted: database triggers refuse UPDATE and DELETE (migration 0013). No foreign key
    to `event`: a history outlives what it records (an anchor event without reports may still be deleted).
    """

    __tablename__ = "event_revision"
    __table_args__ = (
        Index("ix_event_revision_event", "event_id", "id"),
        {"sqlite_autoincrement": True},  # ids give the order of revisions: never reused
    )

    id: int | None = Field(default=None, sa_column=sa.Column(BigId, primary_key=True, autoincrement=True))
    event_id: str = Field(max_length=128, nullable=False)
    program_id: str = Field(max_length=128, nullable=False)
    # GB_DISPATCH_REVISION when the document carries one, else 1, 2, … per event (the anchor event)
    revision: int = Field(nullable=False)
    document: dict[str, Any] = Field(sa_type=JSONDoc, nullable=False)  # the event as stored by this write
    modified_at: datetime = Field(sa_type=UTCDateTime, nullable=False)  # its modificationDateTime
    actor: str = Field(max_length=200, nullable=False)  # client id, console:<user>
    actor_role: str = Field(max_length=16, nullable=False)
    operator: str = Field(default="", max_length=64, nullable=False)  # the tenant (vtn.auth.privacy)
    signed: bool = Field(default=False, nullable=False)  # carries a GB_SIGNATURE (whether it verifies: gb_profile.signing)
