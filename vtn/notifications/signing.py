"""Standard Webhooks signatures, asymmetric scheme (`v1a`, ed25519).

Every notification carries `webhook-id` (stable across retries), `webhook-timestamp` (Unix
seconds of this attempt) and `webhook-signature: v1a,<base64 signature>` over
`{webhook-id}.{webhook-timestamp}.{body}`. The VTN's key lives in the database, so every
process signs with the same key; the public key is published at `/.well-known/webhook-keys`.
"""

from __future__ import annotations

import asyncio
import base64
import secrets
import time
from collections.abc import Mapping
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PrivateFormat, PublicFormat
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlmodel import col, select

from vtn.core.database import Database, utcnow
from vtn.notifications.models import WebhookKeyRow

SCHEME = "v1a"
WELL_KNOWN_PATH = "/.well-known/webhook-keys"


def _raw_public(key: Ed25519PrivateKey | Ed25519PublicKey) -> bytes:
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return public.public_bytes(Encoding.Raw, PublicFormat.Raw)


def signed_content(message_id: str, timestamp: int, body: bytes) -> bytes:
    return f"{message_id}.{timestamp}.".encode() + body


class WebhookSigner:
    """Loads (or creates, once for all processes) the signing key and signs notifications."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.kid: str | None = None
        self._key: Ed25519PrivateKey | None = None
        self._lock = asyncio.Lock()

    async def key(self) -> Ed25519PrivateKey:
        if self._key is None:
            async with self._lock:  # concurrent first notifications must not each create a key
                if self._key is None:
                    row = await self._load_or_create()
                    self.kid = row.kid
                    self._key = Ed25519PrivateKey.from_private_bytes(base64.b64decode(row.private_key))
        return self._key

    @staticmethod
    def _oldest_query() -> Any:
        query = select(WebhookKeyRow).where(col(WebhookKeyRow.retired_at).is_(None))
        return query.order_by(col(WebhookKeyRow.created_at), col(WebhookKeyRow.kid))

    async def _load_or_create(self) -> WebhookKeyRow:
        async with self.db.session(write=False) as session:
            row = (await session.exec(self._oldest_query())).first()
        if row is not None:
            return row
        # Check and create in one write transaction, serialised across processes: SQLite's
        # BEGIN IMMEDIATE, PostgreSQL's transaction-scoped advisory lock.
        async with self.db.session() as session:
            if self.db.dialect == "postgresql":
                await session.exec(text("SELECT pg_advisory_xact_lock(hashtext('vtn_webhook_signing_key'))"))  # type: ignore[call-overload]
            row = (await session.exec(self._oldest_query())).first()
            if row is None:
                seed = Ed25519PrivateKey.generate().private_bytes(Encoding.Raw, PrivateFormat.Raw, _no_encryption())
                row = WebhookKeyRow(
                    kid="whk_" + secrets.token_hex(8), private_key=base64.b64encode(seed).decode(), created_at=utcnow()
                )
                session.add(row)
        return row  # expire_on_commit is off: usable after the commit

    async def headers(self, message_id: str, body: bytes, timestamp: int | None = None) -> dict[str, str]:
        key = await self.key()
        timestamp = int(time.time()) if timestamp is None else timestamp
        signature = base64.b64encode(key.sign(signed_content(message_id, timestamp, body))).decode()
        return {
            "webhook-id": message_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": f"{SCHEME},{signature}",
        }

    async def public_keys(self) -> list[dict[str, Any]]:
        await self.key()
        async with self.db.session(write=False) as session:
            rows = (await session.exec(select(WebhookKeyRow).where(col(WebhookKeyRow.retired_at).is_(None)))).all()
        keys = []
        for row in rows:
            raw = _raw_public(Ed25519PrivateKey.from_private_bytes(base64.b64decode(row.private_key)))
            keys.append({
                "kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "use": "sig", "kid": row.kid,
                "x": base64.urlsafe_b64encode(raw).rstrip(b"=").decode(),
                "whpk": "whpk_" + base64.b64encode(raw).decode(),
            })
        return keys


def _no_encryption() -> Any:
    from cryptography.hazmat.primitives.serialization import NoEncryption

    return NoEncryption()


def public_key_from(whpk_or_jwk: str | Mapping[str, Any]) -> Ed25519PublicKey:
    """An ed25519 public key from a `whpk_…` string or a JWK of /.well-known/webhook-keys."""
    if isinstance(whpk_or_jwk, str):
        return Ed25519PublicKey.from_public_bytes(base64.b64decode(whpk_or_jwk.removeprefix("whpk_")))
    x = str(whpk_or_jwk["x"])
    return Ed25519PublicKey.from_public_bytes(base64.urlsafe_b64decode(x + "=" * (-len(x) % 4)))


def verify(public_key: Ed25519PublicKey, headers: Mapping[str, str], body: bytes, tolerance: int = 300) -> bool:
    """Receiver-side check: a `v1a` signature by `public_key` and a fresh timestamp."""
    lowered = {k.lower(): v for k, v in headers.items()}
    try:
        message_id, timestamp = lowered["webhook-id"], int(lowered["webhook-timestamp"])
        signatures = lowered["webhook-signature"].split()
    except (KeyError, ValueError):
        return False
    if abs(time.time() - timestamp) > tolerance:
        return False
    content = signed_content(message_id, timestamp, body)
    for entry in signatures:
        scheme, _, value = entry.partition(",")
        if scheme != SCHEME:
            continue
        try:
            public_key.verify(base64.b64decode(value), content)
            return True
        except (InvalidSignature, ValueError):
            continue
    return False


well_known_router = APIRouter(include_in_schema=False)


@well_known_router.get(WELL_KNOWN_PATH)
async def webhook_keys(request: Request) -> JSONResponse:
    signer: WebhookSigner = request.app.state.webhook_signer
    return JSONResponse(
        {"scheme": SCHEME, "keys": await signer.public_keys()},
        headers={"Cache-Control": "public, max-age=300"},
    )
