"""The one auth hook every operation goes through: `requires(scope)`.

The authenticator (built by `vtn.auth`) turns a request into a `Principal`; this module only
checks the scope the spec requires for the operation and records who asked.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Annotated, Protocol

from fastapi import Request, Security
from fastapi.openapi.models import OAuthFlowClientCredentials, OAuthFlows
from fastapi.security import OAuth2, SecurityScopes

from vtn.core.errors import Forbidden


class Scope(StrEnum):
    READ_ALL = "read_all"
    WRITE_PROGRAMS = "write_programs"
    WRITE_EVENTS = "write_events"
    WRITE_REPORTS = "write_reports"
    WRITE_SUBSCRIPTIONS = "write_subscriptions"
    WRITE_VENS = "write_vens"


SCOPE_DESCRIPTIONS = {
    Scope.READ_ALL: "VENs and BL can read all resources",
    Scope.WRITE_PROGRAMS: "Only BL can write to programs",
    Scope.WRITE_EVENTS: "Only BL can write to events",
    Scope.WRITE_REPORTS: "only VENs can write to reports",
    Scope.WRITE_SUBSCRIPTIONS: "VENs and BL can write to subscriptions",
    Scope.WRITE_VENS: "VENS and BL can write to vens and resources",
}


class Role(StrEnum):
    BL = "BL"
    VEN = "VEN"


class Stage(StrEnum):
    """Where a VEN client is on its way to dispatch (docs/conformance.md, "Sandbox to live")."""

    SANDBOX = "sandbox"  # sees sandbox programs only, until an operator approves its sign-off
    LIVE = "live"


@dataclass(frozen=True)
class Principal:
    """Who is calling: a business-logic client (network operator) or a VEN client (FSP)."""

    client_id: str
    role: Role
    scopes: frozenset[str]
    ven_name: str | None = None  # the ven a VEN client is bound to
    operator: str = ""  # the tenant: the network operator this client belongs to ('' = the default one)
    claims: dict[str, object] = field(default_factory=dict, compare=False, hash=False)
    stage: str = Stage.LIVE.value  # a VEN client's stage (vtn.auth.privacy); BL clients are always live

    @property
    def is_bl(self) -> bool:
        return self.role == Role.BL


class Authenticator(Protocol):
    async def authenticate(self, request: Request) -> Principal: ...


class Heartbeats(Protocol):
    def record(self, principal: Principal) -> None: ...


oauth2_scheme = OAuth2(
    flows=OAuthFlows(
        clientCredentials=OAuthFlowClientCredentials(
            tokenUrl="auth/token", scopes={s.value: d for s, d in SCOPE_DESCRIPTIONS.items()}
        )
    ),
    scheme_name="oAuth2ClientCredentials",
    description="Client credential flow.",
    auto_error=False,
)


async def authenticated(request: Request, scopes: list[str]) -> Principal:
    """The caller of `request`, who must hold every scope in `scopes` (401/403 otherwise)."""
    state = request.app.state
    authenticator: Authenticator = state.authenticator
    principal = await authenticator.authenticate(request)
    heartbeats: Heartbeats | None = getattr(state, "heartbeats", None)
    if heartbeats is not None:  # a VEN that calls is alive, whatever it asked
        heartbeats.record(principal)
    missing = [s for s in scopes if s not in principal.scopes]
    if missing:
        raise Forbidden(f"this operation needs the scope {', '.join(missing)}")
    return principal


async def current_principal(
    request: Request,
    security_scopes: SecurityScopes,
    _token: str | None = Security(oauth2_scheme),
) -> Principal:
    return await authenticated(request, security_scopes.scopes)


def requires(scope: Scope) -> object:
    """Dependency: the caller must hold `scope`; returns the `Principal`."""
    return Security(current_principal, scopes=[scope.value])


async def require_bl(principal: Annotated[Principal, Security(current_principal, scopes=[])]) -> Principal:
    """Dependency of the operator (`/admin/...`) endpoints: business-logic clients only, else 403."""
    if not principal.is_bl:
        raise Forbidden("operator endpoints are for business-logic (BL) clients only")
    return principal
