"""Client registry operations and client authentication."""

from __future__ import annotations

import asyncio
import re
import secrets
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlmodel.ext.asyncio.session import AsyncSession

from vtn.audit import service as audit
from vtn.auth.models import ClientRow
from vtn.core.database import all_rows, get_or_404, utcnow
from vtn.core.errors import BadRequest
from vtn.core.security import Role, Scope, Stage, is_write_scope

_hasher = PasswordHasher()
CLIENT_REVISION = "CLIENT"  # the change revision of the client registry
# A dummy hash verified when the client is unknown, so timing does not reveal which ids exist.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))

DEFAULT_SCOPES = {
    Role.BL: [Scope.READ_ALL, Scope.WRITE_PROGRAMS, Scope.WRITE_EVENTS, Scope.WRITE_SUBSCRIPTIONS, Scope.WRITE_VENS],
    Role.VEN: [Scope.READ_ALL, Scope.WRITE_REPORTS, Scope.WRITE_SUBSCRIPTIONS, Scope.WRITE_VENS],
}


class ScopeRefused(Exception):
    """A requested scope the client was not granted (RFC 6749 §5.2 `invalid_scope`)."""

    def __init__(self, refused: list[str]) -> None:
        super().__init__(" ".join(refused))
        self.refused = refused


def issued_scopes(granted: list[str], requested: str | None, grantable: set[str] | None = None) -> list[str]:
    """The scopes a token of the built-in endpoint carries, given the client's grant and its `scope`.

    RFC 6749 §3.3: the server may issue other scopes than asked, and says which in the answer's `scope`.
    - A scope the client may not have is refused (`invalid_scope`): a token never exceeds the grant.
      `grantable` is the grant plus the 3.1.0 names it implies (vtn.core.security.grantable); those are
      added to the token when asked for by name.
    - No `scope`, or one naming only read scopes (`scope=read_all`, what many OpenADR clients send by
      habit before they write reports): the client's whole grant, like an authorisation server's
      default client scopes (Keycloak), so such clients work unmodified.
    - A `scope` naming a write scope narrows the token to exactly the scopes named.
    What a client may do is set by its registration (a read-only client: `--scopes read_all`), never widened.
    """
    allowed = set(granted) if grantable is None else grantable
    wanted = list(dict.fromkeys((requested or "").split()))
    refused = [s for s in wanted if s not in allowed]
    if refused:
        raise ScopeRefused(refused)
    implied = [s for s in wanted if s not in granted]
    if not any(is_write_scope(s) for s in wanted):
        return list(granted) + implied
    return [s for s in granted if s in wanted] + implied


@dataclass(frozen=True)
class NewClient:
    client: ClientRow
    secret: str | None


OPERATOR_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


def check_operator_id(operator: str) -> None:
    """A tenant id: '' (the default operator) or 1-64 letters, digits, '_' or '-' (e.g. NGED)."""
    if operator and not OPERATOR_ID.fullmatch(operator):
        raise BadRequest(f"operator {operator!r} must be 1-64 letters, digits, '_' or '-'")


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def clients_changed(session: AsyncSession) -> None:
    """Every process reads its cached client rows again once this commits (vtn.auth.authenticator)."""
    from vtn.notifications.outbox import mark_changed

    mark_changed(session, CLIENT_REVISION)


async def add_client(
    session: AsyncSession,
    client_id: str,
    role: Role,
    *,
    scopes: list[str] | None = None,
    ven_name: str | None = None,
    cert_subject_dn: str | None = None,
    cert_san: str | None = None,
    with_secret: bool = True,
    operator: str = "",
    actor: audit.Actor | None = None,
    stage: Stage = Stage.LIVE,
) -> NewClient:
    """Register a client of `operator` (`actor`: who does it; the local `vtn` command's user when None)."""
    check_operator_id(operator)
    if role == Role.VEN and not ven_name:
        raise BadRequest("a VEN client must be bound to a ven name")
    if await session.get(ClientRow, client_id) is not None:
        raise BadRequest(f"client {client_id!r} already exists")
    granted = scopes if scopes is not None else [s.value for s in DEFAULT_SCOPES[role]]
    unknown = sorted(set(granted) - {s.value for s in Scope})
    if unknown:
        raise BadRequest(f"unknown scopes: {', '.join(unknown)}")
    secret = new_secret() if with_secret else None
    client = ClientRow(
        client_id=client_id,
        secret_hash=_hasher.hash(secret) if secret else None,
        role=role.value,
        scopes=" ".join(granted),
        ven_name=ven_name if role == Role.VEN else None,
        cert_subject_dn=cert_subject_dn,
        cert_san=cert_san,
        operator=operator,
        created_at=utcnow(),
        stage=stage.value if role == Role.VEN else Stage.LIVE.value,  # BL clients are not staged
    )
    session.add(client)
    clients_changed(session)
    await session.flush()
    await audit.record(session, actor or audit.Actor.local(), "client.add", "client", client_id, detail={
        "role": client.role, "venName": client.ven_name, "scopes": client.scopes, "secret": secret is not None,
        "certBound": bool(cert_subject_dn or cert_san), "stage": client.stage}, operator=operator)
    return NewClient(client, secret)


async def list_clients(session: AsyncSession) -> list[ClientRow]:
    return await all_rows(session, ClientRow, ClientRow.client_id)


async def set_enabled(session: AsyncSession, client_id: str, enabled: bool, *, actor: audit.Actor | None = None) -> ClientRow:
    client = await get_or_404(session, ClientRow, client_id, "client")
    client.enabled = enabled
    session.add(client)
    clients_changed(session)
    await audit.record(session, actor or audit.Actor.local(), "client.enable" if enabled else "client.disable", "client",
                       client_id, operator=client.operator)
    return client


async def rotate_secret(session: AsyncSession, client_id: str, *, actor: audit.Actor | None = None) -> str:
    client = await get_or_404(session, ClientRow, client_id, "client")
    secret = new_secret()
    client.secret_hash = _hasher.hash(secret)
    client.secret_rotated_at = utcnow()
    session.add(client)
    await audit.record(session, actor or audit.Actor.local(), "client.rotate_secret", "client", client_id,
                       operator=client.operator)
    return secret


def _verify(stored: str, secret: str) -> bool:
    try:
        return _hasher.verify(stored, secret)
    except (VerificationError, InvalidHashError):
        return False


async def verify_secret(session: AsyncSession, client_id: str, secret: str) -> ClientRow | None:
    """The enabled client with this id and secret, or None (constant work either way)."""
    client = await session.get(ClientRow, client_id)
    stored = client.secret_hash if client is not None and client.secret_hash else _DUMMY_HASH
    ok = await asyncio.to_thread(_verify, stored, secret)
    if not ok or client is None or client.secret_hash is None or not client.enabled:
        return None
    return client
