"""The console application: sign-in/out, home, error pages, security headers, static files.

It is a FastAPI sub-application mounted at `settings.console_path`, so its errors are HTML pages
(the API's stay problem+json) and its headers (CSP, frame denial) apply only to it. It shares the
VTN's `app.state` (database, settings), hence the same services and data.
"""

from __future__ import annotations

import logging
import secrets
import uuid
from datetime import datetime
from pathlib import Path
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, FastAPI, Form, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import IntegrityError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from vtn.console import delivery, fsp, operator, service, statements, terms, totp
from vtn.console.deps import (
    SAFE_METHODS,
    SESSION_COOKIE,
    Account,
    CurrentAccount,
    EnrolmentRequired,
    SessionAccount,
    SignInRequired,
    csrf_protect,
    is_htmx,
    optional_account,
    refuse_nul,
    require_fsp,
    require_operator,
    tokens_match,
    viewer_for_account,
)
from vtn.console.models import ConsoleUser
from vtn.core.database import Database
from vtn.core.errors import ApiError, BadRequest
from vtn.core.settings import Settings

from .templating import console_url, delete_cookie, flash, redirect, render, set_cookie

log = logging.getLogger("vtn.console")
STATIC = Path(__file__).parent / "static"
PRE_CSRF_COOKIE = "vtn_console_signin"  # double-submit token of the sign-in and invitation forms (no session yet)
# Unsafe routes used before a session exists: each checks its own token (the double-submit cookie, or the
# token of the session waiting for its code). tests/test_console_routes.py checks the others need a session.
PRE_SESSION_PATHS = frozenset({"/signin", "/signin/code", "/invite/{token}"})
ENROL_PATH = "/account/two-factor"

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "content-security-policy": CSP,
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "permissions-policy": "camera=(), microphone=(), geolocation=()",
    "cross-origin-opener-policy": "same-origin",
}


class SecurityHeaders:
    """Adds the console's security headers to every response; pages are never cached (they are personal).

    It wraps the whole console application (see `install_console`), outside Starlette's error middleware,
    so the 500 page gets the headers too. Only the console's own `/static/` files may be cached.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        is_static = scope["path"].startswith(scope.get("root_path", "") + "/static/")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {k.decode("latin-1").lower() for k, _ in headers}
                extra = dict(SECURITY_HEADERS)
                if not is_static:
                    extra["cache-control"] = "no-store"
                headers += [(k.encode(), v.encode()) for k, v in extra.items() if k not in present]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _safe_next(value: str | None) -> str:
    """Only a path inside the console, never another site (`//evil`, `https://…`)."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value or len(value) > 512:
        return "/"
    return value


# ---------------------------------------------------------------------------------------------- pages

router = APIRouter()


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
async def home(request: Request, account: CurrentAccount) -> Response:
    if account.is_operator:
        return render(request, "home_operator.html", {"title": "Dashboard", "sections": operator.NAV})
    db: Database = request.app.state.db
    vens = []
    async with db.session(write=False) as session:
        for name in account.ven_names:
            viewer = await viewer_for_account(session, account, name)
            vens.append({"name": name, "registered": viewer.ven_id is not None, "ven_id": viewer.ven_id,
                         "resources": sorted(v for t, v in viewer.granted if t == "RESOURCE_NAME")})
    return render(request, "home_fsp.html", {"title": "Your VENs", "vens": vens, "sections": fsp.NAV})


def _signin_page(request: Request, *, token: str, next_path: str, username: str = "", error: str | None = None,
                 status_code: int = 200, headers: dict[str, str] | None = None) -> Response:
    messages = [("error", error)] if error else None
    response = render(request, "signin.html", {"title": "Sign in", "signin_token": token, "next": next_path,
                                               "username": username}, status_code=status_code, headers=headers,
                      messages=messages)
    set_cookie(request, response, PRE_CSRF_COOKIE, token)
    return response


@router.get("/signin", response_class=HTMLResponse, include_in_schema=False)
async def signin_form(request: Request, next: str | None = None) -> Response:
    if await optional_account(request) is not None:
        return RedirectResponse(console_url(request, _safe_next(next)), status_code=303)
    token = request.cookies.get(PRE_CSRF_COOKIE) or secrets.token_urlsafe(32)
    return _signin_page(request, token=token, next_path=_safe_next(next))


@router.post("/signin", response_class=HTMLResponse, include_in_schema=False)
async def signin(
    request: Request,
    username: Annotated[str, Form(max_length=200)] = "",
    password: Annotated[str, Form(max_length=service.MAX_PASSWORD_LENGTH)] = "",
    csrf_token: Annotated[str, Form(max_length=200)] = "",
    next: Annotated[str, Form(max_length=600)] = "/",
) -> Response:
    settings: Settings = request.app.state.settings
    next_path = _safe_next(next)
    fresh = secrets.token_urlsafe(32)
    if not tokens_match(csrf_token, request.cookies.get(PRE_CSRF_COOKIE) or ""):
        return _signin_page(request, token=fresh, next_path=next_path, username=username, status_code=403,
                            error="The sign-in form expired. Please try again.")
    address = request.client.host if request.client else "unknown"
    wait = request.app.state.console_limiter.hit(address, username)
    if wait is not None:
        log.warning("console sign-in rate limited: %s from %s", username[:64], address)
        return _signin_page(request, token=fresh, next_path=next_path, username=username, status_code=429,
                            headers={"Retry-After": str(int(wait) + 1)},
                            error=f"Too many sign-in attempts. Wait {int(wait) + 1} seconds and try again.")
    db: Database = request.app.state.db
    result = await service.authenticate(db, username, password, settings, replaces=request.cookies.get(SESSION_COOKIE),
                                        address=address)
    created = result.session
    if created is None:
        log.info("console sign-in refused for %r from %s: %s", username[:64], address, result.reason)
        return _signin_page(request, token=fresh, next_path=next_path, username=username, status_code=401,
                            error="Sign-in failed: wrong username or password, or the account is locked or disabled. "
                                  "After repeated failures an account is locked for a while.")
    if result.needs_code:
        log.info("console password accepted, code asked: %s from %s", username, address)
        response = RedirectResponse(console_url(request, "/signin/code") + f"?next={quote(next_path, safe='/')}",
                                    status_code=303)
        set_cookie(request, response, SESSION_COOKIE, created.token, max_age=settings.console_code_step_seconds)
        delete_cookie(request, response, PRE_CSRF_COOKIE)
        return response
    log.info("console sign-in: %s from %s", username, address)
    assert result.user is not None
    return _signed_in(request, created, ENROL_PATH if service.must_enrol(result.user, settings) else next_path)


def _signed_in(request: Request, created: service.NewSession, path: str) -> Response:
    settings: Settings = request.app.state.settings
    response = RedirectResponse(console_url(request, path), status_code=303)
    set_cookie(request, response, SESSION_COOKIE, created.token, max_age=settings.console_session_max_seconds)
    delete_cookie(request, response, PRE_CSRF_COOKIE)
    return response


async def _pending_signin(request: Request) -> tuple[str, str] | None:
    """(username, CSRF token) of the session that waits for its second factor, or None."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    db: Database = request.app.state.db
    async with db.session(write=False) as session:
        found = await service.lookup_session(session, token, request.app.state.settings, awaiting_code=True)
    return (found[1].username, found[0].csrf_token) if found else None


def _code_page(request: Request, username: str, csrf: str, next_path: str, *, status_code: int = 200,
               error: str | None = None, headers: dict[str, str] | None = None) -> Response:
    return render(request, "signin_code.html", {"title": "Two-factor sign-in", "username": username, "csrf_token": csrf,
                                                "next": next_path}, status_code=status_code, headers=headers,
                  messages=[("error", error)] if error else None)


def _restart_signin(request: Request, message: str) -> Response:
    response = redirect(request, "/signin", message=message, level="error")
    delete_cookie(request, response, SESSION_COOKIE)
    return response


@router.get("/signin/code", response_class=HTMLResponse, include_in_schema=False)
async def signin_code_form(request: Request, next: str | None = None) -> Response:
    pending = await _pending_signin(request)
    if pending is None:
        return _restart_signin(request, "Sign in with your password first (the code step expires after a few minutes).")
    return _code_page(request, *pending, _safe_next(next))


@router.post("/signin/code", response_class=HTMLResponse, include_in_schema=False)
async def signin_code(
    request: Request,
    code: Annotated[str, Form(max_length=64)] = "",
    csrf_token: Annotated[str, Form(max_length=200)] = "",
    next: Annotated[str, Form(max_length=600)] = "/",
) -> Response:
    settings: Settings = request.app.state.settings
    next_path = _safe_next(next)
    pending = await _pending_signin(request)
    if pending is None:
        return _restart_signin(request, "Sign in with your password first (the code step expires after a few minutes).")
    username, csrf = pending
    if not tokens_match(csrf_token, csrf):
        return _code_page(request, username, csrf, next_path, status_code=403,
                          error="The form's security token is missing or out of date. Please try again.")
    address = request.client.host if request.client else "unknown"
    wait = request.app.state.console_limiter.hit(address, username)
    if wait is not None:
        log.warning("console code rate limited: %s from %s", username, address)
        return _code_page(request, username, csrf, next_path, status_code=429, headers={"Retry-After": str(int(wait) + 1)},
                          error=f"Too many sign-in attempts. Wait {int(wait) + 1} seconds and try again.")
    db: Database = request.app.state.db
    result = await service.verify_second_factor(db, request.cookies.get(SESSION_COOKIE, ""), code, settings)
    if result.session is None:
        log.info("console code refused for %r from %s: %s", username, address, result.reason)
        if result.reason in ("wrong-code", "replayed"):
            return _code_page(request, username, csrf, next_path, status_code=401,
                              error="That code is not right, or it was already used. Wait for the next code. "
                                    "After repeated failures the account is locked for a while.")
        return _restart_signin(request, "Sign-in failed: the account is locked or disabled, or the sign-in expired.")
    log.info("console sign-in: %s from %s (%s)", username, address,
             "recovery code" if result.reason == "ok-recovery-code" else "code")
    response = _signed_in(request, result.session, next_path)
    if result.reason == "ok-recovery-code":
        async with db.session(write=False) as session:
            left = await service.recovery_codes_left(session, username)
        flash(request, response, f"You used a recovery code; {left} left. If the device is lost, ask the administrator "
                                 "to reset your account.", "warning")
    return response


# ---------------------------------------------------------------------------------------------- second factor


async def _enrol_page(request: Request, account: Account, *, error: str | None = None, status_code: int = 200) -> Response:
    db: Database = request.app.state.db
    settings: Settings = request.app.state.settings
    if account.has_totp:
        async with db.session(write=False) as session:
            user = await service.get_user(session, account.username)
            left = await service.recovery_codes_left(session, account.username)
        assert user.totp_enabled_at is not None
        return render(request, "two_factor.html", {"title": "Two-factor sign-in", "enabled": True, "codes_left": left,
                                                   "enabled_at": user.totp_enabled_at.isoformat(timespec="minutes")})
    user = await service.start_enrolment(db, account.username)
    assert user.totp_secret is not None
    uri = totp.provisioning_uri(user.totp_secret, user.username, settings.console_totp_issuer)
    return render(request, "two_factor.html", {"title": "Two-factor sign-in", "enabled": False, "error": error,
                                               "qr": totp.qr_data_uri(uri), "secret": totp.grouped(user.totp_secret)},
                  status_code=status_code)


@router.get(ENROL_PATH, response_class=HTMLResponse, include_in_schema=False)
async def two_factor(request: Request, account: SessionAccount) -> Response:
    return await _enrol_page(request, account)


@router.post(ENROL_PATH, response_class=HTMLResponse, include_in_schema=False,
             dependencies=[Depends(csrf_protect), Depends(refuse_nul)])
async def two_factor_confirm(request: Request, account: SessionAccount,
                             code: Annotated[str, Form(max_length=64)] = "") -> Response:
    db: Database = request.app.state.db
    if account.has_totp:
        return await _enrol_page(request, account)  # e.g. the form sent twice: nothing to confirm
    codes = await service.confirm_enrolment(db, account.username, code)
    if codes is None:
        return await _enrol_page(request, account, status_code=400,
                                 error="That is not the current code of this secret. Check the device's clock and try "
                                       "the next code.")
    log.info("console two-factor enrolled: %s", account.username)
    return render(request, "recovery_codes.html", {"title": "Recovery codes", "codes": codes})


# ---------------------------------------------------------------------------------------------- invitations


def _invite_page(request: Request, token: str, user: ConsoleUser, expires_at: datetime, form_token: str, *,
                 status_code: int = 200, error: str | None = None) -> Response:
    settings: Settings = request.app.state.settings
    context = {"title": "Choose your password", "token": token, "username": user.username, "role": user.role,
               "expires": expires_at.isoformat(timespec="minutes"), "csrf_token": form_token,
               "min_length": service.MIN_PASSWORD_LENGTH, "mfa_next": service.must_enrol(user, settings)}
    response = render(request, "invite.html", context, status_code=status_code,
                      messages=[("error", error)] if error else None)
    set_cookie(request, response, PRE_CSRF_COOKIE, form_token)
    return response


@router.get("/invite/{token}", response_class=HTMLResponse, include_in_schema=False)
async def invitation(request: Request, token: str) -> Response:
    db: Database = request.app.state.db
    async with db.session(write=False) as session:
        found, user = await service.open_invitation(session, token)  # unknown 404, used or expired 410: error pages
    form_token = request.cookies.get(PRE_CSRF_COOKIE) or secrets.token_urlsafe(32)
    return _invite_page(request, token, user, found.expires_at, form_token)


@router.post("/invite/{token}", response_class=HTMLResponse, include_in_schema=False)
async def accept_invitation(
    request: Request,
    token: str,
    password: Annotated[str, Form(max_length=service.MAX_PASSWORD_LENGTH)] = "",
    password_confirm: Annotated[str, Form(max_length=service.MAX_PASSWORD_LENGTH)] = "",
    csrf_token: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    db: Database = request.app.state.db
    settings: Settings = request.app.state.settings
    async with db.session(write=False) as session:
        found, user = await service.open_invitation(session, token)
    fresh = secrets.token_urlsafe(32)
    if not tokens_match(csrf_token, request.cookies.get(PRE_CSRF_COOKIE) or ""):
        return _invite_page(request, token, user, found.expires_at, fresh, status_code=403,
                            error="The form expired. Please try again.")
    if password != password_confirm:
        return _invite_page(request, token, user, found.expires_at, fresh, status_code=400,
                            error="The two passwords differ.")
    try:
        user, created = await service.accept_invitation(db, token, password, settings,
                                                        replaces=request.cookies.get(SESSION_COOKIE))
    except BadRequest as exc:  # the password rules
        return _invite_page(request, token, user, found.expires_at, fresh, status_code=400, error=exc.detail.capitalize())
    log.info("console invitation used: %s", user.username)
    enrol = service.must_enrol(user, settings)
    response = _signed_in(request, created, ENROL_PATH if enrol else "/")
    flash(request, response, "Password set." if enrol else "Password set. You are signed in.", "success")
    return response


# ---------------------------------------------------------------------------------------------- sign-out


@router.post("/signout", include_in_schema=False, dependencies=[Depends(csrf_protect)])
async def signout(request: Request, account: SessionAccount) -> Response:
    db: Database = request.app.state.db
    async with db.session() as session:
        await service.end_session(session, request.cookies.get(SESSION_COOKIE, ""))
    request.state.console_account = None
    response = redirect(request, "/signin", message="You are signed out.", level="success")
    delete_cookie(request, response, SESSION_COOKIE)
    return response


# ---------------------------------------------------------------------------------------------- errors


def _error_page(request: Request, status: int, detail: str, headers: dict[str, str] | None = None) -> Response:
    titles = {400: "Bad request", 403: "Not allowed", 404: "Not found", 405: "Not allowed", 409: "Conflict",
              410: "Link no longer valid", 413: "Too large", 429: "Too many requests", 500: "Something went wrong"}
    template = "error_fragment.html" if is_htmx(request) else "error.html"
    return render(request, template, {"title": titles.get(status, "Error"), "status": status, "detail": detail},
                  status_code=status, headers=headers)


async def _sign_in_required(request: Request, _exc: Exception) -> Response:
    target = console_url(request, "/signin")
    if is_htmx(request):
        return Response(status_code=401, headers={"HX-Redirect": target})
    path = request.url.path.removeprefix(request.app.state.settings.console_path) or "/"
    query = f"?next={quote(path, safe='/')}" if request.method == "GET" and path not in ("/", "/signin") else ""
    response = RedirectResponse(target + query, status_code=303)
    if request.cookies.get(SESSION_COOKIE):
        delete_cookie(request, response, SESSION_COOKIE)
    return response


async def _enrolment_required(request: Request, _exc: Exception) -> Response:
    target = console_url(request, ENROL_PATH)
    if is_htmx(request):
        return Response(status_code=401, headers={"HX-Redirect": target})
    if request.method in SAFE_METHODS:
        return RedirectResponse(target, status_code=303)
    return _error_page(request, 403, "Set up two-factor sign-in first: this VTN requires it for operator accounts.")


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return _error_page(request, exc.status, exc.detail)


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    fields = ", ".join(".".join(str(p) for p in e.get("loc", ())[1:]) or "input" for e in exc.errors()[:5])
    return _error_page(request, 400, f"Some input was not valid ({fields}).")


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    detail = {404: "There is no page at this address.", 405: "This page does not accept that request."}.get(
        exc.status_code, str(exc.detail))
    return _error_page(request, exc.status_code, detail, headers=dict(exc.headers or {}))


async def _integrity_error(request: Request, exc: Exception) -> Response:
    log.info("console integrity conflict: %s", exc)
    return _error_page(request, 409, "That conflicts with stored data (a duplicate or a missing reference).")


async def _unexpected_error(request: Request, exc: Exception) -> Response:
    reference = uuid.uuid4().hex
    log.exception("console error %s on %s %s", reference, request.method, request.url.path)
    return _error_page(request, 500, f"An unexpected error occurred (reference {reference}).")


# ---------------------------------------------------------------------------------------------- assembly


def create_console_app(parent: FastAPI, settings: Settings) -> FastAPI:
    console = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
    console.state = parent.state  # same database, settings and helpers as the API
    parent.state.console_limiter = service.SignInLimiter(
        settings.console_signin_rate_limit, settings.console_signin_rate_window_seconds
    )
    console.add_exception_handler(SignInRequired, _sign_in_required)
    console.add_exception_handler(EnrolmentRequired, _enrolment_required)
    console.add_exception_handler(ApiError, _api_error)
    console.add_exception_handler(RequestValidationError, _validation_error)
    console.add_exception_handler(StarletteHTTPException, _http_error)
    console.add_exception_handler(IntegrityError, _integrity_error)
    console.add_exception_handler(Exception, _unexpected_error)
    console.include_router(router)
    # Page modules: the role check and CSRF apply to every route they declare.
    operator_pages = (operator.router, delivery.operator_router, statements.operator_router, terms.router)
    fsp_pages = (fsp.router, delivery.fsp_router, statements.fsp_router)
    for prefix, role, pages in (("/operator", require_operator, operator_pages), ("/fsp", require_fsp, fsp_pages)):
        for page_router in pages:
            console.include_router(page_router, prefix=prefix,
                                   dependencies=[Depends(role), Depends(csrf_protect), Depends(refuse_nul)])
    console.mount("/static", StaticFiles(directory=STATIC, check_dir=False), name="static")
    return console


def install_console(app: FastAPI, settings: Settings) -> None:
    """Mount the console at `settings.console_path` (called by `create_app` when `console_enabled`)."""
    console = create_console_app(app, settings)
    path = settings.console_path

    @app.get(path, include_in_schema=False)
    async def console_root() -> RedirectResponse:
        return RedirectResponse(path + "/", status_code=307)

    app.mount(path, SecurityHeaders(console))  # outermost: also the 500 page has the headers


__all__ = ["Account", "create_console_app", "install_console", "router"]
