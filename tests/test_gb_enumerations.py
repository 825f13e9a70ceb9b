"""The profile's use of standard names against the OpenADR 3.1.0 enumeration schemas (docs/gb-profile.md §4.1, §4.4):
every standard payload the profile emits validates against the 3.1.0 schema, or against the profile's copy of it
(minimum removed for the four signed types, nothing else changed); every other name is private (`GB_`)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import jsonschema
import pytest
import yaml

from gb_profile import builders as b
from gb_profile import model as m
from gb_profile.enumerations import SIGNED_PAYLOADS, is_private, profile_schemas
from gb_profile.examples import FSP, OPERATOR, SERVICE_START, UNIT, example_availability, example_instruction, example_readings
from gb_profile.products import PRODUCTS

ENUMS = Path("/work/shared/spec/3.1.0/enumerations")
if not ENUMS.is_dir():  # the spec checkout lives next to the repository
    ENUMS = Path(__file__).resolve().parents[2] / "shared" / "spec" / "3.1.0" / "enumerations"
pytestmark = pytest.mark.skipif(not ENUMS.is_dir(), reason="OpenADR 3.1.0 enumerations not available")


def check(values: list, schema: dict) -> None:
    """Validate one valuesMap `values` array (the `$id` fragments of the 3.1.0 files are not resolvable ids)."""
    jsonschema.Draft7Validator({k: v for k, v in schema.items() if k != "$id"}).validate(values)


def load(name: str) -> dict:
    return yaml.safe_load((ENUMS / name).read_text())


@pytest.fixture(scope="module")
def standard() -> dict[str, dict]:
    event = load("event-interval-payloads.schema.yaml")["definitions"]
    report = load("report-payloads.schema.yaml")["definitions"]
    attributes = load("ven-resource-attributes.schema.yaml")["definitions"]
    return {"event": event, "report": report, "attribute": attributes}


def emitted() -> dict[str, list[tuple[str, list]]]:
    """(type, values) of every valuesMap the builders emit, by where it is used."""
    events, reports, attributes, units, reading_types = [], [], [], set(), set()
    for code in PRODUCTS:
        ins = example_instruction(code)
        for flow in (
            ins,
            b.revise(ins, SERVICE_START, status=m.DispatchStatus.EMERGENCY_STOP),
            b.cancel(ins, ins.instruction_time),
        ):
            event = b.build_event(flow, "p")
            events += [(p.type, p.values) for i in event.intervals for p in i.payloads]
            units |= {d.units for d in event.payloadDescriptors or ()}
        program = b.build_program(code, None, operator_id=OPERATOR)
        units |= {d.units for d in program.payloadDescriptors or ()}
    units |= {d.units for d in b.build_event(example_instruction("SU", reactive=True), "p").payloadDescriptors}
    for report in (
        b.build_readings_report(example_readings(m.ReadingKind.POWER_KW), "p", "a"),
        b.build_readings_report(example_readings(m.ReadingKind.ENERGY_KWH), "p", "a"),
        b.build_availability_report(example_availability(), "p", "a"),
        b.build_heartbeat_report(m.Heartbeat(FSP, OPERATOR, SERVICE_START, ((UNIT, "RUNNING_CURTAILED"),)), "p", "a"),
        b.build_emergency_stop_report(m.EmergencyStop(FSP, OPERATOR, (UNIT,), SERVICE_START, "x"), "p", "e"),
        b.build_ack_report(b.acknowledge(b.build_event(example_instruction("SU"), "p"), SERVICE_START), "p", "e"),
    ):
        reports += [(p.type, p.values) for r in report.resources for i in r.intervals for p in i.payloads]
        units |= {d.units for d in report.payloadDescriptors or ()}
        reading_types |= {d.readingType for d in report.payloadDescriptors or ()}
    anchor = b.build_anchor_event("p", OPERATOR, SERVICE_START - timedelta(days=1))
    units |= {d.units for d in anchor.reportDescriptors if d.units}
    reading_types |= {d.readingType for d in anchor.reportDescriptors if d.readingType}
    ven = b.build_ven(
        FSP,
        [m.DispatchUnit(FSP, UNIT, OPERATOR, ("MU-1",), "CMZ_1", ("C-1",), 50.0, 25.0)],
        [m.MeterableUnit(FSP, "MU-1", ("1312345678907",), UNIT)],
    )
    attributes += [(a.type, a.values) for r in ven.resources for a in r.attributes]
    return {"event": events, "report": reports, "attribute": attributes, "units": sorted(units),
            "reading_types": sorted(reading_types)}


def test_standard_payloads_meet_the_profile_schemas_and_the_rest_is_private(standard) -> None:
    found = emitted()
    checked: set[str] = set()
    for where in ("event", "report", "attribute"):
        schemas = profile_schemas(standard[where])
        for type_, values in found[where]:
            if type_ in schemas:
                check(values, schemas[type_])
                checked.add(type_)
            else:
                assert is_private(type_), f"{type_} ({where}) is neither a 3.1.0 type nor GB_"
    # the standard types §4.1 names are really used
    assert {"DISPATCH_SETPOINT", "DISPATCH_SETPOINT_RELATIVE", "PRICE", "DEMAND", "USAGE", "UP_REGULATION_AVAILABLE",
            "DOWN_REGULATION_AVAILABLE", "OPERATING_STATE", "DATA_QUALITY", "MAX_POWER_CONSUMPTION",
            "MAX_POWER_EXPORT"} <= checked
    assert set(found["units"]) <= set(load("units.schema.yaml")["enum"]) and {"KW", "KVAR", "KWH", "KVARH"} <= set(found["units"])
    assert set(found["reading_types"]) <= set(load("reading-types.schema.yaml")["enum"])


def test_signed_types_differ_from_3_1_0_only_by_minimum(standard) -> None:
    merged = {**standard["event"], **standard["report"]}
    relaxed = profile_schemas(merged)
    changed = {name for name in merged if relaxed[name] != merged[name]}
    assert changed == SIGNED_PAYLOADS  # 3.1.0 declares these >= 0; the profile keeps every other constraint
    for name in SIGNED_PAYLOADS:
        assert merged[name]["items"].get("minimum") == 0
        assert relaxed[name] == {**merged[name], "items": {k: v for k, v in merged[name]["items"].items() if k != "minimum"}}
    # fail safe: a strict 3.1.0 VEN refuses a turn-down (negative delta) rather than moving the wrong way
    turn_down = [-250.0]
    check(turn_down, relaxed["DISPATCH_SETPOINT_RELATIVE"])
    with pytest.raises(jsonschema.ValidationError):
        check(turn_down, merged["DISPATCH_SETPOINT_RELATIVE"])
    # availability stays a non-negative magnitude under both (GB-R-032 is stricter than 3.1.0)
    for name in ("UP_REGULATION_AVAILABLE", "DOWN_REGULATION_AVAILABLE"):
        assert relaxed[name] == merged[name]
