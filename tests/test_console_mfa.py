"""Console second factor (TOTP, recovery codes), the operator enrolment requirement, invitation links and reset,
through the real app on SQLite and PostgreSQL."""

from __future__ import annotations

import re
import time
from datetime import timedelta
from html import unescape

import pyotp
import pytest
from sqlalchemy import update
from starlette.testclient import TestClient
from typer.testing import CliRunner

from tests.test_console_auth import PASSWORD, add_user, db_run, plant_cookie, signin
from tests.test_console_routes import BODY, unsafe_routes
from vtn.console import operator, service, totp
from vtn.console import router as console_router
from vtn.console.deps import SESSION_COOKIE
from vtn.console.models import ConsoleInvitation, ConsoleRecoveryCode, ConsoleSession, ConsoleUser
from vtn.core.database import all_rows, utcnow
from vtn.core.settings import Settings, get_settings

LOCKOUT = 3
ENROL = "/console/account/two-factor"


@pytest.fixture
def settings(database_url: str) -> Settings:
    """The default requirement (operators must enrol), a small lock-out threshold, a generous rate limit."""
    return Settings(database_url=database_url, delivery_enabled=False, console_enabled=True,
                    console_lockout_failures=LOCKOUT, console_signin_rate_limit=1000)


# ---------------------------------------------------------------------------------------------- helpers


def code_at(secret: str, steps_ahead: int = 0) -> str:
    """The code of the time step `steps_ahead` from now (the server accepts one step either side)."""
    return pyotp.TOTP(secret).at(time.time() + 30 * steps_ahead)


def wrong_code(secret: str) -> str:
    """A 6-digit code that is not the code of any step the server would accept now."""
    window = {code_at(secret, k) for k in range(-2, 3)}
    return next(c for c in (f"{n:06d}" for n in range(100000, 1000000, 7919)) if c not in window)


def form_token(page_text: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', page_text)
    assert match, page_text
    return match.group(1)


def enrol(http: TestClient) -> tuple[str, list[str]]:
    """Enrol the signed-in account as a person would: read the secret from the page, send the current code.
    Returns the secret and the recovery codes shown."""
    page = http.get(ENROL)
    assert page.status_code == 200, page.text
    secret = re.search(r'data-testid="totp-secret">([A-Z2-7 ]+)<', page.text).group(1).replace(" ", "")  # type: ignore[union-attr]
    uri = unescape(re.search(r'src="(data:image/svg\+xml[^"]+)"', page.text).group(1))  # type: ignore[union-attr]
    assert uri.startswith("data:image/svg+xml")  # the QR code is inline: nothing loaded from elsewhere
    done = http.post(ENROL, data={"code": code_at(secret), "csrf_token": form_token(page.text)})
    assert done.status_code == 200 and "Recovery codes" in done.text, done.text
    codes = re.findall(r"<li><code>([A-Z0-9-]+)</code></li>", done.text)
    assert len(codes) == 10 and len(set(codes)) == 10
    return secret, codes


def password_step(http: TestClient, username: str, next_path: str = "/"):  # type: ignore[no-untyped-def]
    """Sign-in step 1 for an account with TOTP: the password leads to the code form."""
    response = signin(http, username, next_path=next_path)
    assert response.status_code == 303 and response.headers["location"].startswith("/console/signin/code"), response.text
    return response


def code_step(http: TestClient, code: str, next_path: str = "/"):  # type: ignore[no-untyped-def]
    page = http.get("/console/signin/code")
    assert page.status_code == 200, page.text
    return http.post("/console/signin/code", data={"code": code, "csrf_token": form_token(page.text), "next": next_path},
                     follow_redirects=False)


def enrolled_operator(http: TestClient, username: str = "olive") -> tuple[str, list[str]]:
    """An operator that enrolled at its first sign-in (forced), then signed out."""
    add_user(http, username, "operator")
    first = signin(http, username)
    assert first.status_code == 303 and first.headers["location"] == ENROL
    secret, codes = enrol(http)
    http.cookies.clear()
    return secret, codes


def run(http: TestClient, work):  # type: ignore[no-untyped-def]
    """`work(session)` in a committed transaction of the app's database; its result."""
    db = http.app.state.db  # type: ignore[attr-defined]

    async def main():  # type: ignore[no-untyped-def]
        async with db.session() as session:
            return await work(session)

    assert http.portal is not None
    return http.portal.call(main)


def invite(http: TestClient, username: str, role: str = "operator", vens: list[str] | None = None) -> str:
    """`vtn users invite` in-process; the link's path under the console."""
    settings = http.app.state.settings  # type: ignore[attr-defined]
    issued = run(http, lambda s: service.invite_user(s, username, role, vens, settings))
    return f"/console/invite/{issued.token}"


def accept(http: TestClient, link: str, password: str = PASSWORD, confirm: str | None = None):  # type: ignore[no-untyped-def]
    page = http.get(link)
    assert page.status_code == 200, page.text
    return http.post(link, data={"password": password, "password_confirm": password if confirm is None else confirm,
                                 "csrf_token": form_token(page.text)}, follow_redirects=False)


def user_row(http: TestClient, username: str) -> ConsoleUser:
    return run(http, lambda s: service.get_user(s, username))  # type: ignore[no-any-return]


# ---------------------------------------------------------------------------------------------- TOTP sign-in


def test_enrolment_page_shows_the_qr_and_secret_and_a_wrong_code_does_not_enrol(http):
    add_user(http, "fiona", "fsp", ["ven-a"])
    assert signin(http, "fiona").headers["location"] == "/console/"  # FSP: not forced
    page = http.get(ENROL)
    secret = re.search(r'data-testid="totp-secret">([A-Z2-7 ]+)<', page.text).group(1).replace(" ", "")  # type: ignore[union-attr]
    assert len(secret) == 32  # 160 bits
    assert http.get(ENROL).text.count(" ".join(secret[i:i + 4] for i in range(0, 32, 4))) == 1  # same secret on reload
    stored = user_row(http, "fiona")
    assert stored.totp_secret == secret and stored.totp_enabled_at is None
    uri = totp.provisioning_uri(secret, "fiona", "gb-openadr3 VTN")
    assert uri == f"otpauth://totp/gb-openadr3%20VTN:fiona?secret={secret}&issuer=gb-openadr3%20VTN"
    assert "img-src 'self' data:" in page.headers["content-security-policy"]
    refused = http.post(ENROL, data={"code": wrong_code(secret), "csrf_token": form_token(page.text)})
    assert refused.status_code == 400 and "not the current code" in refused.text
    assert user_row(http, "fiona").totp_enabled_at is None
    assert http.post(ENROL, data={"code": code_at(secret)}).status_code == 403  # CSRF as every form
    # a signed-in FSP may enrol; from then on its sign-in asks for a code
    done = http.post(ENROL, data={"code": code_at(secret), "csrf_token": form_token(page.text)})
    assert done.status_code == 200 and len(re.findall(r"<li><code>", done.text)) == 10
    again = http.get(ENROL)
    assert "Two-factor sign-in is <strong>on</strong>" in again.text and 'data-testid="recovery-left">10<' in again.text
    http.cookies.clear()
    password_step(http, "fiona")
    assert code_step(http, code_at(secret, 1)).headers["location"] == "/console/"
    assert http.get("/console/").status_code == 200


def test_two_step_signin_wrong_code_and_replayed_code(http):
    secret, _codes = enrolled_operator(http)
    step1 = password_step(http, "olive", next_path="/operator/programs")
    cookie = next(c for c in step1.headers.get_list("set-cookie") if c.startswith(SESSION_COOKIE + "="))
    assert "Max-Age=300" in cookie and "HttpOnly" in cookie
    # the session that waits for its code opens nothing else
    assert http.get("/console/", follow_redirects=False).headers["location"] == "/console/signin"
    password_step(http, "olive", next_path="/operator/programs")
    assert http.get(ENROL, follow_redirects=False).status_code == 303
    password_step(http, "olive", next_path="/operator/programs")  # (that visit dropped the cookie: sign in again)
    wrong = code_step(http, wrong_code(secret))
    assert wrong.status_code == 401 and "not right" in wrong.text
    # the enrolment code's step was used: the same code is refused although it may still be in the window (the
    # step recorded at enrolment, not "now": a step boundary may have passed since)
    used = user_row(http, "olive").totp_last_step
    replay_of_enrolment = code_step(http, pyotp.TOTP(secret).generate_otp(used))
    assert replay_of_enrolment.status_code == 401
    next_code = code_at(secret, 1)
    ok = code_step(http, next_code, next_path="/operator/programs")
    assert ok.status_code == 303 and ok.headers["location"] == "/console/operator/programs"
    assert http.get("/console/").status_code == 200
    # signed in with a new session (rotated after the code): the waiting one is gone
    assert http.cookies.get(SESSION_COOKIE) != step1.cookies.get(SESSION_COOKIE)
    http.cookies.clear()
    password_step(http, "olive")
    replayed = code_step(http, next_code)
    assert replayed.status_code == 401  # the same code (same time step) a second time
    assert http.get("/console/", follow_redirects=False).status_code == 303


def test_the_code_form_needs_the_waiting_session_and_its_token(http):
    secret, _codes = enrolled_operator(http)
    assert http.get("/console/signin/code", follow_redirects=False).headers["location"] == "/console/signin"
    signed_out = http.post("/console/signin/code", data={"code": code_at(secret, 1), "csrf_token": "x" * 43},
                           follow_redirects=False)
    assert signed_out.status_code == 303 and signed_out.headers["location"] == "/console/signin"
    password_step(http, "olive")
    for forged in ({}, {"csrf_token": ""}, {"csrf_token": "forged"}):
        refused = http.post("/console/signin/code", data={"code": code_at(secret, 1), **forged}, follow_redirects=False)
        assert refused.status_code == 403 and "security token" in refused.text
    assert user_row(http, "olive").failed_attempts == 0  # refused before the code was looked at
    # the code step expires
    db_run(http, update(ConsoleSession).values(expires_at=utcnow() - timedelta(seconds=1)))
    expired = code_step_raw(http, code_at(secret, 1))
    assert expired.status_code == 303 and expired.headers["location"] == "/console/signin"


def code_step_raw(http: TestClient, code: str):  # type: ignore[no-untyped-def]
    """POST the code with the waiting session's token read from the database (the form page may be gone)."""
    rows = run(http, lambda s: all_rows(s, ConsoleSession, ConsoleSession.id_hash))
    token = rows[0].csrf_token if rows else "none"
    return http.post("/console/signin/code", data={"code": code, "csrf_token": token}, follow_redirects=False)


def test_recovery_codes_are_single_use(http):
    _secret, codes = enrolled_operator(http)
    password_step(http, "olive")
    used = code_step(http, codes[0])
    assert used.status_code == 303
    assert "recovery code; 9 left" in http.get("/console/").text
    http.cookies.clear()
    password_step(http, "olive")
    again = code_step(http, codes[0])
    assert again.status_code == 401
    # typed loosely: lower case, spaces instead of dashes
    loose = codes[1].lower().replace("-", " ")
    assert code_step(http, loose).status_code == 303
    assert 'data-testid="recovery-left">8<' in http.get(ENROL).text
    stored = str(run(http, lambda s: all_rows(s, ConsoleRecoveryCode, ConsoleRecoveryCode.code_hash)))
    assert all(c not in stored and c.replace("-", "") not in stored for c in codes)  # only hashes are stored


def test_failed_codes_count_toward_the_lockout_and_a_right_password_does_not_reset_it(http):
    secret, _codes = enrolled_operator(http)
    for _ in range(LOCKOUT - 1):  # the password again between guesses does not reset the count
        password_step(http, "olive")
        assert code_step(http, wrong_code(secret)).status_code == 401
        http.cookies.clear()
    assert user_row(http, "olive").failed_attempts == LOCKOUT - 1
    password_step(http, "olive")
    locking = code_step(http, wrong_code(secret))
    assert locking.status_code == 303 and locking.headers["location"] == "/console/signin"  # locked: start again
    assert user_row(http, "olive").locked_until is not None
    assert signin(http, "olive").status_code == 401  # while locked even the right password is refused
    db_run(http, update(ConsoleUser).where(ConsoleUser.username == "olive")  # type: ignore[arg-type]
           .values(locked_until=utcnow() - timedelta(seconds=1)))
    password_step(http, "olive")
    assert code_step(http, code_at(secret, 1)).status_code == 303
    assert user_row(http, "olive").failed_attempts == 0  # a full sign-in ends the series


# ---------------------------------------------------------------------------------------------- require MFA


def test_an_operator_without_totp_can_only_enrol(http, bl):
    add_user(http, "olive", "operator")
    bl.post("/programs", json={"programName": "p-1"})
    first = signin(http, "olive", next_path="/operator/programs")
    assert first.status_code == 303 and first.headers["location"] == ENROL
    page = http.get(ENROL)
    assert "Operator accounts need two-factor sign-in" in page.text
    assert 'aria-label="Main"' not in page.text  # no navigation to pages it cannot open
    token = form_token(page.text)
    gets = ["/", *("/operator" + re.sub(r"\{\w+\}", "abc-123", r.path) for r in operator.router.routes
                   if "GET" in getattr(r, "methods", ()))]
    for path in gets:
        response = http.get("/console" + path.rstrip("/") if path != "/" else "/console/", follow_redirects=False)
        assert response.status_code == 303 and response.headers["location"] == ENROL, path
        htmx = http.get("/console" + path, headers={"HX-Request": "true"}, follow_redirects=False)
        assert htmx.status_code == 401 and htmx.headers["hx-redirect"] == ENROL, path
    for method, path, role in unsafe_routes():
        if role == "operator":
            refused = http.request(method, "/console" + path, data={**BODY, "csrf_token": token}, follow_redirects=False)
            assert refused.status_code == 403 and "Set up two-factor sign-in first" in refused.text, path
    assert len(bl.get("/events").json()) == 0  # nothing was dispatched or stopped
    secret, _codes = enrol(http)
    assert http.get("/console/operator/programs").status_code == 200  # enrolled: the console opens
    out = http.post("/console/signout", data={"csrf_token": token}, follow_redirects=False)
    assert out.status_code == 303
    password_step(http, "olive")
    assert code_step(http, code_at(secret, 1)).status_code == 303


def test_a_forced_operator_can_sign_out(http):
    add_user(http, "olive", "operator")
    signin(http, "olive")
    page = http.get(ENROL)
    out = http.post("/console/signout", data={"csrf_token": form_token(page.text)}, follow_redirects=False)
    assert out.status_code == 303 and out.headers["location"] == "/console/signin"
    assert http.get(ENROL, follow_redirects=False).headers["location"].startswith("/console/signin")


def test_fsp_accounts_are_not_forced_and_the_requirement_can_be_switched_off(http, app, settings):
    from vtn.app import create_app

    add_user(http, "fiona", "fsp", ["ven-a"])
    assert signin(http, "fiona").headers["location"] == "/console/"
    assert http.get("/console/").status_code == 200
    assert http.get("/console/fsp/vens").status_code == 200
    relaxed = create_app(settings.model_copy(update={"console_require_mfa": False}))
    with TestClient(relaxed, raise_server_exceptions=False) as other:
        add_user(other, "oscar", "operator")
        assert signin(other, "oscar").headers["location"] == "/console/"
        assert other.get("/console/operator/programs").status_code == 200


# ---------------------------------------------------------------------------------------------- invitations


def test_invitation_sets_the_password_then_forces_enrolment_and_works_once(http):
    link = invite(http, "olive")
    assert user_row(http, "olive").password_hash is None
    assert signin(http, "olive").status_code == 401  # no password yet: no way in
    page = http.get(link)
    assert page.status_code == 200 and "Choose your password" in page.text and "olive" in page.text
    assert page.headers["x-frame-options"] == "DENY" and page.headers["cache-control"] == "no-store"
    mismatch = accept(http, link, confirm="something else entirely")
    assert mismatch.status_code == 400 and "differ" in mismatch.text
    short = accept(http, link, password="short")
    assert short.status_code == 400 and "at least 10" in short.text
    forged = http.post(link, data={"password": PASSWORD, "password_confirm": PASSWORD, "csrf_token": "forged"})
    assert forged.status_code == 403
    assert user_row(http, "olive").password_hash is None  # none of these used the link
    done = accept(http, link)
    assert done.status_code == 303 and done.headers["location"] == ENROL  # an operator enrols right away
    assert "Password set" in http.get(ENROL).text
    secret, _codes = enrol(http)
    assert http.get("/console/").status_code == 200
    used = http.get(link)
    assert used.status_code == 410 and "already used" in used.text
    again = http.post(link, data={"password": "another password!", "password_confirm": "another password!",
                                  "csrf_token": form_token(page.text)})
    assert again.status_code == 410
    http.cookies.clear()
    password_step(http, "olive")  # the chosen password
    assert code_step(http, code_at(secret, 1)).status_code == 303


def test_fsp_invitation_signs_in_without_enrolment(http):
    link = invite(http, "fiona", "fsp", ["ven-a"])
    done = accept(http, link)
    assert done.status_code == 303 and done.headers["location"] == "/console/"
    assert "Password set" in http.get("/console/").text


def test_expired_and_unknown_invitations_are_refused_with_a_page(http):
    link = invite(http, "olive")
    db_run(http, update(ConsoleInvitation).values(expires_at=utcnow() - timedelta(seconds=1)))
    expired = http.get(link)
    assert expired.status_code == 410 and "expired" in expired.text
    assert expired.headers["content-type"].startswith("text/html")
    assert http.post(link, data={"password": PASSWORD, "password_confirm": PASSWORD}).status_code == 410
    for bad in ("x" * 43, "short", "a%00b", "%3Cscript%3E"):
        unknown = http.get("/console/invite/" + bad)
        assert unknown.status_code == 404 and "not valid" in unknown.text, bad
    assert user_row(http, "olive").password_hash is None


def test_reset_clears_password_and_totp_ends_sessions_and_issues_a_new_link(http):
    secret, codes = enrolled_operator(http)
    password_step(http, "olive")
    assert code_step(http, code_at(secret, 1)).status_code == 303
    settings = http.app.state.settings  # type: ignore[attr-defined]
    first = run(http, lambda s: service.reset_user(s, "olive", settings))
    assert http.get("/console/", follow_redirects=False).headers["location"] == "/console/signin"  # session ended
    assert signin(http, "olive").status_code == 401  # no password
    second = run(http, lambda s: service.reset_user(s, "olive", settings))
    assert http.get(f"/console/invite/{first.token}").status_code == 404  # replaced by the newer link
    row = user_row(http, "olive")
    assert row.totp_secret is None and row.totp_enabled_at is None and row.totp_last_step is None
    assert accept(http, f"/console/invite/{second.token}").headers["location"] == ENROL  # enrol again
    new_secret, _new_codes = enrol(http)
    assert new_secret != secret
    http.cookies.clear()
    password_step(http, "olive")
    assert code_step(http, codes[2]).status_code == 401  # the old recovery codes are gone
    assert code_step(http, code_at(new_secret, 1)).status_code == 303


def test_a_disabled_account_cannot_use_its_invitation(http):
    link = invite(http, "olive")
    run(http, lambda s: service.set_disabled(s, "olive", True))
    assert http.get(link).status_code == 403


def test_cli_invite_reset_list_and_add_never_takes_a_password_argument(tmp_path, monkeypatch):
    from vtn.cli import app

    monkeypatch.setenv("VTN_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("VTN_PUBLIC_URL", "https://vtn.example.net/")
    get_settings.cache_clear()
    runner = CliRunner()
    try:
        invited = runner.invoke(app, ["users", "invite", "olive", "--role", "operator"])
        assert invited.exit_code == 0, invited.output
        links = re.findall(r"https://vtn\.example\.net/console/invite/[A-Za-z0-9_-]{43}", invited.output)
        assert len(links) == 1
        fsp_user = runner.invoke(app, ["users", "invite", "fiona", "--role", "fsp", "--ven", "ven-a"])
        assert fsp_user.exit_code == 0 and "/console/invite/" in fsp_user.output
        no_ven = runner.invoke(app, ["users", "invite", "nora", "--role", "fsp"])
        assert no_ven.exit_code == 1 and "at least one VEN" in no_ven.output
        duplicate = runner.invoke(app, ["users", "invite", "olive", "--role", "operator"])
        assert duplicate.exit_code == 1 and "already exists" in duplicate.output
        listed = runner.invoke(app, ["users", "list"]).output
        assert "olive\toperator\t-\t-\tinvited\tno 2FA" in listed and "fiona\tfsp\t-\tven-a\tinvited" in listed
        reset = runner.invoke(app, ["users", "reset", "olive"])
        assert reset.exit_code == 0 and "reset olive" in reset.output
        new_link = re.findall(r"https://vtn\.example\.net/console/invite/[A-Za-z0-9_-]{43}", reset.output)
        assert len(new_link) == 1 and new_link != links
        ghost = runner.invoke(app, ["users", "reset", "ghost"])
        assert ghost.exit_code == 1 and "not found" in ghost.output
        # `add` prompts (or reads stdin); a password on the command line is not an option
        as_argument = runner.invoke(app, ["users", "add", "sam", "--role", "operator", "--password", PASSWORD])
        assert as_argument.exit_code == 2
        assert "sam" not in runner.invoke(app, ["users", "list"]).output
    finally:
        get_settings.cache_clear()


def test_invitation_url_without_a_public_url_uses_host_and_port():
    settings = Settings(host="10.0.0.5", port=9000, console_path="/portal")
    assert service.invitation_url(settings, "tok") == "http://10.0.0.5:9000/portal/invite/tok"


def test_pre_session_routes_are_listed_and_check_their_own_token(http):
    """The unsafe routes open before a session (tests/test_console_routes.py skips them) each refuse a missing or
    forged token: sign-in (test_console_auth), the code form (above) and the invitation form (here)."""
    declared = {r.path for r in console_router.router.routes if {"POST"} & set(getattr(r, "methods", ()) or ())}
    assert console_router.PRE_SESSION_PATHS <= declared
    all_unsafe = {path for _m, path, _r in unsafe_routes()}
    assert not all_unsafe & console_router.PRE_SESSION_PATHS
    assert {"/account/two-factor", "/signout"} <= all_unsafe  # these need a session and its token
    link = invite(http, "olive")
    http.get(link)
    for forged in ({}, {"csrf_token": ""}, {"csrf_token": "forged"}):
        refused = http.post(link, data={"password": PASSWORD, "password_confirm": PASSWORD, **forged})
        assert refused.status_code == 403, forged
    plant_cookie(http, "vtn_console_signin", "planted-token-value")  # a cookie alone, without the same form field
    assert http.post(link, data={"password": PASSWORD, "password_confirm": PASSWORD}).status_code == 403
    assert user_row(http, "olive").password_hash is None


def test_one_code_sent_twice_at_once_signs_in_once(http, settings):
    """Two browsers past the password step send the same code in parallel: the row lock lets exactly one through
    (PostgreSQL: the account row is re-read FOR UPDATE; SQLite serialises writes)."""
    import asyncio

    secret, _codes = enrolled_operator(http)
    db = http.app.state.db  # type: ignore[attr-defined]

    async def race() -> list[service.SignInResult]:
        pending = [await service.authenticate(db, "olive", PASSWORD, settings) for _ in range(2)]
        assert all(p.needs_code and p.session for p in pending)
        code = code_at(secret, 1)
        return list(await asyncio.gather(*(service.verify_second_factor(db, p.session.token, code, settings)  # type: ignore[union-attr]
                                           for p in pending)))

    assert http.portal is not None
    results = http.portal.call(race)
    assert sorted(r.reason for r in results) == ["ok", "replayed"]
    assert sum(r.ok for r in results) == 1
