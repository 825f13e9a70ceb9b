"""An FSP's own emergency stop (GB_EMERGENCY_STOP report, docs/gb-profile.md §6.3), on both databases: the operator's
REPORT subscription is notified (real loopback receiver), the board shows an alarm, `/admin/gb/emergency-stops` lists
it, a later dispatch to that unit (POST and PUT /events, console) carries a `GB-Warning` until the FSP clears it; plus
the pure rules of `gb_profile.emergency`."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from gb_profile import builders as b
from gb_profile import model as m
from gb_profile.emergency import (
    StopScope,
    active_fsp_stops,
    dispatch_warning,
    header_value,
    select_for_emergency_stop,
)
from gb_profile.products import SetpointKind
from tests.support.receiver import Receiver
from tests.test_console_auth import add_user, csrf_of, signin
from tests.test_console_operator import OP, dispatch_form, events_by_name, make_program
from vtn.core.settings import Settings

NOW = datetime(2025, 12, 3, 16, 0, tzinfo=UTC)


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(database_url=database_url, delivery_enabled=True, delivery_poll_seconds=0.5, console_enabled=True,
                    console_require_mfa=False, console_signin_rate_limit=1000, callback_allow_http=True,
                    callback_allowed_networks=["127.0.0.0/8"])


def instruction(ref: str, unit: str = "DU-1", status: m.DispatchStatus = m.DispatchStatus.RUN, cmz: str | None = None,
                start: datetime = NOW, fsp: str = "fsp-1") -> m.DispatchInstruction:
    return m.DispatchInstruction(
        operator_id="NGED", dispatch_ref=ref, revision=1, status=status, instruction_time=start - timedelta(days=2),
        fsp_id=fsp, dispatch_unit=unit, contract_id="C-1", service_start=start, service_end=start + timedelta(hours=1),
        setpoints=(m.Setpoint(start, -50.0, m.ServiceUnits.KW, SetpointKind.DELTA),), cmz=cmz)


def stop_report(units: tuple[str, ...], at: datetime, reason: str, cleared: bool = False, created: str = "") -> dict[str, Any]:
    stop = m.EmergencyStop("fsp-1", "NGED", units, at, reason, cleared=cleared)
    return b.build_emergency_stop_report(stop, "p", "e").dump() | {"id": f"r-{at:%H%M}-{cleared}",
                                                                    "createdDateTime": created}


# --- the pure rules ----------------------------------------------------------------------------------------------------


def test_active_fsp_stops_follow_the_latest_report_per_unit() -> None:
    reports = [
        stop_report(("DU-1", "DU-2"), NOW, "inverter trip"),
        stop_report(("DU-1",), NOW + timedelta(minutes=5), "fixed", cleared=True),
        stop_report(("DU-3",), NOW + timedelta(minutes=1), "fire alarm"),
        stop_report(("DU-3",), NOW, "an older clearance", cleared=True),  # sent late, effective before the stop
        {"reportName": "GB_ACK", "clientName": "fsp-1", "resources": []},  # not an emergency stop: ignored
    ]
    active = active_fsp_stops(reports)
    assert [(s.dispatch_unit, s.reason) for s in active] == [("DU-3", "fire alarm"), ("DU-2", "inverter trip")]
    assert active[1].report_id == "r-1600-False" and active[1].effective_time == NOW
    warning = dispatch_warning(instruction("X", unit="DU-2"), active)
    assert warning and "fsp-1" in warning and "DU-2" in warning and "inverter trip" in warning
    assert dispatch_warning(instruction("X", unit="DU-1"), active) is None  # cleared
    assert dispatch_warning(instruction("X", unit="DU-2", fsp="fsp-2"), active) is None  # same unit name, other FSP
    assert dispatch_warning(b.stop(instruction("X", unit="DU-2"), NOW, NOW), active) is None  # not an open dispatch
    assert header_value("pompe à chaleur\n") == "pompe ? chaleur?"


def test_stop_scopes_select_open_dispatches() -> None:
    later = NOW + timedelta(hours=2)
    dispatches = [
        ({"id": "e1", "programID": "p1"}, instruction("A", cmz="Z1", start=later)),
        ({"id": "e2", "programID": "p1"}, instruction("B", cmz="Z2", start=later)),
        ({"id": "e3", "programID": "p2"}, instruction("C", cmz="Z1", start=later)),
        ({"id": "e4", "programID": "p2"}, b.stop(instruction("D", start=later), later, later)),  # terminal
        ({"id": "e5", "programID": "p2"}, instruction("E", start=NOW - timedelta(hours=3))),  # window over
    ]

    def ids(scope: StopScope) -> list[str]:
        return [str(d["id"]) for d, _ in select_for_emergency_stop(dispatches, scope, NOW)]

    assert ids(StopScope(event_id="e2")) == ["e2"]
    assert ids(StopScope(event_id="e4")) == []
    assert ids(StopScope(program_id="p1")) == ["e1", "e2"]
    assert ids(StopScope(cmz="NGED:Z1")) == ["e1", "e3"]
    assert ids(StopScope(cmz="UKPN:Z1")) == []
    assert ids(StopScope(everything=True)) == ["e1", "e2", "e3"]
    for bad in ({}, {"event_id": "e1", "everything": True}, {"cmz": "Z1"}, {"program_id": "p1", "cmz": "NGED:Z1"}):
        with pytest.raises(ValueError):
            StopScope(**bad)
    stopped = b.emergency_stop(instruction("A", start=later), NOW, NOW)
    event = b.build_event(stopped, "p1")
    assert (stopped.status, stopped.revision, event.priority, stopped.service_end) == (
        m.DispatchStatus.EMERGENCY_STOP, 2, 0, later)


# --- the VTN ---------------------------------------------------------------------------------------------------------


def test_fsp_emergency_stop_alarms_notifies_and_warns_until_cleared(http, clients, fsp_ven) -> None:  # type: ignore[no-untyped-def]
    add_user(http, "olive", "operator")
    assert signin(http, "olive").status_code == 303
    olive = http
    bl = clients.bl()
    program_id = make_program(olive, "RESTORE")
    anchor = next(e for e in bl.get("/events").json() if e["eventName"] == "NGED:GB_ANCHOR")
    with Receiver() as receiver:
        # The operator's own subscription to REPORT objects of the program (a BL subscription).
        subscription = {"clientName": "control-room", "programID": program_id, "objectOperations": [
            {"objects": ["REPORT"], "operations": ["CREATE", "UPDATE"], "callbackUrl": receiver.url("/reports"),
             "bearerToken": "room-token"}]}
        assert bl.post("/subscriptions", json=subscription).status_code == 201
        olive.post(f"{OP}/dispatch", data=dispatch_form(olive, program_id, ref="BEFORE"))
        assert bl.get("/admin/gb/emergency-stops").json() == []
        assert "fsp-estop-alarms" not in olive.get(f"{OP}/board/fragment").text

        # The FSP's emergency stop of DU-1 (against the anchor event, as `ven gb emergency-stop` sends it).
        at = datetime.now(UTC).replace(microsecond=0)
        report = b.build_emergency_stop_report(m.EmergencyStop("fsp-1", "NGED", ("DU-1",), at, "battery inverter trip"),
                                               program_id, anchor["id"])
        created = fsp_ven.post("/reports", json=report.dump())
        assert created.status_code == 201, created.text

        [notified] = receiver.wait_for(lambda r: len(r) >= 1)
        body = json.loads(notified.body)
        assert (body["objectType"], body["operation"]) == ("REPORT", "POST")
        assert body["object"]["id"] == created.json()["id"] and body["object"]["reportName"] == "GB_EMERGENCY_STOP"
        assert notified.headers["authorization"] == "Bearer room-token"

    # the alarm: admin endpoint (BL only) and the board
    [listed] = bl.get("/admin/gb/emergency-stops").json()
    assert listed["venName"] == "fsp-1" and listed["resourceName"] == "DU-1" and listed["reason"] == "battery inverter trip"
    assert listed["reportID"] == created.json()["id"] and listed["effectiveDateTime"].startswith(b.utc_text(at)[:19])
    assert fsp_ven.get("/admin/gb/emergency-stops").status_code == 403
    board = olive.get(f"{OP}/board/fragment").text
    alarm = re.search(r'data-testid="fsp-estop-alarms".*?</section>', board, re.S)
    assert alarm and "fsp-1 / DU-1" in alarm.group(0) and "battery inverter trip" in alarm.group(0)

    # a later dispatch to that unit is stored, with a warning: API header, console flash
    start = (datetime.now(UTC) + timedelta(days=2)).replace(minute=0, second=0, microsecond=0)
    event = b.build_event(instruction("AFTER", start=start), program_id).dump()
    posted = bl.post("/events", json=event)
    assert posted.status_code == 201
    [warning] = posted.headers.get_list("GB-Warning")
    assert "fsp-1" in warning and "DU-1" in warning and "battery inverter trip" in warning
    revised = b.revise_event(posted.json(), start - timedelta(days=1), status=m.DispatchStatus.RUN)
    put = bl.put(f"/events/{posted.json()['id']}", json=revised.dump())
    assert put.status_code == 200 and put.headers.get_list("GB-Warning") == [warning]
    other_unit = bl.post("/events", json=b.build_event(instruction("DU2", unit="DU-2", start=start), program_id).dump())
    assert other_unit.status_code == 201 and "GB-Warning" not in other_unit.headers
    flashed = olive.post(f"{OP}/dispatch", data=dispatch_form(olive, program_id, ref="CONSOLE"), follow_redirects=True)
    assert "Dispatched NGED:CONSOLE" in flashed.text and "Warning: FSP fsp-1 reported an emergency stop of DU-1" in flashed.text
    stop = bl.put(f"/events/{posted.json()['id']}",
                  json=b.stop_event(put.json(), start, start - timedelta(hours=20)).dump())
    assert stop.status_code == 200 and "GB-Warning" not in stop.headers  # a STOP needs no warning

    # the FSP clears it: no alarm, no warning
    clear = b.build_emergency_stop_report(m.EmergencyStop("fsp-1", "NGED", ("DU-1",), at + timedelta(seconds=1),
                                                          "inverter replaced", cleared=True), program_id, anchor["id"])
    assert fsp_ven.post("/reports", json=clear.dump()).status_code == 201
    assert bl.get("/admin/gb/emergency-stops").json() == []
    assert "fsp-estop-alarms" not in olive.get(f"{OP}/board/fragment").text
    again = bl.post("/events", json=b.build_event(instruction("CLEARED", start=start), program_id).dump())
    assert again.status_code == 201 and "GB-Warning" not in again.headers
    assert {"NGED:BEFORE", "NGED:AFTER", "NGED:CONSOLE", "NGED:CLEARED"} <= set(events_by_name(bl))
    assert csrf_of(olive)


@pytest.fixture
def fsp_ven(clients):  # type: ignore[no-untyped-def]
    """The FSP's VEN `fsp-1` with dispatch units DU-1 and DU-2, registered over the REST API with its own token."""
    ven = clients.ven("fsp-1")
    created = ven.post("/vens", json={"venName": "fsp-1"})
    assert created.status_code == 201, created.text
    role = [{"type": "GB_RESOURCE_ROLE", "values": ["DISPATCH_UNIT"]}]
    for unit in ("DU-1", "DU-2"):
        resource = {"resourceName": unit, "venID": created.json()["id"], "attributes": role}
        assert ven.post(f"/vens/{created.json()['id']}/resources", json=resource).status_code == 201
    return ven
