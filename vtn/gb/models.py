"""The `gb_fsp_key` table: FSPs' public signature keys, registered by their network operator (never by the FSP)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from vtn.core.database import JSONDoc, UTCDateTime


class FspKeyRow(SQLModel, table=True):
    __tablename__ = "gb_fsp_key"
    __table_args__ = (UniqueConstraint("operator", "ven_name", "kid", name="uq_gb_fsp_key"),)

    id: int | None = Field(default=None, primary_key=True)
    operator: str = Field(default="", max_length=64, nullable=False)  # the tenant that trusts the key
    ven_name: str = Field(max_length=128, nullable=False)  # the FSP: its reports' clientName
    kid: str = Field(max_length=128, nullable=False)
    jwk: dict[str, Any] = Field(sa_type=JSONDoc, nullable=False)  # public JWK (kty EC, crv P-256, x, y, kid)
    created_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    created_by: str = Field(default="", max_length=200, nullable=False)  # audit actor id
