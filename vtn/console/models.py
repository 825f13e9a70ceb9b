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
    """A person who signs in to the console; the password is stored only as an argon2id hash.

    `password_hash` is None while an invitation is open (the person has not chosen a password yet).
    `totp_secret` is set from the first view of the enrolment page; the second factor is on only once a
    code confirmed it (`totp_enabled_at`). `totp_last_step` is the RFC 6238 time step of the last code
    accepted, so a code (or an earlier one) cannot be used twice.
    """

    __tablename__ = "console_user"

    username: str = Field(primary_key=True, max_length=64)
    password_hash: str | None = Field(default=None, max_length=256)
    role: str = Field(max_length=16, nullable=False)
    ven_names: list[str] = Field(default_factory=list, sa_type=JSONDoc, nullable=False)
    operator: str = Field(default="", max_length=64, nullable=False)  # its tenant ('' = the default operator)
    disabled: bool = Field(default=False, nullable=False)
    failed_attempts: int = Field(default=0, nullable=False)  # consecutive failures since the last success
    locked_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_signin_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    totp_secret: str | None = Field(default=None, max_length=64)
    totp_enabled_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    totp_last_step: int | None = Field(default=None)

    @property
    def has_totp(self) -> bool:
        return self.totp_enabled_at is not None and self.totp_secret is not None


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
    # Password accepted, second factor not yet: such a session opens only the code form, for a few minutes.
    awaiting_code: bool = Field(default=False, nullable=False)


class ConsoleRecoveryCode(SQLModel, table=True):
    """A single-use recovery code of an account with TOTP; only its SHA-256 is stored (the codes are random)."""

    __tablename__ = "console_recovery_code"

    username: str = Field(
        sa_column=Column(String(64), ForeignKey("console_user.username", ondelete="CASCADE"), primary_key=True)
    )
    code_hash: str = Field(primary_key=True, max_length=64)
    created_at: datetime = Field(sa_type=UTCDateTime, nullable=False)


class ConsoleInvitation(SQLModel, table=True):
    """A one-time link to choose a password. The link holds a random token; only its SHA-256 is stored."""

    __tablename__ = "console_invitation"

    token_hash: str = Field(primary_key=True, max_length=64)
    username: str = Field(
        sa_column=Column(String(64), ForeignKey("console_user.username", ondelete="CASCADE"), nullable=False, index=True)
    )
    created_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    expires_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
