"""External authorisation-server mode (`VTN_AUTH_MODE=external`).

Access tokens come from an OAuth2 authorisation server the operator already runs (Keycloak, Entra ID,
…). The VTN only validates them: signature against the AS's JWKS (a URL, cached and refetched on an
unknown `kid` at most every `MIN_REFETCH_SECONDS`; or a file, reread when it changes), `iss` =
`VTN_EXTERNAL_ISSUER`, `aud` = `VTN_TOKEN_AUDIENCE` (default: the VTN's public URL), `exp`, `sub`.
Scopes come from the claim `VTN_EXTERNAL_SCOPE_CLAIM` (a space-separated string or a list).

Who the caller is (role and ven binding):

1. The client registry first: the row whose client_id equals the token's `client_id` claim (RFC 9068),
   else `azp`, else `sub`. The row decides role and ven; the token's scopes are narrowed to the row's;
   a disabled row is refused; a row with a certificate binding needs a certificate-bound token.
2. Otherwise the claims: `openadr_role` ("BL" or "VEN") and, for a VEN, `ven_name`. A token with
   neither a registry row nor these claims is refused (403).

A token carrying `cnf.x5t#S256` (RFC 8705) is only accepted with the matching client certificate.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Set as AbstractSet
from pathlib import Path
from typing import Any

import httpx2
from fastapi import Request
from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from vtn.auth.authenticator import (
    BuiltinAuthenticator,
    TokenCache,
    enforce_cert_binding,
    is_cert_bound_client,
)
from vtn.auth.tokens import InvalidToken, decode_and_check
from vtn.core.database import Database
from vtn.core.errors import Forbidden, Unauthorized
from vtn.core.security import Principal, Role, Scope, grantable

ALGORITHMS = ["ES256", "ES384", "RS256", "PS256"]
ROLE_CLAIM = "openadr_role"
VEN_CLAIM = "ven_name"
OPERATOR_CLAIM = "operator"  # the tenant of an unregistered client ('' = the default operator)


def _operator_claim(claims: dict[str, Any]) -> str:
    value = claims.get(OPERATOR_CLAIM, "")
    if not isinstance(value, str) or len(value) > 64:
        raise Forbidden(f"the token's {OPERATOR_CLAIM} claim must be a string of at most 64 characters")
    return value
CACHE_SECONDS = 300.0
MIN_REFETCH_SECONDS = 30.0
FETCH_TIMEOUT_SECONDS = 5.0


class JwksSource:
    """The external AS's public keys from a URL or a file."""

    def __init__(self, url: str | None = None, path: str | None = None, *, cache_seconds: float = CACHE_SECONDS,
                 min_refetch_seconds: float = MIN_REFETCH_SECONDS) -> None:
        if not url and not path:
            raise ValueError("external auth mode needs VTN_EXTERNAL_JWKS_URL or VTN_EXTERNAL_JWKS_FILE")
        self.url, self.path = url, path
        self.cache_seconds, self.min_refetch_seconds = cache_seconds, min_refetch_seconds
        self._keys: KeySet | None = None
        self.kids: set[str] = set()
        self._fetched_at = float("-inf")
        self._version: float | None = None
        self._lock = asyncio.Lock()
        self.fetches = 0

    def _set(self, document: dict[str, Any]) -> None:
        self._keys = KeySet.import_key_set(document)  # type: ignore[arg-type]
        self.kids = {str(k.get("kid")) for k in document.get("keys", []) if k.get("kid")}
        self.fetches += 1

    async def _load(self) -> None:
        if self.path:
            path = self.path
            version = os.stat(path).st_mtime
            if version != self._version or self._keys is None:
                self._set(json.loads(await asyncio.to_thread(Path(path).read_text, "utf-8")))
                self._version = version
        else:
            assert self.url
            async with httpx2.AsyncClient(timeout=FETCH_TIMEOUT_SECONDS) as client:
                response = await client.get(self.url, headers={"Accept": "application/json"})
                response.raise_for_status()
                self._set(response.json())
        self._fetched_at = time.monotonic()

    async def key_set(self, kid: str | None) -> KeySet:
        seen = self._fetched_at
        age = time.monotonic() - seen
        stale = self._keys is None or age > self.cache_seconds or (self.path is not None and age > 1.0)
        unknown = kid is not None and kid not in self.kids and age > self.min_refetch_seconds
        if stale or unknown:
            async with self._lock:
                if self._fetched_at != seen:  # another request reloaded meanwhile
                    assert self._keys is not None
                    return self._keys
                try:
                    await self._load()
                except (OSError, ValueError, httpx2.HTTPError) as exc:
                    if self._keys is None:
                        raise Unauthorized("the authorisation server's keys are unavailable") from exc
                    self._fetched_at = time.monotonic()  # keep the old keys; retry after the back-off
        assert self._keys is not None
        return self._keys


def _scopes(value: Any) -> set[str]:
    if isinstance(value, str):
        return set(value.split())
    if isinstance(value, list):
        return {str(v) for v in value}
    return set()


class ExternalAuthenticator(BuiltinAuthenticator):
    """Validates tokens of an external AS; binds them to roles through the registry or claims."""

    def __init__(self, db: Database, issuer: str, audience: str, jwks: JwksSource, scope_claim: str = "scope",
                 token_cache_entries: int = 20_000) -> None:
        self.db = db
        self.issuer, self.audience, self.jwks, self.scope_claim = issuer, audience, jwks, scope_claim
        self.verified = TokenCache(token_cache_entries)
        self._clients = {}

    async def key_ids(self) -> AbstractSet[str]:
        await self.jwks.key_set(None)  # refreshed when stale
        return self.jwks.kids

    async def verify(self, token: str) -> dict[str, Any]:
        try:
            kid = jws.extract_compact(token.encode()).headers().get("kid")
        except (JoseError, ValueError) as exc:
            raise Unauthorized("malformed token") from exc
        keys = await self.jwks.key_set(str(kid) if kid else None)
        try:
            return decode_and_check(token, keys, self.issuer, self.audience, ALGORITHMS)
        except InvalidToken as exc:
            raise Unauthorized(str(exc)) from exc

    async def authenticate(self, request: Request) -> Principal:
        claims = await self.claims(request)
        token_scopes = _scopes(claims.get(self.scope_claim))
        candidates = [claims.get("client_id"), claims.get("azp"), claims.get("sub")]
        for candidate in dict.fromkeys(str(c) for c in candidates if c):
            client = await self.client(candidate)
            if client is None:
                continue
            if not client.enabled:
                raise Unauthorized("the client of this token is disabled")
            enforce_cert_binding(request, claims, required=is_cert_bound_client(client))
            granted = grantable(client.scopes.split(), client.role == Role.BL.value)
            return Principal(client.client_id, Role(client.role), frozenset(token_scopes & granted),
                             client.ven_name, client.operator, claims, stage=client.stage)
        enforce_cert_binding(request, claims)
        try:
            role = Role(str(claims.get(ROLE_CLAIM)))
        except ValueError as exc:
            raise Forbidden(f"the token's client is not registered here and has no valid {ROLE_CLAIM} claim") from exc
        ven_name = claims.get(VEN_CLAIM)
        if role == Role.VEN and not (isinstance(ven_name, str) and ven_name):
            raise Forbidden(f"a VEN token must carry the {VEN_CLAIM} claim")
        known = {s.value for s in Scope}
        client_id = str(candidates[0] or candidates[1] or candidates[2])
        return Principal(client_id, role, frozenset(token_scopes & known),
                         str(ven_name) if role == Role.VEN else None, _operator_claim(claims), claims)
