"""Every console route that changes something, found from the routers themselves (so a new route is covered
the day it is added): it needs a session, the right role and the session's CSRF token. Also: the console's
path is configurable and it can be switched off; its vendored libraries carry their licences."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.test_console_auth import add_user, csrf_of, signin
from vtn.console import fsp, operator
from vtn.console import router as console_router
from vtn.core.settings import Settings

UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}
ROOT = Path(__file__).resolve().parents[1]
# A body any of the forms would accept if nothing stopped it: stop everything, a program, a test dispatch.
BODY = {"all": "1", "confirm": "yes", "product": "SECURE", "operator": "NGED", "units": "KW",
        "target": json.dumps(["fsp-1", "DU-1"]), "status": "CANCELLED", "volume": "0", "end": "2030-01-01T00:00"}


@pytest.fixture
def settings(database_url: str) -> Settings:
    # Password-only operators here; routes under a required second factor: test_console_mfa.py.
    return Settings(database_url=database_url, delivery_enabled=False, console_enabled=True, console_signin_rate_limit=1000,
                    console_require_mfa=False)


def unsafe_routes() -> list[tuple[str, str, str | None]]:
    """(method, path under the console, owning role or None for any signed-in account); the routes used before a
    session (`PRE_SESSION_PATHS`: sign-in, its code step, invitations) check their own token elsewhere
    (test_console_auth.py, test_console_mfa.py)."""
    found = []
    for prefix, role, router in (("/operator", "operator", operator.router), ("/fsp", "fsp", fsp.router),
                                 ("", None, console_router.router)):
        for route in router.routes:
            for method in sorted(UNSAFE & set(getattr(route, "methods", None) or ())):
                path = prefix + re.sub(r"\{delivery_id\}", "1", re.sub(r"\{(?!delivery_id)\w+\}", "abc-123", route.path))
                if not (role is None and route.path in console_router.PRE_SESSION_PATHS):
                    found.append((method, path, role))
    return found


def world_state(bl) -> Any:  # type: ignore[no-untyped-def]
    programs = [(p["id"], p["modificationDateTime"]) for p in bl.get("/programs", params={"limit": 50}).json()]
    events = [(e["id"], e["modificationDateTime"]) for e in bl.get("/events", params={"limit": 50}).json()]
    return programs, events, len(bl.get("/reports", params={"limit": 50}).json())


def test_every_unsafe_route_needs_a_session_the_role_and_the_csrf_token(http: TestClient, bl, clients) -> None:  # type: ignore[no-untyped-def]
    routes = unsafe_routes()
    assert {"/operator/programs", "/operator/dispatch", "/operator/stop", "/operator/dispatches/abc-123/revise",
            "/operator/vens/deliveries/1/redrive", "/fsp/test", "/signout", "/account/two-factor"} <= {p for _m, p, _r in routes}
    ven = clients.ven("fsp-1")
    ven_id = ven.post("/vens", json={"venName": "fsp-1"}).json()["id"]
    role = [{"type": "GB_RESOURCE_ROLE", "values": ["DISPATCH_UNIT"]}]
    resource = {"resourceName": "DU-1", "venID": ven_id, "attributes": role}
    assert ven.post(f"/vens/{ven_id}/resources", json=resource).status_code == 201
    add_user(http, "olive", "operator")
    add_user(http, "fiona", "fsp", ["fsp-1"])
    before = world_state(bl)

    for method, path, _role in routes:  # signed out: to the sign-in page (htmx: 401 + HX-Redirect)
        response = http.request(method, "/console" + path, data=BODY, follow_redirects=False)
        assert response.status_code == 303 and response.headers["location"].startswith("/console/signin"), (method, path)
        htmx = http.request(method, "/console" + path, data=BODY, headers={"HX-Request": "true"}, follow_redirects=False)
        assert htmx.status_code == 401 and htmx.headers["hx-redirect"] == "/console/signin", (method, path)

    for username, own, refusal in (("olive", "operator", "FSP accounts"), ("fiona", "fsp", "operator accounts")):
        http.cookies.clear()
        assert signin(http, username).status_code == 303
        token = csrf_of(http)
        for method, path, owner in routes:
            url = "/console" + path
            if owner not in (own, None):  # the other role's action, even with a valid token
                response = http.request(method, url, data={**BODY, "csrf_token": token}, follow_redirects=False)
                assert response.status_code == 403 and refusal in response.text, (username, method, path)
                continue
            for forged in ({}, {"csrf_token": ""}, {"csrf_token": "forged"}, {"csrf_token": token[:-1]}):
                response = http.request(method, url, data={**BODY, **forged}, follow_redirects=False)
                assert response.status_code == 403 and "security token" in response.text, (username, method, path, forged)
            htmx = http.request(method, url, data=BODY, headers={"X-CSRF-Token": "forged", "HX-Request": "true"})
            assert htmx.status_code == 403, (username, method, path)
        assert http.get("/console/", follow_redirects=False).status_code == 200  # refusals do not end the session
    assert world_state(bl) == before  # nothing was created, changed or stopped


def test_console_path_is_configurable_and_the_console_can_be_switched_off(database_url: str) -> None:
    from vtn.app import create_app

    portal = Settings(database_url=database_url, delivery_enabled=False, console_enabled=True, console_path="/portal")
    with TestClient(create_app(portal), raise_server_exceptions=False) as http:
        page = http.get("/portal/signin")
        assert page.status_code == 200 and 'action="/portal/signin"' in page.text
        assert "/portal/static/vendor/htmx/htmx.min.js" in page.text
        assert "Path=/portal" in page.headers["set-cookie"]
        assert http.get("/portal/static/vendor/uplot/uPlot.iife.min.js").status_code == 200
        assert http.get("/console/signin").status_code == 404
        assert http.get("/portal/operator/programs", follow_redirects=False).headers["location"].startswith("/portal/signin")
    off = portal.model_copy(update={"console_enabled": False})
    with TestClient(create_app(off), raise_server_exceptions=False) as http:
        for path in ("/portal/signin", "/portal/", "/portal/static/console.css"):
            assert http.get(path).status_code == 404, path


def test_vendored_libraries_have_their_licence_and_are_listed_in_third_party() -> None:
    vendor = ROOT / "vtn" / "console" / "static" / "vendor"
    listed = (ROOT / "THIRD_PARTY.md").read_text()
    libraries = [d for d in vendor.iterdir() if d.is_dir()]
    assert {d.name for d in libraries} >= {"htmx", "uplot"}
    for library in libraries:
        licence = library / "LICENSE"
        assert licence.is_file() and len(licence.read_text()) > 100, library
        version = (library / "VERSION").read_text().split()[1]
        row = next((line for line in listed.splitlines() if f"vtn/console/static/vendor/{library.name}/" in line), "")
        assert row and f"| {version} |" in row, (library.name, version)
        for file in library.iterdir():
            assert file.name in row, (library.name, file.name)  # every vendored file is named in its row
    # Nothing is built with Node at install: no package manifest, every script the pages load is a file here.
    assert not (ROOT / "package.json").exists() and not (ROOT / "vtn" / "console" / "package.json").exists()
    templates = ROOT / "vtn" / "console" / "templates"
    for template in templates.rglob("*.html"):
        for src in re.findall(r"<script[^>]*\ssrc=\"([^\"]+)\"", template.read_text()):
            match = re.fullmatch(r"\{\{ static\('([^']+)'\) \}\}", src)
            assert match and (ROOT / "vtn" / "console" / "static" / match.group(1)).is_file(), (template.name, src)


def test_every_post_form_in_the_templates_carries_the_csrf_token() -> None:
    templates = ROOT / "vtn" / "console" / "templates"
    forms = 0
    for template in templates.rglob("*.html"):
        for form in re.findall(r"<form\b[^>]*>.*?</form>", template.read_text(), re.S):
            if re.search(r'method="post"', form[:form.index(">") + 1], re.I) is None:
                continue
            forms += 1
            if template.name == "signin.html":  # before a session: the double-submit token of the sign-in form
                assert 'name="csrf_token" value="{{ signin_token }}"' in form
            else:
                assert '<input type="hidden" name="csrf_token" value="{{ csrf_token }}">' in form, template.name
    assert forms >= 8  # sign-in, sign-out, programs, dispatch, stop, revise, outbox retries, test dispatch


def test_malformed_ids_and_nul_characters_are_a_4xx_page_never_a_500(http: TestClient) -> None:
    """Ids as the REST API takes them (OBJECT_ID_PATTERN); a NUL anywhere is bad input (PostgreSQL cannot store it)."""
    add_user(http, "olive", "operator")
    add_user(http, "fiona", "fsp", ["fsp-1"])
    bad_ids = ("a%00b", "a.b", "%3Cscript%3E")
    for username, prefix, router in (("olive", "/operator", operator.router), ("fiona", "/fsp", fsp.router)):
        http.cookies.clear()
        assert signin(http, username).status_code == 303
        token = csrf_of(http)
        id_routes = [r.path for r in router.routes if "GET" in getattr(r, "methods", ()) and "{" in r.path
                     and "{delivery_id}" not in r.path]
        assert id_routes, prefix
        for path in id_routes:
            for bad in bad_ids:
                url = "/console" + prefix + re.sub(r"\{\w+\}", bad, path)
                response = http.get(url, follow_redirects=False)
                assert response.status_code in (400, 404), (url, response.status_code)
                assert response.headers["content-type"].startswith("text/html"), url
        plain = [r.path for r in router.routes if "GET" in getattr(r, "methods", ()) and "{" not in r.path]
        for path in plain:
            for query in ("event_id=%00", "program_id=a%00", "program=%00", "ven=%00", "baseline_kw=%00"):
                response = http.get(f"/console{prefix}{path}?{query}", follow_redirects=False)
                assert response.status_code < 500, (path, query, response.status_code)
        forms = ({"program_id": "\x00", "units": "fsp-1|DU\x00", "ref": "R-1"}, {"event_id": "a\x00", "confirm": "yes"},
                 {"suffix": "", "product": "SECURE", "operator": "NGED", "terms_url": "https://x/\x00"},
                 {"target": json.dumps(["fsp-1\x00", "DU-1"])})
        for route in router.routes:
            for method in UNSAFE & set(getattr(route, "methods", None) or ()):
                if "{" in route.path:
                    continue
                for body in forms:
                    response = http.request(method, "/console" + prefix + route.path, data={**body, "csrf_token": token},
                                            follow_redirects=False)
                    assert response.status_code < 500, (route.path, body, response.status_code)
