"""Program table. The wire model is `openadr3.models.Program`."""

from __future__ import annotations

import re

from sqlalchemy import Index, UniqueConstraint
from sqlmodel import Field

from openadr3.models import Program
from vtn.core.tables import ObjectRow

__all__ = ["Program", "ProgramRow", "is_sandbox_name"]

# A sandbox program's name ends in "-SANDBOX" plus an optional tag (NGED-OU_2MIN-SANDBOX, NGED-OU_2MIN-SANDBOX_ACME):
# the GB name's suffix, so the mark is on the wire and a VEN can see it too.
SANDBOX_NAME = re.compile(r"-SANDBOX[A-Za-z0-9_]*$")


def is_sandbox_name(program_name: str | None) -> bool:
    return bool(program_name and SANDBOX_NAME.search(program_name))


class ProgramRow(ObjectRow, table=True):
    __tablename__ = "program"
    __table_args__ = (
        Index("ix_program_created", "created_at", "id"),
        Index("ix_program_untargeted", "targeted", "created_at"),
        UniqueConstraint("operator", "program_name", name="uq_program_operator_name"),
    )

    program_name: str = Field(max_length=128, nullable=False)  # unique per operator
    sandbox: bool = Field(default=False, nullable=False)  # is_sandbox_name(program_name); fixed for life
