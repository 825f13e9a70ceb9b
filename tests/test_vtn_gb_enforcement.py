"""The VTN holds programs declaring the GB profile, and their events and reports, to the profile:
a violation is a 400 problem listing the rule IDs, and nothing stored changes."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest

from gb_profile import board
from gb_profile import builders as b
from gb_profile import model as m
from gb_profile.examples import FSP, SERVICE_START, UNIT, example_event, example_program
from vtn.core.settings import Settings


def _rules(response) -> set[str]:  # type: ignore[no-untyped-def]
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    rules = {e["rule"] for e in body["errors"]}
    assert all(rule in body["detail"] for rule in rules)  # the detail names them too
    return rules


def test_gb_program_and_event_enforced(bl):  # type: ignore[no-untyped-def]
    program = example_program().dump()
    created = bl.post("/programs", json=program)
    assert created.status_code == 201, created.text
    program_id = created.json()["id"]
    broken = {**program, "programName": "not-a-gb-name", "country": "FR"}
    assert {"GB-P-003", "GB-P-004"} <= _rules(bl.post("/programs", json=broken))

    # an update that breaks the profile is refused and the stored program is kept
    assert _rules(bl.put(f"/programs/{program_id}", json={**created.json(), "bindingEvents": True})) == {"GB-P-005"}
    assert bl.get(f"/programs/{program_id}").json()["bindingEvents"] is False

    event = example_event(program_id=program_id).dump()
    event.pop("id")
    made = bl.post("/events", json=event)
    assert made.status_code == 201, made.text
    assert {"GB-E-002", "GB-E-003", "GB-E-004"} <= _rules(bl.post("/events", json={**event, "targets": []}))
    assert _rules(bl.post("/events", json={**event, "eventName": "NGED:bad ref!"})) == {"GB-E-001"}


def test_gb_revisions_enforced_against_the_stored_event(bl):  # type: ignore[no-untyped-def]
    program_id = bl.post("/programs", json=example_program().dump()).json()["id"]
    stored = bl.post("/events", json=example_event(program_id=program_id).dump() | {"id": None}).json()
    event_id = stored["id"]
    revised = b.revise_event(stored, SERVICE_START - timedelta(days=1), status=m.DispatchStatus.RUN).dump()

    # the same document again (revision not incremented), and a revision that moves time backwards
    assert _rules(bl.put(f"/events/{event_id}", json=stored)) == {"GB-E-040"}
    backwards = {**revised, "intervals": [dict(i) for i in revised["intervals"]]}
    backwards["intervals"][0] = {"id": 0, "payloads": [
        p if p["type"] != "GB_INSTRUCTION_TIME" else {"type": p["type"], "values": ["2025-01-01T00:00:00Z"]}
        for p in revised["intervals"][0]["payloads"]
    ]}
    assert _rules(bl.put(f"/events/{event_id}", json=backwards)) == {"GB-E-043"}
    assert b.parse_event(bl.get(f"/events/{event_id}").json()).revision == 1  # nothing stored

    accepted = bl.put(f"/events/{event_id}", json=revised)
    assert accepted.status_code == 200, accepted.text
    stopped = b.stop_event(accepted.json(), SERVICE_START, SERVICE_START).dump()
    assert bl.put(f"/events/{event_id}", json=stopped).status_code == 200
    restarted = b.build_event(
        b.revise(b.parse_event(revised), SERVICE_START, status=m.DispatchStatus.RUN), program_id, event_id=event_id
    ).dump()
    restarted["intervals"][0]["payloads"][1]["values"] = [4]
    assert _rules(bl.put(f"/events/{event_id}", json=restarted)) == {"GB-E-042"}
    assert b.parse_event(bl.get(f"/events/{event_id}").json()).status is m.DispatchStatus.STOP


def test_gb_reports_enforced(bl, clients):  # type: ignore[no-untyped-def]
    ven = clients.ven(FSP)  # the FSP registers its ven and unit; dispatching to the unit grants it
    ven_id = ven.post("/vens", json={"venName": FSP}).json()["id"]
    assert ven.post(f"/vens/{ven_id}/resources", json={"resourceName": UNIT}).status_code == 201
    program_id = bl.post("/programs", json=example_program().dump()).json()["id"]
    event = bl.post("/events", json=example_event(program_id=program_id).dump() | {"id": None}).json()
    assert ven.get(f"/events/{event['id']}").status_code == 200

    ack = b.build_ack_report(b.acknowledge(event, SERVICE_START), program_id, event["id"]).dump()
    assert _rules(ven.post("/reports", json={**ack, "reportName": "ACK"})) == {"GB-R-001"}
    assert ven.get("/reports").json() == []  # nothing stored
    created = ven.post("/reports", json=ack)
    assert created.status_code == 201, created.text
    # the update of a stored report is held to the profile as well
    assert _rules(ven.put(f"/reports/{created.json()['id']}", json={**created.json(), "clientName": "FSP-OTHER"})) == {
        "VTN-ID-001"  # a VEN speaks only for itself (before the profile's GB-R-002)
    }
    assert [r["clientName"] for r in ven.get("/reports").json()] == [FSP]


def test_mismatching_readback_is_stored_and_flagged(bl, clients, caplog: pytest.LogCaptureFixture):  # type: ignore[no-untyped-def]
    """A well-formed ack whose read-back status differs from the dispatch is stored (201) and flagged (GB-R-008),
    so the operator sees that the FSP misunderstood; malformed or mis-addressed acks are still refused."""
    ven = clients.ven(FSP)  # registered before the dispatch, which grants it the unit
    assert ven.post("/vens", json={"venName": FSP}).status_code == 201
    program_id = bl.post("/programs", json=example_program().dump()).json()["id"]
    event = bl.post("/events", json=example_event(program_id=program_id).dump() | {"id": None}).json()

    def ack_report(**kw):  # type: ignore[no-untyped-def]
        return b.build_ack_report(b.acknowledge(event, SERVICE_START, **kw), program_id, event["id"]).dump()

    def payloads(report):  # type: ignore[no-untyped-def]
        return report["resources"][0]["intervals"][0]["payloads"]

    other_ref, above = ack_report(), ack_report()
    payloads(other_ref)[1]["values"] = ["NGED:D-OTHER"]
    payloads(above)[2]["values"] = [2]
    assert _rules(ven.post("/reports", json=other_ref)) == {"GB-R-011"}  # names another dispatch
    assert _rules(ven.post("/reports", json=above)) == {"GB-R-011"}  # a revision not issued yet
    assert _rules(ven.post("/reports", json=ack_report(result=m.AckResult.REJECTED))) == {"GB-R-007"}  # malformed
    assert ven.get("/reports").json() == []

    with caplog.at_level(logging.WARNING, logger="vtn"):
        created = ven.post("/reports", json=ack_report(status=m.DispatchStatus.STOP))
    assert created.status_code == 201, created.text
    flagged = [r for r in caplog.records if "GB-R-008" in r.getMessage()]
    assert flagged and event["id"] in flagged[0].getMessage() and FSP in flagged[0].getMessage()
    stored = bl.get("/reports", params={"eventID": event["id"]}).json()
    assert [r["id"] for r in stored] == [created.json()["id"]]
    [state] = board.ack_status(event, stored)
    assert state.latest_ack is not None and state.latest_ack.status is m.DispatchStatus.STOP
    assert state.latest_ack.matches is False and state.latest_status_matches is False


def meter(name: str, *cores: str) -> dict:
    role = {"type": "GB_RESOURCE_ROLE", "values": ["METERABLE_UNIT"]}
    return {"resourceName": name, "attributes": [role, {"type": "GB_MPAN", "values": list(cores)}]}


def _conflict_rules(response) -> set[str]:  # type: ignore[no-untyped-def]
    assert response.status_code == 409, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    return {e["rule"] for e in response.json()["errors"]}


def test_gb_resources_enforced(clients):  # type: ignore[no-untyped-def]
    """Resources with GB_RESOURCE_ROLE are held to the profile: a bad MPAN is a 400 (GB-V-002), an MPAN core another
    FSP's ven registered is a 409 (GB-V-003); a ven re-registering its own meter is fine."""
    fsp_a, fsp_b = clients.ven("fsp-a"), clients.ven("fsp-b")
    ven_a = fsp_a.post("/vens", json={"venName": "fsp-a"}).json()["id"]
    ven_b = fsp_b.post("/vens", json={"venName": "fsp-b"}).json()["id"]

    assert _rules(fsp_a.post(f"/vens/{ven_a}/resources", json=meter("MU-1", "1312345678901"))) == {"GB-V-002"}
    assert _rules(fsp_a.post(f"/vens/{ven_a}/resources", json={**meter("MU-1"), "attributes": [
        {"type": "GB_RESOURCE_ROLE", "values": ["SITE"]}]})) == {"GB-V-001"}
    assert fsp_a.get(f"/vens/{ven_a}/resources").json() == []  # nothing stored

    created = fsp_a.post(f"/vens/{ven_a}/resources", json=meter("MU-1", "1312345678907"))
    assert created.status_code == 201, created.text
    mu_1 = created.json()["id"]
    again = fsp_a.put(f"/vens/{ven_a}/resources/{mu_1}", json=meter("MU-1", "1312345678907", "2499999999991"))
    assert again.status_code == 200, again.text  # its own registration
    assert fsp_a.post(f"/vens/{ven_a}/resources", json=meter("MU-1-EXPORT", "1312345678907")).status_code == 201

    # another FSP claiming the same core, however it is written, is refused
    assert _conflict_rules(fsp_b.post(f"/vens/{ven_b}/resources", json=meter("MU-9", "13 1234 5678 907"))) == {"GB-V-003"}
    theirs = fsp_b.post(f"/vens/{ven_b}/resources", json=meter("MU-9", "1412345678901"))
    assert theirs.status_code == 201, theirs.text
    moved = fsp_b.put(f"/vens/{ven_b}/resources/{theirs.json()['id']}", json=meter("MU-9", "00 801 123 2499999999991"))
    assert _conflict_rules(moved) == {"GB-V-003"}
    assert fsp_b.get(f"/vens/{ven_b}/resources").json()[0]["attributes"][1]["values"] == ["1412345678901"]

    # not a GB resource (no GB_RESOURCE_ROLE): not profiled
    plain = {"resourceName": "battery", "attributes": [{"type": "GB_MPAN", "values": ["1312345678907"]}]}
    assert fsp_b.post(f"/vens/{ven_b}/resources", json=plain).status_code == 201


def test_gb_resource_licence_area_when_the_operator_is_configured(clients, settings):  # type: ignore[no-untyped-def]
    fsp = clients.ven("fsp-a")
    ven_id = fsp.post("/vens", json={"venName": "fsp-a"}).json()["id"]
    assert fsp.post(f"/vens/{ven_id}/resources", json=meter("MU-0", "1312345678907")).status_code == 201  # no operator set
    settings.gb_operator = "NGED"  # VTN_GB_OPERATOR (validated: a well-known operator ID)
    with pytest.raises(ValueError, match="not a well-known"):
        Settings(gb_operator="WPD")
    assert _rules(fsp.post(f"/vens/{ven_id}/resources", json=meter("MU-1", "1312345678907"))) == {"GB-V-004"}  # 13: SPEN
    assert fsp.post(f"/vens/{ven_id}/resources", json=meter("MU-2", "1412345678901")).status_code == 201  # 14: NGED


def test_non_gb_programs_are_not_profiled(bl):  # type: ignore[no-untyped-def]
    assert bl.post("/programs", json={"programName": "plain", "country": "FR"}).status_code == 201


def test_licence_area_and_mpan_uniqueness_follow_the_clients_operator(clients):  # type: ignore[no-untyped-def]
    nged, ukpn = clients.ven("fsp-n", operator="NGED"), clients.ven("fsp-u", operator="UKPN")
    nged_ven = nged.post("/vens", json={"venName": "fsp-n"}).json()["id"]
    ukpn_ven = ukpn.post("/vens", json={"venName": "fsp-u"}).json()["id"]
    assert _rules(nged.post(f"/vens/{nged_ven}/resources", json=meter("MU-1", "1312345678907"))) == {"GB-V-004"}  # SPEN's
    assert nged.post(f"/vens/{nged_ven}/resources", json=meter("MU-2", "1412345678901")).status_code == 201
    # UKPN's FSP cannot learn that an NGED FSP holds the core: it is refused for its own licence area, not as taken
    assert _rules(ukpn.post(f"/vens/{ukpn_ven}/resources", json=meter("MU-3", "1412345678901"))) == {"GB-V-004"}
