"""Bearer-token authentication of API requests (the `Authenticator` the core hook calls).

Both caches are bounded and safe to keep: a verified token's claims until the token expires (keyed
by a hash of the token, so memory holds no usable token), and a client's row for
`CLIENT_CACHE_SECONDS` (so disabling a client takes effect within that bound, in every process).
The certificate binding of a token is checked on every request: it depends on the connection.
A client row is cached until the client registry's change revision moves (any add/enable/disable,
in any process) and for at most `CLIENT_CACHE_SECONDS`.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections import OrderedDict
from collections.abc import Set as AbstractSet
from typing import Any

from fastapi import Request
from joserfc import jws

from vtn.auth.models import ClientRow
from vtn.auth.service import CLIENT_REVISION
from vtn.auth.tls import client_cert_der, thumbprint
from vtn.auth.tokens import InvalidToken, TokenService
from vtn.core.database import Database
from vtn.core.errors import Unauthorized
from vtn.core.security import Principal, Role, grantable
from vtn.core.settings import Settings
from vtn.subscriptions.revisions import SESSION_KEY as REVISIONS_KEY

# A client changed through the VTN (`vtn clients disable`, the console) bumps the CLIENT revision, so every
# process reads its row again at once (PostgreSQL: NOTIFY; SQLite: within VTN_REVISION_REFRESH_SECONDS).
# A row edited by hand in the database is read again within this.
CLIENT_CACHE_SECONDS = 60.0


def bearer_token(request: Request) -> str:
    header = request.headers.get("authorization")
    if not header:
        raise Unauthorized("an access token is required: Authorization: Bearer <token>", error="missing")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("the Authorization header must be 'Bearer <token>'", error="invalid_request")
    return token.strip()


def is_cert_bound_client(client: ClientRow | None) -> bool:
    """Policy: a client registered with a certificate binding only ever uses certificate-bound tokens."""
    return client is not None and bool(client.cert_subject_dn or client.cert_san)


def enforce_cert_binding(request: Request, claims: dict[str, Any], required: bool = False) -> None:
    """RFC 8705 §3: a token with `cnf.x5t#S256` is only good with the certificate it was bound to."""
    cnf = claims.get("cnf")
    expected = cnf.get("x5t#S256") if isinstance(cnf, dict) else None
    if expected is None:
        if required:
            raise Unauthorized("this client's tokens must be certificate-bound (obtain one over mutual TLS)")
        return
    der = client_cert_der(request.scope)
    if der is None or not hmac.compare_digest(thumbprint(der), str(expected)):
        raise Unauthorized("certificate binding mismatch: present the client certificate the token was bound to")


class TokenCache:
    """Claims (and signing key id) of verified tokens until their `exp`; least recently used out."""

    def __init__(self, max_entries: int) -> None:
        self.max_entries = max_entries
        self._claims: OrderedDict[bytes, tuple[dict[str, Any], str | None]] = OrderedDict()

    @staticmethod
    def key(token: str) -> bytes:
        return hashlib.sha256(token.encode()).digest()

    def get(self, token: str) -> tuple[dict[str, Any], str | None] | None:
        key = self.key(token)
        entry = self._claims.get(key)
        if entry is None:
            return None
        if entry[0]["exp"] <= time.time():
            del self._claims[key]
            return None
        self._claims.move_to_end(key)
        return entry

    def put(self, token: str, claims: dict[str, Any], kid: str | None) -> None:
        if not isinstance(claims.get("exp"), int | float):
            return
        self._claims[self.key(token)] = (claims, kid)
        if len(self._claims) > self.max_entries:
            self._claims.popitem(last=False)

    def forget(self, token: str) -> None:
        self._claims.pop(self.key(token), None)


def token_kid(token: str) -> str | None:
    kid = jws.extract_compact(token.encode()).headers().get("kid")
    return str(kid) if kid is not None else None


class BuiltinAuthenticator:
    """Validates tokens issued by this VTN and checks the client is still enabled."""

    def __init__(self, db: Database, tokens: TokenService, token_cache_entries: int = 20_000) -> None:
        self.db = db
        self.tokens = tokens
        self.verified = TokenCache(token_cache_entries)
        self._clients: dict[str, tuple[float, int, ClientRow | None]] = {}

    async def client(self, client_id: str) -> ClientRow | None:
        """The client's row, from memory while the client registry's revision is unchanged (and for at
        most `CLIENT_CACHE_SECONDS`, for rows edited by hand in the database)."""
        revisions = self.db.info.get(REVISIONS_KEY)
        revision = (await revisions.current(self.db)).get(CLIENT_REVISION, 0) if revisions is not None else 0
        cached = self._clients.get(client_id)
        if cached and cached[1] == revision and time.monotonic() - cached[0] < CLIENT_CACHE_SECONDS:
            return cached[2]
        async with self.db.session(write=False) as session:
            row = await session.get(ClientRow, client_id)
        self._clients[client_id] = (time.monotonic(), revision, row)
        return row

    async def claims(self, request: Request) -> dict[str, Any]:
        token = bearer_token(request)
        cached = self.verified.get(token)
        if cached is not None:
            claims, kid = cached
            if kid in await self.key_ids():  # its key withdrawn meanwhile: verified again, and refused
                return claims
            self.verified.forget(token)
        claims = await self.verify(token)
        self.verified.put(token, claims, token_kid(token))
        return claims

    async def key_ids(self) -> AbstractSet[str]:
        """The kids of the keys tokens are accepted from now (refreshed as `verify` refreshes them)."""
        return (await self.tokens.keys()).kids

    async def verify(self, token: str) -> dict[str, Any]:
        """Signature, issuer, audience and lifetime of a token not verified before (ES256: ~0.3 ms of CPU)."""
        try:
            return await self.tokens.validate(token)
        except InvalidToken as exc:
            raise Unauthorized(str(exc)) from exc

    async def authenticate(self, request: Request) -> Principal:
        claims = await self.claims(request)
        client = await self.client(str(claims["sub"]))
        if client is None or not client.enabled:
            raise Unauthorized("the client of this token is unknown or disabled")
        enforce_cert_binding(request, claims, required=is_cert_bound_client(client))
        granted = grantable(client.scopes.split(), client.role == Role.BL.value)
        scopes = frozenset(s for s in str(claims.get("scope", "")).split() if s in granted)
        return Principal(
            client_id=client.client_id,
            role=Role(client.role),
            scopes=scopes,
            ven_name=client.ven_name,
            operator=client.operator,
            claims=claims,
            stage=client.stage,
        )


def build_authenticator(settings: Settings, db: Database, tokens: TokenService) -> BuiltinAuthenticator:
    """The authenticator for `settings.auth_mode`: the VTN's own tokens, or an external AS's."""
    if settings.auth_mode == "external":
        from vtn.auth.external import ExternalAuthenticator, JwksSource

        if not settings.external_issuer:
            raise ValueError("VTN_AUTH_MODE=external needs VTN_EXTERNAL_ISSUER")
        jwks = JwksSource(settings.external_jwks_url, settings.external_jwks_file)
        return ExternalAuthenticator(db, settings.external_issuer, tokens.audience, jwks, settings.external_scope_claim,
                                     settings.token_cache_entries)
    return BuiltinAuthenticator(db, tokens, settings.token_cache_entries)
