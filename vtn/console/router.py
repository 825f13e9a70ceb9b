"""The console application: sign-in/out, home, error pages, security headers, static files.

It is a FastAPI sub-application mounted at `settings.console_path`, so its errors are HTML pages
(the API's stay problem+json) and its headers (CSP, frame denial) apply only to it. It shares the
VTN's `app.state` (database, settings), hence the same services and data.
"""

from __future__ import annotations

import logging
import secrets
import uuid
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

from vtn.console import fsp, operator, service
from vtn.console.deps import (
    SESSION_COOKIE,
    Account,
    CurrentAccount,
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
from vtn.core.database import Database
from vtn.core.errors import ApiError
from vtn.core.settings import Settings

from .templating import console_url, delete_cookie, redirect, render, set_cookie

log = logging.getLogger("vtn.console")
STATIC = Path(__file__).parent / "static"
PRE_CSRF_COOKIE = "vtn_console_signin"  # double-submit token of the sign-in form (no session yet)

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
    log.info("console sign-in: %s from %s", username, address)
    response = RedirectResponse(console_url(request, next_path), status_code=303)
    set_cookie(request, response, SESSION_COOKIE, created.token, max_age=settings.console_session_max_seconds)
    delete_cookie(request, response, PRE_CSRF_COOKIE)
    return response


@router.post("/signout", include_in_schema=False, dependencies=[Depends(csrf_protect)])
async def signout(request: Request, account: CurrentAccount) -> Response:
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
              413: "Too large", 429: "Too many requests", 500: "Something went wrong"}
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
    console.add_exception_handler(ApiError, _api_error)
    console.add_exception_handler(RequestValidationError, _validation_error)
    console.add_exception_handler(StarletteHTTPException, _http_error)
    console.add_exception_handler(IntegrityError, _integrity_error)
    console.add_exception_handler(Exception, _unexpected_error)
    console.include_router(router)
    # Stage-2 page modules: the role check and CSRF apply to every route they declare.
    console.include_router(operator.router, prefix="/operator",
                           dependencies=[Depends(require_operator), Depends(csrf_protect), Depends(refuse_nul)])
    console.include_router(fsp.router, prefix="/fsp",
                           dependencies=[Depends(require_fsp), Depends(csrf_protect), Depends(refuse_nul)])
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
