"""The hostile-tenant suite: two operators and three FSPs try every boundary (docs/security.md).

World, on SQLite and PostgreSQL:
- operator NGED (BL `nged`) with FSPs `ven-a` and `ven-b`, both having a dispatch unit named `DU-7`;
- operator UKPN (BL `ukpn`) with FSP `ven-c`, whose ven is *also* named `ven-a` (names are per operator);
- NGED's program, an event for ven-a's DU-7 (the BL granted it), an untargeted event, ven-a's report
  and webhook subscription; UKPN's own untargeted program and event.
Each case asserts the exact status and that nothing changed (the owner's view before == after).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from sqlmodel import select

from tests.conftest import Caller, Clients
from tests.factories import full_event
from vtn.core.security import Scope
from vtn.notifications.models import OutboxRow

DU7 = [{"type": "RESOURCE_NAME", "values": ["DU-7"]}]
FOR_A = [{"type": "VEN_NAME", "values": ["ven-a"]}, {"type": "RESOURCE_NAME", "values": ["DU-7"]}]


@dataclass
class World:
    nged: Caller
    ukpn: Caller
    a: Caller
    b: Caller
    c: Caller
    ven_a: dict[str, Any]
    ven_b: dict[str, Any]
    ven_c: dict[str, Any]
    unit_a: dict[str, Any]
    unit_b: dict[str, Any]
    program: dict[str, Any]
    event_a: dict[str, Any]
    everyone: dict[str, Any]
    report_a: dict[str, Any]
    sub_a: dict[str, Any]
    ukpn_program: dict[str, Any]
    ukpn_event: dict[str, Any]


def ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def subscription(program_id: str, client_name: str, token: str = "secret-a") -> dict[str, Any]:
    return {"clientName": client_name, "programID": program_id, "objectOperations": [
        {"objects": ["EVENT", "REPORT"], "operations": ["POST", "PUT", "DELETE"],
         "callbackUrl": "http://127.0.0.1:9/hook", "bearerToken": token}]}


def report(program_id: str, event_id: str, client_name: str, resource: str = "DU-7") -> dict[str, Any]:
    return {"programID": program_id, "eventID": event_id, "clientName": client_name,
            "resources": [{"resourceName": resource, "intervals": [
                {"id": 0, "payloads": [{"type": "USAGE", "values": [1.5]}]}]}]}


@pytest.fixture
def world(clients: Clients) -> World:
    every_scope = [s.value for s in Scope]  # so a 404 is about the object, never a missing scope's 403
    nged, ukpn = clients.bl(operator="NGED", scopes=every_scope), clients.bl(operator="UKPN", scopes=every_scope)
    a, b = clients.ven("ven-a", operator="NGED"), clients.ven("ven-b", operator="NGED")
    c = clients.ven("ven-a", operator="UKPN")  # another operator's FSP with the same venName
    ven_a, ven_b = ok(a.post("/vens", json={"venName": "ven-a"}), 201), ok(b.post("/vens", json={"venName": "ven-b"}), 201)
    ven_c = ok(c.post("/vens", json={"venName": "ven-a"}), 201)
    unit_a = ok(a.post(f"/vens/{ven_a['id']}/resources", json={"resourceName": "DU-7"}), 201)
    unit_b = ok(b.post(f"/vens/{ven_b['id']}/resources", json={"resourceName": "DU-7"}), 201)
    for ven, unit in ((ven_a, unit_a), (ven_b, unit_b)):  # the BL grants each FSP its unit
        ok(nged.put(f"/vens/{ven['id']}/resources/{unit['id']}", json={"resourceName": "DU-7", "targets": DU7}))
    program = ok(nged.post("/programs", json={"programName": "secure"}), 201)
    sub_a = ok(a.post("/subscriptions", json=subscription(program["id"], "ven-a")), 201)
    event_a = ok(nged.post("/events", json=full_event(program["id"], "for-a", FOR_A)), 201)
    everyone = ok(nged.post("/events", json=full_event(program["id"], "everyone", [])), 201)
    report_a = ok(a.post("/reports", json=report(program["id"], event_a["id"], "ven-a")), 201)
    ukpn_program = ok(ukpn.post("/programs", json={"programName": "secure"}), 201)  # same name, other operator
    ukpn_event = ok(ukpn.post("/events", json=full_event(ukpn_program["id"], "ukpn-all", [])), 201)
    return World(nged, ukpn, a, b, c, ven_a, ven_b, ven_c, unit_a, unit_b, program, event_a, everyone, report_a,
                 sub_a, ukpn_program, ukpn_event)


def ids(response: Any) -> list[str]:
    return [item["id"] for item in ok(response)]


# --- FSP against FSP ------------------------------------------------------------------------------

def test_granted_unit_is_seen_only_by_its_fsp(world: World) -> None:
    w = world
    assert ok(w.a.get(f"/events/{w.event_a['id']}"))["eventName"] == "for-a"
    assert w.b.get(f"/events/{w.event_a['id']}").status_code == 404  # ven-b holds DU-7 too, but not VEN_NAME ven-a
    assert ids(w.b.get("/events")) == [w.everyone["id"]]
    assert ids(w.b.get("/events", params={"programID": w.program["id"]})) == [w.everyone["id"]]
    assert ids(w.b.get("/events", params={"targetType": "RESOURCE_NAME", "targetValues": "DU-7"})) == []
    assert ids(w.b.get("/events", params={"targetType": "VEN_NAME", "targetValues": "ven-a"})) == []
    assert ids(w.a.get("/events")) == [w.event_a["id"], w.everyone["id"]]


def test_a_resource_named_after_a_target_grants_nothing(world: World) -> None:
    w = world
    secret = ok(w.nged.post("/events", json=full_event(w.program["id"], "dg", [
        {"type": "VEN_NAME", "values": ["ven-a"]}, {"type": "RESOURCE_NAME", "values": ["DG-07"]}])), 201)
    dg_only = ok(w.nged.post("/events", json=full_event(w.program["id"], "dg-only", [
        {"type": "RESOURCE_NAME", "values": ["DG-07"]}])), 201)
    ok(w.b.post(f"/vens/{w.ven_b['id']}/resources", json={"resourceName": "DG-07"}), 201)
    for event in (secret, dg_only):
        assert w.b.get(f"/events/{event['id']}").status_code == 404
    assert ids(w.b.get("/events", params={"programID": w.program["id"]})) == [w.everyone["id"]]
    # ven-a's own unit name grants nothing either, until the BL grants it
    assert w.a.get(f"/events/{secret['id']}").status_code == 404


def test_a_ven_cannot_write_targets_on_its_ven_or_resources(world: World) -> None:
    w = world
    unit_path = f"/vens/{w.ven_b['id']}/resources/{w.unit_b['id']}"
    before_ven, before_unit = ok(w.nged.get(f"/vens/{w.ven_b['id']}")), ok(w.nged.get(unit_path))
    grab = [{"type": "VEN_NAME", "values": ["ven-a"]}]
    assert w.b.put(f"/vens/{w.ven_b['id']}", json={"venName": "ven-b", "targets": grab}).status_code == 403
    assert w.b.put(f"/vens/{w.ven_b['id']}/resources/{w.unit_b['id']}",
                   json={"resourceName": "DU-7", "targets": grab}).status_code == 403
    assert w.b.post(f"/vens/{w.ven_b['id']}/resources", json={"resourceName": "x", "targets": grab}).status_code == 403
    assert ok(w.nged.get(f"/vens/{w.ven_b['id']}")) == before_ven
    assert ok(w.nged.get(f"/vens/{w.ven_b['id']}/resources/{w.unit_b['id']}")) == before_unit
    # what clients send, an empty list or null, is accepted and keeps the BL's grant
    for empty in ([], None):
        kept = ok(w.b.put(f"/vens/{w.ven_b['id']}/resources/{w.unit_b['id']}", json={"resourceName": "DU-7", "targets": empty}))
        assert kept["targets"] == DU7


def test_a_ven_cannot_speak_for_another(world: World) -> None:
    w = world
    before = ids(w.nged.get("/reports"))
    forged = w.b.post("/reports", json=report(w.program["id"], w.everyone["id"], "ven-a", resource="AGGREGATED_REPORT"))
    assert forged.status_code == 400 and "VTN-ID-001" in forged.text
    assert w.b.post("/subscriptions", json=subscription(w.program["id"], "ven-a")).status_code == 400
    assert ids(w.nged.get("/reports")) == before
    assert ids(w.nged.get("/subscriptions")) == [w.sub_a["id"]]
    assert ok(w.nged.get("/reports", params={"clientName": "ven-a"}))[0]["id"] == w.report_a["id"]
    # an event it cannot see cannot be reported on
    assert w.b.post("/reports", json=report(w.program["id"], w.event_a["id"], "ven-b")).status_code == 409


def test_fsp_private_objects_are_invisible_and_untouchable(world: World) -> None:
    w = world
    snapshots = {path: ok(w.nged.get(path)) for path in (
        f"/reports/{w.report_a['id']}", f"/subscriptions/{w.sub_a['id']}", f"/vens/{w.ven_a['id']}",
        f"/vens/{w.ven_a['id']}/resources/{w.unit_a['id']}")}
    for path in snapshots:
        assert w.b.get(path).status_code == 404, path
        assert w.b.delete(path).status_code == 404, path
    assert w.b.put(f"/reports/{w.report_a['id']}", json=report(w.program["id"], w.everyone["id"], "ven-b")).status_code == 404
    assert w.b.put(f"/subscriptions/{w.sub_a['id']}", json=subscription(w.program["id"], "ven-b")).status_code == 404
    assert w.b.put(f"/vens/{w.ven_a['id']}", json={"venName": "ven-a"}).status_code == 404
    assert w.b.put(f"/vens/{w.ven_a['id']}/resources/{w.unit_a['id']}", json={"resourceName": "DU-7"}).status_code == 404
    assert w.b.post(f"/vens/{w.ven_a['id']}/resources", json={"resourceName": "x"}).status_code == 404
    assert w.b.get(f"/vens/{w.ven_a['id']}/resources").status_code == 404
    assert ok(w.b.get("/reports")) == [] and ok(w.b.get("/subscriptions")) == []
    assert ids(w.b.get("/vens")) == [w.ven_b["id"]]
    for path, before in snapshots.items():
        assert ok(w.nged.get(path)) == before, path


def test_a_ven_reports_only_for_its_own_units_in_a_gb_program(world: World) -> None:
    from gb_profile import builders as b
    from gb_profile import model as m
    from gb_profile.examples import OPERATOR, SERVICE_START, example_program

    w = world
    program = ok(w.nged.post("/programs", json=example_program().dump()), 201)
    anchor = ok(w.nged.post("/events", json=b.build_anchor_event(program["id"], OPERATOR, SERVICE_START).dump()), 201)

    def readings(meter: str) -> dict[str, Any]:
        reading = m.MeterReading(meter, SERVICE_START, m.ReadingKind.POWER_KW, 120.0)
        return b.build_readings_report(m.MeterReadings("ven-b", OPERATOR, (reading,)), program["id"], anchor["id"]).dump()

    ok(w.a.post(f"/vens/{w.ven_a['id']}/resources", json={"resourceName": "MU-A"}), 201)
    refused = w.b.post("/reports", json=readings("MU-A"))  # ven-a's meter
    assert refused.status_code == 400 and "GB-R-012" in refused.text
    assert ok(w.nged.get("/reports", params={"programID": program["id"]})) == []
    ok(w.b.post(f"/vens/{w.ven_b['id']}/resources", json={"resourceName": "MU-B"}), 201)
    assert w.b.post("/reports", json=readings("MU-B")).status_code == 201  # its own meter

    # an FSP's emergency stop alarms its own operator only
    stop = m.EmergencyStop("ven-b", OPERATOR, ("DU-7",), SERVICE_START, "fire alarm")
    ok(w.b.post("/reports", json=b.build_emergency_stop_report(stop, program["id"], anchor["id"]).dump()), 201)
    assert [(a["venName"], a["resourceName"]) for a in ok(w.nged.get("/admin/gb/emergency-stops"))] == [("ven-b", "DU-7")]
    assert ok(w.ukpn.get("/admin/gb/emergency-stops")) == []


# --- operator against operator ---------------------------------------------------------------------

def test_another_operator_cannot_read_or_write_programs_events_reports(world: World) -> None:
    w = world
    objects = {f"/programs/{w.program['id']}": {"programName": "stolen"},
               f"/events/{w.everyone['id']}": full_event(w.program["id"], "stolen", []),
               f"/reports/{w.report_a['id']}": report(w.program["id"], w.everyone["id"], "x"),
               f"/subscriptions/{w.sub_a['id']}": subscription(w.program["id"], "x"),
               f"/vens/{w.ven_a['id']}": {"venName": "ven-a"},
               f"/vens/{w.ven_a['id']}/resources/{w.unit_a['id']}": {"resourceName": "DU-7"}}
    snapshots = {path: ok(w.nged.get(path)) for path in objects}
    for path, body in objects.items():
        assert w.ukpn.get(path).status_code == 404, path
        assert w.ukpn.put(path, json=body).status_code == 404, path
        assert w.ukpn.delete(path).status_code == 404, path
    for path, before in snapshots.items():
        assert ok(w.nged.get(path)) == before, path
    assert ids(w.ukpn.get("/programs")) == [w.ukpn_program["id"]]
    assert ids(w.ukpn.get("/events")) == [w.ukpn_event["id"]]
    assert ids(w.ukpn.get("/events", params={"programID": w.program["id"]})) == []
    assert ok(w.ukpn.get("/reports")) == [] and ok(w.ukpn.get("/subscriptions")) == []
    assert ids(w.ukpn.get("/vens")) == [w.ven_c["id"]]
    assert ids(w.ukpn.get("/vens", params={"venName": "ven-a"})) == [w.ven_c["id"]]
    # references into another operator are dangling
    assert w.ukpn.post("/events", json=full_event(w.program["id"], "x", [])).status_code == 409
    assert w.ukpn.post("/subscriptions", json=subscription(w.program["id"], "x")).status_code == 409
    assert w.ukpn.post(f"/vens/{w.ven_a['id']}/resources", json={"resourceName": "x"}).status_code == 404


def test_another_operators_fsp_sees_nothing_of_this_operator(world: World) -> None:
    w = world
    assert ids(w.c.get("/programs")) == [w.ukpn_program["id"]]
    assert ids(w.c.get("/events")) == [w.ukpn_event["id"]]  # NGED's untargeted event is not UKPN's
    assert w.c.get(f"/events/{w.everyone['id']}").status_code == 404
    assert w.c.get(f"/vens/{w.ven_a['id']}").status_code == 404  # same name, other operator
    assert ids(w.c.get("/vens")) == [w.ven_c["id"]]
    assert w.c.post("/reports", json=report(w.program["id"], w.everyone["id"], "ven-a")).status_code == 409
    assert w.c.post("/subscriptions", json=subscription(w.program["id"], "ven-a")).status_code == 409


def test_bearer_tokens_are_shown_only_to_the_subscription_owner(world: World) -> None:
    w = world
    own = ok(w.a.get(f"/subscriptions/{w.sub_a['id']}"))
    assert own["objectOperations"][0]["bearerToken"] == "secret-a"
    seen_by_bl = ok(w.nged.get(f"/subscriptions/{w.sub_a['id']}"))
    assert "bearerToken" not in seen_by_bl["objectOperations"][0]
    assert all("bearerToken" not in op for s in ok(w.nged.get("/subscriptions")) for op in s["objectOperations"])
    # a BL edit that was never shown the token keeps it
    seen_by_bl["clientName"] = "ven-a"
    ok(w.nged.put(f"/subscriptions/{w.sub_a['id']}", json=seen_by_bl))
    assert ok(w.a.get(f"/subscriptions/{w.sub_a['id']}"))["objectOperations"][0]["bearerToken"] == "secret-a"


def test_admin_endpoints_are_per_operator(world: World) -> None:
    w = world
    assert {v["venID"] for v in ok(w.ukpn.get("/admin/vens/last-seen"))} == {w.ven_c["id"]}
    assert {v["venID"] for v in ok(w.nged.get("/admin/vens/last-seen"))} == {w.ven_a["id"], w.ven_b["id"]}
    nged_rows = ok(w.nged.get("/admin/deliveries"))
    assert nged_rows and {r["subscriptionID"] for r in nged_rows} == {w.sub_a["id"]}
    assert ok(w.ukpn.get("/admin/deliveries")) == []
    assert w.ukpn.post(f"/admin/deliveries/{nged_rows[0]['id']}/redrive").status_code == 404
    assert ok(w.ukpn.post("/admin/deliveries/redrive-dead")) == {"redriven": 0}


def test_audit_lines_are_per_operator(world: World) -> None:
    w = world
    nged_lines = ok(w.nged.get("/admin/audit", params={"limit": 50}))
    assert any(line["objectID"] == w.program["id"] for line in nged_lines)
    ukpn_lines = ok(w.ukpn.get("/admin/audit", params={"limit": 50}))
    assert {line["operator"] for line in ukpn_lines} == {"UKPN"}
    assert not any(line["objectID"] in (w.program["id"], w.event_a["id"]) for line in ukpn_lines)
    assert ok(w.ukpn.get("/admin/audit", params={"objectID": w.program["id"]})) == []


def test_notifications_follow_the_same_rule(world: World, clients: Clients) -> None:
    w = world
    sub_b = ok(w.b.post("/subscriptions", json=subscription(w.program["id"], "ven-b", "secret-b")), 201)
    sub_bl = ok(w.nged.post("/subscriptions", json={**subscription(w.program["id"], "operator", "secret-bl"),
                                                     "objectOperations": [{"objects": ["SUBSCRIPTION", "EVENT"],
                                                                           "operations": ["POST", "PUT", "DELETE"],
                                                                           "callbackUrl": "http://127.0.0.1:9/bl"}]}), 201)
    ukpn_sub = ok(w.ukpn.post("/subscriptions", json=subscription(w.ukpn_program["id"], "ukpn")), 201)
    db = clients.app.state.db

    async def rows() -> list[OutboxRow]:
        async with db.session(write=False) as session:
            return list((await session.exec(select(OutboxRow).order_by(OutboxRow.id))).all())  # type: ignore[arg-type]

    start = len(clients.http.portal.call(rows))
    secret = ok(w.nged.post("/events", json=full_event(w.program["id"], "for-a-2", FOR_A)), 201)
    public = ok(w.nged.post("/events", json=full_event(w.program["id"], "all-2", [])), 201)
    ok(w.a.post("/subscriptions", json=subscription(w.program["id"], "ven-a", "secret-a2")), 201)
    new = clients.http.portal.call(rows)[start:]
    got = {(r.subscription_id, r.body.split('"eventName":"')[1].split('"')[0] if '"eventName"' in r.body else r.object_type)
           for r in new}
    assert (w.sub_a["id"], "for-a-2") in got and (w.sub_a["id"], "all-2") in got
    assert (sub_b["id"], "all-2") in got and (sub_b["id"], "for-a-2") not in got
    assert (sub_bl["id"], "for-a-2") in got and (sub_bl["id"], "SUBSCRIPTION") in got
    assert not any(r.subscription_id == ukpn_sub["id"] for r in new)
    assert all("secret-a2" not in r.body for r in new)  # a subscription's notification never carries its tokens
    assert secret["id"] and public["id"]


def test_names_are_per_operator(world: World) -> None:
    w = world
    assert w.ukpn.post("/programs", json={"programName": "secure"}).status_code == 409  # its own name again
    assert ok(w.ukpn.post("/vens", json={"venName": "ven-b"}), 201)["venName"] == "ven-b"  # NGED's name: free here


def test_a_dispatch_sent_before_the_fsp_registered_reaches_it_once_registered(clients: Clients) -> None:
    from gb_profile.examples import FSP, UNIT, example_event, example_program

    bl = clients.bl()
    program = ok(bl.post("/programs", json=example_program().dump()), 201)
    event = ok(bl.post("/events", json=example_event(program_id=program["id"]).dump() | {"id": None}), 201)
    other = clients.ven("FSP-OTHER")
    ok(other.post("/vens", json={"venName": "FSP-OTHER"}), 201)
    ven = clients.ven(FSP)
    ven_id = ok(ven.post("/vens", json={"venName": FSP}), 201)["id"]
    assert ven.get(f"/events/{event['id']}").status_code == 200  # granted on its ven at registration
    ok(ven.post(f"/vens/{ven_id}/resources", json={"resourceName": UNIT}), 201)
    assert ven.get(f"/events/{event['id']}").status_code == 200
    assert other.get(f"/events/{event['id']}").status_code == 404  # never to another FSP
