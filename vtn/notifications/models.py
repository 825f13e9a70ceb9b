"""Tables of the notification machinery: the outbox, the webhook signing key, the change
revision (ETags) and the VEN heartbeat (last-seen)."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy import Index
from sqlmodel import Field, SQLModel

from vtn.core.database import UTCDateTime

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")  # SQLite: INTEGER PRIMARY KEY = rowid


class OutboxStatus:
    PENDING = "pending"
    IN_FLIGHT = "in_flight"
    DEAD = "dead"


class OutboxRow(SQLModel, table=True):
    """One notification to one callback URL. Delivered rows are deleted."""

    __tablename__ = "notification_outbox"
    __table_args__ = (
        Index("ix_notification_outbox_status", "status", "next_attempt_at", "id"),  # next due time, reaper
        Index("ix_notification_outbox_claim", "status", "id"),  # the claim: pending rows oldest first
        # the per-callback probe of the claim: covering, read in id order, stops after k rows
        Index("ix_notification_outbox_callback_live", "callback_key", "id", "status", "next_attempt_at"),
    )

    id: int | None = Field(default=None, sa_column=sa.Column(BigId, primary_key=True, autoincrement=True))
    message_id: str = Field(max_length=64, nullable=False)  # webhook-id, stable across retries
    subscription_id: str = Field(max_length=128, nullable=False)
    operator: str = Field(default="", max_length=64, nullable=False)  # whose dead letters these are
    callback_key: str = Field(max_length=64, nullable=False)  # (subscription, callbackUrl): ordering unit
    callback_url: str = Field(sa_type=sa.Text, nullable=False)
    bearer_token: str | None = Field(default=None, sa_type=sa.Text)
    object_type: str = Field(max_length=16, nullable=False)
    operation: str = Field(max_length=8, nullable=False)
    body: str = Field(sa_type=sa.Text, nullable=False)  # the exact bytes sent (and signed)
    # which seam delivers it (vtn.notifications.transports); MQTT rows carry their topics as a JSON list
    transport: str = Field(default="webhook", max_length=16, nullable=False, sa_column_kwargs={"server_default": "webhook"})
    topics: str | None = Field(default=None, sa_type=sa.Text)
    status: str = Field(default=OutboxStatus.PENDING, max_length=16, nullable=False)
    attempts: int = Field(default=0, nullable=False)
    created_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    next_attempt_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    lease_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_attempt_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_status: int | None = Field(default=None)
    last_error: str | None = Field(default=None, sa_type=sa.Text)


class WebhookKeyRow(SQLModel, table=True):
    """The VTN's ed25519 webhook signing key(s), shared by every process."""

    __tablename__ = "webhook_signing_key"

    kid: str = Field(primary_key=True, max_length=64)
    private_key: str = Field(max_length=128, nullable=False)  # base64 of the raw 32-byte seed
    created_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    retired_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class RevisionRow(SQLModel, table=True):
    """One counter per object type (`name` = PROGRAM, EVENT, …), bumped by every write
    transaction that changed an object of that type; ETags are derived from them."""

    __tablename__ = "change_revision"

    name: str = Field(primary_key=True, max_length=32)
    value: int = Field(default=0, sa_column=sa.Column(sa.BigInteger(), nullable=False))


class HeartbeatRow(SQLModel, table=True):
    """When each VEN client last called the VTN (flushed from memory periodically)."""

    __tablename__ = "client_heartbeat"

    client_id: str = Field(primary_key=True, max_length=128)
    ven_name: str | None = Field(default=None, max_length=128)
    operator: str = Field(default="", max_length=64, nullable=False)
    last_seen: datetime = Field(sa_type=UTCDateTime, nullable=False)


class DeliveredRow(SQLModel, table=True):
    """When a webhook of each subscription was last answered 2xx (delivered rows leave the outbox)."""

    __tablename__ = "webhook_delivered"

    # No foreign key: a subscription deleted while its delivery is being recorded must not fail the
    # batch of outcomes; readers join the subscription, so rows of deleted ones are never seen.
    subscription_id: str = Field(primary_key=True, max_length=128)
    last_delivered_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
