"""Fully populated wire objects: every optional field of the 3.0.1 schemas set."""

from __future__ import annotations

from typing import Any

INTERVAL_PERIOD = {"start": "2026-03-29T00:30:00Z", "duration": "PT30M", "randomizeStart": "PT1M"}


def full_program(name: str = "prog-full") -> dict[str, Any]:
    return {
        "programName": name,
        "programLongName": "Secure — Peak Reduction, Northern CMZ",
        "retailerName": "SSEN",
        "retailerLongName": "Scottish and Southern Electricity Networks",
        "programType": "GB_FLEX",
        "country": "GB",
        "principalSubdivision": "GB-SCT",
        "timeZoneOffset": "PT0S",
        "intervalPeriod": {"start": "2026-04-01T00:00:00+01:00", "duration": "P1Y"},
        "programDescriptions": [{"URL": "https://example.org/secure"}],
        "bindingEvents": True,
        "localPrice": False,
        "payloadDescriptors": [
            {"objectType": "EVENT_PAYLOAD_DESCRIPTOR", "payloadType": "DISPATCH_SETPOINT", "units": "KW", "currency": "GBP"},
            {
                "objectType": "REPORT_PAYLOAD_DESCRIPTOR",
                "payloadType": "USAGE",
                "readingType": "DIRECT_READ",
                "units": "KWH",
                "accuracy": 0.5,
                "confidence": 90,
            },
        ],
        "targets": [
            {"type": "GROUP", "values": ["g1", "g2"]},
            {"type": "MIXED", "values": [1, 2.5, True, "x", {"x": 1.0, "y": 2.0}]},
        ],
    }


def full_event(program_id: str, name: str = "ev-full", targets: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "programID": program_id,
        "eventName": name,
        "priority": 0,
        "targets": targets if targets is not None else [{"type": "VEN_NAME", "values": ["ven-a"]}],
        "reportDescriptors": [
            {
                "payloadType": "USAGE",
                "readingType": "DIRECT_READ",
                "units": "KWH",
                "targets": [{"type": "GROUP", "values": ["g1"]}],
                "aggregate": False,
                "startInterval": -1,
                "numIntervals": -1,
                "historical": True,
                "frequency": -1,
                "repeat": 1,
            }
        ],
        "payloadDescriptors": [{"objectType": "EVENT_PAYLOAD_DESCRIPTOR", "payloadType": "DISPATCH_SETPOINT", "units": "KW"}],
        "intervalPeriod": dict(INTERVAL_PERIOD),
        "intervals": [
            {"id": 0, "payloads": [{"type": "DISPATCH_SETPOINT", "values": [-250.5]}]},
            {
                "id": 1,
                "intervalPeriod": {"start": "2026-03-29T01:00:00Z", "duration": "PT30M"},
                "payloads": [{"type": "DISPATCH_SETPOINT", "values": [0]}],
            },
        ],
    }


def full_report(program_id: str, event_id: str, client_name: str = "ven-a") -> dict[str, Any]:
    return {
        "programID": program_id,
        "eventID": event_id,
        "clientName": client_name,
        "reportName": "readings",
        "payloadDescriptors": [
            {
                "objectType": "REPORT_PAYLOAD_DESCRIPTOR",
                "payloadType": "USAGE",
                "readingType": "DIRECT_READ",
                "units": "KWH",
                "accuracy": 0.1,
                "confidence": 100,
            }
        ],
        "resources": [
            {
                "resourceName": "unit-1",
                "intervalPeriod": dict(INTERVAL_PERIOD),
                "intervals": [{"id": 0, "payloads": [{"type": "USAGE", "values": [12.5]}]}],
            }
        ],
    }


def full_subscription(program_id: str, callback: str = "http://127.0.0.1:9/cb") -> dict[str, Any]:
    return {
        "clientName": "ven-a",
        "programID": program_id,
        "objectOperations": [
            {
                "objects": ["EVENT", "PROGRAM"],
                "operations": ["CREATE", "UPDATE", "DELETE"],
                "callbackUrl": callback,
                "bearerToken": "tok123",
            }
        ],
        "targets": [{"type": "VEN_NAME", "values": ["ven-a"]}],
    }


def full_ven(name: str = "ven-a") -> dict[str, Any]:
    return {
        "venName": name,
        "attributes": [{"type": "LOCATION", "values": [{"x": 57.1, "y": -2.1}]}],
        "targets": [{"type": "GROUP", "values": ["g1"]}],
        "resources": [{"resourceName": "inline-1"}],
    }


def full_resource(name: str = "unit-1") -> dict[str, Any]:
    return {
        "resourceName": name,
        "attributes": [{"type": "MAX_POWER_EXPORT", "values": [500]}],
        "targets": [{"type": "GB_MPAN", "values": ["1200023305967"]}],
    }
