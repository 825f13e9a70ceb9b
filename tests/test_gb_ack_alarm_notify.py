"""An overdue acknowledgement notifies the operator (vtn.contracts.acks, docs/gb-profile.md §6.1.1): the alarm is
published as a GB_ACK_OVERDUE report only BL clients can read, so the operator's REPORT subscription receives it by
webhook (a real loopback receiver) through the outbox, and again, CLEARED, when the late acknowledgement arrives."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timedelta

import pytest

from gb_profile import builders as b
from gb_profile.examples import FSP, example_instruction, example_program
from tests.support.receiver import Receiver
from vtn.contracts.acks import ALARM_REPORT
from vtn.core.database import utcnow
from vtn.core.settings import Settings


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(database_url=database_url, delivery_enabled=True, delivery_poll_seconds=0.5,
                    callback_allow_http=True, callback_allowed_networks=["127.0.0.0/8"], gb_ack_check_seconds=0)


def _dispatch(program_id: str, ref: str, instructed: datetime) -> dict:
    base = example_instruction()
    start = instructed + timedelta(days=2)
    ins = replace(base, dispatch_ref=ref, instruction_time=instructed, service_start=start,
                  service_end=start + timedelta(hours=1), setpoints=(replace(base.setpoints[0], timestamp=start),))
    event = b.build_event(ins, program_id).dump()
    event.pop("id", None)
    return event


def _payloads(report: dict) -> dict:
    [resource] = report["resources"]
    return {p["type"]: p["values"][0] for p in resource["intervals"][0]["payloads"]}


def test_overdue_ack_alarm_reaches_the_operators_webhook(bl, clients, app):  # type: ignore[no-untyped-def]
    from openadr3.models import Event
    from vtn.contracts.acks import check_once

    program_id = bl.post("/programs", json=example_program().dump()).json()["id"]
    assert bl.put(f"/admin/gb/programs/{program_id}/terms", json={"ackPeriodSeconds": 120}).status_code == 200
    ven = clients.ven(FSP)
    ven.post("/vens", json={"venName": FSP})
    ven_id = ven.get("/vens").json()[0]["id"]
    assert ven.post(f"/vens/{ven_id}/resources", json={"resourceName": "DU-7"}).status_code == 201
    instructed = utcnow().replace(microsecond=0) - timedelta(minutes=10)
    with Receiver() as receiver:
        subscription = {"clientName": "control-room", "programID": program_id, "objectOperations": [
            {"objects": ["REPORT"], "operations": ["CREATE", "UPDATE"], "callbackUrl": receiver.url("/alarms"),
             "bearerToken": "room-token"}]}
        assert bl.post("/subscriptions", json=subscription).status_code == 201
        event = bl.post("/events", json=_dispatch(program_id, "D-LATE", instructed)).json()
        assert receiver.requests == []

        [raised] = bl.http.portal.call(check_once, app.state.db)
        [notified] = receiver.wait_for(lambda r: len(r) >= 1)
        body = json.loads(notified.body)
        assert (body["objectType"], body["operation"]) == ("REPORT", "POST")
        assert notified.headers["authorization"] == "Bearer room-token"
        alarm = body["object"]
        assert (alarm["reportName"], alarm["eventID"], alarm["programID"], alarm["id"]) == (
            ALARM_REPORT, event["id"], program_id, raised.report_id)
        assert alarm["resources"][0]["resourceName"] == "DU-7"
        values = _payloads(alarm)
        assert (values["GB_ALARM_STATUS"], values["GB_FSP_ID"], values["GB_DISPATCH_REVISION"]) == ("OVERDUE", FSP, 1)
        assert values["GB_ACK_DEADLINE"] == b.utc_text(instructed + timedelta(minutes=2))

        # the operator's clients read it; the FSP's VEN does not (it is the operator's alarm, not the FSP's report)
        assert [r["id"] for r in bl.get("/reports", params={"programID": program_id}).json()
                if r["reportName"] == ALARM_REPORT] == [alarm["id"]]
        assert ALARM_REPORT not in [r.get("reportName") for r in ven.get("/reports").json()]
        assert ven.get(f"/reports/{alarm['id']}").status_code == 404
        assert bl.http.portal.call(check_once, app.state.db) == []  # raised once: no second notification

        # the late acknowledgement clears it: the same report, updated
        ack = b.build_ack_report(b.acknowledge(Event.model_validate(event), utcnow()), program_id, event["id"]).dump()
        ack.pop("id", None)
        assert ven.post("/reports", json=ack).status_code == 201
        updates = receiver.wait_for(lambda r: any(json.loads(x.body)["operation"] == "PUT" for x in r))
        cleared = next(json.loads(x.body)["object"] for x in updates if json.loads(x.body)["operation"] == "PUT")
        assert cleared["id"] == alarm["id"] and _payloads(cleared)["GB_ALARM_STATUS"] == "CLEARED"
        assert "GB_ACK_RECEIVED" in _payloads(cleared)
        # the FSP's acknowledgement itself reached the subscription too (a REPORT CREATE of the program)
        assert [json.loads(x.body)["object"]["reportName"] for x in receiver.requests].count(ALARM_REPORT) == 2
