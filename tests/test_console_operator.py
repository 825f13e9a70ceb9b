"""Operator console pages, in-process on SQLite and PostgreSQL: programs from the catalogue, dispatch with
validation, preview and creation, the board's acknowledgements, emergency stop (one, program, all), the
notification outbox re-drive, delivery (chart data and CSV), escaping, roles and bad input."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import delete, insert, update
from starlette.testclient import TestClient

from gb_profile import board
from gb_profile import builders as b
from gb_profile import model as m
from gb_profile.settlement import LONDON
from gb_profile.signing import KeyRing, generate_key, public_jwk, verify_event
from tests.test_console_auth import add_user, csrf_of, db_run, signin
from vtn.console import operator
from vtn.core.settings import Settings
from vtn.subscriptions.notification_models import DeliveredRow, OutboxRow, OutboxStatus

OP = "/console/operator"


@pytest.fixture
def settings(database_url: str) -> Settings:
    # Password-only operators here; the second factor is tested in test_console_mfa.py.
    return Settings(database_url=database_url, delivery_enabled=False, console_enabled=True, console_signin_rate_limit=1000,
                    callback_allow_http=True, callback_allowed_networks=["127.0.0.0/8"], console_require_mfa=False)


@pytest.fixture
def olive(http: TestClient) -> TestClient:
    add_user(http, "olive", "operator")
    assert signin(http, "olive").status_code == 303
    return http


@pytest.fixture
def fsp_ven(clients):  # type: ignore[no-untyped-def]
    """The FSP's VEN `fsp-1` with dispatch unit DU-1, registered over the REST API with its own token."""
    ven = clients.ven("fsp-1")
    created = ven.post("/vens", json={"venName": "fsp-1"})
    assert created.status_code == 201, created.text
    ven.ven_id = created.json()["id"]
    role = [{"type": "GB_RESOURCE_ROLE", "values": ["DISPATCH_UNIT"]}]
    resource = {"resourceName": "DU-1", "venID": ven.ven_id, "attributes": role}
    assert ven.post(f"/vens/{ven.ven_id}/resources", json=resource).status_code == 201
    return ven


def local(moment: datetime) -> str:
    return moment.astimezone(LONDON).strftime("%Y-%m-%dT%H:%M")


def tomorrow_at(hour: int) -> datetime:
    day = (datetime.now(LONDON) + timedelta(days=1)).date()
    return datetime(day.year, day.month, day.day, hour, tzinfo=LONDON).astimezone(UTC)


def make_program(http: TestClient, product: str = "RESTORE", operator_id: str = "NGED", suffix: str = "") -> str:
    response = http.post(f"{OP}/programs", data={"product": product, "operator": operator_id, "suffix": suffix, "units": "KW",
                                                 "anchor": "on", "csrf_token": csrf_of(http)}, follow_redirects=False)
    assert response.status_code == 303, response.text
    page = http.get(f"{OP}/programs").text
    name = f"{operator_id}-{product}" + (f"-{suffix}" if suffix else "")
    match = re.search(r'\?program=([^"]+)"[^<]*>Dispatch</a>', page[page.index(f"<strong>{name}</strong>"):])
    assert match, page
    return match.group(1)


def dispatch_form(http: TestClient, program: str, **over: Any) -> dict[str, Any]:
    start = tomorrow_at(10)
    form = {"program_id": program, "units": ["fsp-1|DU-1"], "ref": "D-1", "contract": "C-1", "start": local(start),
            "end": local(start + timedelta(minutes=30)), "volume": "100", "direction": "TURN_DOWN", "kind": "DELTA",
            "status": "RUN", "price": "", "cmz": "", "csrf_token": csrf_of(http)}
    form.update(over)
    return form


def dispatch(http: TestClient, program_id: str, **over: Any) -> str:
    response = http.post(f"{OP}/dispatch", data=dispatch_form(http, program_id, **over), follow_redirects=False)
    assert response.status_code == 303, response.text
    return response.headers["location"]


def events_by_name(bl) -> dict[str, dict[str, Any]]:  # type: ignore[no-untyped-def]
    return {e["eventName"]: e for e in bl.get("/events").json()}


def acknowledge(ven, event: dict[str, Any], **kw: Any) -> None:  # type: ignore[no-untyped-def]
    ack = b.acknowledge(event, datetime.now(UTC), **kw)
    response = ven.post("/reports", json=b.build_ack_report(ack, event["programID"], event["id"]).dump())
    assert response.status_code == 201, response.text


# --- pages and roles ---------------------------------------------------------------------------------------------


def test_every_page_renders_for_an_operator_and_is_403_for_an_fsp(olive, bl, fsp_ven):
    program_id = make_program(olive)
    dispatch(olive, program_id)
    event = events_by_name(bl)["NGED:D-1"]
    pages = ["/programs", "/dispatch", "/board", "/board/fragment", "/vens", "/vens/fragment", "/stop?all=1",
             f"/stop?program_id={program_id}", f"/stop?event_id={event['id']}", f"/dispatches/{event['id']}",
             f"/dispatches/{event['id']}/revise",
             f"/dispatches/{event['id']}/delivery", f"/dispatches/{event['id']}/delivery.json",
             f"/dispatches/{event['id']}/delivery.csv"]
    for page in pages:
        response = olive.get(OP + page)
        assert response.status_code == 200, (page, response.text[:500])
        if response.headers["content-type"].startswith("text/html"):
            assert "content-security-policy" in response.headers
            assert "<script>" not in response.text and " style=" not in response.text, page  # CSP: no inline
    fragment = olive.get(f"{OP}/board/fragment", headers={"HX-Request": "true"}).text
    assert "<html" not in fragment and "NGED:D-1" in fragment

    olive.cookies.clear()
    add_user(olive, "fiona", "fsp", ["fsp-1"])
    signin(olive, "fiona")
    for page in pages:
        assert olive.get(OP + page).status_code == 403, page
    token = csrf_of(olive)
    assert olive.post(f"{OP}/stop", data={"all": "1", "confirm": "yes", "csrf_token": token}).status_code == 403
    assert olive.post(f"{OP}/programs", data={"product": "SU", "operator": "NGED", "csrf_token": token}).status_code == 403
    assert events_by_name(bl)["NGED:D-1"]["intervals"] == event["intervals"]  # nothing changed


# --- programs ----------------------------------------------------------------------------------------------------


def test_program_from_the_catalogue_with_profile_defaults(olive, bl):
    page = olive.get(f"{OP}/programs").text
    for name in ("Secure", "Dynamic", "Sustain", "Restore", "Peak Reduction", "Operational Utilisation (15-minute)"):
        assert name in page
    assert "NGED — National Grid Electricity Distribution" in page
    make_program(olive, "DYNAMIC", "UKPN")
    make_program(olive, "SU", "NGED", suffix="SANDBOX")
    programs = {p["programName"]: p for p in bl.get("/programs").json()}
    dynamic = programs["UKPN-DYNAMIC"]
    assert dynamic["programType"] == "GB_FLEX:DYNAMIC" and dynamic["retailerName"] == "UKPN" and dynamic["country"] == "GB"
    descriptors = {d["payloadType"] for d in dynamic["payloadDescriptors"]}
    assert descriptors == {"DISPATCH_SETPOINT", "DISPATCH_SETPOINT_RELATIVE", "PRICE"}
    assert "NGED-SU-SANDBOX" in programs
    anchors = [e for e in bl.get("/events").json() if e["eventName"] == "UKPN:GB_ANCHOR"]
    assert len(anchors) == 1 and anchors[0]["programID"] == dynamic["id"]

    token = csrf_of(olive)
    dated = olive.post(f"{OP}/programs", data={"product": "OU_DA", "operator": "SSEN", "valid_from": "2027-04-01T00:00",
                                               "valid_to": "2028-04-01T00:00", "terms_url": "https://example.org/terms",
                                               "csrf_token": token}, follow_redirects=False)
    assert dated.status_code == 303
    ou = next(p for p in bl.get("/programs").json() if p["programName"] == "SSEN-OU_DA")
    assert ou["intervalPeriod"]["start"] in ("2027-03-31T23:00:00Z", "2027-03-31T23:00:00+00:00")  # BST midnight in UTC
    assert ou["programDescriptions"] == [{"URL": "https://example.org/terms"}]
    undated = olive.post(f"{OP}/programs", data={"product": "OU_WA", "operator": "SSEN", "valid_to": "2028-04-01T00:00",
                                                 "csrf_token": token})
    assert undated.status_code == 400 and 'id="valid_from-error"' in undated.text
    bad = olive.post(f"{OP}/programs", data={"product": "NOPE", "operator": "XX", "suffix": "a b", "csrf_token": token})
    assert bad.status_code == 400 and "Choose a product" in bad.text and "Choose a GB network operator" in bad.text
    again = olive.post(f"{OP}/programs", data={"product": "DYNAMIC", "operator": "UKPN", "csrf_token": token})
    assert again.status_code == 409 and "already exists" in again.text


# --- dispatch: validation, preview, creation -------------------------------------------------------------------


def test_dispatch_validation_shows_rule_ids_next_to_the_field(olive, bl, fsp_ven):
    secure = make_program(olive, "SECURE")  # week-ahead notice
    soon = datetime.now(UTC) + timedelta(hours=2)
    response = olive.post(f"{OP}/dispatch", data=dispatch_form(olive, secure, start=local(soon),
                                                                 end=local(soon + timedelta(hours=1))))
    assert response.status_code == 400
    start_error = re.search(r'<ul class="field-error" id="start-error">(.*?)</ul>', response.text, re.S)
    assert start_error and "GB-E-020" in start_error.group(1), response.text
    assert 'aria-describedby="start-hint start-error"' in response.text
    too_precise = olive.post(f"{OP}/dispatch", data=dispatch_form(olive, make_program(olive, "RESTORE"), volume="1.23456"))
    volume_error = re.search(r'id="volume-error">(.*?)</ul>', too_precise.text, re.S)
    assert too_precise.status_code == 400 and volume_error and "GB-E-021" in volume_error.group(1)
    assert bl.get("/events").json() == [e for e in bl.get("/events").json() if e["eventName"].endswith("GB_ANCHOR")]


def test_bad_dispatch_input_is_400_with_messages_not_500(olive, fsp_ven):
    program_id = make_program(olive)
    cases = [
        ({"start": "garbage"}, "start-error"), ({"end": "2026-13-40T99:99"}, "end-error"), ({"volume": "abc"}, "volume-error"),
        ({"volume": "nan"}, "volume-error"), ({"volume": "-5"}, "volume-error"), ({"ref": "has space"}, "ref-error"),
        ({"units": []}, "units-error"), ({"units": ["no-separator"]}, "units-error"),
        ({"program_id": "nope"}, "program_id-error"),
        ({"status": "STOP"}, "status-error"), ({"kind": "weird"}, "kind-error"), ({"price": "inf"}, "price-error"),
        ({"end": local(tomorrow_at(9))}, "end-error"), ({"start": "0001-01-01T00:00+01:00"}, "start-error"),
        ({"start": "2027-03-28T01:30"}, "start-error"),  # skipped by the clocks going forward
        ({"start": "2027-10-31T01:30"}, "start-error"),  # happens twice when the clocks go back
        ({"start": "0001-01-01T00:00:00Z"}, "start-error"), ({"end": "0001-01-01T00:00"}, "end-error"),
        ({"end": "9999-12-31T23:59"}, "end-error"),
    ]
    for change, error_id in cases:
        response = olive.post(f"{OP}/dispatch", data=dispatch_form(olive, program_id, **change))
        assert response.status_code == 400, change
        assert f'id="{error_id}"' in response.text, change
    too_long = olive.post(f"{OP}/dispatch", data=dispatch_form(olive, program_id, ref="x" * 5000))
    assert too_long.status_code == 400
    garbled = olive.post(f"{OP}/dispatch", content=b"--x\r\nbroken", headers={"content-type": "multipart/form-data; boundary=x",
                                                                            "X-CSRF-Token": csrf_of(olive)})
    assert garbled.status_code == 400
    assert olive.get(f"{OP}/dispatches/not-an-event/delivery").status_code == 404
    assert olive.get(f"{OP}/stop").status_code == 400
    assert olive.post(f"{OP}/vens/deliveries/abc/redrive", data={"csrf_token": csrf_of(olive)}).status_code == 400
    assert olive.post(f"{OP}/vens/deliveries/999999/redrive", data={"csrf_token": csrf_of(olive)}).status_code == 404


def test_preview_shows_the_event_it_will_create(olive, bl, fsp_ven):
    program_id = make_program(olive)
    form = dispatch_form(olive, program_id, ref="PREVIEW-1", volume="250", direction="TURN_UP")
    response = olive.post(f"{OP}/dispatch/preview", data=form, headers={"HX-Request": "true"})
    assert response.status_code == 200 and "<html" not in response.text
    assert "Valid under the GB profile" in response.text and "(unsigned)" in response.text
    shown = re.search(r'<pre class="json"[^>]*>(.*?)</pre>', response.text, re.S)
    assert shown
    import html

    event = json.loads(html.unescape(shown.group(1)))
    assert event["eventName"] == "NGED:PREVIEW-1" and event["programID"] == program_id
    assert event["intervals"][1]["payloads"][0] == {"type": "DISPATCH_SETPOINT_RELATIVE", "values": [250.0]}
    assert {"type": "VEN_NAME", "values": ["fsp-1"]} in event["targets"]
    assert not any(e["eventName"] == "NGED:PREVIEW-1" for e in bl.get("/events").json())  # a preview creates nothing

    invalid = olive.post(f"{OP}/dispatch/preview", data={**form, "volume": "x"}, headers={"HX-Request": "true"})
    assert invalid.status_code == 200 and "Not valid yet" in invalid.text and "volume" in invalid.text


def test_submit_creates_the_dispatch_and_the_board_shows_acknowledgements(olive, bl, fsp_ven):
    program_id = make_program(olive)
    before = datetime.now(UTC).replace(microsecond=0)
    assert dispatch(olive, program_id, ref="D-7", volume="120.5").endswith("/console/operator/board")
    event = events_by_name(bl)["NGED:D-7"]
    ins = b.parse_event(event)
    assert ins.status == m.DispatchStatus.RUN and ins.revision == 1 and ins.signature is None
    assert before <= ins.instruction_time <= datetime.now(UTC)  # set by the server
    assert ins.setpoints[0].volume == -120.5  # turn-down lowers net import
    assert ins.service_start == tomorrow_at(10) and ins.service_end == tomorrow_at(10) + timedelta(minutes=30)
    assert fsp_ven.get(f"/events/{event['id']}").status_code == 200  # the FSP's VEN sees it

    page = olive.get(f"{OP}/board")
    assert 'hx-trigger="every 2s"' in page.text and "Dispatched NGED:D-7" in page.text
    cell = re.search(rf'data-testid="ack-{event["id"]}">(.*?)</td>', page.text, re.S)
    assert cell and "awaiting rev 1" in cell.group(1)
    acknowledge(fsp_ven, event)
    cell = re.search(rf'data-testid="ack-{event["id"]}">(.*?)</td>', olive.get(f"{OP}/board/fragment").text, re.S)
    assert cell and "rev 1 ACCEPTED" in cell.group(1) and "fsp-1" in cell.group(1)

    # two units → two dispatches
    fsp_ven.post(f"/vens/{fsp_ven.ven_id}/resources", json={"resourceName": "DU-2", "venID": fsp_ven.ven_id})
    dispatch(olive, program_id, ref="D-8", units=["fsp-1|DU-1", "fsp-1|DU-2"])
    names = events_by_name(bl)
    assert b.parse_event(names["NGED:D-8-1"]).dispatch_unit == "DU-1"
    assert b.parse_event(names["NGED:D-8-2"]).dispatch_unit == "DU-2"

    # revise: RUN → RUN with a new volume, through the events service (GB revision rules apply)
    revised = olive.post(f"{OP}/dispatches/{event['id']}/revise", data={
        "status": "RUN", "volume": "80", "end": local(tomorrow_at(10) + timedelta(minutes=20)), "csrf_token": csrf_of(olive)},
        follow_redirects=False)
    assert revised.status_code == 303, revised.text
    after = b.parse_event(events_by_name(bl)["NGED:D-7"])
    assert (after.revision, after.setpoints[0].volume, after.service_end) == (2, -80.0, tomorrow_at(10) + timedelta(minutes=20))
    history = re.search(rf'data-testid="ack-{event["id"]}">(.*?)</td>', olive.get(f"{OP}/board/fragment").text, re.S)
    assert history and "awaiting rev 2" in history.group(1) and "rev 1 ACCEPTED (RUN)" in history.group(1)
    bad_revision = olive.post(f"{OP}/dispatches/{event['id']}/revise", data={
        "status": "PRE_NOTIFY", "volume": "80", "end": local(tomorrow_at(11)), "csrf_token": csrf_of(olive)})
    assert bad_revision.status_code == 400  # RUN → PRE_NOTIFY is not an allowed transition
    cancelled = olive.post(f"{OP}/dispatches/{event['id']}/revise", data={
        "status": "CANCELLED", "volume": "0", "end": local(tomorrow_at(11)), "csrf_token": csrf_of(olive)},
        follow_redirects=False)
    assert cancelled.status_code == 303
    final = b.parse_event(events_by_name(bl)["NGED:D-7"])
    assert (final.revision, final.status, final.setpoints) == (3, m.DispatchStatus.CANCELLED, ())


def test_latest_ack_wins_on_the_board_every_ack_listed_and_a_misread_does_not_match(olive, bl, fsp_ven):
    """REJECTED then ACCEPTED for one revision: the board's headline shows the later one (the same rule as
    `vtn gb status`, gb_profile.board), the history and the dispatch view list both; a read-back whose status
    differs is stored and shown as not matching."""
    program_id = make_program(olive)
    dispatch(olive, program_id, ref="D-TWICE")
    event = events_by_name(bl)["NGED:D-TWICE"]
    acknowledge(fsp_ven, event, result=m.AckResult.REJECTED, reason="unit busy")
    acknowledge(fsp_ven, event)

    def ack_cell() -> str:
        cell = re.search(rf'data-testid="ack-{event["id"]}">(.*?)</td>', olive.get(f"{OP}/board/fragment").text, re.S)
        assert cell
        return cell.group(1)

    cell = ack_cell()
    assert re.search(r'data-ack="latest">rev 1 ACCEPTED<', cell), cell
    history = re.search(r'<ul class="ack-history hint">(.*?)</ul>', cell, re.S)
    assert history and "rev 1 REJECTED (RUN)" in history.group(1) and "superseded" in history.group(1)
    assert "rev 1 ACCEPTED (RUN)" in history.group(1)
    view = olive.get(f"{OP}/dispatches/{event['id']}/delivery").text
    listed = re.search(r"<h2>Acknowledgements</h2>\s*<ul>(.*?)</ul>", view, re.S)
    assert listed and "REJECTED (RUN)" in listed.group(1) and "unit busy" in listed.group(1)
    assert "ACCEPTED (RUN)" in listed.group(1) and "superseded" in listed.group(1)

    acknowledge(fsp_ven, event, status=m.DispatchStatus.PRE_NOTIFY)  # the FSP misread the status: stored, flagged
    cell = ack_cell()
    assert re.search(r'data-ack="latest">rev 1 ACCEPTED<', cell) and "does not match" in cell
    assert "read back PRE_NOTIFY, issued RUN" in cell
    view = olive.get(f"{OP}/dispatches/{event['id']}/delivery").text
    assert "does not match" in view


def test_dispatch_page_shows_every_revision_with_its_acknowledgements(olive, bl, fsp_ven):
    """The dispatch record (docs/gb-profile.md §5.4): each revision sent, by whom and when, and every acknowledgement of
    that revision (the superseded one too); the board links to it."""
    program_id = make_program(olive)
    dispatch(olive, program_id, ref="D-REC", volume="100")
    event = events_by_name(bl)["NGED:D-REC"]
    acknowledge(fsp_ven, event, result=m.AckResult.REJECTED, reason="unit busy")
    acknowledge(fsp_ven, event)
    revised = olive.post(f"{OP}/dispatches/{event['id']}/revise", data={
        "status": "RUN", "volume": "80", "end": local(tomorrow_at(10) + timedelta(minutes=20)), "csrf_token": csrf_of(olive)},
        follow_redirects=False)
    assert revised.status_code == 303, revised.text
    assert f'href="/console/operator/dispatches/{event["id"]}"' in olive.get(f"{OP}/board/fragment").text

    page = olive.get(f"{OP}/dispatches/{event['id']}")
    assert page.status_code == 200
    rows = dict(re.findall(r'<tr data-revision="(\d+)">(.*?)</tr>', page.text, re.S))
    assert list(rows) == ["1", "2"]
    assert "console:olive" in rows["1"] and "console:olive" in rows["2"] and "RUN" in rows["2"]
    assert "-100" in rows["1"] and "-80" in rows["2"]  # what each revision instructed
    first = re.search(r'data-testid="acks-rev-1">(.*?)</td>', page.text, re.S)
    assert first and "REJECTED" in first.group(1) and "unit busy" in first.group(1) and "superseded" in first.group(1)
    assert "ACCEPTED" in first.group(1)
    second = re.search(r'data-testid="acks-rev-2">(.*?)</td>', page.text, re.S)
    assert second and "none" in second.group(1) and "ACCEPTED" not in second.group(1)
    acknowledge(fsp_ven, events_by_name(bl)["NGED:D-REC"])
    second = re.search(r'data-testid="acks-rev-2">(.*?)</td>', olive.get(f"{OP}/dispatches/{event['id']}").text, re.S)
    assert second and "ACCEPTED" in second.group(1)
    # an event that is not a dispatch (the program's anchor) has no dispatch page
    anchor = next(e for e in bl.get("/events").json() if e["eventName"].endswith(":GB_ANCHOR"))
    assert olive.get(f"{OP}/dispatches/{anchor['id']}").status_code == 404


def test_dispatch_is_signed_when_the_vtn_has_an_operator_key(olive, bl, fsp_ven, settings, tmp_path):
    key = generate_key("nged-console-1")
    (tmp_path / "nged.pem").write_bytes(key.as_pem(private=True))
    settings.gb_signing_key_file, settings.gb_signing_kid = str(tmp_path / "nged.pem"), "nged-console-1"
    program_id = make_program(olive)
    assert "signed with the operator key <code>nged-console-1</code>" in olive.get(f"{OP}/dispatch").text
    dispatch(olive, program_id, ref="SIGNED-1")
    ring = KeyRing()
    ring.add("NGED", public_jwk(key))
    event = events_by_name(bl)["NGED:SIGNED-1"]
    assert verify_event(event, ring) == "nged-console-1"
    olive.post(f"{OP}/stop", data={"event_id": event["id"], "confirm": "yes", "csrf_token": csrf_of(olive)})
    stopped = events_by_name(bl)["NGED:SIGNED-1"]
    assert b.parse_event(stopped).status == m.DispatchStatus.EMERGENCY_STOP and verify_event(stopped, ring) == "nged-console-1"


# --- emergency stop ----------------------------------------------------------------------------------------------


def test_emergency_stop_for_one_dispatch_one_program_one_zone_and_everything(olive, bl, fsp_ven):
    """Every scope sends one EMERGENCY_STOP revision with priority 0 (GB-E-019) per open dispatch it covers."""
    restore = make_program(olive, "RESTORE")
    dynamic = make_program(olive, "DYNAMIC")
    for ref in ("A-1", "A-2"):
        dispatch(olive, restore, ref=ref)
    dispatch(olive, dynamic, ref="B-1", cmz="CMZ_7")
    dispatch(olive, dynamic, ref="B-2", cmz="CMZ_8")
    other = bl.post("/programs", json={"programName": "not-gb"}).json()["id"]  # a non-GB program's event is never touched
    plain = bl.post("/events", json={"programID": other, "eventName": "NGED:PLAIN", "intervals": [
        {"id": 0, "payloads": [{"type": "GB_DISPATCH_STATUS", "values": ["RUN"]}]}]})
    assert plain.status_code == 201

    def statuses() -> dict[str, tuple[int, m.DispatchStatus]]:
        return {name: (ins.revision, ins.status) for name, e in events_by_name(bl).items()
                if not name.endswith("GB_ANCHOR") and name != "NGED:PLAIN" for ins in [b.parse_event(e)]}

    def emergency_stopped(name: str) -> None:
        event = events_by_name(bl)[name]
        assert b.parse_event(event).status == m.DispatchStatus.EMERGENCY_STOP and event["priority"] == 0

    ids = {name: e["id"] for name, e in events_by_name(bl).items()}
    confirm = olive.get(f"{OP}/stop?event_id={ids['NGED:A-1']}")
    assert confirm.status_code == 200 and "NGED:A-1" in confirm.text and "NGED:A-2" not in confirm.text
    assert 'data-confirm="Send EMERGENCY_STOP to 1 dispatch(es)?"' in confirm.text
    assert "Constraint zone NGED:CMZ_7" in confirm.text and "Constraint zone NGED:CMZ_8" in confirm.text
    token = csrf_of(olive)
    unconfirmed = olive.post(f"{OP}/stop", data={"event_id": ids["NGED:A-1"], "csrf_token": token})
    assert unconfirmed.status_code == 400 and statuses()["NGED:A-1"] == (1, m.DispatchStatus.RUN)
    assert olive.post(f"{OP}/stop", data={"event_id": ids["NGED:A-1"], "confirm": "yes"}).status_code == 403  # no CSRF
    assert olive.post(f"{OP}/stop", data={"program_id": restore, "all": "1", "confirm": "yes",
                                          "csrf_token": token}).status_code == 400  # two scopes at once
    assert olive.get(f"{OP}/stop?cmz=no-operator").status_code == 400
    assert olive.get(f"{OP}/stop?program_id={other}").status_code == 400  # not a GB program

    done = olive.post(f"{OP}/stop", data={"event_id": ids["NGED:A-1"], "confirm": "yes", "csrf_token": token},
                      follow_redirects=False)
    assert done.status_code == 303
    RUN, ESTOP = m.DispatchStatus.RUN, m.DispatchStatus.EMERGENCY_STOP
    assert statuses() == {"NGED:A-1": (2, ESTOP), "NGED:A-2": (1, RUN), "NGED:B-1": (1, RUN), "NGED:B-2": (1, RUN)}
    emergency_stopped("NGED:A-1")
    stopped = b.parse_event(events_by_name(bl)["NGED:A-1"])
    assert stopped.service_end == stopped.service_start and stopped.setpoints == ()  # not started: zero-length window

    listed = re.search(r'data-testid="stop-targets">(.*?)</ul>', olive.get(f"{OP}/stop?program_id={restore}").text, re.S)
    assert listed
    program_page = listed.group(1)
    assert "NGED:A-2" in program_page and "NGED:A-1" not in program_page and "NGED:B-1" not in program_page
    olive.post(f"{OP}/stop", data={"program_id": restore, "confirm": "yes", "csrf_token": token})
    assert statuses() == {"NGED:A-1": (2, ESTOP), "NGED:A-2": (2, ESTOP), "NGED:B-1": (1, RUN), "NGED:B-2": (1, RUN)}

    zone = olive.get(f"{OP}/stop?cmz=NGED:CMZ_7").text
    assert "NGED:B-1" in zone and "NGED:B-2" not in zone
    olive.post(f"{OP}/stop", data={"cmz": "NGED:CMZ_7", "confirm": "yes", "csrf_token": token})
    assert statuses() == {"NGED:A-1": (2, ESTOP), "NGED:A-2": (2, ESTOP), "NGED:B-1": (2, ESTOP), "NGED:B-2": (1, RUN)}

    dispatch(olive, restore, ref="A-3")
    olive.post(f"{OP}/stop", data={"all": "1", "confirm": "yes", "csrf_token": token})
    assert {name: s for name, (_, s) in statuses().items()} == dict.fromkeys(
        ("NGED:A-1", "NGED:A-2", "NGED:A-3", "NGED:B-1", "NGED:B-2"), ESTOP)
    for name in ("NGED:A-2", "NGED:A-3", "NGED:B-1", "NGED:B-2"):
        emergency_stopped(name)
    assert statuses()["NGED:A-1"] == (2, ESTOP)  # already stopped: not revised again
    assert events_by_name(bl)["NGED:PLAIN"] == plain.json()  # untouched
    nothing = olive.post(f"{OP}/stop", data={"all": "1", "confirm": "yes", "csrf_token": token})
    assert nothing.status_code == 200 and "Nothing to stop" in nothing.text


# --- VENs and the outbox -------------------------------------------------------------------------------------------


def test_vens_page_and_outbox_retry(olive, bl, fsp_ven):
    program_id = make_program(olive)
    subscription = {"programID": program_id, "clientName": "fsp-1", "objectOperations": [
        {"objects": ["EVENT"], "operations": ["POST", "PUT"], "callbackUrl": "http://127.0.0.1:9/hook"}]}
    assert fsp_ven.post("/subscriptions", json=subscription).status_code == 201
    dispatch(olive, program_id, ref="N-1")
    dispatch(olive, program_id, ref="N-2")
    page = olive.get(f"{OP}/vens").text
    assert "fsp-1" in page and "DU-1" in page
    assert re.search(r'data-testid="outbox-pending".*?http://127.0.0.1:9/hook', page, re.S)

    def rows() -> list[OutboxRow]:
        db = olive.app.state.db  # type: ignore[attr-defined]

        async def read() -> list[OutboxRow]:
            async with db.session(write=False) as session:
                from sqlmodel import select

                return list((await session.exec(select(OutboxRow).order_by(OutboxRow.id))).all())

        assert olive.portal is not None
        return olive.portal.call(read)

    first, second = rows()[:2]
    # The delivery worker is off here: make the first dead-lettered and the second failing, as retries would.
    db_run(olive, update(OutboxRow).where(OutboxRow.id == first.id).values(status=OutboxStatus.DEAD, attempts=12,
                                                                             last_error="connection refused"))
    db_run(olive, update(OutboxRow).where(OutboxRow.id == second.id).values(attempts=3, last_error="timeout", last_status=503))
    page = olive.get(f"{OP}/vens").text
    dead = re.search(r'data-testid="outbox-dead">(.*?)</table>', page, re.S)
    assert dead and "connection refused" in dead.group(1) and f"/deliveries/{first.id}/redrive" in dead.group(1)
    assert re.search(r'data-testid="outbox-failing">.*?HTTP 503 timeout', page, re.S)
    assert 'class="comms-loss"' in page and "comms loss" in page  # failing webhooks to fsp-1

    assert olive.post(f"{OP}/vens/deliveries/{first.id}/redrive").status_code == 403  # CSRF
    retried = olive.post(f"{OP}/vens/deliveries/{first.id}/redrive", data={"csrf_token": csrf_of(olive)}, follow_redirects=False)
    assert retried.status_code == 303
    again = rows()[0]
    assert (again.status, again.attempts, again.last_error) == (OutboxStatus.PENDING, 0, None)
    db_run(olive, update(OutboxRow).values(status=OutboxStatus.DEAD))
    olive.post(f"{OP}/vens/deliveries/redrive-dead", data={"csrf_token": csrf_of(olive)})
    assert {r.status for r in rows()} == {OutboxStatus.PENDING}

    # Delivered: the rows leave the outbox and the subscription's last accepted webhook is what the page shows.
    sub_id = rows()[0].subscription_id
    db_run(olive, delete(OutboxRow))
    assert "last delivered" not in olive.get(f"{OP}/vens").text
    db_run(olive, insert(DeliveredRow).values(subscription_id=sub_id, last_delivered_at=datetime.now(UTC)))
    page = olive.get(f"{OP}/vens").text
    assert re.search(r"last delivered \w{3} \d\d \w{3} \d{4} \d\d:\d\d:\d\d (GMT|BST)", page)
    assert 'class="comms-loss"' not in page


# --- delivery ----------------------------------------------------------------------------------------------------


def readings_report(event: dict[str, Any], start: datetime, values: list[float], baseline: float | None) -> dict[str, Any]:
    readings = tuple(m.MeterReading("MU-1", start + timedelta(minutes=i), m.ReadingKind.POWER_KW, v)
                     for i, v in enumerate(values))
    report = b.build_readings_report(m.MeterReadings("fsp-1", "NGED", readings), event["programID"], event["id"]).dump()
    if baseline is not None:
        for interval in report["resources"][0]["intervals"]:
            interval["payloads"].append({"type": "BASELINE", "values": [baseline]})
    return report


def test_delivery_chart_data_and_csv(olive, bl, fsp_ven):
    assert fsp_ven.post(f"/vens/{fsp_ven.ven_id}/resources", json={"resourceName": "MU-1"}).status_code == 201  # GB-R-012
    program_id = make_program(olive)
    start = tomorrow_at(10)
    dispatch(olive, program_id, ref="DEL-1", end=local(start + timedelta(minutes=10)), volume="100")
    event = events_by_name(bl)["NGED:DEL-1"]
    created = fsp_ven.post("/reports", json=readings_report(event, start, [400.0] * 5 + [350.0] * 5, baseline=500.0))
    assert created.status_code == 201, created.text

    page = olive.get(f"{OP}/dispatches/{event['id']}/delivery")
    assert page.status_code == 200 and 'id="delivery-chart"' in page.text and "uPlot.iife.min.js" in page.text
    assert "reported BASELINE" in page.text
    delivered = re.search(r'data-testid="delivered-kwh">([^<]*)<', page.text)
    assert delivered and delivered.group(1) == "20.833 kWh"  # (5 × 100 + 5 × 150) kW·min / 60
    data = olive.get(f"{OP}/dispatches/{event['id']}/delivery.json").json()
    assert data["deliveredKwh"] == pytest.approx(20.833333, abs=1e-5) and data["step"] == 60
    assert data["columns"][3] == [400.0] * 5 + [350.0] * 5 and data["columns"][1] == [-100.0] * 10

    download = olive.get(f"{OP}/dispatches/{event['id']}/delivery.csv")
    assert download.headers["content-type"].startswith("text/csv")
    assert 'filename="delivery-NGED_DEL-1.csv"' in download.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(download.text)))
    assert len(rows) == 10 and rows[0]["time_utc"] == b.utc_text(start)
    assert (rows[0]["metered_kw"], rows[0]["baseline_kw"], rows[0]["delivered_kw"]) == ("400.000", "500.000", "100.000")
    assert rows[9]["delivered_kw"] == "150.000"

    # a baseline typed in the form replaces the reported one; a bad one is a 400
    with_form = olive.get(f"{OP}/dispatches/{event['id']}/delivery.json?baseline_kw=450").json()
    assert with_form["deliveredKwh"] == pytest.approx((5 * 50 + 5 * 100) / 60, abs=1e-5)
    assert olive.get(f"{OP}/dispatches/{event['id']}/delivery.csv?baseline_kw=abc").status_code == 400
    summary = board.delivery_summary(b.parse_event(event), [created.json()], baseline=500.0)
    assert olive.get(f"{OP}/dispatches/{event['id']}/delivery.csv").text == board.delivery_csv(summary)


# --- escaping ----------------------------------------------------------------------------------------------------


def test_names_from_the_api_are_shown_as_text(olive, bl, clients):
    evil = "<script>alert('x')</script>"
    bl.post("/programs", json={"programName": evil})
    ven = clients.ven("evil-ven")
    ven_id = ven.post("/vens", json={"venName": "evil-ven"}).json()["id"]
    ven.post(f"/vens/{ven_id}/resources", json={"resourceName": evil, "venID": ven_id})
    program_id = make_program(olive)
    dispatch(olive, program_id, ref="EVIL-1", units=[f"evil-ven|{evil}"])  # the profile allows any resource name
    event_id = events_by_name(bl)["NGED:EVIL-1"]["id"]
    for page in ("/programs", "/vens", "/dispatch", "/board", "/board/fragment", f"/stop?event_id={event_id}",
                 f"/dispatches/{event_id}/delivery", f"/dispatches/{event_id}/revise"):
        text = olive.get(OP + page).text
        assert "<script>alert" not in text and "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in text, page


def test_signing_key_from_settings(tmp_path):
    """`gb_signing_key_file` (PEM or JWK) and `gb_signing_kid`, when the settings carry them; none → unsigned."""
    from types import SimpleNamespace

    key = generate_key("nged-2027")
    pem, jwk = tmp_path / "op.pem", tmp_path / "op.jwk"
    pem.write_bytes(key.as_pem(private=True))
    jwk.write_text(json.dumps(key.as_dict(private=True)))

    def request(**extra: Any) -> Any:
        return SimpleNamespace(app=SimpleNamespace(state=SimpleNamespace(settings=SimpleNamespace(**extra))))

    assert operator.signing_key_for(request()) is None
    from_pem = operator.signing_key_for(request(gb_signing_key_file=str(pem), gb_signing_kid="nged-2027"))
    from_jwk = operator.signing_key_for(request(gb_signing_key_file=str(jwk)))
    assert from_pem is not None and from_jwk is not None and from_pem.kid == from_jwk.kid == "nged-2027"
    assert from_pem.as_dict(private=False) == from_jwk.as_dict(private=False) == public_jwk(key) | {"kid": "nged-2027"}
    no_kid = operator.signing_key_for(request(gb_signing_key_file=str(pem)))
    assert no_kid is not None and no_kid.kid == key.thumbprint()  # a GB signature must name a kid


def test_board_alarms_an_overdue_acknowledgement(olive, bl, fsp_ven):  # type: ignore[no-untyped-def]
    from dataclasses import replace

    from gb_profile.examples import example_instruction

    program_id = make_program(olive)
    assert bl.put(f"/admin/gb/programs/{program_id}/terms", json={"ackPeriodSeconds": 60}).status_code == 200
    instructed = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    base = example_instruction()
    start = instructed + timedelta(days=1)
    ins = replace(base, operator_id="NGED", dispatch_ref="D-LATE", fsp_id="fsp-1", dispatch_unit="DU-1",
                  instruction_time=instructed, service_start=start, service_end=start + timedelta(hours=1),
                  setpoints=(replace(base.setpoints[0], timestamp=start),), cmz=None)
    document = b.build_event(ins, program_id).dump()
    document.pop("id", None)
    event = bl.post("/events", json=document).json()
    alarm = re.search(r'data-testid="ack-overdue-alarms"(.*?)</section>', olive.get(f"{OP}/board/fragment").text, re.S)
    assert alarm and "NGED:D-LATE" in alarm.group(1) and "fsp-1 / DU-1" in alarm.group(1)
    acknowledge(fsp_ven, event)
    assert 'data-testid="ack-overdue-alarms"' not in olive.get(f"{OP}/board/fragment").text
