"""The OpenADR 3.1.0 API beside 3.0.1 over one store (docs/openadr-3.1.md): every response is checked against
the 3.1.0 YAML (`Caller.v31()`), and what one API writes the other reads."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from tests.conftest import Caller, Clients
from tests.factories import full_program


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
