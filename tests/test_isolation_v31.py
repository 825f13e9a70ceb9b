"""Privacy through the OpenADR 3.1.0 mount (D310 "Object privacy"), decided by the one rule of vtn.auth.privacy:
the hostile-tenant world of tests/test_isolation.py, read and written through /openadr3/3.1.0. Also walks every
3.1.0 operation this VTN serves (all but /notifiers) to a success, each response checked against the 3.1.0 YAML."""

from __future__ import annotations

import re
from typing import Any

from openadr3.schema import spec_document
from tests.conftest import Caller, Clients
from tests.support.receiver import Receiver
from vtn.core.security import Scope

GRANT = ["VEN_NAME:ven-a", "RESOURCE_NAME:DU-7"]


def ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def snapshot(owner: Caller, paths: list[str]) -> list[Any]:
    return [owner.get(p).json() for p in paths]


def test_hostile_tenants_through_31(clients: Clients) -> None:
    every_scope = [s.value for s in Scope if s is not Scope.READ_BL]
    nged = clients.bl(operator="NGED", scopes=every_scope).v31()
    ukpn = clients.bl(operator="UKPN", scopes=every_scope).v31()
    a = clients.ven("ven-a", operator="NGED").v31()
    b = clients.ven("ven-b", operator="NGED").v31()
    c = clients.ven("ven-a", operator="UKPN").v31()  # another operator's FSP with the same venName
    ven_a = ok(nged.post("/vens", json={"objectType": "BL_VEN_REQUEST", "venName": "ven-a", "clientID": a.client_id}), 201)
    ven_b = ok(nged.post("/vens", json={"objectType": "BL_VEN_REQUEST", "venName": "ven-b", "clientID": b.client_id}), 201)
    ok(ukpn.post("/vens", json={"objectType": "BL_VEN_REQUEST", "venName": "ven-a", "clientID": c.client_id}), 201)
    unit_a = ok(nged.post("/resources", json={"objectType": "BL_RESOURCE_REQUEST", "clientID": a.client_id,
                                              "resourceName": "DU-7", "venID": ven_a["id"],
                                              "targets": ["RESOURCE_NAME:DU-7"]}), 201)
    ok(nged.post("/resources", json={"objectType": "BL_RESOURCE_REQUEST", "clientID": b.client_id,
                                     "resourceName": "DU-7", "venID": ven_b["id"]}), 201)
    program = ok(nged.post("/programs", json={"programName": "nged-flex"}), 201)
    event_a = ok(nged.post("/events", json={"programID": program["id"], "targets": GRANT, "intervals": []}), 201)
    everyone = ok(nged.post("/events", json={"programID": program["id"], "intervals": []}), 201)
    ukpn_program = ok(ukpn.post("/programs", json={"programName": "ukpn-flex"}), 201)
    report_a = ok(a.post("/reports", json={"eventID": event_a["id"], "clientName": "ven-a", "resources": [
        {"resourceName": "DU-7", "intervals": [{"id": 0, "payloads": [{"type": "USAGE", "values": [1]}]}]}]}), 201)
    with Receiver() as hooks:
        sub_a = ok(a.post("/subscriptions", json={"clientName": "ven-a", "programID": program["id"], "objectOperations": [
            {"objects": ["EVENT"], "operations": ["CREATE"], "callbackUrl": hooks.url("/a"), "bearerToken": "s"}]}), 201)

    # what each VEN reads: its own objects, the events granted to it (both its grants, AND over types)
    assert {e["id"] for e in ok(a.get("/events"))} == {event_a["id"], everyone["id"]}
    assert {e["id"] for e in ok(b.get("/events"))} == {everyone["id"]}
    assert ok(c.get("/events")) == [] and [p["id"] for p in ok(c.get("/programs"))] == [ukpn_program["id"]]
    assert [v["id"] for v in ok(b.get("/vens"))] == [ven_b["id"]]
    assert ok(b.get("/reports")) == [] and ok(b.get("/subscriptions")) == []
    assert all(r["venID"] == ven_b["id"] for r in ok(b.get("/resources")))
    # by id: another's object is 404, whatever the API version
    owned = {"/vens/" + ven_a["id"], "/resources/" + unit_a["id"], "/reports/" + report_a["id"],
             "/subscriptions/" + sub_a["id"], "/events/" + event_a["id"]}
    before = snapshot(a, sorted(owned))
    for intruder in (b, c, ukpn):
        for path in sorted(owned):
            assert intruder.get(path).status_code == 404, (intruder.client_id, path)
            assert intruder.delete(path).status_code in (403, 404), (intruder.client_id, path)
    assert b.put("/vens/" + ven_a["id"], json={"objectType": "VEN_VEN_REQUEST", "venName": "ven-a"}).status_code == 404
    assert b.put("/reports/" + report_a["id"], json={"eventID": everyone["id"], "clientName": "ven-b",
                                                     "resources": []}).status_code == 404
    # a VEN cannot claim another name, write programs or events, nor grant itself targets
    assert b.post("/vens", json={"objectType": "VEN_VEN_REQUEST", "venName": "ven-z"}).status_code == 403
    assert b.post("/programs", json={"programName": "mine"}).status_code == 403
    assert b.post("/events", json={"programID": program["id"]}).status_code == 403
    assert b.put("/vens/" + ven_b["id"], json={"objectType": "BL_VEN_REQUEST", "venName": "ven-b", "clientID": "x",
                                               "targets": GRANT}).status_code == 403
    # a VEN's report must carry its own clientName (VTN-ID-001), and only answer events it can read
    assert b.post("/reports", json={"eventID": everyone["id"], "clientName": "ven-a", "resources": []}).status_code == 400
    assert b.post("/reports", json={"eventID": event_a["id"], "clientName": "ven-b", "resources": []}).status_code == 409
    # nothing changed for the owner
    assert snapshot(a, sorted(owned)) == before
    # the webhook bearer token is shown to its creator only
    assert ok(a.get("/subscriptions/" + sub_a["id"]))["objectOperations"][0]["bearerToken"] == "s"
    assert "bearerToken" not in ok(nged.get("/subscriptions/" + sub_a["id"]))["objectOperations"][0]


def _templates() -> list[tuple[str, re.Pattern[str], str]]:
    out = []
    for template, item in spec_document("3.1.0")["paths"].items():
        if template.startswith("/notifiers"):
            continue  # served by the notifications package (helper notify), not this mount's routers
        pattern = re.compile("^" + re.sub(r"\{[^/]+\}", "[^/]+", template) + "$")
        out.extend((method.upper(), pattern, op["operationId"]) for method, op in item.items() if isinstance(op, dict))
    return out


def test_every_31_operation_is_served(clients: Clients) -> None:
    done: set[str] = set()
    templates = _templates()

    def call(caller: Caller, method: str, path: str, status: int = 200, **kw: Any) -> Any:
        body = ok(caller.request(method, path, **kw), status)
        done.update(op for m, pattern, op in templates if m == method and pattern.match(path.split("?")[0]))
        return body

    bl, ven = clients.bl().v31(), clients.ven("ven-w").v31()
    http = bl.http
    info = http.get("/openadr3/3.1.0/auth/server").json()
    done.add("getAuthServerInfo") if info.get("tokenURL") else None
    ven_object = call(bl, "POST", "/vens", 201, json={"objectType": "BL_VEN_REQUEST", "venName": "ven-w",
                                                      "clientID": ven.client_id, "targets": ["g"]})
    call(ven, "GET", "/vens")
    call(ven, "GET", f"/vens/{ven_object['id']}")
    call(ven, "PUT", f"/vens/{ven_object['id']}", json={"objectType": "VEN_VEN_REQUEST", "venName": "ven-w",
                                                         "attributes": [{"type": "LOCATION", "values": ["x"]}]})
    unit = call(ven, "POST", "/resources", 201, json={"objectType": "VEN_RESOURCE_REQUEST", "resourceName": "u",
                                                      "venID": ven_object["id"]})
    call(ven, "GET", "/resources")
    call(ven, "GET", f"/resources/{unit['id']}")
    call(ven, "PUT", f"/resources/{unit['id']}", json={"objectType": "VEN_RESOURCE_REQUEST", "resourceName": "u2",
                                                       "venID": ven_object["id"]})
    program = call(bl, "POST", "/programs", 201, json={"programName": "walk", "targets": ["g"]})
    call(ven, "GET", "/programs")
    call(ven, "GET", f"/programs/{program['id']}")
    call(bl, "PUT", f"/programs/{program['id']}", json={"programName": "walk", "targets": ["g"],
                                                       "attributes": [{"type": "COUNTRY", "values": ["GB"]}]})
    event = call(bl, "POST", "/events", 201, json={"programID": program["id"], "targets": ["g"], "intervals": []})
    call(ven, "GET", "/events?active=false")
    call(ven, "GET", f"/events/{event['id']}")
    call(bl, "PUT", f"/events/{event['id']}", json={"programID": program["id"], "targets": ["g"], "priority": 2})
    report = call(ven, "POST", "/reports", 201, json={"eventID": event["id"], "clientName": "ven-w", "resources": []})
    call(ven, "GET", "/reports")
    call(ven, "GET", f"/reports/{report['id']}")
    call(ven, "PUT", f"/reports/{report['id']}", json={"eventID": event["id"], "clientName": "ven-w",
                                                       "reportName": "r", "resources": []})
    with Receiver() as hooks:
        body = {"clientName": "ven-w", "objectOperations": [
            {"objects": ["VEN"], "operations": ["UPDATE"], "callbackUrl": hooks.url("/own-ven")}]}
        sub = call(ven, "POST", "/subscriptions", 201, json=body)
        call(ven, "GET", "/subscriptions")
        call(ven, "GET", f"/subscriptions/{sub['id']}")
        call(ven, "PUT", f"/subscriptions/{sub['id']}", json={**body, "programID": program["id"]})
    call(ven, "DELETE", f"/subscriptions/{sub['id']}")
    call(ven, "DELETE", f"/reports/{report['id']}")
    call(bl, "DELETE", f"/events/{event['id']}")
    call(bl, "DELETE", f"/programs/{program['id']}")
    call(ven, "DELETE", f"/resources/{unit['id']}")
    call(bl, "DELETE", f"/vens/{ven_object['id']}")
    token = http.post("/openadr3/3.1.0/auth/token", data={"grant_type": "client_credentials", "client_id": "x",
                                                          "client_secret": "y"})
    assert token.status_code == 401 and token.json()["error"] == "invalid_client"  # the endpoint is served
    done.add("fetchToken")
    assert done == {op for _m, _p, op in templates}
