"""Which programs and events a VEN client sees: untargeted ones and those matching its grants."""

from __future__ import annotations

from tests.factories import full_event


def test_ven_sees_untargeted_and_its_own_targets(bl, clients):
    a, b = clients.ven("ven-a"), clients.ven("ven-b")
    ven_a = a.post("/vens", json={"venName": "ven-a"}).json()
    b.post("/vens", json={"venName": "ven-b"})
    program = bl.post("/programs", json={"programName": "p"}).json()
    hidden = bl.post("/programs", json={"programName": "hidden", "targets": [{"type": "VEN_NAME", "values": ["ven-b"]}]}).json()
    to_a = bl.post("/events", json=full_event(program["id"], "to-a", [{"type": "VEN_NAME", "values": ["ven-a"]}])).json()
    to_b = bl.post("/events", json=full_event(program["id"], "to-b", [{"type": "VEN_NAME", "values": ["ven-b"]}])).json()
    everyone = bl.post("/events", json=full_event(program["id"], "all", [])).json()
    by_group = bl.post("/events", json=full_event(program["id"], "grp", [{"type": "GROUP", "values": ["north"]}])).json()
    by_unit = bl.post(
        "/events", json=full_event(program["id"], "unit", [{"type": "RESOURCE_NAME", "values": ["battery-1"]}])
    ).json()

    def names(caller):
        return [e["eventName"] for e in caller.get("/events").json()]

    assert names(a) == ["to-a", "all"]
    assert names(b) == ["to-b", "all"]
    assert [p["programName"] for p in a.get("/programs").json()] == ["p"]
    assert a.get(f"/programs/{hidden['id']}").status_code == 404
    assert a.get(f"/events/{to_b['id']}").status_code == 404
    assert a.get(f"/events/{to_a['id']}").status_code == 200
    assert a.get(f"/events/{everyone['id']}").status_code == 200
    # A VEN cannot grant itself targets …
    assert (
        a.put(f"/vens/{ven_a['id']}", json={"venName": "ven-a", "targets": [{"type": "GROUP", "values": ["north"]}]}).status_code
        == 403
    )
    # … nor by naming a resource after a target …
    assert a.post(f"/vens/{ven_a['id']}/resources", json={"resourceName": "battery-1"}).status_code == 201
    assert names(a) == ["to-a", "all"]
    assert a.get(f"/events/{by_unit['id']}").status_code == 404
    # … the operator grants them, on the ven and on its resources.
    bl.put(f"/vens/{ven_a['id']}", json={"venName": "ven-a", "targets": [{"type": "GROUP", "values": ["north"]}]})
    unit = a.get(f"/vens/{ven_a['id']}/resources").json()[0]
    bl.put(f"/vens/{ven_a['id']}/resources/{unit['id']}",
           json={"resourceName": "battery-1", "targets": [{"type": "RESOURCE_NAME", "values": ["battery-1"]}]})
    assert names(a) == ["to-a", "all", "grp", "unit"]
    assert a.get(f"/events/{by_group['id']}").status_code == 200
    assert a.get(f"/events/{by_unit['id']}").status_code == 200
    assert names(b) == ["to-b", "all"]


def test_ven_private_objects(bl, clients):
    a, b = clients.ven("ven-a"), clients.ven("ven-b")
    ven_a = a.post("/vens", json={"venName": "ven-a"}).json()
    ven_b = b.post("/vens", json={"venName": "ven-b"}).json()
    assert a.post("/vens", json={"venName": "not-mine"}).status_code == 403
    assert [v["venName"] for v in a.get("/vens").json()] == ["ven-a"]
    assert a.get(f"/vens/{ven_b['id']}").status_code == 404
    assert a.put(f"/vens/{ven_b['id']}", json={"venName": "ven-b"}).status_code == 404
    assert a.post(f"/vens/{ven_b['id']}/resources", json={"resourceName": "r"}).status_code == 404
    assert a.put(f"/vens/{ven_a['id']}", json={"venName": "renamed"}).status_code == 403
    program = bl.post("/programs", json={"programName": "p"}).json()
    event = bl.post("/events", json=full_event(program["id"], "e", [])).json()
    report = a.post(
        "/reports", json={"programID": program["id"], "eventID": event["id"], "clientName": "ven-a", "resources": []}
    ).json()
    assert b.get("/reports").json() == []
    assert b.get(f"/reports/{report['id']}").status_code == 404
    assert b.delete(f"/reports/{report['id']}").status_code == 404
    assert bl.get(f"/reports/{report['id']}").status_code == 200
    assert a.post("/programs", json={"programName": "x"}).status_code == 403
    assert a.post("/events", json=full_event(program["id"])).status_code == 403
