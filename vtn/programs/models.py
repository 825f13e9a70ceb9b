"""Program table. The wire model is `openadr3.models.Program`."""

from __future__ import annotations

from sqlalchemy import Index, UniqueConstraint
from sqlmodel import Field

from openadr3.models import Program
from vtn.core.tables import ObjectRow

__all__ = ["Program", "ProgramRow"]


class ProgramRow(ObjectRow, table=True):
    __tablename__ = "program"
    __table_args__ = (
        Index("ix_program_created", "created_at", "id"),
        Index("ix_program_untargeted", "targeted", "created_at"),
        UniqueConstraint("operator", "program_name", name="uq_program_operator_name"),
    )

    program_name: str = Field(max_length=128, nullable=False)  # unique per operator
