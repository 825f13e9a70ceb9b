"""Matching changes to subscriptions: objects, operations, programID, targets and privacy."""

from __future__ import annotations

import json

import pytest
from sqlmodel import col, select

from openadr3.schema import component_errors
from vtn.notifications.models import OutboxRow, RevisionRow
from vtn.notifications.outbox import targets_match

CB = "http://127.0.0.1:9/"
EVENT_BODY = {"intervals": [{"id": 0, "payloads": [{"type": "PRICE", "values": [1.0]}]}]}


def outbox(clients):  # type: ignore[no-untyped-def]
    db = clients.app.state.db

    async def read():  # type: ignore[no-untyped-def]
        async with db.session(write=False) as session:
            rows = (await session.exec(select(OutboxRow).order_by(col(OutboxRow.id)))).all()
            for row in rows:
                await session.delete(row)
        async with db.session() as session:
            for row in rows:
                await session.delete(await session.get(OutboxRow, row.id))
        return rows

    rows = clients._portal_run(read)
    return [(r.callback_url, json.loads(r.body), r) for r in rows]


def revision(clients) -> int:  # type: ignore[no-untyped-def]
    db = clients.app.state.db

    async def read():  # type: ignore[no-untyped-def]
        async with db.session(write=False) as session:
            return sum((await session.exec(select(RevisionRow.value))).all())

    return clients._portal_run(read)


def program(bl, name: str, **extra) -> str:  # type: ignore[no-untyped-def]
    response = bl.post("/programs", json={"programName": name, **extra})
    assert response.status_code == 201, response.text
    return response.json()["id"]


def subscribe(caller, program_id: str, objects, operations, url: str = CB, **extra) -> dict:  # type: ignore[no-untyped-def]
    body = {
        "clientName": caller.ven_name or "c", "programID": program_id,
        "objectOperations": [{"objects": objects, "operations": operations, "callbackUrl": url, "bearerToken": "t"}],
        **extra,
    }
    response = caller.post("/subscriptions", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def event(bl, program_id: str, **extra) -> dict:  # type: ignore[no-untyped-def]
    response = bl.post("/events", json={"programID": program_id, **EVENT_BODY, **extra})
    assert response.status_code == 201, response.text
    return response.json()


def test_event_operations_and_program(clients):  # type: ignore[no-untyped-def]
    bl = clients.bl()
    p1, p2 = program(bl, "p1"), program(bl, "p2")
    subscribe(bl, p1, ["EVENT"], ["CREATE", "UPDATE", "DELETE"], CB + "all")
    subscribe(bl, p1, ["EVENT"], ["CREATE"], CB + "create")
    subscribe(bl, p1, ["PROGRAM"], ["UPDATE"], CB + "programs")
    outbox(clients)

    created = event(bl, p1, eventName="e1")
    rows = outbox(clients)
    assert sorted(url for url, _b, _r in rows) == [CB + "all", CB + "create"]
    for _url, body, row in rows:
        assert body["objectType"] == "EVENT" and body["operation"] == "POST"
        assert body["object"]["id"] == created["id"] and body["object"]["objectType"] == "EVENT"
        assert row.bearer_token == "t" and row.message_id.startswith("msg_")

    event(bl, p2)  # another program: nothing
    assert outbox(clients) == []

    updated = bl.put(f"/events/{created['id']}", json={"programID": p1, **EVENT_BODY, "eventName": "e1b"})
    assert updated.status_code == 200
    rows = outbox(clients)
    assert [(url, body["operation"], body["object"]["eventName"]) for url, body, _r in rows] == [(CB + "all", "PUT", "e1b")]

    assert bl.delete(f"/events/{created['id']}").status_code == 200
    rows = outbox(clients)
    assert [(url, body["operation"], body["object"]["id"]) for url, body, _r in rows] == [(CB + "all", "DELETE", created["id"])]

    assert bl.put(f"/programs/{p2}", json={"programName": "p2b"}).status_code == 200
    assert outbox(clients) == []
    assert bl.put(f"/programs/{p1}", json={"programName": "p1b"}).status_code == 200
    rows = outbox(clients)
    assert [(url, body["objectType"], body["operation"]) for url, body, _r in rows] == [(CB + "programs", "PROGRAM", "PUT")]


def test_ven_and_resource_ignore_program_and_legacy_verbs(clients):  # type: ignore[no-untyped-def]
    bl = clients.bl()
    p1 = program(bl, "p1")
    subscribe(bl, p1, ["VEN", "RESOURCE"], ["POST", "PUT"], CB + "vens")  # 3.0.0 verbs read as CREATE/UPDATE
    subscribe(bl, p1, ["EVENT"], ["CREATE"], CB + "events")
    outbox(clients)
    ven = bl.post("/vens", json={"venName": "v1"})
    assert ven.status_code == 201, ven.text
    rows = outbox(clients)
    assert [(url, body["objectType"], body["operation"]) for url, body, _r in rows] == [(CB + "vens", "VEN", "POST")]
    resource = bl.post(f"/vens/{ven.json()['id']}/resources", json={"resourceName": "r1", "venID": ven.json()["id"]})
    assert resource.status_code == 201, resource.text
    rows = outbox(clients)
    assert [(url, body["objectType"]) for url, body, _r in rows] == [(CB + "vens", "RESOURCE")]
    assert bl.delete(f"/vens/{ven.json()['id']}/resources/{resource.json()['id']}").status_code == 200
    assert outbox(clients) == []  # DELETE not subscribed


def test_targets(clients):  # type: ignore[no-untyped-def]
    bl = clients.bl()
    p1 = program(bl, "p1")
    subscribe(bl, p1, ["EVENT"], ["CREATE"], CB + "g1", targets=[{"type": "GROUP", "values": ["g1", "g9"]}])
    subscribe(bl, p1, ["EVENT"], ["CREATE"], CB + "any")
    outbox(clients)
    event(bl, p1, targets=[{"type": "GROUP", "values": ["g1"]}])
    assert sorted(url for url, _b, _r in outbox(clients)) == [CB + "any", CB + "g1"]
    event(bl, p1, targets=[{"type": "GROUP", "values": ["g2"]}])
    assert [url for url, _b, _r in outbox(clients)] == [CB + "any"]
    event(bl, p1, targets=[{"type": "REGION", "values": ["g1"]}])  # same value, other type
    assert [url for url, _b, _r in outbox(clients)] == [CB + "any"]
    event(bl, p1)  # untargeted objects do not match a target filter
    rows = outbox(clients)
    assert [url for url, _b, _r in rows] == [CB + "any"]
    assert "targets" not in rows[0][1]


@pytest.mark.parametrize(
    ("sub_targets", "object_targets", "expected"),
    [
        (None, None, True),
        ([], [{"type": "A", "values": ["1"]}], True),
        ([{"type": "A", "values": ["1", "2"]}], [{"type": "A", "values": ["2"]}], True),
        ([{"type": "A", "values": ["1"]}, {"type": "B", "values": ["x"]}], [{"type": "A", "values": ["1"]}], False),
        ([{"type": "A", "values": [1]}], [{"type": "A", "values": [1]}], True),
        ([{"type": "A", "values": ["1"]}], None, False),
    ],
)
def test_targets_rule(sub_targets, object_targets, expected):  # type: ignore[no-untyped-def]
    assert targets_match(sub_targets, object_targets) is expected


def test_privacy_of_ven_subscriptions(clients):  # type: ignore[no-untyped-def]
    bl = clients.bl()
    p1 = program(bl, "p1")
    v1, v2 = clients.ven("v1"), clients.ven("v2")
    ven1 = v1.post("/vens", json={"venName": "v1"}).json()
    ven2 = v2.post("/vens", json={"venName": "v2"}).json()
    subscribe(v1, p1, ["EVENT", "REPORT", "VEN", "RESOURCE", "SUBSCRIPTION"], ["CREATE", "UPDATE", "DELETE"], CB + "v1")
    subscribe(bl, p1, ["EVENT", "REPORT", "VEN"], ["CREATE", "UPDATE"], CB + "bl")
    outbox(clients)

    def urls() -> list[str]:
        return sorted(url for url, _b, _r in outbox(clients))

    e_v2 = event(bl, p1, targets=[{"type": "VEN_NAME", "values": ["v2"]}])
    assert urls() == [CB + "bl"]  # v1 cannot read an event targeted at v2
    event(bl, p1, targets=[{"type": "VEN_NAME", "values": ["v1"]}])
    assert urls() == [CB + "bl", CB + "v1"]
    e_open = event(bl, p1)
    assert urls() == [CB + "bl", CB + "v1"]

    report = {"programID": p1, "eventID": e_open["id"], "resources": []}
    assert v2.post("/reports", json={**report, "clientName": "v2"}).status_code == 201
    assert urls() == [CB + "bl"]  # another VEN's report
    assert v1.post("/reports", json={**report, "clientName": "v1"}).status_code == 201
    assert urls() == [CB + "bl", CB + "v1"]

    group_x = {"venName": "v2", "targets": [{"type": "GROUP", "values": ["x"]}]}
    assert bl.put(f"/vens/{ven2['id']}", json=group_x).status_code == 200
    assert urls() == [CB + "bl"]  # another ven
    assert v1.put(f"/vens/{ven1['id']}", json={"venName": "v1"}).status_code == 200
    assert urls() == [CB + "bl", CB + "v1"]

    # a target change on v1's ven grants GROUP g: events for g now reach v1's subscription
    group_event = {"programID": p1, **EVENT_BODY, "targets": [{"type": "GROUP", "values": ["g"]}]}
    assert bl.put(f"/events/{e_v2['id']}", json=group_event).status_code == 200
    assert urls() == [CB + "bl"]
    group_g = {"venName": "v1", "targets": [{"type": "GROUP", "values": ["g"]}]}
    assert bl.put(f"/vens/{ven1['id']}", json=group_g).status_code == 200
    outbox(clients)
    assert bl.put(f"/events/{e_v2['id']}", json=group_event).status_code == 200
    assert urls() == [CB + "bl", CB + "v1"]

    # resources and subscriptions: only the VEN's own reach its subscription
    assert v2.post(f"/vens/{ven2['id']}/resources", json={"resourceName": "r2", "venID": ven2["id"]}).status_code == 201
    assert urls() == []  # not subscribed by the BL, not v1's
    assert v1.post(f"/vens/{ven1['id']}/resources", json={"resourceName": "r1", "venID": ven1["id"]}).status_code == 201
    assert urls() == [CB + "v1"]
    subscribe(v2, p1, ["EVENT"], ["CREATE"], CB + "v2")
    assert urls() == []
    subscribe(v1, p1, ["EVENT"], ["CREATE"], CB + "v1-second")
    rows = outbox(clients)
    assert [(url, body["objectType"]) for url, body, _r in rows] == [(CB + "v1", "SUBSCRIPTION")]


def test_distinct_callbacks_and_revision(clients):  # type: ignore[no-untyped-def]
    bl = clients.bl()
    p1 = program(bl, "p1")
    body = {
        "clientName": "c", "programID": p1,
        "objectOperations": [
            {"objects": ["EVENT"], "operations": ["CREATE"], "callbackUrl": CB + "a"},
            {"objects": ["EVENT", "PROGRAM"], "operations": ["CREATE", "UPDATE"], "callbackUrl": CB + "a"},
            {"objects": ["EVENT"], "operations": ["CREATE"], "callbackUrl": CB + "b"},
        ],
    }
    assert bl.post("/subscriptions", json=body).status_code == 201
    outbox(clients)
    before = revision(clients)
    event(bl, p1)
    rows = outbox(clients)
    assert sorted(url for url, _b, _r in rows) == [CB + "a", CB + "b"]
    assert rows[0][2].callback_key != rows[1][2].callback_key
    assert revision(clients) > before
    # a refused write changes nothing
    before = revision(clients)
    assert bl.post("/events", json={"programID": "nope", **EVENT_BODY}).status_code in (400, 404, 409)
    assert outbox(clients) == [] and revision(clients) == before


TYPES = ["PROGRAM", "EVENT", "REPORT", "SUBSCRIPTION", "VEN", "RESOURCE"]
OPERATIONS = {"CREATE": "POST", "UPDATE": "PUT", "DELETE": "DELETE"}


def test_every_object_type_and_operation(clients):  # type: ignore[no-untyped-def]
    """One BL subscription per (object type, operation): each write reaches exactly its own one."""
    bl = clients.bl()
    p1 = program(bl, "p1")
    ven = bl.post("/vens", json={"venName": "v1"}).json()
    for object_type in TYPES:
        for operation in OPERATIONS:
            subscribe(bl, p1, [object_type], [operation], f"{CB}{object_type}-{operation}")
    subscribe(bl, p1, TYPES, ["READ"], CB + "read")  # reads are never notified
    e0 = event(bl, p1)
    outbox(clients)

    def expect(object_type: str, operation: str, object_id: str) -> None:
        rows = outbox(clients)
        for _url, body, _r in rows:  # the 3.0.1 `notification` schema, object included
            assert component_errors("notification", body) == [], body
        got = [(url, body["objectType"], body["operation"], body["object"]["id"]) for url, body, _r in rows]
        assert got == [(f"{CB}{object_type}-{operation}", object_type, OPERATIONS[operation], object_id)]

    # PROGRAM: a subscription names an existing program, so a CREATE matches whatever it names
    p2 = program(bl, "p2")
    expect("PROGRAM", "CREATE", p2)
    assert bl.put(f"/programs/{p1}", json={"programName": "p1b"}).status_code == 200
    expect("PROGRAM", "UPDATE", p1)
    assert bl.put(f"/programs/{p2}", json={"programName": "p2b"}).status_code == 200
    assert outbox(clients) == []  # another program's update
    assert bl.delete(f"/programs/{p2}").status_code == 200
    assert outbox(clients) == []

    created = event(bl, p1)
    expect("EVENT", "CREATE", created["id"])
    assert bl.put(f"/events/{created['id']}", json={"programID": p1, **EVENT_BODY, "eventName": "x"}).status_code == 200
    expect("EVENT", "UPDATE", created["id"])
    assert bl.delete(f"/events/{created['id']}").status_code == 200
    expect("EVENT", "DELETE", created["id"])

    reporter = clients.ven("v1")  # only VENs write reports
    report = {"programID": p1, "eventID": e0["id"], "clientName": "v1", "resources": []}
    report_id = reporter.post("/reports", json=report).json()["id"]
    expect("REPORT", "CREATE", report_id)
    assert reporter.put(f"/reports/{report_id}", json={**report, "reportName": "y"}).status_code == 200
    expect("REPORT", "UPDATE", report_id)
    assert reporter.delete(f"/reports/{report_id}").status_code == 200
    expect("REPORT", "DELETE", report_id)

    sub_id = subscribe(bl, p1, ["EVENT"], ["CREATE"], CB + "other")["id"]
    expect("SUBSCRIPTION", "CREATE", sub_id)
    sub = {"clientName": "d", "programID": p1,
           "objectOperations": [{"objects": ["EVENT"], "operations": ["CREATE"], "callbackUrl": CB + "other"}]}
    assert bl.put(f"/subscriptions/{sub_id}", json=sub).status_code == 200
    expect("SUBSCRIPTION", "UPDATE", sub_id)
    assert bl.delete(f"/subscriptions/{sub_id}").status_code == 200
    expect("SUBSCRIPTION", "DELETE", sub_id)

    ven_id = bl.post("/vens", json={"venName": "v2"}).json()["id"]
    expect("VEN", "CREATE", ven_id)
    assert bl.put(f"/vens/{ven_id}", json={"venName": "v2", "targets": [{"type": "GROUP", "values": ["g"]}]}).status_code == 200
    expect("VEN", "UPDATE", ven_id)
    assert bl.delete(f"/vens/{ven_id}").status_code == 200
    expect("VEN", "DELETE", ven_id)

    resources = f"/vens/{ven['id']}/resources"
    resource_id = bl.post(resources, json={"resourceName": "r", "venID": ven["id"]}).json()["id"]
    expect("RESOURCE", "CREATE", resource_id)
    assert bl.put(f"{resources}/{resource_id}", json={"resourceName": "r2", "venID": ven["id"]}).status_code == 200
    expect("RESOURCE", "UPDATE", resource_id)
    assert bl.delete(f"{resources}/{resource_id}").status_code == 200
    expect("RESOURCE", "DELETE", resource_id)


def test_program_create_respects_privacy_and_targets(clients):  # type: ignore[no-untyped-def]
    bl = clients.bl()
    p1 = program(bl, "p1")
    v1 = clients.ven("v1")
    assert v1.post("/vens", json={"venName": "v1"}).status_code == 201
    subscribe(v1, p1, ["PROGRAM"], ["CREATE"], CB + "v1")
    subscribe(bl, p1, ["PROGRAM"], ["CREATE"], CB + "g", targets=[{"type": "GROUP", "values": ["g"]}])
    outbox(clients)
    program(bl, "for-v2", targets=[{"type": "VEN_NAME", "values": ["v2"]}])
    assert outbox(clients) == []  # v1 may not read it; the BL one wants GROUP g
    program(bl, "for-g", targets=[{"type": "GROUP", "values": ["g"]}])
    assert [url for url, _b, _r in outbox(clients)] == [CB + "g"]
    program(bl, "open")
    assert [url for url, _b, _r in outbox(clients)] == [CB + "v1"]


def test_program_delete_notifies_its_cascade(clients):  # type: ignore[no-untyped-def]
    """Deleting a program deletes its subscriptions first; the DELETE notifications of its
    subscriptions, reports, events and of the program itself still reach them (privacy applies)."""
    bl = clients.bl()
    v1 = clients.ven("v1")
    assert v1.post("/vens", json={"venName": "v1"}).status_code == 201
    p1, p2 = program(bl, "p1"), program(bl, "p2")
    bl_sub = subscribe(bl, p1, ["PROGRAM", "EVENT", "REPORT", "SUBSCRIPTION"], ["DELETE"], CB + "bl")
    ven_sub = subscribe(v1, p1, ["PROGRAM", "EVENT", "REPORT"], ["DELETE"], CB + "v1")
    subscribe(bl, p2, ["PROGRAM", "EVENT", "REPORT", "SUBSCRIPTION"], ["DELETE"], CB + "p2")
    open_event = event(bl, p1)
    hidden_event = event(bl, p1, targets=[{"type": "VEN_NAME", "values": ["v2"]}])
    report = v1.post("/reports", json={"programID": p1, "eventID": open_event["id"], "clientName": "v1", "resources": []})
    assert report.status_code == 201
    outbox(clients)

    assert bl.delete(f"/programs/{p1}").status_code == 200
    rows = outbox(clients)
    got: dict[str, list[tuple[str, str]]] = {}
    for url, body, _r in rows:
        assert body["operation"] == "DELETE"
        got.setdefault(url.removeprefix(CB), []).append((body["objectType"], body["object"]["id"]))
    assert "p2" not in got
    assert sorted(got["bl"]) == sorted([
        ("SUBSCRIPTION", bl_sub["id"]), ("SUBSCRIPTION", ven_sub["id"]), ("REPORT", report.json()["id"]),
        ("EVENT", open_event["id"]), ("EVENT", hidden_event["id"]), ("PROGRAM", p1),
    ])
    assert got["bl"][-1] == ("PROGRAM", p1)  # the program goes last
    assert sorted(got["v1"]) == sorted([("REPORT", report.json()["id"]), ("EVENT", open_event["id"]), ("PROGRAM", p1)])
    # the cascade is over: a later change in another program reaches only that program's subscriptions
    event(bl, p2)
    assert outbox(clients) == []


def test_change_and_outbox_commit_or_roll_back_together(clients):  # type: ignore[no-untyped-def]
    """The outbox row is written by the change's own transaction: a failure after the write (here
    an exception before the commit) leaves neither the event nor its notification."""
    from vtn.events.models import EventRow
    from vtn.events.service import store as events

    bl = clients.bl()
    p1 = program(bl, "p1")
    subscribe(bl, p1, ["EVENT"], ["CREATE"], CB + "tx")
    outbox(clients)
    db = clients.app.state.db

    async def write(fail: bool) -> None:
        async with db.session() as session:
            await events.insert(session, {"programID": p1, **EVENT_BODY}, change={"program_id": p1}, program_id=p1)
            rows = (await session.exec(select(OutboxRow))).all()
            assert len(rows) == 1  # written inside the transaction, before any commit
            if fail:
                raise RuntimeError("crash before the commit")

    async def stored_events() -> int:
        async with db.session(write=False) as session:
            return len((await session.exec(select(EventRow))).all())

    before = revision(clients)
    with pytest.raises(RuntimeError):
        clients._portal_run(lambda: write(True))
    assert outbox(clients) == [] and clients._portal_run(stored_events) == 0
    assert revision(clients) == before  # nor an ETag change
    clients._portal_run(lambda: write(False))
    assert [url for url, _b, _r in outbox(clients)] == [CB + "tx"] and clients._portal_run(stored_events) == 1
    assert revision(clients) == before + 1
