"""Console accounts (people, not OAuth2 clients) and their browser sessions."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Column, ForeignKey, String
from sqlmodel import Field, SQLModel

from vtn.core.database import JSONDoc, UTCDateTime


class AccountRole(StrEnum):
    OPERATOR = "operator"  # acts as the network operator's business logic (BL)
    FSP = "fsp"  # acts as the VEN(s) it is bound to


class ConsoleUser(SQLModel, table=True):
    """A person who signs in to the console; the password is stored only as an argon2id hash."""

    __tablename__ = "console_user"

    username: str = Field(primary_key=True, max_length=64)
    password_hash: str = Field(max_length=256, nullable=False)
    role: str = Field(max_length=16, nullable=False)
    ven_names: list[str] = Field(default_factory=list, sa_type=JSONDoc, nullable=False)
    operator: str = Field(default="", max_length=64, nullable=False)  # its tenant ('' = the default operator)
    disabled: bool = Field(default=False, nullable=False)
    failed_attempts: int = Field(default=0, nullable=False)  # consecutive failures since the last success
    locked_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_signin_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(sa_type=UTCDateTime, nullable=False)


class ConsoleSession(SQLModel, table=True):
    """A signed-in browser. The cookie holds a random id; only its SHA-256 is stored here."""

    __tablename__ = "console_session"

    id_hash: str = Field(primary_key=True, max_length=64)
    username: str = Field(
        sa_column=Column(String(64), ForeignKey("console_user.username", ondelete="CASCADE"), nullable=False, index=True)
    )
    csrf_token: str = Field(max_length=64, nullable=False)
    created_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    last_seen: datetime = Field(sa_type=UTCDateTime, nullable=False)
    expires_at: datetime = Field(sa_type=UTCDateTime, nullable=False, index=True)  # absolute end
