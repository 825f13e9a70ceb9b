"""Console sign-in, sessions, CSRF, roles and escaping, in-process on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import base64
import json
import re
import sqlite3
from datetime import timedelta

import pytest
from fastapi import APIRouter, Request
from sqlalchemy import update
from starlette.testclient import TestClient
from typer.testing import CliRunner

from vtn.console import fsp, operator, service
from vtn.console.deps import SESSION_COOKIE, OperatorAccount, current_account, viewer_for_account
from vtn.console.models import ConsoleSession, ConsoleUser
from vtn.console.templating import FLASH_COOKIE, render
from vtn.core.database import utcnow
from vtn.core.deps import ReadSession
from vtn.core.pagination import Page
from vtn.core.settings import Settings, get_settings

PASSWORD = "correct horse battery staple"
LOCKOUT = 3


@pytest.fixture
def settings(database_url: str) -> Settings:
    """Overrides conftest's: the console on, a small lock-out threshold, a generous rate limit. Operators sign in
    with a password only here; the second factor and its requirement are tested in test_console_mfa.py."""
    return Settings(
        database_url=database_url,
        delivery_enabled=False,
        console_enabled=True,
        console_lockout_failures=LOCKOUT,
        console_signin_rate_limit=1000,
        console_require_mfa=False,
    )


@pytest.fixture(autouse=True)
def probe_routes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Minimal operator/FSP routes (stage 2 adds the real pages) to test the role and CSRF hooks."""
    op, fs = APIRouter(), APIRouter()

    @op.get("/probe")
    async def op_probe(request: Request, account: OperatorAccount, session: ReadSession):  # type: ignore[no-untyped-def]
        viewer = await viewer_for_account(session, account)
        return render(request, "error.html", {"title": "probe", "status": 200, "detail": f"bl={viewer.is_bl}"})

    @op.post("/probe")
    async def op_probe_post(request: Request):  # type: ignore[no-untyped-def]
        return render(request, "error.html", {"title": "posted", "status": 200, "detail": "ok"},
                      messages=[("info", "<script>alert('flash')</script>")])

    @op.get("/boom")
    async def op_boom():  # type: ignore[no-untyped-def]
        raise RuntimeError("secret-internal-detail")

    @fs.get("/probe")
    async def fsp_probe(request: Request, session: ReadSession):  # type: ignore[no-untyped-def]
        from vtn.programs import service as programs

        account = await current_account(request)
        viewer = await viewer_for_account(session, account, request.query_params.get("ven"))
        names = [p["programName"] for p in await programs.list_programs(session, viewer, None, Page(0, 50))]
        return render(request, "error.html", {"title": "probe", "status": 200, "detail": "programs=" + ",".join(names)})

    monkeypatch.setattr(operator, "router", op)
    monkeypatch.setattr(fsp, "router", fs)


def add_user(http: TestClient, username: str, role: str, ven_names: list[str] | None = None,
             password: str = PASSWORD) -> None:
    db = http.app.state.db  # type: ignore[attr-defined]

    async def create() -> None:
        async with db.session() as session:
            await service.add_user(session, username, role, password, ven_names)

    assert http.portal is not None
    http.portal.call(create)


def db_run(http: TestClient, statement) -> None:  # type: ignore[no-untyped-def]
    db = http.app.state.db  # type: ignore[attr-defined]

    async def run() -> None:
        async with db.session() as session:
            await session.exec(statement)

    assert http.portal is not None
    http.portal.call(run)


def signin_token(http: TestClient) -> str:
    page = http.get("/console/signin")
    assert page.status_code == 200
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert match
    return match.group(1)


def signin(http: TestClient, username: str, password: str = PASSWORD, next_path: str = "/"):  # type: ignore[no-untyped-def]
    token = signin_token(http)
    return http.post("/console/signin", data={"username": username, "password": password, "csrf_token": token,
                                              "next": next_path}, follow_redirects=False)


def plant_cookie(http: TestClient, name: str, value: str) -> None:
    """Replace a cookie as the browser would hold it (same domain and path as the server sets)."""
    for cookie in list(http.cookies.jar):
        if cookie.name == name:
            http.cookies.jar.clear(cookie.domain, cookie.path, cookie.name)
    http.cookies.set(name, value, domain="testserver.local", path="/console")


def csrf_of(http: TestClient) -> str:
    page = http.get("/console/")
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert match, page.text
    return match.group(1)


def test_signin_success_sets_a_strict_cookie_and_shows_the_home(http):
    add_user(http, "olive", "operator")
    first = http.get("/console/", follow_redirects=False)
    assert first.status_code == 303 and first.headers["location"] == "/console/signin"
    assert http.get("/console", follow_redirects=False).headers["location"] == "/console/"

    response = signin(http, "olive")
    assert response.status_code == 303 and response.headers["location"] == "/console/"
    cookie = next(c for c in response.headers.get_list("set-cookie") if c.startswith(SESSION_COOKIE + "="))
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/console" in cookie
    assert "Secure" not in cookie  # plain http here; https or console_cookie_secure=always sets it

    home = http.get("/console/")
    assert home.status_code == 200
    assert "olive" in home.text and "Dashboard" in home.text
    for section in ("Programs", "Dispatch", "Board", "VENs"):
        assert section in home.text
    assert "script-src 'self'" in home.headers["content-security-policy"]
    assert "unsafe-inline" not in home.headers["content-security-policy"]
    assert home.headers["x-frame-options"] == "DENY"
    assert home.headers["referrer-policy"] == "same-origin"
    assert home.headers["cache-control"] == "no-store"
    assert http.get("/console/static/console.css").status_code == 200
    # the sign-in page of a signed-in browser goes home; `next` brings back to the asked page
    assert http.get("/console/signin", follow_redirects=False).headers["location"] == "/console/"


def test_next_is_kept_and_only_inside_the_console(http):
    add_user(http, "olive", "operator")
    asked = http.get("/console/operator/probe", follow_redirects=False)
    assert asked.headers["location"] == "/console/signin?next=/operator/probe"
    assert signin(http, "olive", next_path="/operator/probe").headers["location"] == "/console/operator/probe"
    http.cookies.clear()
    assert signin(http, "olive", next_path="//evil.example/").headers["location"] == "/console/"


def test_wrong_password_and_unknown_user_are_refused_alike(http):
    add_user(http, "olive", "operator")
    wrong = signin(http, "olive", "not the password")
    unknown = signin(http, "nobody", PASSWORD)
    assert wrong.status_code == unknown.status_code == 401
    assert SESSION_COOKIE + "=" not in " ".join(wrong.headers.get_list("set-cookie"))
    assert "Sign-in failed" in wrong.text and "Sign-in failed" in unknown.text
    assert http.get("/console/", follow_redirects=False).status_code == 303


def test_lockout_after_repeated_failures(http):
    add_user(http, "olive", "operator")
    for _ in range(LOCKOUT):
        assert signin(http, "olive", "wrong password!").status_code == 401
    assert signin(http, "olive").status_code == 401  # locked: even the right password is refused
    db_run(http, update(ConsoleUser).where(ConsoleUser.username == "olive")  # type: ignore[arg-type]
           .values(locked_until=utcnow() - timedelta(seconds=1)))
    assert signin(http, "olive").status_code == 303  # lock over
    # a success resets the count: LOCKOUT-1 failures do not lock
    http.cookies.clear()
    for _ in range(LOCKOUT - 1):
        signin(http, "olive", "wrong password!")
    assert signin(http, "olive").status_code == 303


def test_signin_rate_limit_per_address_and_username(http):
    http.app.state.console_limiter = service.SignInLimiter(3, 60)  # type: ignore[attr-defined]
    add_user(http, "olive", "operator")
    for _ in range(3):
        assert signin(http, "olive", "wrong password!").status_code == 401
    limited = signin(http, "olive")
    assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1
    assert "Too many sign-in attempts" in limited.text


def test_disabled_user_cannot_sign_in_and_is_signed_out(http):
    add_user(http, "olive", "operator")
    assert signin(http, "olive").status_code == 303
    assert http.get("/console/").status_code == 200

    async def disable() -> None:
        async with http.app.state.db.session() as session:  # type: ignore[attr-defined]
            await service.set_disabled(session, "olive", True)

    assert http.portal is not None
    http.portal.call(disable)
    assert http.get("/console/", follow_redirects=False).status_code == 303
    assert signin(http, "olive").status_code == 401


def test_csrf_missing_or_wrong_is_403(http):
    add_user(http, "olive", "operator")
    signin(http, "olive")
    token = csrf_of(http)
    assert http.post("/console/signout", data={}, follow_redirects=False).status_code == 403
    assert http.post("/console/signout", data={"csrf_token": "x" * 43}, follow_redirects=False).status_code == 403
    assert http.post("/console/operator/probe", follow_redirects=False).status_code == 403
    assert http.post("/console/operator/probe", headers={"X-CSRF-Token": "wrong"}).status_code == 403
    forbidden = http.post("/console/operator/probe", data={"csrf_token": "wrong"})
    assert forbidden.status_code == 403 and "security token" in forbidden.text
    assert forbidden.headers["content-type"].startswith("text/html")
    assert http.post("/console/operator/probe", headers={"X-CSRF-Token": token}).status_code == 200  # htmx style
    assert http.post("/console/operator/probe", data={"csrf_token": token}).status_code == 200  # form style
    assert http.get("/console/").status_code == 200  # the 403s did not sign out
    # the sign-in form has its own (double-submit) token
    http.cookies.clear()
    assert http.post("/console/signin", data={"username": "olive", "password": PASSWORD}).status_code == 403


def test_idle_and_absolute_expiry_redirect_to_signin(http):
    add_user(http, "olive", "operator")
    signin(http, "olive")
    assert http.get("/console/").status_code == 200
    idle = utcnow() - timedelta(seconds=http.app.state.settings.console_session_idle_seconds + 1)  # type: ignore[attr-defined]
    db_run(http, update(ConsoleSession).values(last_seen=idle))
    expired = http.get("/console/operator/probe", follow_redirects=False)
    assert expired.status_code == 303 and expired.headers["location"].startswith("/console/signin")

    signin(http, "olive")
    db_run(http, update(ConsoleSession).values(expires_at=utcnow() - timedelta(seconds=1)))
    assert http.get("/console/", follow_redirects=False).status_code == 303
    htmx = http.get("/console/operator/probe", headers={"HX-Request": "true"}, follow_redirects=False)
    assert htmx.status_code == 401 and htmx.headers["hx-redirect"] == "/console/signin"


def test_signout_invalidates_the_session(http):
    add_user(http, "olive", "operator")
    signin(http, "olive")
    old_cookie = http.cookies.get(SESSION_COOKIE)
    assert old_cookie
    out = http.post("/console/signout", data={"csrf_token": csrf_of(http)}, follow_redirects=False)
    assert out.status_code == 303 and out.headers["location"] == "/console/signin"
    assert "signed out" in http.get("/console/signin").text
    plant_cookie(http, SESSION_COOKIE, old_cookie)
    assert http.get("/console/", follow_redirects=False).status_code == 303  # the old cookie is worthless


def test_signin_rotates_the_session(http):
    add_user(http, "olive", "operator")
    signin(http, "olive")
    first = http.cookies.get(SESSION_COOKIE)
    assert first
    http.cookies.clear()
    token = signin_token(http)
    plant_cookie(http, SESSION_COOKIE, first)  # e.g. planted by someone else: signing in must not keep it
    response = http.post("/console/signin", data={"username": "olive", "password": PASSWORD, "csrf_token": token},
                         follow_redirects=False)
    assert response.status_code == 303
    second = http.cookies.get(SESSION_COOKIE)
    assert second and first != second
    plant_cookie(http, SESSION_COOKIE, first)
    assert http.get("/console/", follow_redirects=False).status_code == 303


def test_roles_fsp_cannot_open_operator_pages_and_sees_what_its_ven_sees(http, bl, clients):
    ven_a = clients.ven("ven-a")
    ven_a.post("/vens", json={"venName": "ven-a"})
    bl.post("/programs", json={"programName": "open"})
    bl.post("/programs", json={"programName": "for-a", "targets": [{"type": "VEN_NAME", "values": ["ven-a"]}]})
    bl.post("/programs", json={"programName": "for-b", "targets": [{"type": "VEN_NAME", "values": ["ven-b"]}]})
    add_user(http, "fiona", "fsp", ["ven-a"])
    add_user(http, "olive", "operator")

    signin(http, "fiona")
    home = http.get("/console/")
    assert home.status_code == 200 and "ven-a" in home.text and "Dashboard" not in home.text
    denied = http.get("/console/operator/probe")
    assert denied.status_code == 403 and "operator accounts" in denied.text
    assert http.post("/console/operator/probe", data={"csrf_token": csrf_of(http)}).status_code == 403
    seen = http.get("/console/fsp/probe")
    assert seen.status_code == 200 and "programs=open,for-a" in seen.text  # exactly what ven-a's token lists
    assert [p["programName"] for p in ven_a.get("/programs").json()] == ["open", "for-a"]
    assert http.get("/console/fsp/probe?ven=ven-b").status_code == 404  # not bound to ven-b

    http.cookies.clear()
    signin(http, "olive")
    assert "bl=True" in http.get("/console/operator/probe").text
    assert http.get("/console/fsp/probe").status_code == 403
    http.cookies.clear()
    assert http.get("/console/operator/probe", follow_redirects=False).status_code == 303


def test_output_is_escaped(http):
    add_user(http, "fiona", "fsp", ["<script>alert('ven')</script>"])
    failed = signin(http, "<script>alert('user')</script>", "whatever password")
    assert failed.status_code == 401
    assert "<script>alert" not in failed.text and "&lt;script&gt;alert(" in failed.text
    signin(http, "fiona")
    home = http.get("/console/")
    assert "<script>alert" not in home.text and "&lt;script&gt;alert(&#39;ven&#39;)" in home.text
    planted = base64.urlsafe_b64encode(json.dumps([{"level": "info", "text": "<script>x()</script>"}]).encode()).decode()
    plant_cookie(http, FLASH_COOKIE, planted)
    shown = http.get("/console/")
    assert "&lt;script&gt;x()&lt;/script&gt;" in shown.text and "<script>x()" not in shown.text
    assert http.get("/console/").text.count("x()") == 0  # a flash is shown once


def test_flash_and_messages_are_escaped(http):
    add_user(http, "olive", "operator")
    signin(http, "olive")
    page = http.post("/console/operator/probe", data={"csrf_token": csrf_of(http)})
    assert "&lt;script&gt;alert(&#39;flash&#39;)&lt;/script&gt;" in page.text and "<script>alert" not in page.text


def test_bad_input_is_a_page_not_a_500(http):
    add_user(http, "olive", "operator")
    token = signin_token(http)
    too_long = http.post("/console/signin", data={"username": "x" * 500, "password": "p", "csrf_token": token})
    assert too_long.status_code == 400 and too_long.headers["content-type"].startswith("text/html")
    garbled = http.post("/console/signin", content=b"--x\r\nbroken", headers={"content-type": "multipart/form-data; boundary=x"})
    assert garbled.status_code in (400, 403)
    plant_cookie(http, FLASH_COOKIE, "%%%not-base64")
    assert http.get("/console/signin").status_code == 200
    missing = http.get("/console/no/such/page")
    assert missing.status_code == 404 and "no page at this address" in missing.text
    signin(http, "olive")
    plant_cookie(http, SESSION_COOKIE, "z" * 5000)
    assert http.get("/console/", follow_redirects=False).status_code == 303


def test_cookie_is_secure_over_https_or_when_forced(app, settings):
    from vtn.app import create_app

    with TestClient(app, base_url="https://testserver", raise_server_exceptions=False) as https:
        add_user(https, "olive", "operator")
        cookie = next(c for c in signin(https, "olive").headers.get_list("set-cookie") if c.startswith(SESSION_COOKIE))
        assert "Secure" in cookie
        assert https.get("/console/").status_code == 200
    forced = create_app(settings.model_copy(update={"console_cookie_secure": "always"}))
    with TestClient(forced, raise_server_exceptions=False) as http:  # TLS ended at a proxy: plain http here
        add_user(http, "fiona", "fsp", ["ven-a"])
        cookie = next(c for c in signin(http, "fiona").headers.get_list("set-cookie") if c.startswith(SESSION_COOKIE))
        assert "Secure" in cookie


def test_console_settings():
    assert Settings(console_path="console/").console_path == "/console"
    with pytest.raises(ValueError):
        Settings(console_path="/")


def test_cli_users_add_list_disable(tmp_path, monkeypatch):
    from vtn.cli import app

    monkeypatch.setenv("VTN_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}")
    get_settings.cache_clear()
    runner = CliRunner()
    try:
        added = runner.invoke(app, ["users", "add", "olive", "--role", "operator", "--password-stdin"], input=PASSWORD + "\n")
        assert added.exit_code == 0, added.output
        assert "created olive (operator)" in added.output
        fsp_user = runner.invoke(app, ["users", "add", "fiona", "--role", "fsp", "--ven", "ven-a", "--ven", "ven-b"],
                                 input=f"{PASSWORD}\n{PASSWORD}\n")  # prompted, with confirmation
        assert fsp_user.exit_code == 0, fsp_user.output
        no_ven = runner.invoke(app, ["users", "add", "nora", "--role", "fsp", "--password-stdin"], input=PASSWORD + "\n")
        assert no_ven.exit_code == 1 and "at least one VEN" in no_ven.output
        short = runner.invoke(app, ["users", "add", "sam", "--role", "operator", "--password-stdin"], input="short\n")
        assert short.exit_code == 1 and "at least" in short.output
        duplicate = runner.invoke(app, ["users", "add", "olive", "--role", "operator", "--password-stdin"], input=PASSWORD + "\n")
        assert duplicate.exit_code == 1 and "already exists" in duplicate.output
        assert runner.invoke(app, ["users", "add", "x", "--role", "admin", "--password-stdin"], input=PASSWORD).exit_code != 0

        listed = runner.invoke(app, ["users", "list"])
        assert listed.exit_code == 0
        assert "olive\toperator\t-\t-\tenabled" in listed.output  # user, role, operator (default), VENs, state
        assert "fiona\tfsp\t-\tven-a,ven-b\tenabled" in listed.output
        assert PASSWORD not in listed.output and "argon2" not in listed.output

        assert runner.invoke(app, ["users", "disable", "fiona"]).exit_code == 0
        assert "fiona\tfsp\t-\tven-a,ven-b\tDISABLED" in runner.invoke(app, ["users", "list"]).output
        assert runner.invoke(app, ["users", "enable", "fiona"]).exit_code == 0
        ghost = runner.invoke(app, ["users", "disable", "ghost"])
        assert ghost.exit_code == 1 and "error: user 'ghost' not found" in ghost.output
        assert "fiona\tfsp\t-\tven-a,ven-b\tenabled" in runner.invoke(app, ["users", "list"]).output
        changed = runner.invoke(app, ["users", "set-password", "olive", "--password-stdin"], input="another long password\n")
        assert changed.exit_code == 0
    finally:
        get_settings.cache_clear()


# ---------------------------------------------------------------------------------------------- review findings


def test_parallel_wrong_passwords_cannot_outrun_the_lockout(http, settings):
    """Attempts in flight at once must each be counted (PostgreSQL: the row is re-read FOR UPDATE)."""
    add_user(http, "olive", "operator")
    db = http.app.state.db  # type: ignore[attr-defined]

    async def burst() -> list[service.SignInResult]:
        return list(await asyncio.gather(*(service.authenticate(db, "olive", "wrong password!", settings)
                                           for _ in range(LOCKOUT * 3))))

    assert http.portal is not None
    results = http.portal.call(burst)
    assert all(r.session is None for r in results)
    assert sum(r.reason == "wrong-password" for r in results) == LOCKOUT  # the rest found it locked
    assert signin(http, "olive").status_code == 401  # locked: the right password is refused


def test_signin_does_not_hold_the_sqlite_write_lock_while_hashing(http, settings, monkeypatch):
    """An argon2 verification takes tens of ms; SQLite has one write lock for the whole VTN (VEN reports,
    acknowledgements). Unauthenticated sign-in attempts must not be able to keep it."""
    if not settings.database_url.startswith("sqlite"):
        pytest.skip("SQLite's single write lock")
    path = settings.database_url.split("///", 1)[1]
    add_user(http, "olive", "operator")
    blocked = []
    verify = service._verify

    def probing_verify(stored: str, password: str) -> bool:
        other = sqlite3.connect(path, timeout=0.2, isolation_level=None)  # another writer, e.g. a VEN's report
        try:
            other.execute("BEGIN IMMEDIATE")
            other.execute("ROLLBACK")
        except sqlite3.OperationalError as exc:
            blocked.append(str(exc))
        finally:
            other.close()
        return verify(stored, password)

    monkeypatch.setattr(service, "_verify", probing_verify)
    assert signin(http, "olive", "wrong password!").status_code == 401
    assert signin(http, "nobody", "wrong password!").status_code == 401
    assert signin(http, "olive").status_code == 303
    assert blocked == []


def test_a_nul_in_the_username_is_a_refusal_not_a_500(http):
    add_user(http, "olive", "operator")
    for name in ("ol\x00ive", "\x00", "olive\x00"):
        refused = signin(http, name)
        assert refused.status_code == 401 and "Sign-in failed" in refused.text, name


def test_signin_rate_limit_covers_name_variants_and_many_names_from_one_address(http):
    http.app.state.console_limiter = service.SignInLimiter(3, 60)  # type: ignore[attr-defined]
    add_user(http, "olive", "operator")
    for name in ("olive", "OLIVE", " olive "):  # one account however it is typed
        assert signin(http, name, "wrong password!").status_code == 401
    assert signin(http, "Olive ").status_code == 429
    # a forged X-Forwarded-For is not the client's address (uvicorn runs with proxy_headers=False)
    token = signin_token(http)
    spoofed = http.post("/console/signin", data={"username": "olive", "password": PASSWORD, "csrf_token": token},
                        headers={"X-Forwarded-For": "203.0.113.9"}, follow_redirects=False)
    assert spoofed.status_code == 429
    # spraying: many usernames from one address hit the per-address cap (5 x the per-name limit)
    http.app.state.console_limiter = service.SignInLimiter(3, 60)  # type: ignore[attr-defined]
    answers = [signin(http, f"user{i}", "Spring2026!!").status_code for i in range(3 * service.SignInLimiter.ADDRESS_FACTOR)]
    assert set(answers) == {401}
    limited = signin(http, "olive")
    assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1


def test_error_pages_have_the_security_headers_and_no_details(http):
    add_user(http, "olive", "operator")
    signin(http, "olive")
    crashed = http.get("/console/operator/boom")
    assert crashed.status_code == 500 and "reference" in crashed.text
    assert "secret-internal-detail" not in crashed.text and "Traceback" not in crashed.text
    for page in (crashed, http.get("/console/operator/static/x"), http.get("/console/operator/dispatches/static/delivery")):
        assert page.headers.get("cache-control") == "no-store", page.url  # it carries the CSRF token
        assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
        assert page.headers["x-frame-options"] == "DENY"
    static = http.get("/console/static/console.css")
    assert static.status_code == 200 and "cache-control" not in static.headers
    assert static.headers["x-content-type-options"] == "nosniff"
