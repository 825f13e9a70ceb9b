"""CRUD of every object type: status codes, provisioned fields, round trips, names, references."""

from __future__ import annotations

import pytest

from tests.factories import full_event, full_program, full_report, full_resource, full_subscription, full_ven

PROVISIONED = ("id", "createdDateTime", "modificationDateTime", "objectType")


def content(document: dict) -> dict:
    return {k: v for k, v in document.items() if k not in PROVISIONED}


@pytest.fixture
def ven_a(clients):
    return clients.ven("ven-a")


@pytest.fixture
def program(bl):
    return bl.post("/programs", json=full_program()).json()


@pytest.fixture
def event(bl, program):
    return bl.post("/events", json=full_event(program["id"])).json()


def test_program_full_round_trip(bl):
    body = full_program()
    created = bl.post("/programs", json=body)
    assert created.status_code == 201
    doc = created.json()
    assert content(doc) == body
    assert doc["objectType"] == "PROGRAM"
    assert doc["createdDateTime"] == doc["modificationDateTime"]
    assert bl.get(f"/programs/{doc['id']}").json() == doc


def test_event_full_round_trip(bl, program):
    body = full_event(program["id"])
    doc = bl.post("/events", json=body).json()
    assert content(doc) == body
    assert doc["objectType"] == "EVENT"
    assert bl.get(f"/events/{doc['id']}").json() == doc


def test_offsets_are_kept(bl, program):
    body = full_event(program["id"])
    body["intervalPeriod"] = {"start": "2026-10-25T01:30:00+01:00", "duration": "PT30M"}
    doc = bl.post("/events", json=body).json()
    assert doc["intervalPeriod"]["start"] == "2026-10-25T01:30:00+01:00"


def test_report_full_round_trip(ven_a, bl, program, event):
    ven_a.post("/vens", json={"venName": "ven-a"})
    body = full_report(program["id"], event["id"])
    created = ven_a.post("/reports", json=body)
    assert created.status_code == 201, created.text
    doc = created.json()
    assert content(doc) == body and doc["objectType"] == "REPORT"
    assert bl.get(f"/reports/{doc['id']}").json() == doc


def test_subscription_full_round_trip(bl, program):
    body = full_subscription(program["id"])
    doc = bl.post("/subscriptions", json=body).json()
    assert content(doc) == body and doc["objectType"] == "SUBSCRIPTION"
    assert bl.get(f"/subscriptions/{doc['id']}").json() == doc


def test_ven_and_resource_full_round_trip(bl):
    body = full_ven()
    ven = bl.post("/vens", json=body).json()
    assert content(ven) == body and ven["objectType"] == "VEN"
    assert bl.get(f"/vens/{ven['id']}").json() == ven
    rbody = full_resource()
    resource = bl.post(f"/vens/{ven['id']}/resources", json={**rbody, "venID": "someone-else"}).json()
    assert resource["venID"] == ven["id"]
    assert content(resource) == {**rbody, "venID": ven["id"]}
    assert resource["objectType"] == "RESOURCE"
    assert bl.get(f"/vens/{ven['id']}/resources/{resource['id']}").json() == resource
    assert bl.get(f"/vens/{ven['id']}/resources").json() == [resource]


def test_provisioned_fields_cannot_be_forged(bl):
    forged = {
        "id": "clientchosen",
        "createdDateTime": "2000-01-01T00:00:00Z",
        "modificationDateTime": "2000-01-01T00:00:00Z",
        "objectType": "EVENT",
        "programName": "forge",
    }
    doc = bl.post("/programs", json=forged).json()
    assert doc["id"] != "clientchosen" and doc["objectType"] == "PROGRAM"
    assert not doc["createdDateTime"].startswith("2000")
    put = bl.put(f"/programs/{doc['id']}", json={**forged, "id": "other", "programName": "forge2"})
    assert put.status_code == 200
    updated = put.json()
    assert updated["id"] == doc["id"] and updated["createdDateTime"] == doc["createdDateTime"]
    assert updated["modificationDateTime"] >= doc["modificationDateTime"]
    assert bl.get(f"/programs/{doc['id']}").json()["programName"] == "forge2"


def test_explicit_nulls_are_accepted_and_not_echoed(bl):
    body = {"programName": "nulls", "programLongName": None, "timeZoneOffset": None, "intervalPeriod": None, "targets": None}
    doc = bl.post("/programs", json=body)
    assert doc.status_code == 201
    assert content(doc.json()) == {"programName": "nulls"}


def test_put_replaces_whole_object(bl):
    doc = bl.post("/programs", json={"programName": "rep", "programLongName": "long"}).json()
    updated = bl.put(f"/programs/{doc['id']}", json={"programName": "rep"}).json()
    assert "programLongName" not in updated


def test_unknown_properties_are_dropped(bl):
    doc = bl.post("/programs", json={"programName": "extra", "somethingElse": 1})
    assert doc.status_code == 201 and "somethingElse" not in doc.json()


def test_private_enumeration_strings_accepted(bl, program):
    body = full_event(program["id"])
    body["payloadDescriptors"] = [{"payloadType": "PRIVATE_ALGORITHM", "units": "MY_UNIT"}]
    body["intervals"][0]["payloads"] = [{"type": "PRIVATE_ALGORITHM", "values": ["x", 3, 0.17, True, {"x": 1.0, "y": 2.0}]}]
    doc = bl.post("/events", json=body)
    assert doc.status_code == 201
    assert doc.json()["intervals"][0]["payloads"] == body["intervals"][0]["payloads"]


@pytest.mark.parametrize("path", ["/programs", "/events", "/reports", "/subscriptions", "/vens"])
def test_unknown_ids_are_404(bl, ven_a, path):
    caller = ven_a if path == "/reports" else bl  # write_reports is a VEN scope
    for method in ("GET", "PUT", "DELETE"):
        response = caller.request(method, f"{path}/doesnotexist123", json={})
        assert response.status_code in (404, 400) if method == "PUT" else response.status_code == 404


def test_unknown_ids_are_404_with_valid_bodies(bl, program, event):
    assert bl.put("/programs/nope", json={"programName": "x"}).status_code == 404
    assert bl.put("/events/nope", json=full_event(program["id"])).status_code == 404
    assert bl.put("/subscriptions/nope", json=full_subscription(program["id"])).status_code == 404
    assert bl.put("/vens/nope", json={"venName": "x"}).status_code == 404
    assert bl.get("/vens/nope/resources").status_code == 404
    assert bl.post("/vens/nope/resources", json={"resourceName": "r"}).status_code == 404


@pytest.mark.parametrize("bad_id", ["a.b", "a b", "x" * 129, "é"])
def test_malformed_ids_are_400(bl, bad_id):
    response = bl.get(f"/programs/{bad_id}")
    assert response.status_code == 400
    assert "programID" in response.json()["detail"]


def test_delete_returns_object_then_404(bl):
    doc = bl.post("/programs", json={"programName": "gone"}).json()
    deleted = bl.delete(f"/programs/{doc['id']}")
    assert deleted.status_code == 200 and deleted.json() == doc
    assert bl.get(f"/programs/{doc['id']}").status_code == 404
    assert bl.delete(f"/programs/{doc['id']}").status_code == 404


def test_duplicate_names_are_409(bl):
    assert bl.post("/programs", json={"programName": "dup"}).status_code == 201
    assert bl.post("/programs", json={"programName": "dup"}).status_code == 409
    other = bl.post("/programs", json={"programName": "other"}).json()
    assert bl.put(f"/programs/{other['id']}", json={"programName": "dup"}).status_code == 409
    assert bl.put(f"/programs/{other['id']}", json={"programName": "other"}).status_code == 200
    ven = bl.post("/vens", json={"venName": "v"}).json()
    assert bl.post("/vens", json={"venName": "v"}).status_code == 409
    assert bl.post(f"/vens/{ven['id']}/resources", json={"resourceName": "r"}).status_code == 201
    assert bl.post(f"/vens/{ven['id']}/resources", json={"resourceName": "r"}).status_code == 409
    ven2 = bl.post("/vens", json={"venName": "v2"}).json()
    assert bl.post(f"/vens/{ven2['id']}/resources", json={"resourceName": "r"}).status_code == 201


def test_dangling_references_are_409(bl, ven_a, program, event):
    assert bl.post("/events", json=full_event("nosuchprogram")).status_code == 409
    assert bl.get("/events").json() == [event]
    ven_a.post("/vens", json={"venName": "ven-a"})
    assert ven_a.post("/reports", json=full_report(program["id"], "nosuchevent")).status_code == 409
    other = bl.post("/programs", json={"programName": "other"}).json()
    assert ven_a.post("/reports", json=full_report(other["id"], event["id"])).status_code == 409
    assert bl.post("/subscriptions", json=full_subscription("nosuchprogram")).status_code == 409


def test_resource_must_belong_to_path_ven(bl):
    a = bl.post("/vens", json={"venName": "a"}).json()
    b = bl.post("/vens", json={"venName": "b"}).json()
    resource = bl.post(f"/vens/{b['id']}/resources", json={"resourceName": "rb"}).json()
    for method in ("GET", "PUT", "DELETE"):
        assert bl.request(method, f"/vens/{a['id']}/resources/{resource['id']}", json={"resourceName": "x"}).status_code == 404


def test_delete_program_cascades(bl, ven_a, program, event):
    ven_a.post("/vens", json={"venName": "ven-a"})
    report = ven_a.post("/reports", json=full_report(program["id"], event["id"])).json()
    subscription = bl.post("/subscriptions", json=full_subscription(program["id"])).json()
    assert bl.delete(f"/programs/{program['id']}").status_code == 200
    assert bl.get(f"/events/{event['id']}").status_code == 404
    assert bl.get(f"/reports/{report['id']}").status_code == 404
    assert bl.get(f"/subscriptions/{subscription['id']}").status_code == 404


def test_delete_event_removes_its_reports(bl, ven_a, program, event):
    ven_a.post("/vens", json={"venName": "ven-a"})
    report = ven_a.post("/reports", json=full_report(program["id"], event["id"])).json()
    assert bl.delete(f"/events/{event['id']}").status_code == 200
    assert bl.get(f"/reports/{report['id']}").status_code == 404


def test_delete_ven_removes_resources_keeps_reports(bl, ven_a, program, event):
    ven = ven_a.post("/vens", json={"venName": "ven-a"}).json()
    resource = ven_a.post(f"/vens/{ven['id']}/resources", json={"resourceName": "r1"}).json()
    report = ven_a.post("/reports", json=full_report(program["id"], event["id"])).json()
    assert bl.delete(f"/vens/{ven['id']}").status_code == 200
    assert bl.get(f"/vens/{ven['id']}/resources/{resource['id']}").status_code == 404
    assert bl.get(f"/reports/{report['id']}").json() == report


def test_update_each_type(bl, ven_a, program, event):
    body = full_event(program["id"], name="renamed")
    assert bl.put(f"/events/{event['id']}", json=body).json()["eventName"] == "renamed"
    ven = ven_a.post("/vens", json={"venName": "ven-a"}).json()
    report = ven_a.post("/reports", json=full_report(program["id"], event["id"])).json()
    rbody = full_report(program["id"], event["id"])
    rbody["reportName"] = "v2"
    assert ven_a.put(f"/reports/{report['id']}", json=rbody).json()["reportName"] == "v2"
    sub = bl.post("/subscriptions", json=full_subscription(program["id"])).json()
    sbody = full_subscription(program["id"])
    sbody["clientName"] = "renamed"
    assert bl.put(f"/subscriptions/{sub['id']}", json=sbody).json()["clientName"] == "renamed"
    assert ven_a.put(f"/vens/{ven['id']}", json={"venName": "ven-a", "attributes": []}).json()["attributes"] == []
    resource = ven_a.post(f"/vens/{ven['id']}/resources", json={"resourceName": "r1"}).json()
    updated = ven_a.put(f"/vens/{ven['id']}/resources/{resource['id']}", json={"resourceName": "r2"})
    assert updated.json()["resourceName"] == "r2"
    assert ven_a.delete(f"/vens/{ven['id']}/resources/{resource['id']}").status_code == 200
    assert ven_a.delete(f"/reports/{report['id']}").status_code == 200
    assert bl.delete(f"/subscriptions/{sub['id']}").status_code == 200


def test_long_target_values_are_kept_and_filterable(bl):
    long_a, long_b = "x" * 600, "x" * 600 + "y"  # longer than the indexed prefix, sharing it
    body = {"programName": "long-targets", "targets": [{"type": "GROUP", "values": [long_a, long_b]}]}
    created = bl.post("/programs", json=body)
    assert created.status_code == 201, created.text
    assert created.json()["targets"] == body["targets"]
    found = bl.get("/programs", params={"targetType": "GROUP", "targetValues": long_b}).json()
    assert [p["id"] for p in found] == [created.json()["id"]]
    reordered = {**body, "targets": [{"type": "GROUP", "values": [long_b, long_a, "s"]}]}
    updated = bl.put(f"/programs/{created.json()['id']}", json=reordered)
    assert updated.status_code == 200, updated.text



def test_lists_send_the_stored_documents_as_reads_by_id_do(bl, ven_a, program):
    """Lists are joined from the stored JSON texts (not decoded and re-encoded): the same JSON values,
    in the same key order, as each object read by id; non-ASCII, escapes and numbers intact."""
    tricky = "Zoë's \"unit\" \\ ½ ≥ 5 MW\n\t€ \u2028 𝄞"
    ven_id = bl.post("/vens", json=full_ven("ven-a")).json()["id"]
    first = bl.post("/events", json={**full_event(program["id"], "ev-1"), "eventName": tricky}).json()
    second = full_event(program["id"], "ev-2")
    second["intervals"][0]["payloads"][0]["values"] = [1e-7, 12345678901234567890, -0.0, 1500.25]
    created = bl.post("/events", json=second)
    assert created.status_code == 201, created.text
    bl.post(f"/vens/{ven_id}/resources", json={**full_resource("unit-ß"), "venID": ven_id}).raise_for_status()
    ven_a.post("/reports", json={**full_report(program["id"], first["id"]), "reportName": tricky}).raise_for_status()
    for path in ("/programs", "/events", f"/events?programID={program['id']}", "/vens", f"/vens/{ven_id}/resources",
                 "/reports", "/events?targetType=VEN_NAME&targetValues=ven-a", "/events?limit=0"):
        listed = bl.get(path)  # the Caller checks every response against the spec
        assert listed.status_code == 200 and listed.headers["content-type"] == "application/json", path
        documents = listed.json()
        assert bool(documents) == ("limit=0" not in path), path
        for document in documents:
            by_id_path = path.split("?")[0] + f"/{document['id']}"
            by_id = bl.get(by_id_path).json()
            assert document == by_id, path
            assert list(document) == list(by_id), path  # key order too
    events = bl.get(f"/events?programID={program['id']}").json()
    assert [e["eventName"] for e in events] == [tricky, "ev-2"]
    assert events[1]["intervals"][0]["payloads"][0]["values"] == [1e-7, 12345678901234567890, -0.0, 1500.25]
    assert bl.get("/reports").json()[0]["reportName"] == tricky
