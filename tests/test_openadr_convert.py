"""openadr3.convert, the one 3.0.1 ↔ 3.1.0 conversion: round trips and the 3.1.0 schemas (docs/openadr-3.1.md)."""

from __future__ import annotations

from typing import Any

import pytest

from openadr3 import convert
from openadr3.schema import component_errors
from tests.factories import full_event, full_program, full_report, full_resource, full_subscription, full_ven

META = {"id": "obj-1", "createdDateTime": "2027-03-28T00:00:00.000Z", "modificationDateTime": "2027-03-28T00:00:00.000Z"}


@pytest.mark.parametrize("strings", [["a"], ["GROUP:g1", "GROUP:g2", "ZONE:north", "free text: with colon"],
                                     ["VEN_NAME:ven-a", "RESOURCE_NAME:DU-7"], []])
def test_targets_round_trip_from_31(strings: list[str]) -> None:
    maps = convert.targets_from_v31(strings)
    assert sorted(convert.targets_to_v31(maps) or []) == sorted(strings)


def test_targets_from_301() -> None:
    maps = [{"type": "GROUP", "values": ["g1", 2, True]}, {"type": "TARGET", "values": ["plain"]},
            {"type": "POINTS", "values": [{"x": 1.0, "y": 2.0}]}]
    assert convert.targets_to_v31(maps) == ["GROUP:g1", "GROUP:2", "GROUP:true", "plain"]  # a point is no target
    assert convert.targets_from_v31(convert.targets_to_v31(maps)) == [
        {"type": "GROUP", "values": ["g1", "2", "true"]}, {"type": "TARGET", "values": ["plain"]}]
    assert convert.targets_to_v31(maps, keep={("GROUP", "g1")}) == ["GROUP:g1"]  # target hiding
    assert convert.targets_to_v31(None) is None and convert.targets_from_v31(None) is None
    # lower-case prefixes are not types: the whole string is the target
    assert convert.target_pair("group:g1") == ("TARGET", "group:g1")
    assert convert.target_pair("GROUP:") == ("TARGET", "GROUP:")


def stored(document: dict[str, Any], object_type: str) -> dict[str, Any]:
    return {**META, "objectType": object_type, **document}


def test_program_attributes_move_to_301_fields_and_back() -> None:
    body = {"programName": "p", "attributes": [
        {"type": "RETAILER_NAME", "values": ["SSEN"]}, {"type": "BINDING_EVENTS", "values": [True]},
        {"type": "LOCAL", "values": ["not a boolean"]}, {"type": "GB_CMZ", "values": ["CMZ-1", "CMZ-2"]}],
        "targets": ["GROUP:g1"], "programLongName": None}
    content, extra = convert.program_from_v31(body)
    assert content["retailerName"] == "SSEN" and content["bindingEvents"] is True and "localPrice" not in content
    assert content["targets"] == [{"type": "GROUP", "values": ["g1"]}]
    assert extra == {"attributes": [{"type": "LOCAL", "values": ["not a boolean"]},
                                    {"type": "GB_CMZ", "values": ["CMZ-1", "CMZ-2"]}]}
    shown = convert.program_to_v31(stored(content, "PROGRAM"), extra)
    assert not component_errors("program", shown, "3.1.0")
    assert sorted(a["type"] for a in shown["attributes"]) == ["BINDING_EVENTS", "GB_CMZ", "LOCAL", "RETAILER_NAME"]


@pytest.mark.parametrize(("object_type", "schema", "document"), [
    ("PROGRAM", "program", full_program()),
    ("EVENT", "event", full_event("p-1")),
    ("REPORT", "report", full_report("p-1", "e-1")),
    ("SUBSCRIPTION", "subscription", full_subscription("p-1")),
    ("RESOURCE", "resource", {**full_resource(), "venID": "v-1"}),
])
def test_every_full_301_object_is_a_valid_31_object(object_type: str, schema: str, document: dict[str, Any]) -> None:
    shown = convert.to_v31(object_type, stored(document, object_type), {"clientID": "c-1"})
    errors = [e for e in component_errors(schema, shown, "3.1.0") if "BL_RESOURCE_REQUEST" not in e]
    assert not errors, errors
    assert shown.get("clientID", "c-1") == "c-1"


def test_ven_31() -> None:
    shown = convert.ven_to_v31(stored(full_ven(), "VEN"), None)
    assert shown["clientID"] == "ven-a"  # no clientID recorded (a 3.0.1 ven): its name
    errors = [e for e in component_errors("ven", shown, "3.1.0") if "BL_VEN_REQUEST" not in e]
    assert not errors and "resources" not in shown
    content, extra = convert.ven_from_v31({"objectType": "BL_VEN_REQUEST", "venName": "v", "clientID": "c",
                                           "targets": ["t"]}, "c")
    assert content == {"venName": "v", "targets": [{"type": "TARGET", "values": ["t"]}]}
    assert extra == {"clientID": "c"}


def test_event_31_fields_live_in_extra() -> None:
    body = {"programID": "p", "duration": "P9999Y", "targets": ["a"], "reportDescriptors": [
        {"payloadType": "USAGE", "reportIntervals": "OPEN_INTERVALS", "targets": ["b"]}, {"payloadType": "X"}],
        "intervals": [{"id": 0, "payloads": [{"type": "PRICE", "values": [1, 2, 3]}]}]}
    content, extra = convert.event_from_v31(body)
    assert "duration" not in content and all("reportIntervals" not in d for d in content["reportDescriptors"])
    assert extra == {"duration": "P9999Y", "reportIntervals": ["OPEN_INTERVALS", None]}
    back = convert.event_to_v31(stored(content, "EVENT"), extra)
    assert back["reportDescriptors"][0]["reportIntervals"] == "OPEN_INTERVALS"
    assert "reportIntervals" not in back["reportDescriptors"][1]
    assert back["duration"] == "P9999Y" and back["targets"] == ["a"]
    assert not component_errors("event", back, "3.1.0")
    assert convert.event_from_v31({"programID": "p"})[0]["intervals"] == []  # optional in 3.1.0, required in 3.0.1


def test_report_and_subscription() -> None:
    content, extra = convert.report_from_v31({"eventID": "e", "clientName": "v", "clientID": "forged",
                                              "resources": []}, "p", "token-client")
    assert content["programID"] == "p" and "clientID" not in content and extra == {"clientID": "token-client"}
    assert "programID" not in convert.report_to_v31(stored(content, "REPORT"), extra)
    sub = {"clientName": "v", "objectOperations": [{"objects": ["EVENT"], "operations": ["CREATE"],
                                                     "callbackUrl": "https://x/cb"}], "targets": ["GROUP:g"]}
    content, extra = convert.subscription_from_v31(sub, "client-1")
    assert extra == {"clientID": "client-1", "apiVersion": "3.1.0"}
    legacy = {**content, "objectOperations": [{**content["objectOperations"][0], "operations": ["POST", "PUT"]}]}
    shown = convert.subscription_to_v31(stored(legacy, "SUBSCRIPTION"), extra, None)
    assert shown["objectOperations"][0]["operations"] == ["CREATE", "UPDATE"] and "programID" not in shown
    assert not component_errors("subscription", shown, "3.1.0")


def test_notification() -> None:
    event = stored(full_event("p-1", targets=[{"type": "GROUP", "values": ["g"]}]), "EVENT")
    body = convert.notification_to_v31({"objectType": "EVENT", "operation": "PUT", "targets": event["targets"]},
                                       convert.to_v31("EVENT", event))
    assert body["operation"] == "UPDATE" and body["targets"] == ["GROUP:g"]
    assert not component_errors("notification", body, "3.1.0")
    with pytest.raises(ValueError, match="unknown object type"):
        convert.to_v31("THING", event)
