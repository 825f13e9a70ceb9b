"""Columns every stored OpenADR object has, and the target side table.

An object row keeps the full wire document (for faithful round-trips and fast reads) plus the
columns queries filter and sort on. Targets are copied into `object_target`, indexed by
(type, value), so target filters and privacy are index lookups, never full scans.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index
from sqlmodel import Field, SQLModel

from vtn.core.database import JSONDoc, UTCDateTime


class ObjectRow(SQLModel):
    id: str = Field(primary_key=True, max_length=128)
    created_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    modified_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    document: dict[str, Any] = Field(sa_type=JSONDoc, nullable=False)
    targeted: bool = Field(default=False, nullable=False)
    operator: str = Field(default="", max_length=64, nullable=False)  # the tenant (vtn.auth.privacy)
    # What only OpenADR 3.1.0 can say (clientID, program attributes, event duration…; openadr3.convert):
    # kept beside the 3.0.1 document so the 3.0.1 API still sends stored documents as they are
    extra: dict[str, Any] | None = Field(default=None, sa_type=JSONDoc, nullable=True)


class ObjectTarget(SQLModel, table=True):
    __tablename__ = "object_target"
    # created_at is the object's (it never changes): one value's matches come out of this index in
    # list order (created_at, id), so a page of a target filter is an index walk, not a sort.
    __table_args__ = (Index("ix_object_target_lookup", "object_type", "type", "value", "created_at", "object_id"),)

    object_type: str = Field(primary_key=True, max_length=16)
    object_id: str = Field(primary_key=True, max_length=128)
    type: str = Field(primary_key=True, max_length=128)
    value: str = Field(primary_key=True, max_length=512)
    created_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
