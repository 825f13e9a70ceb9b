"""openadr3.wire: the version adapter the conformance suite and the reference VEN share (3.0.1 terms ↔ 3.1.0 wire)."""

from __future__ import annotations

from openadr3.wire import Adapter, Adapter310, adapter


def test_301_changes_nothing() -> None:
    a = adapter("3.0.1")
    assert type(a) is Adapter and a.target_filter("/subscriptions")
    body = {"venName": "v", "targets": [{"type": "GROUP", "values": ["g"]}]}
    assert a.outgoing("POST", "/vens/x/resources", {"a": 1}, body) == ("/vens/x/resources", {"a": 1}, body)
    assert a.incoming("GET", "/programs", [{"id": "p", "targets": ["GROUP:g"]}]) == [{"id": "p", "targets": ["GROUP:g"]}]


def test_310_requests() -> None:
    a = adapter("3.1.0")
    assert isinstance(a, Adapter310) and not a.target_filter("/subscriptions") and a.target_filter("/events")
    a.client_ids["ven-a"] = "ven-a-client"
    # resources move to /resources with venID; a BL names the VEN's clientID, a VEN says it is a VEN
    path, params, body = a.outgoing("POST", "/vens/v1/resources", None, {"resourceName": "r"}, as_bl=False)
    assert (path, params) == ("/resources", None)
    assert body == {"resourceName": "r", "venID": "v1", "objectType": "VEN_RESOURCE_REQUEST"}
    assert a.outgoing("GET", "/vens/v1/resources", {"limit": 5}, None)[:2] == ("/resources", {"limit": 5, "venID": "v1"})
    _, _, ven = a.outgoing("POST", "/vens", None, {"venName": "ven-a", "targets": [{"type": "GROUP", "values": ["g"]}]})
    assert ven == {"venName": "ven-a", "targets": ["GROUP:g"], "objectType": "BL_VEN_REQUEST", "clientID": "ven-a-client"}
    # target filters, program fields as attributes, reports without programID, descriptors with objectType
    _, params, _ = a.outgoing("GET", "/programs", {"targetType": "GROUP", "targetValues": ["a", "b"], "skip": 0}, None)
    assert params == {"skip": 0, "targets": ["GROUP:a", "GROUP:b"]}
    _, _, program = a.outgoing("POST", "/programs", None, {"programName": "p", "programLongName": "long",
                                                           "payloadDescriptors": [{"payloadType": "PRICE"}]})
    assert program["attributes"] == [{"type": "PROGRAM_LONG_NAME", "values": ["long"]}] and "programLongName" not in program
    assert program["payloadDescriptors"] == [{"payloadType": "PRICE", "objectType": "EVENT_PAYLOAD_DESCRIPTOR"}]
    _, _, report = a.outgoing("POST", "/reports", None, {"programID": "p", "eventID": "e", "clientName": "c"})
    assert report == {"eventID": "e", "clientName": "c"}
    # a deliberately wrong body goes out as it is
    assert a.outgoing("POST", "/events", None, {"targets": "nonsense"})[2] == {"targets": "nonsense"}


def test_310_answers_and_notifications() -> None:
    a = Adapter310()
    events = a.incoming("GET", "/events", [{"id": "e", "programID": "p", "objectType": "EVENT", "duration": "PT1H",
                                            "targets": ["VEN_NAME:v", "plain"], "intervals": [],
                                            "payloadDescriptors": [{"objectType": "EVENT_PAYLOAD_DESCRIPTOR",
                                                                    "payloadType": "SIMPLE"}]}])
    assert events == [{"id": "e", "programID": "p", "objectType": "EVENT", "intervals": [],
                       "targets": [{"type": "VEN_NAME", "values": ["v"]}, {"type": "TARGET", "values": ["plain"]}],
                       "payloadDescriptors": [{"payloadType": "SIMPLE"}]}]  # the default objectType left out
    # a report comes back with its event's programID, without the VTN's clientID
    report = a.incoming("POST", "/reports", {"id": "r", "objectType": "REPORT", "eventID": "e", "clientID": "x"})
    assert report == {"id": "r", "objectType": "REPORT", "eventID": "e", "programID": "p"}
    program = a.incoming("GET", "/programs/p", {"id": "p", "programName": "n", "attributes": [
        {"type": "BINDING_EVENTS", "values": [False]}, {"type": "X", "values": [1, 2]}]})
    assert program == {"id": "p", "programName": "n", "bindingEvents": False, "attributes": [{"type": "X", "values": [1, 2]}]}
    note = a.notification({"objectType": "VEN", "operation": "UPDATE",
                           "object": {"id": "v", "venName": "n", "clientID": "c", "targets": ["GROUP:g"]}})
    assert note == {"objectType": "VEN", "operation": "PUT",
                    "object": {"id": "v", "venName": "n", "targets": [{"type": "GROUP", "values": ["g"]}]}}
    assert a.incoming("GET", "/auth/server", {"tokenURL": "u"}) == {"tokenURL": "u"}
