"""The hostile-tenant suite, through the console: the world of tests/test_isolation.py, seen by operator
accounts of both operators and by FSP accounts. The console calls the same services with the same
`Viewer` a token would give, so every page must show exactly what the API shows, and nothing more.
"""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.test_console_auth import PASSWORD, csrf_of, signin
from tests.test_isolation import World, ok, world  # noqa: F401 - the fixture
from vtn.console import service
from vtn.core.settings import Settings


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(database_url=database_url, delivery_enabled=False, console_enabled=True, console_require_mfa=False,
                    console_signin_rate_limit=1000, callback_allow_http=True,
                    callback_allowed_networks=["127.0.0.0/8"])


def account(http: TestClient, username: str, role: str, operator: str, ven_names: list[str] | None = None) -> None:
    async def create() -> None:
        async with http.app.state.db.session() as session:  # type: ignore[attr-defined]
            await service.add_user(session, username, role, PASSWORD, ven_names, operator=operator)

    assert http.portal is not None
    http.portal.call(create)


def as_user(http: TestClient, username: str) -> TestClient:
    if http.get("/console/", follow_redirects=False).status_code == 200:  # someone is signed in: sign out first
        http.post("/console/signout", data={"csrf_token": csrf_of(http)}, follow_redirects=False)
    assert signin(http, username).status_code == 303
    return http


def gb_dispatch(w: World) -> dict[str, Any]:
    """An open GB dispatch of NGED to ven-a's DU-7 (tomorrow), in NGED's GB program."""
    import dataclasses
    from datetime import UTC, datetime, timedelta

    from gb_profile import builders as b
    from gb_profile.examples import example_instruction, example_program

    program = ok(w.nged.post("/programs", json=example_program().dump()), 201)
    ins = example_instruction()
    shift = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1) - ins.service_start
    ins = dataclasses.replace(
        ins, fsp_id="ven-a", dispatch_unit="DU-7", instruction_time=ins.instruction_time + shift,
        service_start=ins.service_start + shift, service_end=ins.service_end + shift,
        setpoints=tuple(dataclasses.replace(p, timestamp=p.timestamp + shift) for p in ins.setpoints))
    return ok(w.nged.post("/events", json=b.build_event(ins, program["id"]).dump() | {"id": None}), 201)


def page(http: TestClient, path: str, status: int = 200) -> str:
    response = http.get("/console" + path)
    assert response.status_code == status, (path, response.status_code, response.text[:300])
    return response.text


def test_operator_accounts_see_only_their_operator(world: World, http: TestClient) -> None:
    w = world
    account(http, "olive-nged", "operator", "NGED")
    account(http, "uma-ukpn", "operator", "UKPN")
    ok(w.nged.post("/programs", json={"programName": "nged-only-program"}), 201)
    ok(w.ukpn.post("/programs", json={"programName": "ukpn-only-program"}), 201)
    dispatch = gb_dispatch(w)
    nged_only = ("nged-only-program", w.program["id"], w.ven_a["id"], w.ven_b["id"], w.unit_a["id"], dispatch["id"])
    owner_pages = (f"/operator/stop?event_id={dispatch['id']}", f"/operator/stop?program_id={dispatch['programID']}",
                   f"/operator/dispatches/{dispatch['id']}/revise")

    as_user(http, "olive-nged")
    programs, vens = page(http, "/operator/programs"), page(http, "/operator/vens")
    assert "nged-only-program" in programs and "ukpn-only-program" not in programs
    assert "ven-b" in vens and w.ven_c["id"] not in vens
    for path in owner_pages:
        assert dispatch["id"] in page(http, path) or dispatch["eventName"] in page(http, path), path

    as_user(http, "uma-ukpn")
    pages = {p: page(http, p) for p in ("/operator/programs", "/operator/vens", "/operator/board", "/operator/audit",
                                         "/operator/dispatch")}
    assert not [(p, i) for p, text in pages.items() for i in nged_only if i in text]
    seen = "".join(pages.values())
    assert "ukpn-only-program" in seen
    for path in (*owner_pages, f"/operator/dispatches/{dispatch['id']}/delivery",
                 f"/operator/dispatches/{dispatch['id']}/delivery.csv"):
        assert http.get("/console" + path).status_code == 404, path
    before = ok(w.nged.get(f"/events/{dispatch['id']}"))
    stop = http.post("/console/operator/stop", data={"event_id": dispatch["id"], "confirm": "yes",
                                                     "csrf_token": csrf_of(http)}, follow_redirects=False)
    assert stop.status_code == 404
    assert ok(w.nged.get(f"/events/{dispatch['id']}")) == before


def test_fsp_accounts_see_only_their_own_ven(world: World, http: TestClient) -> None:
    w = world
    account(http, "fiona-b", "fsp", "NGED", ["ven-b"])
    account(http, "carl-c", "fsp", "UKPN", ["ven-a"])  # UKPN's FSP whose ven is also named ven-a

    def hidden(paths: list[str]) -> list[Any]:
        return [p for p in paths if http.get("/console" + p).status_code != 404]

    as_user(http, "fiona-b")
    listing = page(http, "/fsp/events") + page(http, "/fsp/vens") + page(http, "/fsp/reports")
    assert "for-a" not in listing and w.report_a["id"] not in listing and w.ven_a["id"] not in listing
    assert "everyone" in listing and w.ven_b["id"] in listing
    assert hidden([f"/fsp/events/{w.event_a['id']}", f"/fsp/vens/{w.ven_a['id']}", f"/fsp/reports/{w.report_a['id']}",
                   f"/fsp/events/{w.ukpn_event['id']}", f"/fsp/test/{w.event_a['id']}"]) == []

    as_user(http, "carl-c")
    listing = page(http, "/fsp/events") + page(http, "/fsp/vens")
    assert w.ven_c["id"] in listing and "ukpn-all" in listing
    assert "everyone" not in listing and w.ven_a["id"] not in listing
    assert hidden([f"/fsp/vens/{w.ven_a['id']}", f"/fsp/events/{w.everyone['id']}", f"/fsp/events/{w.event_a['id']}",
                   f"/fsp/reports/{w.report_a['id']}"]) == []
