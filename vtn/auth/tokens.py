"""ES256 access tokens (RFC 9068 `at+jwt`) signed with keys shared through the database.

Every process loads the keys from the database, so tokens from one process verify in all.
The newest active key signs; retired keys stay in the JWKS until tokens they signed expire.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, KeySet
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from vtn.auth.models import SigningKeyRow
from vtn.core.database import Database, utcnow

ALGORITHM = "ES256"
TOKEN_TYPE = "at+jwt"
KEY_REFRESH_SECONDS = 30.0


class InvalidToken(Exception):
    pass


@dataclass
class SigningKeys:
    keys: list[tuple[SigningKeyRow, ECKey]]

    @property
    def signing(self) -> tuple[SigningKeyRow, ECKey]:
        now = utcnow()
        active = [(row, key) for row, key in self.keys if row.retired_at is None and row.active_from <= now]
        return max(active, key=lambda item: item[0].active_from)

    def public_jwks(self) -> dict[str, Any]:
        published = []
        for _row, key in self.keys:
            entry = key.as_dict(private=False)
            entry.update({"use": "sig", "alg": ALGORITHM})
            published.append(entry)
        return {"keys": published}

    def key_set(self) -> KeySet:
        return KeySet([key for _row, key in self.keys])


async def create_key(session: AsyncSession, active_in: timedelta = timedelta(0)) -> SigningKeyRow:
    key = ECKey.generate_key("P-256", auto_kid=True)
    now = utcnow()
    row = SigningKeyRow(
        kid=str(key.kid),
        private_jwk=json.dumps(key.as_dict(private=True)),
        created_at=now,
        active_from=now + active_in,
    )
    session.add(row)
    await session.flush()
    return row


async def retire_keys(session: AsyncSession, keep_kid: str, lifetime: timedelta) -> list[str]:
    """Retire all keys except `keep_kid`; delete those retired longer than a token lifetime ago."""
    now = utcnow()
    removed = []
    for row in (await session.exec(select(SigningKeyRow))).all():  # type: ignore[call-overload]
        if row.kid == keep_kid:
            continue
        if row.retired_at is None:
            row.retired_at = now
            session.add(row)
        elif row.retired_at < now - lifetime - timedelta(minutes=5):
            await session.delete(row)
            removed.append(row.kid)
    return removed


class TokenService:
    """Issues and validates the VTN's own tokens."""

    def __init__(self, db: Database, issuer: str, audience: str, lifetime_seconds: int) -> None:
        self.db = db
        self.issuer = issuer
        self.audience = audience
        self.lifetime_seconds = lifetime_seconds
        self._keys: SigningKeys | None = None
        self._loaded_at = 0.0

    async def keys(self, refresh: bool = False) -> SigningKeys:
        if refresh or self._keys is None or time.monotonic() - self._loaded_at > KEY_REFRESH_SECONDS:
            async with self.db.session() as session:
                rows = list((await session.exec(select(SigningKeyRow))).all())  # type: ignore[call-overload]
                if not any(r.retired_at is None for r in rows):
                    rows.append(await create_key(session))
            self._keys = SigningKeys([(row, ECKey.import_key(json.loads(row.private_jwk))) for row in rows])
            self._loaded_at = time.monotonic()
        return self._keys

    async def issue(self, subject: str, scopes: list[str], extra: dict[str, Any] | None = None) -> str:
        row, key = (await self.keys()).signing
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "sub": subject,
            "aud": self.audience,
            "client_id": subject,
            "iat": now,
            "nbf": now,
            "exp": now + self.lifetime_seconds,
            "jti": uuid.uuid4().hex,
            "scope": " ".join(scopes),
            **(extra or {}),
        }
        return jwt.encode({"alg": ALGORITHM, "kid": row.kid, "typ": TOKEN_TYPE}, claims, key)

    async def validate(self, token: str) -> dict[str, Any]:
        keys = await self.keys()
        try:
            header = jws.extract_compact(token.encode()).headers()
        except (JoseError, ValueError) as exc:
            raise InvalidToken("malformed token") from exc
        if header.get("kid") not in {row.kid for row, _ in keys.keys}:
            keys = await self.keys(refresh=True)  # a key another process just created
        return decode_and_check(token, keys.key_set(), self.issuer, self.audience)


def decode_and_check(token: str, key_set: KeySet, issuer: str, audience: str) -> dict[str, Any]:
    try:
        decoded = jwt.decode(token, key_set, algorithms=[ALGORITHM])
    except (JoseError, ValueError) as exc:
        raise InvalidToken("token signature is not valid") from exc
    registry = jwt.JWTClaimsRegistry(
        iss={"essential": True, "value": issuer},
        aud={"essential": True, "value": audience},
        exp={"essential": True},
        sub={"essential": True},
        leeway=30,
    )
    try:
        registry.validate(decoded.claims)
    except JoseError as exc:
        raise InvalidToken(f"token rejected: {exc.description or exc.error}") from exc
    return dict(decoded.claims)
