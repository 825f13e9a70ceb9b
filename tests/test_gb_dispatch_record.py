"""The dispatch record (docs/gb-profile.md §5.4), on both databases: every version of a GB event is kept with who
wrote it, the revision history is served with each revision's acknowledgements (API, `vtn gb history`), and
nothing that is evidence is deleted — dispatches, the anchor while it has reports, GB programs holding them,
acknowledgements (VTN-GB-001..004) — while non-GB objects delete as the spec says."""

from __future__ import annotations

import json
import re
import sqlite3
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import col, select
from typer.testing import CliRunner

from gb_profile import builders as b
from gb_profile import cli as gb_cli
from gb_profile import model as m
from gb_profile.examples import FSP, SERVICE_START, UNIT, example_event, example_program
from gb_profile.operator import Operator
from tests.conftest import BASE
from tests.factories import full_event, full_program, full_report
from tests.support.append_only import refusals
from vtn.cli import app as vtn_app
from vtn.core.security import Scope
from vtn.events.models import EventRevisionRow

LATER = SERVICE_START - timedelta(hours=20)  # instruction times of the revisions, after the example's


def _problem(response, status: int) -> set[str]:  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    rules = {e["rule"] for e in body["errors"]}
    assert all(rule in body["detail"] for rule in rules)
    return rules


def _revision_rows(http, event_id: str) -> list[EventRevisionRow]:  # type: ignore[no-untyped-def]
    async def read() -> list[EventRevisionRow]:
        async with http.app.state.db.session(write=False) as session:
            query = select(EventRevisionRow).where(col(EventRevisionRow.event_id) == event_id).order_by(col(EventRevisionRow.id))
            return list((await session.exec(query)).all())

    return http.portal.call(read)


@pytest.fixture
def dispatch(bl, clients) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """A GB program, the FSP's VEN with its unit, and revision 1 (RUN) of a dispatch to it."""
    ven = clients.ven(FSP)
    ven_id = ven.post("/vens", json={"venName": FSP}).json()["id"]
    assert ven.post(f"/vens/{ven_id}/resources", json={"resourceName": UNIT}).status_code == 201
    program_id = bl.post("/programs", json=example_program().dump()).json()["id"]
    event = bl.post("/events", json=example_event(program_id=program_id).dump() | {"id": None})
    assert event.status_code == 201, event.text
    return {"ven": ven, "program_id": program_id, "event": event.json()}


def _ack(ven, event: dict[str, Any], **kw: Any) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    report = b.build_ack_report(b.acknowledge(event, SERVICE_START - timedelta(hours=1), **kw), event["programID"], event["id"])
    created = ven.post("/reports", json=report.dump())
    assert created.status_code == 201, created.text
    return created.json()


def _three_revisions(bl, dispatch: dict[str, Any]) -> list[dict[str, Any]]:  # type: ignore[no-untyped-def]
    """Revision 1 (RUN, acked), 2 (RUN revised: REJECTED then ACCEPTED), 3 (STOP, not acked), as the VTN returned them."""
    ven, first = dispatch["ven"], dispatch["event"]
    _ack(ven, first)
    second = bl.put(f"/events/{first['id']}", json=b.revise_event(first, LATER, setpoints=(
        m.Setpoint(SERVICE_START, -300.0, m.ServiceUnits.KW, b.parse_event(first).setpoints[0].kind),)).dump())
    assert second.status_code == 200, second.text
    _ack(ven, second.json(), result=m.AckResult.REJECTED, reason="unit busy")
    _ack(ven, second.json())
    third = bl.put(f"/events/{first['id']}", json=b.stop_event(second.json(), SERVICE_START + timedelta(minutes=30),
                                                                 LATER + timedelta(minutes=5)).dump())
    assert third.status_code == 200, third.text
    return [first, second.json(), third.json()]


def test_every_put_keeps_the_previous_revision_and_the_history_lists_them_with_their_acks(http, bl, dispatch):  # type: ignore[no-untyped-def]
    versions = _three_revisions(bl, dispatch)
    event_id = versions[0]["id"]
    rows = _revision_rows(http, event_id)
    assert [(r.revision, r.document) for r in rows] == [(i + 1, v) for i, v in enumerate(versions)]
    who = {(r.actor, r.actor_role, r.signed, r.program_id) for r in rows}
    assert who == {(bl.client_id, "BL", False, dispatch["program_id"])}
    assert bl.get(f"/events/{event_id}").json() == versions[-1]  # GET still returns the current one

    history = bl.get(f"/admin/events/{event_id}/revisions")
    assert history.status_code == 200, history.text
    items = history.json()
    assert [(i["revision"], i["status"], i["event"]) for i in items] == [
        (1, "RUN", versions[0]), (2, "RUN", versions[1]), (3, "STOP", versions[2])]
    assert [i["modificationDateTime"] for i in items] == [v["modificationDateTime"] for v in versions]
    assert all(i["actor"] == bl.client_id and i["actorRole"] == "BL" and i["signed"] is False for i in items)
    acks = [[(a["result"], a["superseded"], a["reason"]) for a in i["acknowledgements"]] for i in items]
    assert acks == [[("ACCEPTED", False, None)], [("REJECTED", True, "unit busy"), ("ACCEPTED", False, None)], []]
    assert items[1]["acknowledgements"][1]["matches"] is True
    # paged like the other lists, oldest first
    assert [i["revision"] for i in bl.get(f"/admin/events/{event_id}/revisions", params={"skip": 1, "limit": 1}).json()] == [2]

    # a refused PUT (revision not incremented, GB-E-040) leaves no row
    assert bl.put(f"/events/{event_id}", json=versions[-1]).status_code == 400
    assert len(_revision_rows(http, event_id)) == 3


def test_the_history_is_for_the_events_operator_bl_only(http, bl, clients, dispatch):  # type: ignore[no-untyped-def]
    event_id = dispatch["event"]["id"]
    other = clients.bl(operator="UKPN")
    refused = other.get(f"/admin/events/{event_id}/revisions")
    unknown = str(uuid.uuid4())
    missing = other.get(f"/admin/events/{unknown}/revisions")
    # the same answer as for an event that does not exist: nothing tells the other operator it is there
    assert (refused.status_code, missing.status_code) == (404, 404)
    assert refused.json()["detail"].replace(event_id, unknown) == missing.json()["detail"]
    assert dispatch["ven"].get(f"/admin/events/{event_id}/revisions").status_code == 403
    assert bl.get(f"/admin/events/{uuid.uuid4()}/revisions").status_code == 404
    # an event of a plain program has no history
    plain = bl.post("/programs", json=full_program("plain")).json()["id"]
    plain_event = bl.post("/events", json=full_event(plain)).json()["id"]
    assert bl.get(f"/admin/events/{plain_event}/revisions").json() == []
    assert _revision_rows(http, plain_event) == []
    operation = http.get(f"{BASE}/openapi.json").json()["paths"]["/admin/events/{eventID}/revisions"]["get"]
    assert operation["operationId"] == "listEventRevisions" and "404" in operation["responses"]


def test_a_dispatch_is_never_deleted_and_its_acks_are_kept(http, bl, dispatch):  # type: ignore[no-untyped-def]
    versions = _three_revisions(bl, dispatch)
    event_id, program_id = versions[0]["id"], dispatch["program_id"]
    reports = bl.get("/reports", params={"eventID": event_id}).json()
    assert len(reports) == 3

    refused = bl.delete(f"/events/{event_id}")
    assert _problem(refused, 409) == {"VTN-GB-001"}
    assert "vtn gb cancel" in refused.json()["detail"] and "vtn gb stop" in refused.json()["detail"]
    assert bl.get(f"/events/{event_id}").json() == versions[-1]
    assert bl.get("/reports", params={"eventID": event_id}).json() == reports
    # nor through its program (whose delete cascades to events and reports)
    assert _problem(bl.delete(f"/programs/{program_id}"), 409) == {"VTN-GB-003"}
    assert bl.get(f"/programs/{program_id}").status_code == 200
    assert bl.get("/reports", params={"eventID": event_id}).json() == reports
    # nor by moving it out of the GB program first
    plain = bl.post("/programs", json=full_program("plain")).json()["id"]
    assert _problem(bl.put(f"/events/{event_id}", json={**versions[-1], "programID": plain}), 400) == {"GB-E-041"}
    assert len(_revision_rows(http, event_id)) == 3


def test_the_anchor_goes_only_without_reports_and_non_gb_objects_delete_as_the_spec_says(bl, clients, dispatch):  # type: ignore[no-untyped-def]
    program_id, ven = dispatch["program_id"], dispatch["ven"]
    bare = bl.post("/events", json=b.build_anchor_event(program_id, "NGED", SERVICE_START).dump())
    assert bare.status_code == 201, bare.text
    assert bl.delete(f"/events/{bare.json()['id']}").status_code == 200  # no reports: nothing lost
    kept = bl.get(f"/admin/events/{bare.json()['id']}/revisions").json()  # its history outlives it
    assert [(i["revision"], i["status"], i["event"]) for i in kept] == [(1, None, bare.json())]

    anchor = bl.post("/events", json=b.build_anchor_event(program_id, "NGED", SERVICE_START).dump()).json()
    heartbeat = b.build_heartbeat_report(m.Heartbeat(FSP, "NGED", SERVICE_START), program_id, anchor["id"]).dump()
    assert ven.post("/reports", json=heartbeat).status_code == 201
    assert _problem(bl.delete(f"/events/{anchor['id']}"), 409) == {"VTN-GB-002"}
    assert bl.get(f"/events/{anchor['id']}").status_code == 200

    plain = bl.post("/programs", json=full_program("plain")).json()["id"]
    event = bl.post("/events", json=full_event(plain)).json()["id"]
    report = clients.bl(scopes=[s.value for s in Scope]).post("/reports", json=full_report(plain, event))
    assert report.status_code == 201, report.text
    report = report.json()["id"]
    assert bl.delete(f"/events/{event}").status_code == 200
    assert bl.get(f"/reports/{report}").status_code == 404  # cascaded, as before
    assert bl.delete(f"/programs/{plain}").status_code == 200

    # a GB program with neither dispatches nor reports may go, with its bare anchor
    empty = bl.post("/programs", json={**example_program().dump(), "programName": "NGED-SU-spare"}).json()["id"]
    bl.post("/events", json=b.build_anchor_event(empty, "NGED", SERVICE_START).dump())
    assert bl.delete(f"/programs/{empty}").status_code == 200


def test_an_acknowledgement_is_never_deleted_or_changed(bl, clients, dispatch):  # type: ignore[no-untyped-def]
    ven, event = dispatch["ven"], dispatch["event"]
    ack = _ack(ven, event)
    for caller in (ven, clients.bl(scopes=[s.value for s in Scope])):  # not even the operator's BL
        assert _problem(caller.delete(f"/reports/{ack['id']}"), 409) == {"VTN-GB-004"}
    interval = ack["resources"][0]["intervals"][0]
    rejected = {"type": "GB_ACK_RESULT", "values": ["REJECTED"]}
    payloads = [p if p["type"] != "GB_ACK_RESULT" else rejected for p in interval["payloads"]]
    payloads.append({"type": "GB_ACK_REASON", "values": ["changed my mind"]})
    changed = {**ack, "resources": [{**ack["resources"][0], "intervals": [{**interval, "payloads": payloads}]}]}
    assert _problem(ven.put(f"/reports/{ack['id']}", json=changed), 409) == {"VTN-GB-004"}
    assert ven.get(f"/reports/{ack['id']}").json() == ack
    same = ven.put(f"/reports/{ack['id']}", json=ack)  # a retry of the same content changes nothing: accepted
    assert same.status_code == 200, same.text
    assert {k: v for k, v in same.json().items() if k != "modificationDateTime"} == {
        k: v for k, v in ack.items() if k != "modificationDateTime"}

    # another report is not turned into an acknowledgement by a PUT: an ack is a new report
    anchor = bl.post("/events", json=b.build_anchor_event(dispatch["program_id"], "NGED", SERVICE_START).dump()).json()
    heartbeat = b.build_heartbeat_report(m.Heartbeat(FSP, "NGED", SERVICE_START), dispatch["program_id"], anchor["id"]).dump()
    beat = ven.post("/reports", json=heartbeat).json()
    assert _problem(ven.put(f"/reports/{ack['id']}", json=heartbeat), 409) == {"VTN-GB-004"}  # nor an ack into another
    as_ack = {**ack, "id": beat["id"]}
    assert _problem(ven.put(f"/reports/{beat['id']}", json=as_ack), 409) == {"VTN-GB-004"}
    # the FSP's other reports stay its own to change or delete
    assert ven.delete(f"/reports/{beat['id']}").status_code == 200


def test_revision_rows_are_append_only(http, bl, dispatch, database_url) -> None:  # type: ignore[no-untyped-def]
    event_id = dispatch["event"]["id"]
    before = [(r.id, r.document) for r in _revision_rows(http, event_id)]
    assert len(before) == 1
    statements = ["UPDATE event_revision SET actor = 'someone-else'", "DELETE FROM event_revision",
                  "UPDATE event_revision SET revision = 9 WHERE id = (SELECT min(id) FROM event_revision)"]
    for answer in refusals(http, "event_revision", statements, database_url.startswith("postgresql")):
        assert "event_revision is append-only" in answer, answer
    assert [(r.id, r.document) for r in _revision_rows(http, event_id)] == before
    from vtn.events import revisions

    assert not [name for name in vars(revisions) if name.startswith(("update", "delete", "remove", "purge"))]


class InProcessOperator(Operator):
    """`vtn gb` against the test app: the caller's token, the TestClient as transport (left open)."""

    def __init__(self, http, token: str) -> None:  # type: ignore[no-untyped-def]
        super().__init__(f"http://testserver{BASE}", "-", "-", client=http)
        self._token, self._token_expiry = token, float("inf")

    def close(self) -> None:
        pass


def test_vtn_gb_history_prints_every_revision_and_its_acks_in_london_time(http, bl, dispatch, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    versions = _three_revisions(bl, dispatch)
    monkeypatch.setattr(gb_cli, "_operator", lambda *_: InProcessOperator(http, bl.token))
    env = {"GB_VTN_URL": "http://unused", "GB_CLIENT_ID": "-", "GB_CLIENT_SECRET": "-"}
    result = CliRunner().invoke(vtn_app, ["gb", "history", versions[0]["id"]], env=env)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith(f"event {versions[0]['id']}  NGED:") and "3 revision(s)" in lines[0]
    revision_lines = [line for line in lines if line.startswith("revision ")]
    assert [line.split()[1:3] for line in revision_lines] == [["1", "RUN"], ["2", "RUN"], ["3", "STOP"]]
    assert all(f"by {bl.client_id} (BL)" in line for line in revision_lines)
    # 2025-12-02 20:00Z is GMT in London (winter): local time equals UTC, and the zone is named
    assert "instructed 2025-12-02 20:05:00 GMT" in revision_lines[2]
    acks = result.output.split("revision 2")[1].split("revision 3")[0]
    assert re.search(r"ack REJECTED RUN received 2025-12-03 15:00:00 GMT \(unit busy\) \(superseded\)", acks), acks
    assert "ack ACCEPTED RUN received 2025-12-03 15:00:00 GMT" in acks
    assert result.output.rstrip().endswith("no acknowledgement")  # revision 3

    missing = CliRunner().invoke(vtn_app, ["gb", "history", str(uuid.uuid4())], env=env)
    assert missing.exit_code == 1 and "404" in missing.output


def test_events_stored_before_the_history_get_one_row_each(tmp_path: Path) -> None:
    """Migration 0013 records the GB events it finds (actor unknown `-`), and only those."""
    from vtn.core.migrate import upgrade

    path = tmp_path / "old.db"
    upgrade(f"sqlite+aiosqlite:///{path}", "0012")
    event = example_event(program_id="p-gb").dump() | {"id": "e-gb", "createdDateTime": "2025-12-01T10:00:00Z",
                                                       "modificationDateTime": "2025-12-01T10:00:00Z", "objectType": "EVENT"}
    at = "2025-12-01 10:00:00.000000"
    with sqlite3.connect(path) as connection:
        for pid, doc in (("p-gb", example_program().dump()), ("p-plain", {"programName": "plain"})):
            connection.execute("INSERT INTO program (id, created_at, modified_at, document, targeted, operator, program_name) "
                               "VALUES (?, ?, ?, ?, 0, 'NGED', ?)", (pid, at, at, json.dumps(doc | {"id": pid}), pid))
        for eid, pid, doc in (("e-gb", "p-gb", event), ("e-plain", "p-plain", {"eventName": "x", "intervals": []})):
            connection.execute("INSERT INTO event (id, created_at, modified_at, document, targeted, operator, program_id) "
                               "VALUES (?, ?, ?, ?, 0, 'NGED', ?)", (eid, at, at, json.dumps(doc), pid))
    upgrade(f"sqlite+aiosqlite:///{path}")
    with sqlite3.connect(path) as connection:
        rows = connection.execute(
            "SELECT event_id, program_id, revision, actor, actor_role, operator, signed, document FROM event_revision").fetchall()
    assert [r[:7] for r in rows] == [("e-gb", "p-gb", 1, "-", "-", "NGED", 0)]
    assert json.loads(rows[0][7]) == event
