"""The one auth hook every operation goes through: `requires(scope)`.

The authenticator (built by `vtn.auth`) turns a request into a `Principal`; this module only
checks the scope the spec requires for the operation and records who asked.
"""

from __future__ import annotations

from collections.abc import Iterable
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
    # OpenADR 3.1.0 read scopes (D310 "OAuth2 Security Scopes"); what each may read is vtn.auth.privacy's one rule
    READ_TARGETS = "read_targets"
    READ_VEN_OBJECTS = "read_ven_objects"
    READ_BL = "read_bl"  # named by the 3.1.0 YAML's /notifiers operations only (checklist G)


SCOPE_DESCRIPTIONS = {
    Scope.READ_ALL: "VENs and BL can read all resources",
    Scope.WRITE_PROGRAMS: "Only BL can write to programs",
    Scope.WRITE_EVENTS: "Only BL can write to events",
    Scope.WRITE_REPORTS: "only VENs can write to reports",
    Scope.WRITE_SUBSCRIPTIONS: "VENs and BL can write to subscriptions",
    Scope.WRITE_VENS: "VENS and BL can write to vens and resources",
    Scope.READ_TARGETS: "VENs may only read objects with targets by providing matching targets",
    Scope.READ_VEN_OBJECTS: "VENs may only read objects whose clientID matches their own",
    Scope.READ_BL: "BL can read all resources (3.1.0 /notifiers)",
}


def grantable(scopes: Iterable[str], is_bl: bool) -> set[str]:
    """A client's registered scopes plus the 3.1.0 names they imply (`holds`): what a token may ask for, so a
    3.1.0 client asking `scope=read_targets read_ven_objects` gets them from a 3.0.1 `read_all` registration."""
    out = set(scopes)
    if Scope.READ_ALL.value in out:
        out |= {Scope.READ_TARGETS.value, Scope.READ_VEN_OBJECTS.value}
        if is_bl:
            out.add(Scope.READ_BL.value)
    return out


def holds(principal: Principal, scope: str) -> bool:
    """Whether `principal` may call an operation that requires `scope`, across the two versions' scope names.

    A scope only opens the operation; what the caller then sees is decided by vtn.auth.privacy alone. So:
    3.0.1 `read_all` opens the 3.1.0 reads (`read_targets`, `read_ven_objects`), and a 3.1.0 VEN token
    holding both of those opens the 3.0.1 reads; `read_bl` is held by BL clients with `read_all`.
    """
    held = principal.scopes
    if scope in held:
        return True
    match scope:
        case Scope.READ_TARGETS | Scope.READ_VEN_OBJECTS:
            return Scope.READ_ALL.value in held
        case Scope.READ_ALL:
            return {Scope.READ_TARGETS.value, Scope.READ_VEN_OBJECTS.value} <= held
        case Scope.READ_BL:
            return principal.is_bl and Scope.READ_ALL.value in held
    return False


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


async def current_principal(
    request: Request,
    security_scopes: SecurityScopes,
    _token: str | None = Security(oauth2_scheme),
) -> Principal:
    state = request.app.state
    authenticator: Authenticator = state.authenticator
    principal = await authenticator.authenticate(request)
    heartbeats: Heartbeats | None = getattr(state, "heartbeats", None)
    if heartbeats is not None:  # a VEN that calls is alive, whatever it asked
        heartbeats.record(principal)
    missing = [s for s in security_scopes.scopes if not holds(principal, s)]
    if missing:
        raise Forbidden(f"this operation needs the scope {', '.join(missing)}")
    return principal


def requires(scope: Scope) -> object:
    """Dependency: the caller must hold `scope`; returns the `Principal`."""
    return Security(current_principal, scopes=[scope.value])


async def require_bl(principal: Annotated[Principal, Security(current_principal, scopes=[])]) -> Principal:
    """Dependency of the operator (`/admin/...`) endpoints: business-logic clients only, else 403."""
    if not principal.is_bl:
        raise Forbidden("operator endpoints are for business-logic (BL) clients only")
    return principal
