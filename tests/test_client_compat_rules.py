"""The VTN rules existing OpenADR 3 clients rely on (docs/clients.md), in-process on both databases.

The clients themselves are driven in tests/test_clients.py; these pin each rule on its own, with the
bad-input cases.
"""

from __future__ import annotations

from tests.conftest import Caller, Clients
from tests.factories import full_event, full_program, full_report
from vtn.core.security import Role


def _ids(response) -> list[str]:  # type: ignore[no-untyped-def]
    assert response.status_code == 200, response.text
    return [o["id"] for o in response.json()]


def test_a_vens_own_name_matches_ven_name(bl: Caller, clients: Clients) -> None:
    """python-oa3-client finds its ven with `GET /vens?targetType=VEN_NAME&targetValues=<venName>`."""
    ven_a = clients.ven("ven-a")
    own = ven_a.post("/vens", json={"venName": "ven-a"}).json()
    other = bl.post("/vens", json={"venName": "ven-b"}).json()
    tagged = bl.post("/vens", json={"venName": "ven-c", "targets": [{"type": "VEN_NAME", "values": ["ven-a"]}]}).json()
    query = {"targetType": "VEN_NAME", "targetValues": ["ven-a"]}
    assert _ids(ven_a.get("/vens", params=query)) == [own["id"]]  # privacy still applies
    assert _ids(bl.get("/vens", params=query)) == [own["id"], tagged["id"]]  # own name or a written target
    assert _ids(bl.get("/vens", params={"targetType": "VEN_NAME", "targetValues": ["ven-a", "ven-b"]})) == [
        own["id"], other["id"], tagged["id"]]
    assert _ids(bl.get("/vens", params={"targetType": "VEN_NAME", "targetValues": ["nobody"]})) == []
    assert _ids(bl.get("/vens", params={"targetType": "GROUP", "targetValues": ["ven-a"]})) == []  # only VEN_NAME
    assert _ids(ven_a.get("/vens", params={"targetType": "VEN_NAME", "targetValues": ["ven-b"]})) == []
    bad = bl.get("/vens", params={"targetType": "VEN_NAME"})
    assert bad.status_code == 400 and bad.headers["content-type"].startswith("application/problem+json")
    # paged like any list
    assert _ids(bl.get("/vens", params={**query, "skip": 1, "limit": 1})) == [tagged["id"]]


def test_program_and_resource_names_match_their_target_types(bl: Caller, clients: Clients) -> None:
    """python-oa3-client resolves a program by `targetType=PROGRAM_NAME`; resources by RESOURCE_NAME likewise."""
    program = bl.post("/programs", json=full_program("prog-x")).json()
    bl.post("/programs", json=full_program("prog-y"))
    assert _ids(bl.get("/programs", params={"targetType": "PROGRAM_NAME", "targetValues": ["prog-x"]})) == [program["id"]]
    ven = bl.post("/vens", json={"venName": "ven-r"}).json()
    unit = bl.post(f"/vens/{ven['id']}/resources", json={"resourceName": "unit-1"}).json()
    bl.post(f"/vens/{ven['id']}/resources", json={"resourceName": "unit-2"})
    found = bl.get(f"/vens/{ven['id']}/resources", params={"targetType": "RESOURCE_NAME", "targetValues": ["unit-1"]})
    assert _ids(found) == [unit["id"]]


def test_a_bl_granted_write_reports_creates_reports(bl: Caller, clients: Clients) -> None:
    """openleadr-rs grants its BL `write_reports`: such a BL writes reports; one without the scope cannot."""
    program = bl.post("/programs", json=full_program()).json()
    event = bl.post("/events", json=full_event(program["id"])).json()
    writer = clients.make(Role.BL, scopes=["read_all", "write_programs", "write_events", "write_reports"])
    created = writer.post("/reports", json=full_report(program["id"], event["id"], client_name="bl-analytics"))
    assert created.status_code == 201, created.text
    report = created.json()
    assert report["clientName"] == "bl-analytics"
    changed = writer.put(f"/reports/{report['id']}", json={**full_report(program["id"], event["id"], "bl-analytics"),
                                                          "reportName": "changed"})
    assert changed.status_code == 200 and changed.json()["reportName"] == "changed"
    assert _ids(bl.get("/reports", params={"eventID": event["id"]})) == [report["id"]]
    refused = bl.post("/reports", json=full_report(program["id"], event["id"]))
    assert refused.status_code == 403
    dangling = writer.post("/reports", json=full_report(program["id"], "no-such-event", "bl-analytics"))
    assert dangling.status_code == 409
    assert writer.delete(f"/reports/{report['id']}").status_code == 200


def test_explicit_nulls_are_read_as_absent_on_3_1_0(bl: Caller, clients: Clients) -> None:
    """ElaadNL openadr3-client sends every unset optional field as null (`intervalPeriod: null`), which the
    3.1.0 schemas do not declare nullable: read as left out. A required member sent as null is still a 400."""
    program = bl.post("/programs", json=full_program()).json()
    event = bl.post("/events", json=full_event(program["id"], targets=[])).json()
    ven = clients.ven("ven-n").v31()
    created = ven.post("/vens", json={"venName": "ven-n", "attributes": None, "objectType": "VEN_VEN_REQUEST"})
    assert created.status_code == 201, created.text
    assert "attributes" not in created.json() or created.json()["attributes"] in (None, [])
    resources = [{"resourceName": "unit-n", "intervalPeriod": None,
                  "intervals": [{"id": 0, "intervalPeriod": None, "payloads": [{"type": "USAGE", "values": [1.5]}]}]}]
    report = ven.post("/reports", json={"eventID": event["id"], "clientName": "ven-n", "reportName": None,
                                        "payloadDescriptors": None, "resources": resources})
    assert report.status_code == 201, report.text
    assert report.json()["resources"][0]["intervals"][0]["payloads"] == [{"type": "USAGE", "values": [1.5]}]
    missing = ven.post("/reports", json={"eventID": None, "clientName": "ven-n", "resources": resources})
    assert missing.status_code == 400 and missing.headers["content-type"].startswith("application/problem+json")
    assert "eventID" in missing.text
    unchanged = bl.get("/reports", params={"eventID": event["id"]}).json()
    assert [r["id"] for r in unchanged] == [report.json()["id"]]
