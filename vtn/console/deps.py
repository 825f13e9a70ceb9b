"""Console dependencies: who is signed in, which role, CSRF, and the Viewer the services see.

Console pages never read data themselves: they build the same `Viewer` a REST caller would have
(`viewer_for_account`) and call the same services, so privacy has one implementation.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Annotated, TypeVar

from fastapi import Depends, Request
from sqlmodel.ext.asyncio.session import AsyncSession

from vtn.auth.privacy import Viewer, resolve_viewer, ven_stage
from vtn.auth.service import DEFAULT_SCOPES
from vtn.console import service
from vtn.console.models import AccountRole
from vtn.core.database import Database, utcnow
from vtn.core.errors import BadRequest, Forbidden, NotFound
from vtn.core.pagination import Page
from vtn.core.security import Principal, Role, Scope
from vtn.core.settings import Settings

SESSION_COOKIE = "vtn_console"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
SERVICE_PAGE = 50  # the spec's largest page: list services answer in pages of at most this
T = TypeVar("T")


@dataclass(frozen=True)
class Account:
    """The signed-in person, as the pages see it (no password hash, no session id)."""

    username: str
    role: AccountRole
    ven_names: tuple[str, ...]
    csrf_token: str
    session_id_hash: str
    operator: str = ""  # the tenant the account belongs to
    has_totp: bool = False
    must_enrol: bool = False  # an operator without TOTP while VTN_CONSOLE_REQUIRE_MFA: only the enrolment page

    @property
    def is_operator(self) -> bool:
        return self.role == AccountRole.OPERATOR

    @property
    def is_fsp(self) -> bool:
        return self.role == AccountRole.FSP


class SignInRequired(Exception):
    """No valid session: pages redirect to the sign-in form, htmx requests get 401 + HX-Redirect."""


class EnrolmentRequired(Exception):
    """Signed in, but the account must enrol a second factor first: GET → the enrolment page, anything else 403."""



def is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


def console_settings(request: Request) -> Settings:
    return request.app.state.settings  # type: ignore[no-any-return]


async def session_account(request: Request) -> Account:
    """The account of the session cookie, even one that must enrol a second factor first (`Account.must_enrol`);
    raises `SignInRequired` when there is none, it expired, or it still waits for the second factor.

    Only the enrolment page and sign-out take this; every other route takes `current_account`."""
    cached = getattr(request.state, "console_account", None)
    if isinstance(cached, Account):
        return cached
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        raise SignInRequired
    db: Database = request.app.state.db
    settings = console_settings(request)
    now = utcnow()
    async with db.session(write=False) as session:
        found = await service.lookup_session(session, token, settings, now)
    if found is None:
        raise SignInRequired
    row, user = found
    if (now - row.last_seen).total_seconds() >= service.touch_interval(settings):
        async with db.session() as session:
            await service.touch_session(session, row.id_hash, now)
    account = Account(user.username, AccountRole(user.role), tuple(user.ven_names), row.csrf_token, row.id_hash,
                      operator=user.operator, has_totp=user.has_totp, must_enrol=service.must_enrol(user, settings))
    request.state.console_account = account
    return account


async def current_account(request: Request) -> Account:
    """The signed-in account; `SignInRequired` without a session, `EnrolmentRequired` while it must enrol."""
    account = await session_account(request)
    if account.must_enrol:
        raise EnrolmentRequired
    return account


async def optional_account(request: Request) -> Account | None:
    try:
        return await session_account(request)
    except SignInRequired:
        return None


async def require_operator(account: Annotated[Account, Depends(current_account)]) -> Account:
    if not account.is_operator:
        raise Forbidden("this page is for operator accounts")
    return account


async def require_fsp(account: Annotated[Account, Depends(current_account)]) -> Account:
    if not account.is_fsp:
        raise Forbidden("this page is for FSP accounts")
    return account


async def submitted_csrf_token(request: Request) -> str | None:
    """The token of an unsafe request: the `X-CSRF-Token` header (htmx) or the `csrf_token` form field."""
    header = request.headers.get(CSRF_HEADER)
    if header is not None:
        return header
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media not in ("application/x-www-form-urlencoded", "multipart/form-data"):
        return None
    try:
        form = await request.form()  # Starlette caches it: the endpoint's Form() fields still work
    except Exception as exc:  # malformed multipart etc.: bad input, not a server fault
        raise BadRequest("the form could not be read") from exc
    value = form.get(CSRF_FIELD)
    return value if isinstance(value, str) else None


def tokens_match(sent: str | None, expected: str) -> bool:
    # An empty expected token (no cookie) must never match an empty submission.
    return bool(sent) and bool(expected) and hmac.compare_digest(sent.encode(), expected.encode())  # type: ignore[union-attr]


async def csrf_protect(request: Request, account: Annotated[Account, Depends(session_account)]) -> None:
    """Every unsafe method must echo the session's CSRF token, else 403."""
    if request.method in SAFE_METHODS:
        return
    if not tokens_match(await submitted_csrf_token(request), account.csrf_token):
        raise Forbidden("the form's security token is missing or out of date; reload the page and try again")


async def refuse_nul(request: Request) -> None:
    """A NUL character in the path, query or form is bad input (PostgreSQL cannot store it): a 400 page, not a 500."""
    values = [request.url.path, *request.query_params.values()]
    if request.method not in SAFE_METHODS:
        media = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media in ("application/x-www-form-urlencoded", "multipart/form-data"):
            try:
                form = await request.form()
            except Exception as exc:
                raise BadRequest("the form could not be read") from exc
            values += [v for v in form.values() if isinstance(v, str)]
    if any("\x00" in v for v in values):
        raise BadRequest("the input contains a NUL character")


SessionAccount = Annotated[Account, Depends(session_account)]
CurrentAccount = Annotated[Account, Depends(current_account)]
OperatorAccount = Annotated[Account, Depends(require_operator)]
FspAccount = Annotated[Account, Depends(require_fsp)]


def principal_for_account(account: Account, ven_name: str | None = None) -> Principal:
    """An operator acts as a BL client with every scope; an FSP as the VEN client of one bound VEN."""
    client_id = f"console:{account.username}"
    if account.is_operator:
        return Principal(
            client_id=client_id, role=Role.BL, scopes=frozenset(s.value for s in Scope), operator=account.operator
        )
    if ven_name is None:
        if not account.ven_names:
            raise Forbidden("this account is bound to no VEN")
        ven_name = account.ven_names[0]
    elif ven_name not in account.ven_names:
        raise NotFound(f"no VEN named {ven_name!r} for this account")  # 404 as for any object one may not see
    scopes = frozenset(s.value for s in DEFAULT_SCOPES[Role.VEN])
    return Principal(client_id=client_id, role=Role.VEN, scopes=scopes, ven_name=ven_name, operator=account.operator)


async def viewer_for_account(session: AsyncSession, account: Account, ven_name: str | None = None) -> Viewer:
    """The `Viewer` services take: exactly what a BL token (operator) or that VEN's token (FSP) would be."""
    principal = principal_for_account(account, ven_name)
    if not principal.is_bl:
        principal = replace(principal, stage=await ven_stage(session, account.operator, principal.ven_name))
    return await resolve_viewer(session, principal)


async def viewers_for_account(session: AsyncSession, account: Account) -> list[Viewer]:
    """One Viewer per bound VEN of an FSP account (a single BL viewer for an operator)."""
    if account.is_operator:
        return [await viewer_for_account(session, account)]
    return [await viewer_for_account(session, account, name) for name in account.ven_names]


async def all_pages(fetch: Callable[[Page], Awaitable[list[T]]], cap: int | None = None) -> tuple[list[T], bool]:
    """Every item of a paged service list call (`fetch(Page(skip, limit))`), up to `cap`; and whether `cap` cut it."""
    items: list[T] = []
    while True:
        page = await fetch(Page(len(items), SERVICE_PAGE))
        items += page
        if len(page) < SERVICE_PAGE:
            return items, False
        if cap is not None and len(items) >= cap:
            return items[:cap], True
