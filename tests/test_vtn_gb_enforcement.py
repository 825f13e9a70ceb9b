"""The VTN holds programs declaring the GB profile, and their events and reports, to the profile:
a violation is a 400 problem listing the rule IDs, and nothing stored changes."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest

from gb_profile import board
from gb_profile import builders as b
from gb_profile import model as m
from gb_profile.examples import FSP, SERVICE_START, example_event, example_program


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
    program_id = bl.post("/programs", json=example_program().dump()).json()["id"]
    event = bl.post("/events", json=example_event(program_id=program_id).dump() | {"id": None}).json()
    ven = clients.ven(FSP)
    assert ven.post("/vens", json={"venName": FSP}).status_code == 201

    ack = b.build_ack_report(b.acknowledge(event, SERVICE_START), program_id, event["id"]).dump()
    assert _rules(ven.post("/reports", json={**ack, "reportName": "ACK"})) == {"GB-R-001"}
    assert ven.get("/reports").json() == []  # nothing stored
    created = ven.post("/reports", json=ack)
    assert created.status_code == 201, created.text
    # the update of a stored report is held to the profile as well
    assert _rules(ven.put(f"/reports/{created.json()['id']}", json={**created.json(), "clientName": "FSP-OTHER"})) >= {
        "GB-R-002"
    }
    assert [r["clientName"] for r in ven.get("/reports").json()] == [FSP]


def test_mismatching_readback_is_stored_and_flagged(bl, clients, caplog: pytest.LogCaptureFixture):  # type: ignore[no-untyped-def]
    """A well-formed ack whose read-back status differs from the dispatch is stored (201) and flagged (GB-R-008),
    so the operator sees that the FSP misunderstood; malformed or mis-addressed acks are still refused."""
    program_id = bl.post("/programs", json=example_program().dump()).json()["id"]
    event = bl.post("/events", json=example_event(program_id=program_id).dump() | {"id": None}).json()
    ven = clients.ven(FSP)
    assert ven.post("/vens", json={"venName": FSP}).status_code == 201

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


def test_non_gb_programs_are_not_profiled(bl):  # type: ignore[no-untyped-def]
    assert bl.post("/programs", json={"programName": "plain", "country": "FR"}).status_code == 201
