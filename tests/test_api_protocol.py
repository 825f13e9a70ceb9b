"""Errors, pagination, filters: every failure is a problem+json 4xx, never a 500."""

from __future__ import annotations

import pytest

from tests.factories import full_event, full_subscription


def programs(bl, n: int, **extra) -> list[dict]:
    return [bl.post("/programs", json={"programName": f"p{i:02d}", **extra}).json() for i in range(n)]


def test_validation_errors_are_400_problem(bl):
    for body in (
        {},
        {"programName": ""},
        {"programName": "x" * 129},
        {"programName": 123},
        {"programName": "p", "targets": [{"type": "GROUP"}]},
        {"programName": "p", "timeZoneOffset": "1H"},
    ):
        response = bl.post("/programs", json=body)
        assert response.status_code == 400, body
        assert response.json()["title"] == "Bad Request"
        assert response.json()["detail"]
    assert bl.get("/programs").json() == []


@pytest.mark.parametrize("duration", ["1H", "PT1.5H", "P0S", "PT", "P", "pt1h", "+PT1H"])
def test_bad_durations_are_400(bl, duration):
    program = bl.post("/programs", json={"programName": "d"}).json()
    body = full_event(program["id"])
    body["intervalPeriod"]["duration"] = duration
    assert bl.post("/events", json=body).status_code == 400


@pytest.mark.parametrize("duration", ["PT1H", "P1D", "P1W", "P9999Y", "-PT5M", "PT0.5S", "P1Y2M3DT4H5M6S"])
def test_good_durations_round_trip(bl, duration):
    program = bl.post("/programs", json={"programName": "d"}).json()
    body = full_event(program["id"])
    body["intervalPeriod"]["duration"] = duration
    created = bl.post("/events", json=body)
    assert created.status_code == 201 and created.json()["intervalPeriod"]["duration"] == duration


@pytest.mark.parametrize("start", ["tomorrow", "2023-13-01T00:00:00Z", "2023-06-15T09:30:00"])
def test_bad_datetimes_are_400(bl, start):
    program = bl.post("/programs", json={"programName": "d"}).json()
    body = full_event(program["id"])
    body["intervalPeriod"]["start"] = start
    assert bl.post("/events", json=body).status_code == 400


def test_event_schema_rules(bl):
    program = bl.post("/programs", json={"programName": "e"}).json()
    base = full_event(program["id"])
    assert bl.post("/events", json={k: v for k, v in base.items() if k != "programID"}).status_code == 400
    assert bl.post("/events", json={k: v for k, v in base.items() if k != "intervals"}).status_code == 400
    assert bl.post("/events", json={**base, "priority": -1}).status_code == 400
    assert bl.post("/events", json={**base, "priority": "high"}).status_code == 400
    assert bl.post("/events", json={**base, "intervals": {}}).status_code == 400
    assert bl.post("/events", json={**base, "intervals": [{"id": 0}]}).status_code == 400
    assert bl.post("/events", json={**base, "intervalPeriod": {"duration": "PT1H"}}).status_code == 400
    assert bl.post("/events", json={**base, "priority": 0, "intervals": []}).status_code == 201


def test_malformed_json_is_400(bl):
    response = bl.post("/programs", content=b'{"programName": ', headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert "JSON" in response.json()["detail"]
    assert bl.post("/programs", content=b"[1,2]", headers={"Content-Type": "application/json"}).status_code == 400


def test_wrong_content_type_is_415(bl):
    response = bl.post("/programs", content=b"programName=x", headers={"Content-Type": "text/plain"})
    assert response.status_code == 415


def test_oversize_body_is_413(bl, app):
    limit = app.state.settings.max_body_bytes
    body = b'{"programName": "big", "programLongName": "' + b"x" * limit + b'"}'
    response = bl.post("/programs", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 413
    assert bl.get("/programs").json() == []


def test_unknown_route_and_method(bl, http):
    missing = bl.get("/doesnotexist")
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("application/problem+json")
    wrong = bl.request("PATCH", "/programs", json={})
    assert wrong.status_code == 405 and "allow" in {k.lower() for k in wrong.headers}
    assert bl.request("DELETE", "/programs").status_code == 405


def test_no_token_is_401(http):
    response = http.get("/openadr3/3.0.1/programs")
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.headers["content-type"].startswith("application/problem+json")
    assert http.get("/openadr3/3.0.1/programs", headers={"Authorization": "Bearer not.a.jwt"}).status_code == 401


def test_missing_scope_is_403(clients):
    reader = clients.bl(scopes=["read_all"])
    assert reader.get("/programs").status_code == 200
    denied = reader.post("/programs", json={"programName": "x"})
    assert denied.status_code == 403 and "write_programs" in denied.json()["detail"]
    nothing = clients.bl(scopes=[])
    assert nothing.get("/programs").status_code == 403


def test_pagination(bl):
    made = programs(bl, 7)
    ids = [p["id"] for p in made]
    assert [p["id"] for p in bl.get("/programs").json()] == ids
    pages = [bl.get("/programs", params={"skip": s, "limit": 2}).json() for s in (0, 2, 4, 6)]
    assert [p["id"] for page in pages for p in page] == ids
    assert all(len(page) <= 2 for page in pages)
    assert bl.get("/programs", params={"skip": 100}).json() == []
    assert bl.get("/programs", params={"limit": 0}).json() == []
    assert bl.get("/programs", params={"limit": 50}).status_code == 200


@pytest.mark.parametrize("params", [{"limit": 51}, {"limit": -1}, {"skip": -1}, {"limit": "abc"}, {"skip": "x"}])
@pytest.mark.parametrize("path", ["/programs", "/events", "/reports", "/subscriptions", "/vens"])
def test_pagination_out_of_range_is_400(bl, path, params):
    assert bl.get(path, params=params).status_code == 400


def test_default_limit_is_50(bl):
    programs(bl, 52)
    assert len(bl.get("/programs").json()) == 50
    assert len(bl.get("/programs", params={"skip": 50}).json()) == 2


def test_target_filters(bl):
    g12 = bl.post("/programs", json={"programName": "g12", "targets": [{"type": "GROUP", "values": ["g1", "g2"]}]}).json()
    g3 = bl.post("/programs", json={"programName": "g3", "targets": [{"type": "GROUP", "values": ["g3"]}]}).json()
    bl.post("/programs", json={"programName": "area", "targets": [{"type": "SERVICE_AREA", "values": ["g1"]}]})
    bl.post("/programs", json={"programName": "none"})

    def names(params):
        return [p["programName"] for p in bl.get("/programs", params=params).json()]

    assert names({"targetType": "GROUP", "targetValues": ["g1"]}) == ["g12"]
    assert names({"targetType": "GROUP", "targetValues": ["g1", "g3"]}) == ["g12", "g3"]
    assert names({"targetType": "GROUP", "targetValues": ["nothing"]}) == []
    assert bl.get("/programs", params={"targetType": "GROUP"}).status_code == 400
    assert bl.get("/programs", params={"targetValues": "g1"}).status_code == 400
    # Filters combine with AND.
    event = bl.post("/events", json=full_event(g12["id"], targets=[{"type": "GROUP", "values": ["g1"]}])).json()
    bl.post("/events", json=full_event(g3["id"], targets=[{"type": "GROUP", "values": ["g1"]}]))
    bl.post("/events", json=full_event(g12["id"], targets=[{"type": "GROUP", "values": ["g9"]}]))
    both = bl.get("/events", params={"programID": g12["id"], "targetType": "GROUP", "targetValues": "g1"}).json()
    assert [e["id"] for e in both] == [event["id"]]
    assert len(bl.get("/events", params={"programID": g12["id"]}).json()) == 2


def test_numeric_and_boolean_target_values_filter(bl):
    bl.post("/programs", json={"programName": "n", "targets": [{"type": "ZONE", "values": [7, True]}]})
    assert len(bl.get("/programs", params={"targetType": "ZONE", "targetValues": "7"}).json()) == 1
    assert len(bl.get("/programs", params={"targetType": "ZONE", "targetValues": "true"}).json()) == 1


def test_other_filters(bl, clients):
    p = bl.post("/programs", json={"programName": "f"}).json()
    q = bl.post("/programs", json={"programName": "g"}).json()
    ven, ven2 = clients.ven("c1"), clients.ven("c2")  # a VEN's clientName is its venName
    ven.post("/vens", json={"venName": "c1"})
    ven2.post("/vens", json={"venName": "c2"})
    e1 = bl.post("/events", json=full_event(p["id"], targets=[])).json()
    e2 = bl.post("/events", json=full_event(q["id"], targets=[])).json()
    r1 = ven.post("/reports", json={"programID": p["id"], "eventID": e1["id"], "clientName": "c1", "resources": []}).json()
    ven2.post("/reports", json={"programID": q["id"], "eventID": e2["id"], "clientName": "c2", "resources": []})
    assert [r["id"] for r in bl.get("/reports", params={"programID": p["id"]}).json()] == [r1["id"]]
    assert [r["id"] for r in bl.get("/reports", params={"eventID": e1["id"]}).json()] == [r1["id"]]
    assert [r["id"] for r in bl.get("/reports", params={"clientName": "c1"}).json()] == [r1["id"]]
    assert bl.get("/reports", params={"clientName": "zzz"}).json() == []
    s1 = bl.post("/subscriptions", json=full_subscription(p["id"])).json()
    s2body = full_subscription(q["id"])
    s2body["objectOperations"][0]["objects"] = ["REPORT"]
    s2body["clientName"] = "other"
    s2 = bl.post("/subscriptions", json=s2body).json()
    ids = lambda params: [s["id"] for s in bl.get("/subscriptions", params=params).json()]  # noqa: E731
    assert ids({"programID": p["id"]}) == [s1["id"]]
    assert ids({"clientName": "other"}) == [s2["id"]]
    assert ids({"objects": "REPORT"}) == [s2["id"]]
    assert ids({"objects": ["REPORT", "EVENT"]}) == [s1["id"], s2["id"]]
    assert ids({"clientName": "ven-a", "programID": p["id"], "objects": "EVENT"}) == [s1["id"]]
    assert ids({"targetType": "VEN_NAME", "targetValues": "ven-a"}) == [s1["id"], s2["id"]]
    assert bl.get("/subscriptions", params={"objects": "FOO"}).status_code == 400
    v = bl.post("/vens", json={"venName": "named", "targets": [{"type": "GROUP", "values": ["gv"]}]}).json()
    assert [x["id"] for x in bl.get("/vens", params={"venName": "named"}).json()] == [v["id"]]
    assert [x["id"] for x in bl.get("/vens", params={"targetType": "GROUP", "targetValues": "gv"}).json()] == [v["id"]]
    r = bl.post(f"/vens/{v['id']}/resources", json={"resourceName": "res", "targets": [{"type": "GROUP", "values": ["gr"]}]})
    bl.post(f"/vens/{v['id']}/resources", json={"resourceName": "res2"})
    listed = bl.get(f"/vens/{v['id']}/resources", params={"resourceName": "res"}).json()
    assert [x["id"] for x in listed] == [r.json()["id"]]
    by_target = bl.get(f"/vens/{v['id']}/resources", params={"targetType": "GROUP", "targetValues": "gr"}).json()
    assert [x["id"] for x in by_target] == [r.json()["id"]]


def test_subscription_validation(bl):
    p = bl.post("/programs", json={"programName": "s"}).json()
    good = full_subscription(p["id"])
    for broken in (
        {k: v for k, v in good.items() if k != "objectOperations"},
        {k: v for k, v in good.items() if k != "clientName"},
        {k: v for k, v in good.items() if k != "programID"},
        {**good, "objectOperations": [{"objects": ["FOO"], "operations": ["CREATE"], "callbackUrl": "https://x.example/"}]},
        {**good, "objectOperations": [{"objects": ["EVENT"], "operations": ["FOO"], "callbackUrl": "https://x.example/"}]},
        {**good, "objectOperations": [{"objects": ["EVENT"], "operations": ["CREATE"]}]},
        {**good, "objectOperations": [{"objects": ["EVENT"], "operations": ["CREATE"], "callbackUrl": "ftp://x.example/"}]},
        {**good, "objectOperations": [{"objects": ["EVENT"], "operations": ["CREATE"], "callbackUrl": "https://u:p@x.example/"}]},
    ):
        assert bl.post("/subscriptions", json=broken).status_code == 400, broken
    legacy = {
        **good,
        "objectOperations": [
            {"objects": ["EVENT"], "operations": ["POST"], "callbackUrl": good["objectOperations"][0]["callbackUrl"]}
        ],
    }
    created = bl.post("/subscriptions", json=legacy)
    assert created.status_code == 201 and created.json()["objectOperations"][0]["operations"] == ["CREATE"]


def test_openapi_uses_spec_schema_names(http):
    document = http.get("/openadr3/3.0.1/openapi.json").json()
    schemas = document["components"]["schemas"]
    for name in ("program", "event", "report", "subscription", "ven", "resource", "problem", "notification"):
        assert name in schemas
    assert "Program" not in schemas
    assert "/programs/{programID}" in document["paths"]
    operation_ids = {op["operationId"] for item in document["paths"].values() for op in item.values()}
    assert {"searchAllPrograms", "createEvent", "deleteVenResource", "fetchToken"} <= operation_ids
    assert http.get("/docs").status_code == 200


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e400"])
def test_non_finite_numbers_are_400(bl, number):
    # Python's json module reads these; JSON (RFC 8259) has no such numbers and the answer could not be rendered.
    program = bl.post("/programs", json={"programName": "finite"}).json()
    bodies = [
        ("/programs", f'{{"programName": "nf", "targets": [{{"type": "G", "values": [{number}]}}]}}'),
        ("/programs", f'{{"programName": "nf", "targets": [{{"type": "G", "values": [{{"x": {number}, "y": 1}}]}}]}}'),
        ("/events", f'{{"programID": "{program["id"]}", "intervals": [{{"id": 0, '
                    f'"payloads": [{{"type": "SIMPLE", "values": [{number}]}}]}}]}}'),
        (f"/programs/{program['id']}", f'{{"programName": "finite", "targets": [{{"type": "G", "values": [{number}]}}]}}'),
    ]
    for path, body in bodies:
        method = "PUT" if path.count("/") == 2 else "POST"
        response = bl.request(method, path, content=body.encode(), headers={"Content-Type": "application/json"})
        assert response.status_code == 400, (path, response.text)
        assert "finite" in response.json()["detail"]
    assert bl.get("/programs").json() == [program]
    assert bl.get("/events").json() == []


def test_many_target_values_filter(bl):
    wanted = bl.post("/programs", json={"programName": "t", "targets": [{"type": "GROUP", "values": ["v999"]}]}).json()
    values = [f"v{i}" for i in range(1000)]
    for path in ("/programs", "/events", "/vens", "/subscriptions"):
        response = bl.get(path, params={"targetType": "GROUP", "targetValues": values})
        assert response.status_code == 200, (path, response.text)
    assert bl.get("/programs", params={"targetType": "GROUP", "targetValues": values}).json() == [wanted]
    too_many = bl.get("/programs", params={"targetType": "GROUP", "targetValues": [*values, "v1000"]})
    assert too_many.status_code == 400 and "1000" in too_many.json()["detail"]


def test_missing_content_type_is_read_as_json(bl):
    created = bl.post("/programs", content=b'{"programName": "untyped"}')
    assert created.status_code == 201, created.text
    assert bl.post("/programs", content=b"programName=x").status_code == 400


def test_nul_characters_are_400(bl):
    # PostgreSQL text and jsonb cannot hold U+0000: refused on every database alike, never a 500.
    for body in ({"programName": "a\u0000b"}, {"programName": "ok", "targets": [{"type": "G", "values": ["\u0000"]}]}):
        response = bl.post("/programs", json=body)
        assert response.status_code == 400, response.text
        assert "U+0000" in response.json()["detail"]
    for path, params in (("/programs", {"targetType": "G", "targetValues": "\u0000"}), ("/reports", {"clientName": "a\u0000"})):
        assert bl.get(path, params=params).status_code == 400
    assert bl.get("/programs").json() == []
    utf16 = {"Content-Type": "application/json"}
    hidden = bl.post("/programs", content='{"programName": "\\u0000"}'.encode("utf-16"), headers=utf16)
    assert hidden.status_code == 400 and "U+0000" in hidden.json()["detail"]
    assert bl.post("/programs", content='{"programName": "utf16"}'.encode("utf-16"), headers=utf16).status_code == 201
    literal = bl.post("/programs", json={"programName": "back\\u0000slash"})  # a backslash, then text
    assert literal.status_code == 201 and literal.json()["programName"] == "back\\u0000slash"


def test_admin_delivery_id_out_of_range_is_400(bl):
    for delivery_id in ("218711983820583698432", str(2**63), "0", "-1", "x"):
        response = bl.post(f"/admin/deliveries/{delivery_id}/redrive")
        assert response.status_code == 400, (delivery_id, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
    assert bl.post(f"/admin/deliveries/{2**63 - 1}/redrive").status_code == 404
