"""ES256 access tokens (RFC 9068 `at+jwt`) signed with keys shared through the database.

Every process loads the keys from the database, so tokens from one process verify in all.
The newest active key signs; retired keys stay in the JWKS until tokens they signed expire.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, KeySet
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from vtn.audit.service import Actor, record
from vtn.auth.models import SigningKeyRow
from vtn.core.database import Database, utcnow

ALGORITHM = "ES256"
TOKEN_TYPE = "at+jwt"
KEY_REFRESH_SECONDS = 30.0
KEY_RETENTION_SKEW = timedelta(minutes=5)
UNKNOWN_KID_REFRESH_SECONDS = 1.0


class InvalidToken(Exception):
    pass


@dataclass
class SigningKeys:
    keys: list[tuple[SigningKeyRow, ECKey]]

    def __post_init__(self) -> None:
        self.kids = frozenset(row.kid for row, _key in self.keys)

    @property
    def signing(self) -> tuple[SigningKeyRow, ECKey]:
        """The newest key that is active now (a rotation hands over at the new key's `active_from`)."""
        active = [(row, key) for row, key in self.keys if can_sign(row, utcnow())]
        if not active:
            raise LookupError("no active signing key")
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


def can_sign(row: SigningKeyRow, now: datetime) -> bool:
    return row.active_from <= now and (row.retired_at is None or row.retired_at > now)


def is_expired(row: SigningKeyRow, now: datetime, lifetime: timedelta) -> bool:
    """A retired key no unexpired token can have been signed with: no longer published or accepted."""
    return row.retired_at is not None and row.retired_at < now - lifetime - KEY_RETENTION_SKEW


async def rotate_keys(
    session: AsyncSession, activate_in: timedelta, lifetime: timedelta, *, actor: Actor | None = None
) -> tuple[SigningKeyRow, list[SigningKeyRow], list[str]]:
    """Publish a new key now that starts signing after `activate_in` (so JWKS caches learn it first).

    Every other key still in service is retired at that moment: it stops signing but stays published
    (and accepted) for a token lifetime plus skew. Keys retired longer ago than that are deleted.
    Returns (new key, keys scheduled for retirement, deleted kids).
    """
    now = utcnow()
    new = await create_key(session, activate_in)
    retiring, removed = [], []
    for row in (await session.exec(select(SigningKeyRow))).all():  # type: ignore[call-overload]
        if row.kid == new.kid:
            continue
        if is_expired(row, now, lifetime):
            await session.delete(row)
            removed.append(row.kid)
        elif row.retired_at is None or row.retired_at > new.active_from:
            row.retired_at = new.active_from
            session.add(row)
            retiring.append(row)
    await session.flush()
    await record(session, actor or Actor.local(), "signing_key.rotate", "signing_key", new.kid, detail={
        "activeFrom": new.active_from.isoformat(), "retiring": [r.kid for r in retiring], "removed": removed})
    return new, retiring, removed


async def list_keys(session: AsyncSession) -> list[SigningKeyRow]:
    return list((await session.exec(select(SigningKeyRow).order_by(SigningKeyRow.active_from))).all())  # type: ignore[call-overload, arg-type]


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
            lifetime = timedelta(seconds=self.lifetime_seconds)
            async with self.db.session() as session:
                rows = list((await session.exec(select(SigningKeyRow))).all())  # type: ignore[call-overload]
                now = utcnow()
                rows = [r for r in rows if not is_expired(r, now, lifetime)]
                if not any(can_sign(r, now) for r in rows):
                    rows.append(await create_key(session))
            self._keys = SigningKeys([(row, ECKey.import_key(json.loads(row.private_jwk))) for row in rows])
            self._loaded_at = time.monotonic()
        return self._keys

    async def issue(self, subject: str, scopes: list[str], extra: dict[str, Any] | None = None) -> str:
        try:
            row, key = (await self.keys()).signing
        except LookupError:  # the cached keys have all been retired: reload (creates one if needed)
            row, key = (await self.keys(refresh=True)).signing
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
        if str(header.get("typ", "")).lower() not in {TOKEN_TYPE, f"application/{TOKEN_TYPE}"}:
            raise InvalidToken("not an access token (typ must be at+jwt)")
        if header.get("kid") not in keys.kids:
            # maybe a key another process just created; reload at most once a second
            if time.monotonic() - self._loaded_at > UNKNOWN_KID_REFRESH_SECONDS:
                keys = await self.keys(refresh=True)
        return decode_and_check(token, keys.key_set(), self.issuer, self.audience)


def decode_and_check(
    token: str, key_set: KeySet, issuer: str, audience: str, algorithms: list[str] | None = None
) -> dict[str, Any]:
    try:
        decoded = jwt.decode(token, key_set, algorithms=algorithms or [ALGORITHM])
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
