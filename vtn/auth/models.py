"""Client registry and token signing keys."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from vtn.core.database import UTCDateTime


class ClientRow(SQLModel, table=True):
    """An OAuth2 client: a network operator's business logic (BL) or an FSP's VEN."""

    __tablename__ = "auth_client"

    client_id: str = Field(primary_key=True, max_length=128)
    secret_hash: str | None = Field(default=None, max_length=256)  # argon2id; None = certificate only
    role: str = Field(max_length=8, nullable=False)
    scopes: str = Field(max_length=1024, nullable=False)  # space separated, as in OAuth2
    ven_name: str | None = Field(default=None, max_length=128)
    operator: str = Field(default="", max_length=64, nullable=False)  # its tenant ('' = the default operator)
    cert_subject_dn: str | None = Field(default=None, max_length=1024)  # RFC 8705 tls_client_auth
    cert_san: str | None = Field(default=None, max_length=1024)
    enabled: bool = Field(default=True, nullable=False)
    stage: str = Field(default="live", max_length=16, nullable=False)  # sandbox | live (vtn.core.security.Stage)
    created_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    secret_rotated_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class SigningKeyRow(SQLModel, table=True):
    """An ES256 key shared by all VTN processes; retired keys stay published until tokens expire."""

    __tablename__ = "auth_signing_key"

    kid: str = Field(primary_key=True, max_length=64)
    private_jwk: str = Field(nullable=False)
    created_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    active_from: datetime = Field(sa_type=UTCDateTime, nullable=False)
    retired_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
