"""Conditional GET: strong ETags, 304s, and ETag changes after every relevant write."""

from __future__ import annotations

EVENT_BODY = {"intervals": [{"id": 0, "payloads": [{"type": "PRICE", "values": [1.0]}]}]}
# Collections a write of this object type cannot change: their ETags stay (a VEN's report must not
# turn every VEN's next event poll into a full GET). Every other write changes every collection.
UNAFFECTED = {
    "REPORT": {"/programs", "/events", "/vens", "/subscriptions"},
    "SUBSCRIPTION": {"/programs", "/events", "/vens", "/reports"},
}


def etag(caller, path: str, **kw) -> str:  # type: ignore[no-untyped-def]
    response = caller.get(path, **kw)
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "private, no-cache"
    tag = response.headers["etag"]
    assert tag.startswith('"') and not tag.startswith("W/")
    return tag


def test_304_and_headers(clients):  # type: ignore[no-untyped-def]
    bl = clients.bl()
    program_id = bl.post("/programs", json={"programName": "p"}).json()["id"]
    for path in ("/programs", f"/programs/{program_id}", "/events", "/vens", "/subscriptions", "/reports"):
        tag = etag(bl, path)
        cached = bl.get(path, headers={"If-None-Match": tag})
        assert cached.status_code == 304 and cached.content == b""
        assert cached.headers["etag"] == tag and cached.headers["cache-control"] == "private, no-cache"
        assert bl.get(path, headers={"If-None-Match": f'"x", W/{tag}'}).status_code == 304  # lists, weak compare
        assert bl.get(path, headers={"If-None-Match": "*"}).status_code == 304
        assert bl.get(path, headers={"If-None-Match": '"other"'}).status_code == 200
    # query string: normalised order, but different filters differ
    assert etag(bl, "/programs?skip=0&limit=5") == etag(bl, "/programs?limit=5&skip=0")
    assert etag(bl, "/programs?limit=5") != etag(bl, "/programs?limit=4")
    # principals never share an ETag
    other = clients.bl()
    assert etag(bl, "/programs") != etag(other, "/programs")
    # no token: the 401 carries no ETag; a 404 carries none either
    anonymous = bl.http.get("/openadr3/3.0.1/programs")
    assert anonymous.status_code == 401 and "etag" not in anonymous.headers
    # `*` matches only a current representation (RFC 9110 13.1.2): a missing object is a 404
    missing = bl.get("/programs/nope", headers={"If-None-Match": "*"})
    assert missing.status_code == 404 and "etag" not in missing.headers
    assert bl.get("/programs/nope", headers={"If-None-Match": '"x", *'}).status_code == 404


def test_304_on_every_item_get(clients):  # type: ignore[no-untyped-def]
    bl = clients.bl()
    ven_client = clients.ven("v1")
    program_id = bl.post("/programs", json={"programName": "p"}).json()["id"]
    event_id = bl.post("/events", json={"programID": program_id, **EVENT_BODY}).json()["id"]
    ven_id = ven_client.post("/vens", json={"venName": "v1"}).json()["id"]
    resource = bl.post(f"/vens/{ven_id}/resources", json={"resourceName": "r", "venID": ven_id})
    report = ven_client.post("/reports", json={"programID": program_id, "eventID": event_id, "clientName": "v1",
                                               "resources": []})
    sub = bl.post("/subscriptions", json={"clientName": "c", "programID": program_id, "objectOperations": [
        {"objects": ["EVENT"], "operations": ["CREATE"], "callbackUrl": "http://127.0.0.1:9/"}]})
    assert resource.status_code == report.status_code == sub.status_code == 201
    items = [f"/programs/{program_id}", f"/events/{event_id}", f"/vens/{ven_id}", f"/vens/{ven_id}/resources",
             f"/vens/{ven_id}/resources/{resource.json()['id']}", f"/reports/{report.json()['id']}",
             f"/subscriptions/{sub.json()['id']}"]
    for caller in (bl, ven_client):
        for path in items:
            if caller is ven_client and path.startswith("/subscriptions"):
                continue  # the BL's subscription: invisible to the VEN (404, no ETag)
            tag = etag(caller, path)
            cached = caller.get(path, headers={"If-None-Match": tag})
            assert cached.status_code == 304 and cached.content == b"", path
            star = caller.get(path, headers={"If-None-Match": "*"})
            assert star.status_code == 304 and star.content == b"" and star.headers["etag"] == tag, path
    hidden = ven_client.get(f"/subscriptions/{sub.json()['id']}", headers={"If-None-Match": "*"})
    assert hidden.status_code == 404 and "etag" not in hidden.headers


def test_etag_changes_after_every_write(clients):  # type: ignore[no-untyped-def]
    bl = clients.bl()
    ven_client = clients.ven("v1")
    watched = ["/programs", "/events", "/vens", "/subscriptions", "/reports"]

    def tags(caller=bl) -> dict[str, str]:  # type: ignore[no-untyped-def]
        return {path: etag(caller, path) for path in watched}

    def changed(before: dict[str, str], kind: str, caller=bl) -> None:  # type: ignore[no-untyped-def]
        """Every collection that a write of `kind` can affect has a new ETag; the others keep theirs."""
        after = tags(caller)
        for path, tag in after.items():
            if path in UNAFFECTED.get(kind, ()):
                assert tag == before[path], (kind, path)
                assert caller.get(path, headers={"If-None-Match": before[path]}).status_code == 304
            else:
                assert tag != before[path], (kind, path)
                assert caller.get(path, headers={"If-None-Match": before[path]}).status_code == 200
                assert caller.get(path, headers={"If-None-Match": tag}).status_code == 304

    before = tags()
    program_id = bl.post("/programs", json={"programName": "p"}).json()["id"]
    changed(before, "PROGRAM")
    before = tags()
    assert bl.put(f"/programs/{program_id}", json={"programName": "p2"}).status_code == 200
    changed(before, "PROGRAM")

    before = tags()
    event = bl.post("/events", json={"programID": program_id, **EVENT_BODY}).json()
    changed(before, "EVENT")
    before = tags()
    assert bl.put(f"/events/{event['id']}", json={"programID": program_id, "eventName": "e", **EVENT_BODY}).status_code == 200
    changed(before, "EVENT")

    before = tags()
    ven = ven_client.post("/vens", json={"venName": "v1"}).json()
    changed(before, "VEN")
    before = tags()
    assert ven_client.put(f"/vens/{ven['id']}", json={"venName": "v1", "attributes": []}).status_code == 200
    changed(before, "VEN")
    before = tags()
    resource = bl.post(f"/vens/{ven['id']}/resources", json={"resourceName": "r", "venID": ven["id"]})
    assert resource.status_code == 201, resource.text
    changed(before, "RESOURCE")
    before = tags()
    assert bl.put(f"/vens/{ven['id']}/resources/{resource.json()['id']}",
                  json={"resourceName": "r2", "venID": ven["id"]}).status_code == 200
    changed(before, "RESOURCE")

    before = tags()
    sub = {"clientName": "c", "programID": program_id,
           "objectOperations": [{"objects": ["EVENT"], "operations": ["CREATE"], "callbackUrl": "http://127.0.0.1:9/"}]}
    sub_id = bl.post("/subscriptions", json=sub).json()["id"]
    changed(before, "SUBSCRIPTION")
    before = tags()
    assert bl.put(f"/subscriptions/{sub_id}", json={**sub, "clientName": "d"}).status_code == 200
    changed(before, "SUBSCRIPTION")

    before = tags()
    report = {"programID": program_id, "eventID": event["id"], "clientName": ven_client.ven_name, "resources": []}
    report_id = ven_client.post("/reports", json=report).json()["id"]
    changed(before, "REPORT")
    before = tags()
    assert ven_client.put(f"/reports/{report_id}", json={**report, "reportName": "y"}).status_code == 200
    changed(before, "REPORT")

    before = tags()
    assert ven_client.delete(f"/reports/{report_id}").status_code == 200
    changed(before, "REPORT")
    for path, kind in ((f"/subscriptions/{sub_id}", "SUBSCRIPTION"),
                       (f"/vens/{ven['id']}/resources/{resource.json()['id']}", "RESOURCE"),
                       (f"/events/{event['id']}", "EVENT")):
        before = tags()
        assert bl.delete(path).status_code == 200, path
        changed(before, kind)
    before = tags()
    assert bl.delete(f"/programs/{program_id}").status_code == 200
    changed(before, "PROGRAM")
    before = tags()
    assert bl.delete(f"/vens/{ven['id']}").status_code == 200
    changed(before, "VEN")


def test_target_change_on_ven_changes_a_vens_event_list(clients):  # type: ignore[no-untyped-def]
    bl = clients.bl()
    ven_client = clients.ven("v1")
    ven = ven_client.post("/vens", json={"venName": "v1"}).json()
    program_id = bl.post("/programs", json={"programName": "p"}).json()["id"]
    bl.post("/events", json={"programID": program_id, "targets": [{"type": "GROUP", "values": ["g"]}], **EVENT_BODY})
    first = ven_client.get("/events")
    assert first.json() == []
    tag = first.headers["etag"]
    assert ven_client.get("/events", headers={"If-None-Match": tag}).status_code == 304
    # the BL grants the ven GROUP g: the same query now returns the event, so the ETag must change
    group_g = {"venName": "v1", "targets": [{"type": "GROUP", "values": ["g"]}]}
    assert bl.put(f"/vens/{ven['id']}", json=group_g).status_code == 200
    second = ven_client.get("/events", headers={"If-None-Match": tag})
    assert second.status_code == 200 and len(second.json()) == 1
    # and through a resource's targets
    assert bl.put(f"/vens/{ven['id']}", json={"venName": "v1"}).status_code == 200
    tag = ven_client.get("/events").headers["etag"]
    assert bl.post(f"/vens/{ven['id']}/resources", json={"resourceName": "r", "venID": ven["id"],
                                                        "targets": [{"type": "GROUP", "values": ["g"]}]}).status_code == 201
    third = ven_client.get("/events", headers={"If-None-Match": tag})
    assert third.status_code == 200 and len(third.json()) == 1


def test_heartbeat_and_last_seen(app, clients):  # type: ignore[no-untyped-def]
    bl = clients.bl()
    v1, v2 = clients.ven("v1"), clients.ven("v2")
    v1.post("/vens", json={"venName": "v1"})
    bl.post("/vens", json={"venName": "v2"})
    bl.post("/vens", json={"venName": "v3"})
    v1.get("/events")
    v2.get("/programs")
    assert v1.get("/admin/vens/last-seen").status_code == 403
    listed = {item["venName"]: item for item in bl.get("/admin/vens/last-seen").json()}
    assert listed["v1"]["lastSeen"] and not listed["v1"]["silent"]
    assert listed["v2"]["lastSeen"] and not listed["v2"]["silent"]
    assert listed["v3"]["lastSeen"] is None and listed["v3"]["silent"]
    # flushed to the database (shared by processes) and read back from there
    flushed = bl.http.portal.call(app.state.heartbeats.flush, app.state.db)
    assert flushed >= 2
    app.state.heartbeats.seen.clear()
    listed = {item["venName"]: item for item in bl.get("/admin/vens/last-seen").json()}
    assert listed["v1"]["lastSeen"] and listed["v3"]["silent"]
    app.state.settings.comms_loss_seconds = -1
    assert all(item["silent"] for item in bl.get("/admin/vens/last-seen").json())


def test_heartbeat_writes_nothing_per_request(app, clients):  # type: ignore[no-untyped-def]
    """Polls only touch memory; the table gets one row per VEN client at the periodic flush."""
    from sqlmodel import select

    from vtn.notifications.models import HeartbeatRow

    async def stored():  # type: ignore[no-untyped-def]
        async with app.state.db.session(write=False) as session:
            return {r.client_id: r.last_seen for r in (await session.exec(select(HeartbeatRow))).all()}

    v1 = clients.ven("v1")
    v1.post("/vens", json={"venName": "v1"})
    portal = v1.http.portal
    if app.state.heartbeat_task is not None:  # no periodic flush in the middle of the count
        portal.call(app.state.heartbeat_task.cancel)
    portal.call(app.state.heartbeats.flush, app.state.db)
    first = portal.call(stored)
    assert list(first) == [v1.client_id]
    tag = v1.get("/events").headers["etag"]
    for _ in range(20):
        assert v1.get("/events", headers={"If-None-Match": tag}).status_code == 304
    assert portal.call(stored) == first  # 20 polls, no write
    assert app.state.heartbeats.seen[v1.client_id][2] > first[v1.client_id]
    assert portal.call(app.state.heartbeats.flush, app.state.db) == 1  # one row for all of them
    assert portal.call(stored)[v1.client_id] > first[v1.client_id]


def test_a_flush_of_more_heartbeats_than_one_chunk_stores_each(app, clients):  # type: ignore[no-untyped-def]
    """10 000 VENs' heartbeats are written in chunks (vtn.core.database.upsert), so polls are answered between
    them: every row is stored, and a second flush updates each one."""
    from datetime import timedelta

    from sqlmodel import select

    from vtn.core.database import UPSERT_CHUNK, utcnow
    from vtn.core.security import Principal, Role
    from vtn.notifications.models import HeartbeatRow

    count = 2 * UPSERT_CHUNK + 7
    heartbeats = app.state.heartbeats
    portal = clients.bl().http.portal
    if app.state.heartbeat_task is not None:
        portal.call(app.state.heartbeat_task.cancel)
    portal.call(heartbeats.flush, app.state.db)
    for n in range(count):
        heartbeats.record(Principal(client_id=f"chunk-{n}", role=Role.VEN, scopes=frozenset(), ven_name=f"chunk-{n}"))

    async def stored():  # type: ignore[no-untyped-def]
        async with app.state.db.session(write=False) as session:
            rows = (await session.exec(select(HeartbeatRow).where(HeartbeatRow.client_id.like("chunk-%")))).all()
            return {r.client_id: r.last_seen for r in rows}

    assert portal.call(heartbeats.flush, app.state.db) == count
    first = portal.call(stored)
    assert len(first) == count
    later = utcnow() + timedelta(seconds=5)
    heartbeats.pending = {k: (v[0], v[1], later) for k, v in heartbeats.seen.items() if k.startswith("chunk-")}
    assert portal.call(heartbeats.flush, app.state.db) == count
    assert all(seen >= later - timedelta(microseconds=1) for seen in portal.call(stored).values())
