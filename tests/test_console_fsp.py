"""Console FSP pages, in-process on SQLite and PostgreSQL: an FSP account sees what its VEN's token sees and
nothing of another FSP's; the test dispatch goes only to its own VEN and dispatch unit on the sandbox program,
rate-limited, CSRF-protected; names are escaped; bad input is a 4xx page."""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from starlette.testclient import TestClient

from gb_profile import builders as b
from gb_profile import model as m
from gb_profile.products import ProductCode
from gb_profile.validator import validate_event
from tests.conftest import Caller, Clients
from tests.test_console_auth import add_user, csrf_of
from tests.test_console_auth import signin as post_signin
from vtn.console import operator
from vtn.core.settings import Settings

SANDBOX = "NGED-OU_2MIN-SANDBOX"
MPAN_A, MPAN_B = "1312345678907", "1100000000017"


@pytest.fixture
def settings(database_url: str) -> Settings:
    """Overrides conftest's: the console on, a generous sign-in limit, password-only operators (the second
    factor is tested in test_console_mfa.py)."""
    return Settings(database_url=database_url, delivery_enabled=False, console_enabled=True,
                    console_signin_rate_limit=1000, console_sandbox_program=SANDBOX,
                    console_test_dispatch_interval_seconds=30, console_require_mfa=False)


def signin(http: TestClient, username: str) -> None:
    done = post_signin(http, username)
    assert done.status_code == 303, done.text


def check_valid_mpan(core: str) -> str:
    from gb_profile.identifiers import parse_mpan_core

    return parse_mpan_core(core).core


@dataclass
class Fsp:
    name: str
    unit: str
    meter: str
    mpan: str
    ven_id: str
    token: Caller
    event_id: str = ""
    report_id: str = ""


def register_fsp(bl: Caller, clients: Clients, name: str, unit: str, meter: str, mpan: str) -> Fsp:
    """As an operator registers an FSP: the ven with its granted targets, a dispatch unit and a meterable unit."""
    du = m.DispatchUnit(name, unit, "NGED", meterable_units=(meter,), cmz="CMZ_T7B_SWA_0012", contracts=(f"C-{name}",),
                        max_consumption_kw=500.0, max_export_kw=250.0)
    mu = m.MeterableUnit(name, meter, (check_valid_mpan(mpan),), dispatch_unit=unit)
    ven = b.build_ven(name, [du], [mu])
    resources = ven.resources or []
    created = bl.post("/vens", json=ven.model_copy(update={"resources": None}).dump())
    assert created.status_code == 201, created.text
    ven_id = created.json()["id"]
    for resource in resources:
        body = resource.model_copy(update={"venID": ven_id}).dump()
        assert bl.post(f"/vens/{ven_id}/resources", json=body).status_code == 201
    return Fsp(name, unit, meter, mpan, ven_id, clients.ven(name))


def dispatch(bl: Caller, program_id: str, fsp: Fsp, ref: str) -> dict[str, Any]:
    now = datetime.now(UTC).replace(microsecond=0)
    start = (now + timedelta(days=20)).replace(minute=0, second=0)
    ins = m.DispatchInstruction(
        operator_id="NGED", dispatch_ref=ref, revision=1, status=m.DispatchStatus.RUN, instruction_time=now,
        fsp_id=fsp.name, dispatch_unit=fsp.unit, contract_id=f"C-{fsp.name}", service_start=start,
        service_end=start + timedelta(hours=1), setpoints=(m.Setpoint(start, -120.0, m.ServiceUnits.KW, price=0.25),),
    )
    created = bl.post("/events", json=b.build_event(ins, program_id).dump())
    assert created.status_code == 201, created.text
    return created.json()


def acknowledge(fsp: Fsp, event: dict[str, Any]) -> dict[str, Any]:
    ack = b.acknowledge(event, datetime.now(UTC))
    sent = fsp.token.post("/reports", json=b.build_ack_report(ack, event["programID"], event["id"]).dump())
    assert sent.status_code == 201, sent.text
    return sent.json()


@pytest.fixture
def world(http: TestClient, clients: Clients, bl: Caller) -> dict[str, Any]:
    """Two FSPs with a dispatch and an acknowledgement each, a public `<script>` program and event, two accounts."""
    program = bl.post("/programs", json=b.build_program(ProductCode.SU, operator_id="NGED").dump()).json()
    a = register_fsp(bl, clients, "fsp-a", "DU-A", "MU-A", MPAN_A)
    z = register_fsp(bl, clients, "fsp-b", "DU-B", "MU-B", MPAN_B)
    for fsp, ref in ((a, "D-A-1"), (z, "D-B-1")):
        event = dispatch(bl, program["id"], fsp, ref)
        fsp.event_id = event["id"]
        fsp.report_id = acknowledge(fsp, event)["id"]
    hostile = bl.post("/programs", json={"programName": "<script>alert('p')</script>"}).json()
    bl.post("/events", json={"programID": hostile["id"], "eventName": "<script>alert('e')</script>", "intervals": []})
    add_user(http, "fiona", "fsp", ["fsp-a"])
    add_user(http, "fred", "fsp", ["fsp-b"])
    add_user(http, "olive", "operator")
    return {"a": a, "b": z, "program": program}


def test_fsp_sees_its_own_vens_resources_events_and_reports_only(http: TestClient, world: dict[str, Any]) -> None:
    a, z = world["a"], world["b"]
    signin(http, "fiona")

    page = http.get("/console/fsp/vens")
    assert page.status_code == 200
    for shown in ("fsp-a", a.ven_id, "DU-A", "MU-A", MPAN_A, "DISPATCH_UNIT", "METERABLE_UNIT", "NGED:CMZ_T7B_SWA_0012",
                  "NGED:C-fsp-a"):
        assert shown in page.text, shown
    for hidden in ("fsp-b", z.ven_id, "DU-B", "MU-B", MPAN_B):
        assert hidden not in page.text, hidden
    assert http.get(f"/console/fsp/vens/{a.ven_id}").status_code == 200

    events = http.get("/console/fsp/events")
    assert events.status_code == 200
    assert "NGED:D-A-1" in events.text and "NGED:D-B-1" not in events.text
    assert "revision 1 accepted" in events.text  # its acknowledgement, matched by gb_profile.board.ack_status
    assert events.text.index("&lt;script&gt;alert(&#39;e&#39;)") < events.text.index("NGED:D-A-1")  # newest first
    assert "Europe/London" not in events.text and re.search(r"\d\d:\d\d:\d\d (GMT|BST)", events.text)
    detail = http.get(f"/console/fsp/events/{a.event_id}")
    assert detail.status_code == 200 and "NGED:D-A-1" in detail.text and "-120 kW" in detail.text

    reports = http.get("/console/fsp/reports")
    assert reports.status_code == 200
    assert a.report_id in reports.text and z.report_id not in reports.text
    assert "matches the current revision" in reports.text
    one = http.get(f"/console/fsp/reports/{a.report_id}")
    assert one.status_code == 200 and "revision 1, RUN, ACCEPTED" in one.text


def test_another_fsps_urls_are_not_found(http: TestClient, world: dict[str, Any]) -> None:
    z = world["b"]
    signin(http, "fiona")
    for path in (f"/fsp/vens/{z.ven_id}", f"/fsp/events/{z.event_id}", f"/fsp/reports/{z.report_id}",
                 f"/fsp/test/{z.event_id}", f"/fsp/test/{z.event_id}/panel", "/fsp/events?ven=fsp-b",
                 "/fsp/vens?ven=fsp-b", "/fsp/reports?ven=fsp-b"):
        response = http.get("/console" + path)
        assert response.status_code == 404, path
        assert "DU-B" not in response.text and "NGED:D-B-1" not in response.text and MPAN_B not in response.text
    # a dispatch to fsp-a's VEN on a non-sandbox program is not a test result either
    assert http.get(f"/console/fsp/test/{world['a'].event_id}").status_code == 404


def test_fsp_cannot_reach_operator_pages_and_operator_not_fsp_pages(http: TestClient, world: dict[str, Any]) -> None:
    signin(http, "fiona")
    paths = [r.path for r in operator.router.routes if "GET" in getattr(r, "methods", ()) and "{" not in r.path]
    assert "/programs" in paths and "/board" in paths
    for path in paths:
        response = http.get("/console/operator" + path, follow_redirects=False)
        assert response.status_code == 403 and "operator accounts" in response.text, path
    assert http.post("/console/operator/programs", data={"csrf_token": csrf_of(http)}).status_code == 403
    http.cookies.clear()
    signin(http, "olive")
    for path in ("/fsp/vens", "/fsp/events", "/fsp/reports", "/fsp/test"):
        assert http.get("/console" + path).status_code == 403, path


def test_names_are_escaped(http: TestClient, world: dict[str, Any], bl: Caller) -> None:
    a = world["a"]
    hostile = {"resourceName": "<script>alert('r')</script>", "venID": a.ven_id,
               "attributes": [{"type": "GB_RESOURCE_ROLE", "values": ["DISPATCH_UNIT"]},
                              {"type": "NOTE", "values": ["<img src=x onerror=alert(1)>"]}]}
    assert bl.post(f"/vens/{a.ven_id}/resources", json=hostile).status_code == 201
    signin(http, "fiona")
    for path in ("/fsp/vens", "/fsp/events", "/fsp/test"):
        text = http.get("/console" + path).text
        assert "<script>alert" not in text and "<img src=x" not in text, path
        assert "&lt;script&gt;alert(" in text, path
    assert "&lt;img src=x onerror=alert(1)&gt;" in http.get("/console/fsp/vens").text


def test_bad_input_is_a_4xx_page(http: TestClient, world: dict[str, Any]) -> None:
    signin(http, "fiona")
    token = csrf_of(http)
    for path in ("/fsp/events/bad%20id", "/fsp/vens/" + "x" * 300, "/fsp/reports/%3Cscript%3E", "/fsp/test/..%2F..",
                 "/fsp/events?ven=" + "v" * 500, "/fsp/test/nope/panel"):
        response = http.get("/console" + path)
        assert 400 <= response.status_code < 500, (path, response.status_code)
        assert "text/html" in response.headers["content-type"]
    for target in ("", "not json", "[1, 2]", '["fsp-a"]', '{"a": 1}', "x" * 700, '["fsp-a", "DU-A", 3]'):
        response = http.post("/console/fsp/test", data={"csrf_token": token, "target": target})
        assert 400 <= response.status_code < 500, (target, response.status_code)


def test_csrf_is_required_for_the_test_dispatch(http: TestClient, world: dict[str, Any], bl: Caller) -> None:
    signin(http, "fiona")
    target = json.dumps(["fsp-a", "DU-A"])
    assert http.post("/console/fsp/test", data={"target": target}).status_code == 403
    assert http.post("/console/fsp/test", data={"target": target, "csrf_token": "forged"}).status_code == 403
    assert http.post("/console/fsp/test", data={"target": target}, headers={"X-CSRF-Token": "forged"}).status_code == 403
    # nothing was sent: the sandbox program is created with the first test dispatch, and there is none
    assert SANDBOX not in [p["programName"] for p in bl.get("/programs", params={"limit": 50}).json()]
    assert not [e for e in bl.get("/events", params={"limit": 50}).json() if "SANDBOX-" in e["eventName"]]


def sandbox_events(bl: Caller) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    found = [p for p in bl.get("/programs", params={"limit": 50}).json() if p["programName"] == SANDBOX]
    assert len(found) == 1
    return found[0], bl.get("/events", params={"programID": found[0]["id"]}).json()


def test_test_dispatch_goes_only_to_the_own_ven_and_unit_on_the_sandbox(http: TestClient, world: dict[str, Any],
                                                                        bl: Caller) -> None:
    a = world["a"]
    signin(http, "fiona")
    token = csrf_of(http)
    page = http.get("/console/fsp/test")
    assert "DU-A" in page.text and "DU-B" not in page.text and "MU-A" not in page.text  # only its dispatch units offered
    # not its VEN, not its unit, a meterable unit: refused before anything is created
    for target in (["fsp-b", "DU-B"], ["fsp-a", "DU-B"], ["fsp-a", "MU-A"], ["fsp-a", "<script>"]):
        response = http.post("/console/fsp/test", data={"csrf_token": token, "target": json.dumps(target)})
        assert response.status_code == 404, target
    assert not [p for p in bl.get("/programs").json() if p["programName"] == SANDBOX]

    sent = http.post("/console/fsp/test", data={"csrf_token": token, "target": json.dumps(["fsp-a", "DU-A"])},
                     follow_redirects=False)
    assert sent.status_code == 303
    event_id = sent.headers["location"].rsplit("/", 1)[1]
    program, found = sandbox_events(bl)
    assert [e["id"] for e in found] == [event_id]
    event = found[0]
    assert program["programType"] == "GB_FLEX:OU_2MIN" and not program.get("targets")
    assert {t["type"]: t["values"] for t in event["targets"]} == {
        "VEN_NAME": ["fsp-a"], "RESOURCE_NAME": ["DU-A"], "GB_CONTRACT": ["NGED:SANDBOX"]}
    assert validate_event(event, program) == []
    ins = b.parse_event(event)
    assert ins.status == m.DispatchStatus.RUN and ins.revision == 1
    assert timedelta(minutes=2) <= ins.service_start - ins.instruction_time <= timedelta(minutes=4)
    assert ins.service_end - ins.service_start == timedelta(minutes=5)
    # the other FSP never sees it
    assert event_id not in world["b"].token.get("/events").text
    http.cookies.clear()
    signin(http, "fred")
    assert http.get(f"/console/fsp/test/{event_id}").status_code == 404
    assert http.get(f"/console/fsp/events/{event_id}").status_code == 404
    assert event_id not in http.get("/console/fsp/test").text
    http.cookies.clear()
    signin(http, "fiona")
    assert event_id in http.get("/console/fsp/test").text  # listed among its recent tests
    assert a.ven_id


def test_test_dispatch_is_rate_limited_per_account(http: TestClient, world: dict[str, Any], bl: Caller) -> None:
    signin(http, "fiona")
    token = csrf_of(http)
    data = {"csrf_token": token, "target": json.dumps(["fsp-a", "DU-A"])}
    assert http.post("/console/fsp/test", data=data, follow_redirects=False).status_code == 303
    limited = http.post("/console/fsp/test", data=data, follow_redirects=False)
    assert limited.status_code == 429 and 1 <= int(limited.headers["retry-after"]) <= 30
    assert "wait" in limited.text
    hx = http.post("/console/fsp/test", data=data, headers={"HX-Request": "true"})
    assert hx.status_code == 429 and "<html" not in hx.text  # a fragment for the htmx form
    assert len(sandbox_events(bl)[1]) == 1
    # another account is not held back by fiona's limit
    http.cookies.clear()
    signin(http, "fred")
    other = http.post("/console/fsp/test", data={"csrf_token": csrf_of(http), "target": json.dumps(["fsp-b", "DU-B"])},
                      follow_redirects=False)
    assert other.status_code == 303
    # once the interval has passed, fiona may send again (same sandbox program, no second one)
    last = http.app.state.console_test_last  # type: ignore[attr-defined]
    last["fiona"] -= 31
    http.cookies.clear()
    signin(http, "fiona")
    again = http.post("/console/fsp/test", data={"csrf_token": csrf_of(http), "target": data["target"]},
                      follow_redirects=False)
    assert again.status_code == 303
    assert len(sandbox_events(bl)[1]) == 3


def test_result_panel_shows_received_and_acknowledged(http: TestClient, world: dict[str, Any]) -> None:
    a = world["a"]
    signin(http, "fiona")
    sent = http.post("/console/fsp/test", data={"csrf_token": csrf_of(http), "target": json.dumps(["fsp-a", "DU-A"])},
                     headers={"HX-Request": "true"})
    assert sent.status_code == 200 and "<html" not in sent.text
    event_id = re.search(r'/fsp/test/([^/"]+)/panel', sent.text).group(1)  # type: ignore[union-attr]
    assert sent.headers["HX-Push-Url"] == f"/console/fsp/test/{event_id}"
    assert 'hx-trigger="every 1s"' in sent.text and "Received?" in sent.text and "Acknowledged?" in sent.text
    time.sleep(0.01)

    listed = a.token.get("/events")  # the VEN polls: a heartbeat after the dispatch exists
    event = next(e for e in listed.json() if e["id"] == event_id)
    panel = http.get(f"/console/fsp/test/{event_id}/panel", headers={"HX-Request": "true"})
    assert "Received: yes" in panel.text and "Acknowledged?" in panel.text and 'data-done="false"' in panel.text

    acknowledge(a, event)
    panel = http.get(f"/console/fsp/test/{event_id}/panel", headers={"HX-Request": "true"})
    assert "Acknowledged: yes" in panel.text and "ACCEPTED" in panel.text and "(matches)" in panel.text
    assert 'data-done="true"' in panel.text and "hx-get" not in panel.text  # polling stops
    seconds = float(re.search(r'data-ack-seconds="([0-9.]+)"', panel.text).group(1))  # type: ignore[union-attr]
    assert 0 <= seconds < 30
    full = http.get(f"/console/fsp/test/{event_id}")
    assert full.status_code == 200 and "Acknowledged: yes" in full.text and "<html" in full.text


def test_readings_as_received_by_the_operator(http: TestClient, world: dict[str, Any]) -> None:
    a = world["a"]
    start = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=3)
    readings = m.MeterReadings(a.name, "NGED", tuple(
        m.MeterReading(a.meter, start + timedelta(minutes=i), m.ReadingKind.POWER_KW, value, "OK" if i else None)
        for i, value in enumerate((120.5, -80.25, 0.0))))
    sent = a.token.post("/reports", json=b.build_readings_report(readings, world["program"]["id"], a.event_id).dump())
    assert sent.status_code == 201, sent.text
    signin(http, "fiona")
    listed = http.get("/console/fsp/reports").text
    assert "3 readings from 1 meterable unit(s)" in listed
    detail = http.get(f"/console/fsp/reports/{sent.json()['id']}")
    assert detail.status_code == 200
    assert all(v in detail.text for v in ("MU-A", "120.5", "-80.25", "POWER_KW")), detail.text
    assert "3 readings" in http.get(f"/console/fsp/events/{a.event_id}").text


def test_account_bound_to_two_vens_sees_both_and_can_filter(http: TestClient, world: dict[str, Any]) -> None:
    add_user(http, "felix", "fsp", ["fsp-a", "fsp-b"])
    signin(http, "felix")
    both = http.get("/console/fsp/events").text
    assert "NGED:D-A-1" in both and "NGED:D-B-1" in both
    only_b = http.get("/console/fsp/events", params={"ven": "fsp-b"}).text
    assert "NGED:D-B-1" in only_b and "NGED:D-A-1" not in only_b
    assert 'name="ven"' in only_b  # the VEN filter is offered
    page = http.get("/console/fsp/test").text
    assert "fsp-a / DU-A" in page and "fsp-b / DU-B" in page
    assert http.get(f"/console/fsp/vens/{world['b'].ven_id}").status_code == 200
    assert http.get("/console/fsp/events", params={"ven": "fsp-c"}).status_code == 404


def test_result_panel_gives_up_without_an_acknowledgement(http: TestClient, world: dict[str, Any],
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from vtn.console import fsp

    signin(http, "fiona")
    sent = http.post("/console/fsp/test", data={"csrf_token": csrf_of(http), "target": json.dumps(["fsp-a", "DU-A"])},
                     follow_redirects=False)
    event_id = sent.headers["location"].rsplit("/", 1)[1]
    monkeypatch.setattr(fsp, "TEST_TIMEOUT_SECONDS", -1)
    panel = http.get(f"/console/fsp/test/{event_id}/panel", headers={"HX-Request": "true"}).text
    assert "Received: no" in panel and "Acknowledged: no" in panel
    assert 'data-done="true"' in panel and "hx-get" not in panel


def test_misconfigured_sandbox_is_a_409_page_and_nothing_is_sent(http: TestClient, world: dict[str, Any],
                                                                 bl: Caller) -> None:
    signin(http, "fiona")
    data = {"csrf_token": csrf_of(http), "target": json.dumps(["fsp-a", "DU-A"])}
    settings = http.app.state.settings  # type: ignore[attr-defined]
    for name in ("not a program name", "NGED-SU-SANDBOX", "XXXX-OU_2MIN-SANDBOX"):  # SU: day-ahead notice
        http.app.state.settings = settings.model_copy(update={"console_sandbox_program": name})  # type: ignore[attr-defined]
        response = http.post("/console/fsp/test", data=data)
        assert response.status_code == 409, (name, response.text)
        assert "VTN_CONSOLE_SANDBOX_PROGRAM" in response.text or "notice" in response.text
    http.app.state.settings = settings  # type: ignore[attr-defined]
    # a program of that name that is not a GB program is not taken over
    assert bl.post("/programs", json={"programName": SANDBOX}).status_code == 201
    assert http.post("/console/fsp/test", data=data).status_code == 409
    assert http.post("/console/fsp/test", data=data).status_code == 409  # the failed attempt did not count
    assert not [e for e in bl.get("/events").json() if e["eventName"].startswith("NGED:SANDBOX-")]


def test_unregistered_ven_and_non_gb_reports(http: TestClient, world: dict[str, Any], bl: Caller) -> None:
    a = world["a"]
    public = next(e for e in bl.get("/events").json() if e["eventName"].startswith("<script>"))
    interval = {"id": 0, "payloads": [{"type": "USAGE", "values": [1.5]}]}
    other = {"programID": public["programID"], "eventID": public["id"], "clientName": "fsp-a", "reportName": "<b>note</b>",
             "resources": [{"resourceName": "site-1", "intervals": [interval]}]}
    created = a.token.post("/reports", json=other)
    assert created.status_code == 201, created.text
    signin(http, "fiona")
    detail = http.get(f"/console/fsp/reports/{created.json()['id']}")
    main = detail.text.split('<main id="main" tabindex="-1">')[1]
    assert detail.status_code == 200 and "site-1" in main and "USAGE" in main and "1.5" in main, main
    assert "&lt;b&gt;note&lt;/b&gt;" in detail.text and "<b>note" not in detail.text
    assert "&lt;b&gt;note&lt;/b&gt;" in http.get("/console/fsp/reports").text
    public_page = http.get(f"/console/fsp/events/{public['id']}")  # an untargeted, non-GB event: plain fields
    assert public_page.status_code == 200 and "&lt;script&gt;" in public_page.text

    http.cookies.clear()
    add_user(http, "nora", "fsp", ["fsp-new"])
    signin(http, "nora")
    assert "not registered yet" in http.get("/console/fsp/vens").text
    assert "has a registered dispatch unit" in http.get("/console/fsp/test").text
    assert "has not sent any report" in http.get("/console/fsp/reports").text
    events = http.get("/console/fsp/events").text
    assert "NGED:D-A-1" not in events and "&lt;script&gt;" in events  # untargeted events are public
    refused = http.post("/console/fsp/test", data={"csrf_token": csrf_of(http), "target": json.dumps(["fsp-new", "DU-A"])})
    assert refused.status_code == 409 and "has not registered" in refused.text


def test_test_dispatch_is_signed_with_the_operator_key_when_the_vtn_has_one(
        http: TestClient, world: dict[str, Any], bl: Caller, settings: Settings, tmp_path: Any) -> None:
    from gb_profile.signing import KeyRing, generate_key, public_jwk, verify_event

    key = generate_key("nged-sandbox-1")
    (tmp_path / "op.pem").write_bytes(key.as_pem(private=True))
    settings.gb_signing_key_file, settings.gb_signing_kid = str(tmp_path / "op.pem"), "nged-sandbox-1"
    signin(http, "fiona")
    sent = http.post("/console/fsp/test", data={"csrf_token": csrf_of(http), "target": json.dumps(["fsp-a", "DU-A"])},
                     follow_redirects=False)
    assert sent.status_code == 303
    ring = KeyRing()
    ring.add("NGED", public_jwk(key))
    assert verify_event(sandbox_events(bl)[1][0], ring) == "nged-sandbox-1"  # a VEN requiring signatures accepts it
