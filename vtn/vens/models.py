"""Ven and resource tables. The wire models are `openadr3.models.Ven` and `Resource`."""

from __future__ import annotations

from sqlalchemy import Index, UniqueConstraint
from sqlmodel import Field

from openadr3.models import Resource, Ven
from vtn.core.tables import ObjectRow

__all__ = ["Resource", "ResourceRow", "Ven", "VenRow"]


class VenRow(ObjectRow, table=True):
    __tablename__ = "ven"
    __table_args__ = (
        Index("ix_ven_created", "created_at", "id"),
        UniqueConstraint("operator", "ven_name", name="uq_ven_operator_name"),
    )

    ven_name: str = Field(max_length=128, nullable=False)  # unique per operator


class ResourceRow(ObjectRow, table=True):
    __tablename__ = "resource"
    __table_args__ = (
        UniqueConstraint("ven_id", "resource_name", name="uq_resource_ven_name"),
        Index("ix_resource_ven", "ven_id", "created_at", "id"),
    )

    ven_id: str = Field(max_length=128, foreign_key="ven.id", nullable=False)
    resource_name: str = Field(max_length=128, nullable=False)
