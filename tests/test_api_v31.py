"""The OpenADR 3.1.0 API beside 3.0.1 over one store (docs/openadr-3.1.md): every response is checked against
the 3.1.0 YAML (`Caller.v31()`), and what one API writes the other reads."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from tests.conftest import Caller, Clients
from tests.factories import full_event, full_program


def ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def program_31(name: str = "p31", targets: list[str] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "programName": name,
        "intervalPeriod": {"start": "2027-03-28T00:00:00Z", "duration": "P1D"},
        "programDescriptions": [{"URL": "https://example.org/p31"}],
        "payloadDescriptors": [{"objectType": "EVENT_PAYLOAD_DESCRIPTOR", "payloadType": "PRICE", "units": "KWH",
                                "currency": "GBP"}],
        "attributes": [{"type": "PROGRAM_LONG_NAME", "values": ["A 3.1 programme"]},
                       {"type": "BINDING_EVENTS", "values": [True]},
                       {"type": "GB_CMZ", "values": ["CMZ-7"]}],
    }
    if targets is not None:
        body["targets"] = targets
    return body


def event_31(program_id: str, start: datetime, targets: list[str] | None = None, **more: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "programID": program_id, "eventName": "prices", "priority": 1,
        "intervalPeriod": {"start": start.isoformat().replace("+00:00", "Z"), "duration": "PT3H"},
        # compact serial payload (User Guide 3.1.0 §7.3): three hourly prices in one interval
        "intervals": [{"id": 0, "payloads": [{"type": "PRICE", "values": [0.21, 0.25, 0.19]}]}],
        "reportDescriptors": [{"payloadType": "USAGE", "readingType": "DIRECT_READ", "units": "KWH",
                               "reportIntervals": "SUB_INTERVALS", "targets": ["GROUP:g1"]}],
        **more,
    }
    if targets is not None:
        body["targets"] = targets
    return body


def test_program_written_in_31_reads_in_both(bl: Caller) -> None:
    created = ok(bl.v31().post("/programs", json=program_31(targets=["north", "GROUP:g1"])), 201)
    assert created["attributes"][0] == {"type": "PROGRAM_LONG_NAME", "values": ["A 3.1 programme"]}
    assert {"type": "GB_CMZ", "values": ["CMZ-7"]} in created["attributes"]
    assert created["targets"] == ["GROUP:g1", "north"] or sorted(created["targets"]) == ["GROUP:g1", "north"]
    v301 = ok(bl.get(f"/programs/{created['id']}"))
    assert v301["programLongName"] == "A 3.1 programme" and v301["bindingEvents"] is True
    assert "attributes" not in v301 and "clientID" not in v301  # strict: 3.1-only data stays out of 3.0.1
    assert {"type": "TARGET", "values": ["north"]} in v301["targets"]
    assert {"type": "GROUP", "values": ["g1"]} in v301["targets"]
    again = ok(bl.v31().get(f"/programs/{created['id']}"))
    assert again == {**created, "modificationDateTime": again["modificationDateTime"]}
    listed = ok(bl.v31().get("/programs", params={"targets": "north"}))
    assert [p["id"] for p in listed] == [created["id"]]
    assert ok(bl.v31().get("/programs", params={"targets": "south"})) == []


def test_program_written_in_301_reads_in_31(bl: Caller) -> None:
    created = ok(bl.post("/programs", json=full_program()), 201)
    shown = ok(bl.v31().get(f"/programs/{created['id']}"))
    assert {"type": "RETAILER_NAME", "values": ["SSEN"]} in shown["attributes"]
    assert "GROUP:g1" in shown["targets"] and "retailerName" not in shown
    # a 3.1 PUT of what it read keeps the 3.0.1 fields it carries as attributes
    ok(bl.v31().put(f"/programs/{created['id']}", json=shown))
    assert ok(bl.get(f"/programs/{created['id']}"))["retailerName"] == "SSEN"


def test_program_bad_input_is_a_400(bl: Caller) -> None:
    for body in ({}, {"programName": ""}, {"programName": "x", "targets": [{"type": "GROUP", "values": ["g"]}]},
                 {"programName": "x", "attributes": [{"type": "A"}]}, []):
        response = bl.v31().post("/programs", json=body)
        assert response.status_code == 400, (body, response.text)
    assert ok(bl.v31().get("/programs")) == []


def test_event_31_fields_round_trip_and_301_sees_it(bl: Caller) -> None:
    program = ok(bl.v31().post("/programs", json=program_31()), 201)
    start = datetime(2027, 10, 31, 0, 30, tzinfo=UTC)  # the clock-change day: three UTC hours, as sent
    created = ok(bl.v31().post("/events", json=event_31(program["id"], start, ["GROUP:g1"], duration="PT2H")), 201)
    assert created["duration"] == "PT2H"
    assert created["reportDescriptors"][0]["reportIntervals"] == "SUB_INTERVALS"
    assert created["reportDescriptors"][0]["targets"] == ["GROUP:g1"]
    assert created["intervals"][0]["payloads"][0]["values"] == [0.21, 0.25, 0.19]
    assert created["payloadDescriptors"] if "payloadDescriptors" in created else True
    v301 = ok(bl.get(f"/events/{created['id']}"))
    assert "duration" not in v301 and "reportIntervals" not in v301["reportDescriptors"][0]
    assert v301["targets"] == [{"type": "GROUP", "values": ["g1"]}]
    assert v301["reportDescriptors"][0]["targets"] == [{"type": "GROUP", "values": ["g1"]}]
    # a 3.0.1 PUT keeps what only 3.1 can say
    ok(bl.put(f"/events/{created['id']}", json={**v301, "eventName": "renamed"}))
    after = ok(bl.v31().get(f"/events/{created['id']}"))
    assert after["eventName"] == "renamed" and after["duration"] == "PT2H"
    deleted = ok(bl.v31().delete(f"/events/{created['id']}"))
    assert deleted["duration"] == "PT2H"
    assert bl.v31().get(f"/events/{created['id']}").status_code == 404


def test_active_events(bl: Caller) -> None:
    program = ok(bl.v31().post("/programs", json=program_31()), 201)
    now = datetime.now(UTC).replace(microsecond=0)
    running = ok(bl.v31().post("/events", json=event_31(program["id"], now - timedelta(hours=1))), 201)
    past = ok(bl.v31().post("/events", json=event_31(program["id"], now - timedelta(days=1))), 201)
    future = ok(bl.v31().post("/events", json=event_31(program["id"], now + timedelta(days=1))), 201)
    # event.duration shortens the lifespan: 3 h of intervals, but only 30 min of it count
    cut = ok(bl.v31().post("/events", json=event_31(program["id"], now - timedelta(hours=1), duration="PT30M")), 201)
    # … or makes it endless
    endless = ok(bl.v31().post("/events", json=event_31(program["id"], now - timedelta(days=2), duration="P9999Y")), 201)
    active = {e["id"] for e in ok(bl.v31().get("/events", params={"active": "true"}))}
    assert active == {running["id"], endless["id"]}
    inactive = {e["id"] for e in ok(bl.v31().get("/events", params={"active": "false"}))}
    assert inactive == {past["id"], future["id"], cut["id"]}
    assert len(ok(bl.v31().get("/events", params={"active": "true", "limit": 1, "skip": 1}))) == 1
    assert bl.v31().get("/events", params={"active": "maybe"}).status_code == 400


def test_ven_31_reads_targeted_events_with_target_hiding(bl: Caller, clients: Clients) -> None:
    ven = clients.ven("ven-31")
    ok(bl.v31().post("/vens", json={"objectType": "BL_VEN_REQUEST", "venName": "ven-31", "clientID": ven.client_id,
                                    "targets": ["GROUP:g1"]}), 201)
    program = ok(bl.v31().post("/programs", json=program_31()), 201)
    start = datetime(2027, 3, 28, 0, 0, tzinfo=UTC)
    mine = ok(bl.v31().post("/events", json=event_31(program["id"], start, ["GROUP:g1", "GROUP:g2"])), 201)
    ok(bl.v31().post("/events", json=event_31(program["id"], start, ["GROUP:g9"])), 201)
    seen = ok(ven.v31().get("/events"))
    assert [e["id"] for e in seen] == [mine["id"]]
    assert seen[0]["targets"] == ["GROUP:g1"]  # g2 is hidden: not granted to this VEN
    assert ok(ven.v31().get("/events", params={"targets": "GROUP:g1"}))[0]["id"] == mine["id"]
    assert ok(ven.v31().get("/events", params={"targets": "GROUP:g9"})) == []  # asked, but not granted
    # the same VEN on 3.0.1 sees the same event
    assert [e["id"] for e in ok(ven.get("/events"))] == [mine["id"]]
    assert ven.v31().post("/events", json=event_31(program["id"], start)).status_code == 403


# --- vens, resources, reports, subscriptions, auth -----------------------------------------------------


def _world(bl: Caller, clients: Clients, name: str = "ven-31") -> tuple[Caller, dict[str, Any], dict[str, Any], dict[str, Any]]:
    """A 3.1 VEN client with its ven (granted GROUP:g1 by the BL), a program and an event targeted at g1."""
    ven = clients.ven(name)
    ven_object = ok(bl.v31().post("/vens", json={"objectType": "BL_VEN_REQUEST", "venName": name,
                                                 "clientID": ven.client_id, "targets": ["GROUP:g1"]}), 201)
    program = ok(bl.v31().post("/programs", json=program_31()), 201)
    event = ok(bl.v31().post("/events", json=event_31(program["id"], datetime(2027, 3, 28, tzinfo=UTC), ["GROUP:g1"])), 201)
    return ven, ven_object, program, event


def test_vens_and_first_level_resources(bl: Caller, clients: Clients) -> None:
    ven, ven_object, _program, _event = _world(bl, clients)
    assert ven_object["clientID"] == ven.client_id and ven_object["targets"] == ["GROUP:g1"]
    assert ok(ven.v31().get(f"/vens/{ven_object['id']}"))["clientID"] == ven.client_id
    # the VEN adds a resource to its own ven (3.1: first level, venID in the body); its clientID is its own
    unit = ok(ven.v31().post("/resources", json={"objectType": "VEN_RESOURCE_REQUEST", "resourceName": "DU-1",
                                                 "venID": ven_object["id"],
                                                 "attributes": [{"type": "MAX_POWER_EXPORT", "values": [50]}]}), 201)
    assert unit["clientID"] == ven.client_id and unit["venID"] == ven_object["id"]
    # the same resource through 3.0.1, under its ven
    v301 = ok(ven.get(f"/vens/{ven_object['id']}/resources/{unit['id']}"))
    assert v301["resourceName"] == "DU-1" and "clientID" not in v301
    assert [r["id"] for r in ok(ven.v31().get("/resources", params={"venID": ven_object["id"]}))] == [unit["id"]]
    assert [r["id"] for r in ok(ven.v31().get("/resources", params={"resourceName": "DU-1"}))] == [unit["id"]]
    # a VEN cannot grant itself targets, nor move a resource to another ven
    grab = {"objectType": "BL_RESOURCE_REQUEST", "clientID": "x", "resourceName": "DU-1", "venID": ven_object["id"],
            "targets": ["GROUP:g9"]}
    assert ven.v31().put(f"/resources/{unit['id']}", json=grab).status_code == 403
    other = ok(bl.v31().post("/vens", json={"objectType": "BL_VEN_REQUEST", "venName": "ven-other",
                                            "clientID": "c-other"}), 201)
    moved = {"objectType": "BL_RESOURCE_REQUEST", "clientID": "c", "resourceName": "DU-1", "venID": other["id"]}
    assert bl.v31().put(f"/resources/{unit['id']}", json=moved).status_code == 409
    # another VEN sees neither
    stranger = clients.ven("ven-other")
    assert stranger.v31().get(f"/resources/{unit['id']}").status_code == 404
    assert ok(stranger.v31().get("/resources")) == []
    assert [v["id"] for v in ok(stranger.v31().get("/vens"))] == [other["id"]]
    deleted = ok(ven.v31().delete(f"/resources/{unit['id']}"))
    assert deleted["id"] == unit["id"]
    assert bl.v31().post("/resources", json={"resourceName": "x"}).status_code == 400


def test_ven_name_target_finds_a_ven_in_both_versions(bl: Caller, clients: Clients) -> None:
    ven, ven_object, _program, _event = _world(bl, clients)
    found = ok(ven.get("/vens", params={"targetType": "VEN_NAME", "targetValues": "ven-31"}))
    assert [v["id"] for v in found] == [ven_object["id"]]
    assert [v["id"] for v in ok(bl.get("/vens", params={"targetType": "VEN_NAME", "targetValues": "ven-31"}))] \
        == [ven_object["id"]]
    assert ok(bl.get("/vens", params={"targetType": "VEN_NAME", "targetValues": "nobody"})) == []
    assert [v["id"] for v in ok(ven.v31().get("/vens", params={"targets": "VEN_NAME:ven-31"}))] == [ven_object["id"]]
    assert [v["id"] for v in ok(bl.v31().get("/vens", params={"venName": "ven-31"}))] == [ven_object["id"]]


def test_reports_31_take_the_events_program(bl: Caller, clients: Clients) -> None:
    ven, _ven_object, program, event = _world(bl, clients)
    body = {"eventID": event["id"], "clientName": "ven-31", "reportName": "usage", "clientID": "forged",
            "payloadDescriptors": [{"objectType": "REPORT_PAYLOAD_DESCRIPTOR", "payloadType": "USAGE", "units": "KWH"}],
            "resources": [{"resourceName": "DU-1", "intervals": [{"id": 0, "payloads": [{"type": "USAGE", "values": [3.5]}]}]}]}
    report = ok(ven.v31().post("/reports", json=body), 201)
    assert report["clientID"] == ven.client_id  # from the token, never the body
    assert "programID" not in report
    v301 = ok(bl.get(f"/reports/{report['id']}"))
    assert v301["programID"] == program["id"] and "clientID" not in v301
    assert [r["id"] for r in ok(bl.v31().get("/reports", params={"programID": program["id"]}))] == [report["id"]]
    assert ok(ven.v31().put(f"/reports/{report['id']}", json={**body, "reportName": "usage-2"}))["reportName"] == "usage-2"
    assert clients.ven("ven-x").v31().get(f"/reports/{report['id']}").status_code == 404
    assert bl.v31().post("/reports", json={**body, "eventID": "nope"}).status_code in (403, 409)
    assert ven.v31().post("/reports", json={**body, "eventID": "nope"}).status_code == 409
    assert ven.v31().post("/reports", json={"eventID": event["id"]}).status_code == 400
    assert ok(ven.v31().delete(f"/reports/{report['id']}"))["id"] == report["id"]


def test_subscriptions_31_ownership_check_and_optional_program(bl: Caller, clients: Clients) -> None:
    from tests.support.receiver import Receiver

    ven, ven_object, program, _event = _world(bl, clients)
    with Receiver() as good, Receiver(echo=False) as silent:
        body = {"clientName": "ven-31", "objectOperations": [
            {"objects": ["EVENT"], "operations": ["CREATE", "UPDATE"], "callbackUrl": good.url("/hook"),
             "bearerToken": "tok"}]}
        created = ok(ven.v31().post("/subscriptions", json=body), 201)
        assert created["clientID"] == ven.client_id and "programID" not in created
        challenge = [r for r in good.received() if r.method == "GET"]
        assert len(challenge) == 1 and "echo=" in challenge[0].path
        # refused when the callback does not echo (D310:3327), and nothing stored
        refused = ven.v31().post("/subscriptions", json={**body, "objectOperations": [
            {**body["objectOperations"][0], "callbackUrl": silent.url("/hook")}]})
        assert refused.status_code == 400 and "ownership" in refused.json()["detail"]
        assert [s["id"] for s in ok(ven.v31().get("/subscriptions"))] == [created["id"]]
        # the SSRF guard applies before any GET is made
        assert ven.v31().post("/subscriptions", json={**body, "objectOperations": [
            {**body["objectOperations"][0], "callbackUrl": "http://169.254.169.254/latest"}]}).status_code == 400
        # 3.0.1 cannot show a subscription without programID, and says so
        assert ok(ven.get("/subscriptions")) == []
        hidden = ven.get(f"/subscriptions/{created['id']}")
        assert hidden.status_code == 404 and hidden.json()["type"].endswith("not-in-3.0.1")
        assert ven.delete(f"/subscriptions/{created['id']}").status_code == 404
        assert ven.put(f"/subscriptions/{created['id']}", json={**body, "programID": program["id"]}).status_code == 404
        assert ven.post("/subscriptions", json=body).status_code == 400  # 3.0.1 requires programID
        # with a programID it is visible to both
        with_program = ok(ven.v31().put(f"/subscriptions/{created['id']}", json={**body, "programID": program["id"]}))
        assert with_program["programID"] == program["id"]
        v301 = ok(ven.get(f"/subscriptions/{created['id']}"))
        assert v301["programID"] == program["id"] and v301["objectOperations"][0]["bearerToken"] == "tok"
        assert ok(bl.v31().get("/subscriptions"))[0]["objectOperations"][0].get("bearerToken") is None
        assert ok(ven.v31().delete(f"/subscriptions/{created['id']}"))["id"] == created["id"]
    assert ven.v31().post("/subscriptions", json={"clientName": "ven-31"}).status_code == 400
    assert ven_object["id"]


def test_auth_server_and_31_scopes(bl: Caller, clients: Clients, http: Any) -> None:
    from vtn.auth import service as auth_service
    from vtn.core.security import Role

    info = http.get("/openadr3/3.1.0/auth/server")
    assert info.status_code == 200 and info.json()["tokenURL"].endswith("/openadr3/3.1.0/auth/token")

    async def register() -> str:
        async with http.app.state.db.session() as session:
            created = await auth_service.add_client(session, "ven31-client", Role.VEN, ven_name="ven-s", with_secret=True)
            return str(created.secret)

    secret = http.portal.call(register)
    # a 3.1 client asks for the 3.1 scope names; a 3.0.1 registration (read_all) grants them
    token = http.post("/openadr3/3.1.0/auth/token", data={
        "grant_type": "client_credentials", "client_id": "ven31-client", "client_secret": secret,
        "scope": "read_targets read_ven_objects write_reports write_vens"})
    assert token.status_code == 200, token.text
    assert set(token.json()["scope"].split()) == {"read_targets", "read_ven_objects", "write_reports", "write_vens"}
    headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
    assert http.get("/openadr3/3.1.0/events", headers=headers).status_code == 200
    assert http.get("/openadr3/3.0.1/events", headers=headers).status_code == 200  # both 3.1 reads open 3.0.1 reads
    assert http.post("/openadr3/3.1.0/auth/token", data={
        "grant_type": "client_credentials", "client_id": "ven31-client", "client_secret": secret,
        "scope": "read_bl"}).status_code == 400  # read_bl is for BL clients
    narrow = clients.ven("ven-n", scopes=["write_reports"])
    assert narrow.v31().get("/programs").status_code == 403
    assert narrow.v31().get("/vens").status_code == 403


def test_served_openapi_31(http: Any) -> None:
    document = http.get("/openadr3/3.1.0/openapi.json").json()
    assert document["servers"][0]["url"] == "/openadr3/3.1.0"
    assert {"/programs", "/events", "/reports", "/subscriptions", "/vens", "/resources", "/resources/{resourceID}",
            "/auth/server", "/auth/token"} <= set(document["paths"])
    # served by the notifications package (vtn/notifications/router.py), with or without an MQTT broker
    assert {"/notifiers", "/notifiers/mqtt/topics/programs", "/notifiers/mqtt/topics/vens/{venID}/resources"} <= set(
        document["paths"])
    v301 = http.get("/openadr3/3.0.1/openapi.json").json()
    assert "/resources" not in v301["paths"] and "/programs" in v301["paths"]


def test_a_31_ven_and_a_301_ven_get_the_same_dispatch(bl: Caller, clients: Clients) -> None:
    """One event, written by the BL through 3.0.1, reaches a VEN polling 3.0.1 and a VEN polling 3.1.0; each VEN's
    webhook is told in its own version's form (3.0.1: HTTP verb, valuesMap targets; 3.1.0: CRUD, strings)."""
    import json

    from sqlmodel import select

    from openadr3.schema import component_errors
    from tests.support.receiver import Receiver
    from vtn.notifications.models import OutboxRow

    old, new = clients.ven("ven-old"), clients.ven("ven-new")
    group = [{"type": "GROUP", "values": ["fleet"]}]
    for name in ("ven-old", "ven-new"):
        ok(bl.post("/vens", json={"venName": name, "targets": group}), 201)
    program = ok(bl.post("/programs", json={"programName": "dispatch"}), 201)
    with Receiver() as hooks:
        ok(old.post("/subscriptions", json={"clientName": "ven-old", "programID": program["id"], "objectOperations": [
            {"objects": ["EVENT"], "operations": ["POST"], "callbackUrl": hooks.url("/old")}]}), 201)
        ok(new.v31().post("/subscriptions", json={"clientName": "ven-new", "objectOperations": [
            {"objects": ["EVENT"], "operations": ["CREATE"], "callbackUrl": hooks.url("/new")}]}), 201)
        # "secret" is granted to neither VEN: 3.1.0 hides it from the 3.1 VEN (target hiding), 3.0.1 has no such rule
        both = [{"type": "GROUP", "values": ["fleet", "secret"]}]
        event = ok(bl.post("/events", json=full_event(program["id"], targets=both)), 201)

    assert [e["id"] for e in ok(old.get("/events"))] == [event["id"]]
    seen_31 = ok(new.v31().get("/events"))
    assert [e["id"] for e in seen_31] == [event["id"]] and seen_31[0]["targets"] == ["GROUP:fleet"]

    async def outbox() -> list[OutboxRow]:
        async with bl.http.app.state.db.session(write=False) as session:
            return list((await session.exec(select(OutboxRow).order_by(OutboxRow.id))).all())  # type: ignore[arg-type]

    bodies = {row.callback_url.rsplit("/", 1)[1]: json.loads(row.body) for row in bl.http.portal.call(outbox)}
    assert bodies["old"]["operation"] == "POST" and bodies["old"]["object"]["targets"] == both
    assert not component_errors("notification", bodies["old"], "3.0.1")
    assert bodies["new"]["operation"] == "CREATE" and bodies["new"]["object"]["targets"] == ["GROUP:fleet"]
    assert bodies["new"]["targets"] == ["GROUP:fleet"]
    assert bodies["new"]["object"]["id"] == event["id"]
    assert not component_errors("notification", bodies["new"], "3.1.0")


def test_clients_find_their_ven_and_programs_by_name(bl: Caller, clients: Clients) -> None:
    """python-oa3-client (3.1) finds its ven with VEN_NAME and programs with PROGRAM_NAME, in 3.0.1-style
    `targetType`/`targetValues`: read on the 3.1.0 mount too, and a name matches its own type on both."""
    ven, ven_object, program, _event = _world(bl, clients)
    other = ok(bl.v31().post("/programs", json={"programName": "other"}), 201)
    for caller in (ven, bl):
        by_name = {"targetType": "VEN_NAME", "targetValues": "ven-31"}
        assert [v["id"] for v in ok(caller.v31().get("/vens", params=by_name))] == [ven_object["id"]]
        by_program = {"targetType": "PROGRAM_NAME", "targetValues": "p31"}
        assert [p["id"] for p in ok(caller.v31().get("/programs", params=by_program))] == [program["id"]]
        assert [p["id"] for p in ok(caller.get("/programs", params=by_program))] == [program["id"]]
    assert [p["id"] for p in ok(bl.v31().get("/programs", params={"targets": "PROGRAM_NAME:other"}))] == [other["id"]]
    assert ok(bl.v31().get("/programs", params={"targetType": "PROGRAM_NAME", "targetValues": "none"})) == []
    assert bl.v31().get("/programs", params={"targetType": "PROGRAM_NAME"}).status_code == 400


def test_echo_check_modes(database_url: str) -> None:
    """VTN_CALLBACK_ECHO_CHECK: `warn` accepts a receiver that does not echo (python-oa3-client 0.5.0 answers its
    webhook's GET with {"status": "ok"}), `off` sends no GET; the SSRF policy holds in every mode."""
    from fastapi.testclient import TestClient

    from tests.conftest import vtn_test_settings
    from tests.support.receiver import Receiver
    from vtn.app import create_app

    for mode, gets in (("warn", 1), ("off", 0)):
        app = create_app(vtn_test_settings(database_url, callback_echo_check=mode))
        with TestClient(app, raise_server_exceptions=False) as http, Receiver(echo=False) as silent:
            clients = Clients(http)
            bl = clients.bl()
            body = {"clientName": "bl", "objectOperations": [
                {"objects": ["PROGRAM"], "operations": ["CREATE"], "callbackUrl": silent.url(f"/{mode}")}]}
            ok(bl.v31().post("/subscriptions", json=body), 201)
            assert len([r for r in silent.received() if r.method == "GET"]) == gets
            blocked = {**body, "objectOperations": [{**body["objectOperations"][0],
                                                     "callbackUrl": "http://169.254.169.254/x"}]}
            assert bl.v31().post("/subscriptions", json=blocked).status_code == 400
            for subscription in ok(bl.v31().get("/subscriptions")):
                ok(bl.v31().delete(f"/subscriptions/{subscription['id']}"))
