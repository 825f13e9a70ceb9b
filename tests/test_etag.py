"""Conditional GET: strong ETags, 304s, and ETag changes after every relevant write."""

from __future__ import annotations

EVENT_BODY = {"intervals": [{"id": 0, "payloads": [{"type": "PRICE", "values": [1.0]}]}]}


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
    missing = bl.get("/programs/nope", headers={"If-None-Match": "*"})
    assert missing.status_code in (304, 404)  # `*` matches any current representation


def test_etag_changes_after_every_write(clients):  # type: ignore[no-untyped-def]
    bl = clients.bl()
    ven_client = clients.ven("v1")
    watched = ["/programs", "/events", "/vens", "/subscriptions", "/reports"]

    def tags(caller=bl) -> dict[str, str]:  # type: ignore[no-untyped-def]
        return {path: etag(caller, path) for path in watched}

    def changed(before: dict[str, str], caller=bl) -> None:  # type: ignore[no-untyped-def]
        after = tags(caller)
        assert all(after[p] != before[p] for p in watched), (before, after)
        for path, tag in after.items():
            assert caller.get(path, headers={"If-None-Match": before[path]}).status_code == 200
            assert caller.get(path, headers={"If-None-Match": tag}).status_code == 304

    before = tags()
    program_id = bl.post("/programs", json={"programName": "p"}).json()["id"]
    changed(before)
    before = tags()
    assert bl.put(f"/programs/{program_id}", json={"programName": "p2"}).status_code == 200
    changed(before)

    before = tags()
    event = bl.post("/events", json={"programID": program_id, **EVENT_BODY}).json()
    changed(before)
    before = tags()
    assert bl.put(f"/events/{event['id']}", json={"programID": program_id, "eventName": "e", **EVENT_BODY}).status_code == 200
    changed(before)

    before = tags()
    ven = ven_client.post("/vens", json={"venName": "v1"}).json()
    changed(before)
    before = tags()
    resource = bl.post(f"/vens/{ven['id']}/resources", json={"resourceName": "r", "venID": ven["id"]})
    assert resource.status_code == 201, resource.text
    changed(before)
    before = tags()
    assert bl.put(f"/vens/{ven['id']}/resources/{resource.json()['id']}",
                  json={"resourceName": "r2", "venID": ven["id"]}).status_code == 200
    changed(before)

    before = tags()
    sub = {"clientName": "c", "programID": program_id,
           "objectOperations": [{"objects": ["EVENT"], "operations": ["CREATE"], "callbackUrl": "http://127.0.0.1:9/"}]}
    sub_id = bl.post("/subscriptions", json=sub).json()["id"]
    changed(before)
    before = tags()
    assert bl.put(f"/subscriptions/{sub_id}", json={**sub, "clientName": "d"}).status_code == 200
    changed(before)

    before = tags()
    report = {"programID": program_id, "eventID": event["id"], "clientName": "x", "resources": []}
    report_id = ven_client.post("/reports", json=report).json()["id"]
    changed(before)
    before = tags()
    assert ven_client.put(f"/reports/{report_id}", json={**report, "clientName": "y"}).status_code == 200
    changed(before)

    before = tags()
    assert ven_client.delete(f"/reports/{report_id}").status_code == 200
    changed(before)
    for path in (f"/subscriptions/{sub_id}", f"/vens/{ven['id']}/resources/{resource.json()['id']}",
                 f"/events/{event['id']}"):
        before = tags()
        assert bl.delete(path).status_code == 200, path
        changed(before)
    before = tags()
    assert bl.delete(f"/programs/{program_id}").status_code == 200
    changed(before)


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
