"""Subscription table. The wire model is `openadr3.models.Subscription`."""

from __future__ import annotations

from sqlalchemy import Index
from sqlmodel import Field

from openadr3.models import Subscription
from vtn.core.tables import ObjectRow

__all__ = ["Subscription", "SubscriptionRow"]


class SubscriptionRow(ObjectRow, table=True):
    __tablename__ = "subscription"
    __table_args__ = (
        Index("ix_subscription_created", "created_at", "id"),
        Index("ix_subscription_program", "program_id", "created_at", "id"),
        Index("ix_subscription_client", "client_name", "created_at", "id"),
        Index("ix_subscription_owner", "owner_ven_id", "created_at", "id"),
    )

    # NULL: a 3.1.0 subscription without programID (optional there), e.g. a VEN's to its own ven object
    program_id: str | None = Field(default=None, max_length=128, foreign_key="program.id", nullable=True)
    client_name: str = Field(max_length=128, nullable=False)
    # ",EVENT,PROGRAM," — the object types named in objectOperations, for the `objects` filter
    object_types: str = Field(max_length=128, nullable=False)
    owner_ven_id: str | None = Field(default=None, max_length=128, foreign_key="ven.id")
    owner_client_id: str | None = Field(default=None, max_length=128)  # only it sees the bearer tokens
