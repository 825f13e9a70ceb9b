"""Rendering console pages: one Jinja2 environment (autoescape on), the common context, flash messages."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from vtn.console.deps import Account, is_htmx

TEMPLATES = Path(__file__).parent / "templates"
FLASH_COOKIE = "vtn_console_flash"
FLASH_LEVELS = ("info", "success", "warning", "error")
_MAX_FLASH_CHARS = 1500  # a cookie must stay well below 4 KiB

# Every value is escaped unless a template says otherwise; StrictUndefined turns a typo into an
# error in tests instead of a silently empty field.
env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=True, undefined=StrictUndefined,
                  trim_blocks=True, lstrip_blocks=True)


def console_base(request: Request) -> str:
    return str(request.app.state.settings.console_path)


def console_url(request: Request, path: str = "/") -> str:
    """An absolute URL path inside the console: `console_url(request, "/operator/programs")`."""
    return console_base(request) + "/" + path.lstrip("/")


def nav_for(request: Request, account: Account | None) -> list[dict[str, Any]]:
    """Navigation for the account's role; each stage-2 module owns its own `NAV` list."""
    if account is None:
        return []
    from vtn.console import fsp, operator, statements

    entries = [("Home", "/"), *(operator.NAV if account.is_operator else fsp.NAV),
               statements.OPERATOR_NAV if account.is_operator else statements.FSP_NAV]
    here = request.url.path
    items = []
    for label, path in entries:
        href = console_url(request, path)
        active = here == href if path == "/" else here == href or here.startswith(href.rstrip("/") + "/")
        items.append({"label": label, "href": href, "active": active})
    return items


def _read_flashes(request: Request) -> list[dict[str, str]]:
    raw = request.cookies.get(FLASH_COOKIE)
    if not raw:
        return []
    try:
        items = json.loads(base64.urlsafe_b64decode(raw.encode()))
        return [{"level": i["level"] if i.get("level") in FLASH_LEVELS else "info", "text": str(i["text"])}
                for i in items if isinstance(i, dict) and "text" in i][:5]
    except (ValueError, TypeError, KeyError):
        return []  # a garbled cookie is dropped, never an error page


def set_cookie(request: Request, response: Response, name: str, value: str, max_age: int | None = None) -> None:
    """A console cookie: HttpOnly, SameSite=Strict, Path=console, Secure over https (or when forced)."""
    settings = request.app.state.settings
    secure = {"always": True, "never": False}.get(settings.console_cookie_secure, request.url.scheme == "https")
    response.set_cookie(name, value, max_age=max_age, path=settings.console_path, secure=secure,
                        httponly=True, samesite="strict")


def delete_cookie(request: Request, response: Response, name: str) -> None:
    settings = request.app.state.settings
    secure = {"always": True, "never": False}.get(settings.console_cookie_secure, request.url.scheme == "https")
    response.delete_cookie(name, path=settings.console_path, secure=secure, httponly=True, samesite="strict")


def flash(request: Request, response: Response, text: str, level: str = "info") -> None:
    """Show `text` on the next rendered page (after a redirect). Text is escaped when shown."""
    items = [*_read_flashes(request), {"level": level if level in FLASH_LEVELS else "info", "text": text}]
    encoded = base64.urlsafe_b64encode(json.dumps(items[-5:]).encode()).decode()
    if len(encoded) > _MAX_FLASH_CHARS:
        encoded = base64.urlsafe_b64encode(json.dumps([items[-1] | {"text": text[:500]}]).encode()).decode()
    set_cookie(request, response, FLASH_COOKIE, encoded)


def redirect(request: Request, path: str, *, message: str | None = None, level: str = "info") -> RedirectResponse:
    """303 to a console path (POST → redirect → GET), optionally with a flash message."""
    response = RedirectResponse(console_url(request, path), status_code=303)
    if message:
        flash(request, response, message, level)
    return response


def render(
    request: Request,
    name: str,
    context: dict[str, Any] | None = None,
    *,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
    messages: list[tuple[str, str]] | None = None,
) -> HTMLResponse:
    """Render `templates/<name>` with the common context.

    Injected: `request`, `account` (or None), `csrf_token` ("" when signed out), `base` (console
    path), `url(path)`, `static(path)`, `nav`, `messages` (pending flashes + `messages` given here as
    (level, text) pairs), `is_htmx`. Anything in `context` overrides these.
    """
    account = getattr(request.state, "console_account", None)
    account = account if isinstance(account, Account) else None
    flashed = _read_flashes(request)
    now_messages = [{"level": level if level in FLASH_LEVELS else "info", "text": text} for level, text in messages or []]
    values: dict[str, Any] = {
        "request": request,
        "account": account,
        "csrf_token": account.csrf_token if account else "",
        "base": console_base(request),
        "url": lambda path="/": console_url(request, path),
        "static": lambda path: console_url(request, "/static/" + path.lstrip("/")),
        "nav": nav_for(request, account),
        "messages": flashed + now_messages,
        "is_htmx": is_htmx(request),
        "title": "",
    }
    values.update(context or {})
    html = env.get_template(name).render(values)
    response = HTMLResponse(html, status_code=status_code, headers=headers)
    if flashed:
        delete_cookie(request, response, FLASH_COOKIE)
    return response
