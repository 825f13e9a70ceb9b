"""The GB profile validator: valid examples of every product pass; every rule has a failing case.

Failing cases are data (`CASES`: rule, label, a thunk returning the violations), so the completeness
check below compares the rules those cases exercise with `RULES` and with docs/gb-profile.md §8.
"""

import copy
import re
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest

from gb_profile import builders as b
from gb_profile import model as m
from gb_profile.examples import (
    FSP,
    OPERATOR,
    SERVICE_START,
    UNIT,
    example_availability,
    example_event,
    example_instruction,
    example_program,
    example_readings,
)
from gb_profile.products import PRODUCTS
from gb_profile.signing import KeyRing, generate_key, public_jwk, sign_event, sign_report
from gb_profile.validator import (
    RULES,
    Violation,
    is_gb_program,
    is_gb_resource,
    readback_mismatches,
    validate_event,
    validate_event_update,
    validate_program,
    validate_report,
    validate_resource,
)

DOC = Path(__file__).resolve().parents[1] / "docs" / "gb-profile.md"
OPERATOR_KEY, FSP_KEY = generate_key("nged-test-1"), generate_key("acme-test-1")
KEYS = KeyRing()
KEYS.add(OPERATOR, OPERATOR_KEY)
KEYS.add(FSP, public_jwk(FSP_KEY))


def rules_of(violations):
    return {v.rule for v in violations}


# --- valid examples --------------------------------------------------------------------------


@pytest.mark.parametrize("code", list(PRODUCTS))
def test_valid_examples_per_product(code):
    program = example_program(code)
    assert is_gb_program(program.dump()) and is_gb_program(program)
    assert validate_program(program.dump()) == []
    event = example_event(code)
    assert validate_event(event.dump(), program.dump()) == []
    ack = b.build_ack_report(b.acknowledge(event, SERVICE_START), "prog-1", "ev-1")
    assert validate_report(ack.dump(), event.dump()) == []
    # signed both ways, verified with the key ring
    signed = sign_event(event, OPERATOR_KEY)
    assert validate_event(signed.dump(), program.dump(), keys=KEYS) == []
    signed_ack = sign_report(b.build_ack_report(b.acknowledge(signed, SERVICE_START), "prog-1", "ev-1"), FSP_KEY)
    assert validate_report(signed_ack.dump(), signed.dump(), keys=KEYS) == []
    # every revision flow step is valid on its own and as an update of the one before
    run = b.revise_event(event, SERVICE_START - timedelta(days=1), status=m.DispatchStatus.RUN)
    stopped = b.stop_event(run, SERVICE_START + timedelta(minutes=30), SERVICE_START + timedelta(minutes=29))
    for before, after in ((event, run), (run, stopped)):
        assert validate_event(after.dump(), program.dump(), previous=before.dump()) == []
    # the FSP's reports against the program's anchor event
    anchor = b.build_anchor_event("prog-1", OPERATOR, SERVICE_START - timedelta(days=30))
    assert validate_event(anchor.dump(), program.dump()) == []
    reports = [
        b.build_readings_report(example_readings(m.ReadingKind.POWER_KW), "prog-1", "anchor"),
        b.build_readings_report(example_readings(m.ReadingKind.ENERGY_KWH), "prog-1", "anchor"),
        b.build_availability_report(example_availability(), "prog-1", "anchor"),
        b.build_heartbeat_report(m.Heartbeat(FSP, OPERATOR, SERVICE_START, ((UNIT, "RUNNING_CURTAILED"),)), "prog-1", "anchor"),
        b.build_emergency_stop_report(m.EmergencyStop(FSP, OPERATOR, (UNIT,), SERVICE_START, "fire alarm"), "prog-1", "ev-1"),
    ]
    for report in reports:
        assert validate_report(sign_report(report, FSP_KEY).dump(), anchor.dump(), keys=KEYS) == [], report.reportName


def test_valid_resources():
    du = b.build_dispatch_unit_resource(m.DispatchUnit(FSP, UNIT, OPERATOR, ("MU-1",), "CMZ_1", ("C-4411",), 50.0, 50.0))
    mu = b.build_meterable_unit_resource(m.MeterableUnit(FSP, "MU-1", ("1312345678907", "2499999999991"), UNIT))
    assert validate_resource(du.dump()) == [] and validate_resource(mu.dump()) == []


def test_not_gb_program():
    assert not is_gb_program({"programName": "x", "programType": "DSO_CPO_INTERFACE-2.0"})


def test_stateless_validation_of_an_unsigned_instruction():
    event = b.build_event(example_instruction("SU"), "p")
    assert validate_event(event) == []


def test_emergency_stop_event_is_valid_with_priority_zero():
    ins = b.revise(example_instruction("OU_2MIN"), SERVICE_START, status=m.DispatchStatus.EMERGENCY_STOP)
    assert validate_event(b.build_event(ins, "p")) == []


# --- failing cases, one or more per rule -----------------------------------------------------

Case = tuple[str, str, Callable[[], list[Violation]]]
CASES: list[Case] = []


def case(rule: str, label: str, thunk: Callable[[], list[Violation]]) -> None:
    CASES.append((rule, label, thunk))


def mutated(build: Callable[[], dict], mutate: Callable[[dict], object]) -> dict:
    data = build()
    mutate(data)
    return data


def su_program() -> dict:
    return example_program("SU").dump()


def su_event() -> dict:
    return example_event("SU").dump()


def payloads(d, interval=0):
    return d["intervals"][interval]["payloads"]


def set_meta(d, type_, values):
    for p in payloads(d):
        if p["type"] == type_:
            p["values"] = values


for rule, label, mutate in [
    ("GB-X-001", "programName missing", lambda d: d.pop("programName")),
    ("GB-P-001", "unknown product", lambda d: d.update(programType="GB_FLEX:RESERVE")),
    ("GB-P-002", "unknown operator", lambda d: d.update(retailerName="WPD", programName="WPD-SU")),
    ("GB-P-003", "name of another product", lambda d: d.update(programName="NGED-SECURE")),
    ("GB-P-004", "not GB", lambda d: d.update(country="NL")),
    ("GB-P-005", "binding events", lambda d: d.update(bindingEvents=True)),
    ("GB-P-006", "non-GB payload", lambda d: d["payloadDescriptors"].append({"payloadType": "SIMPLE"})),
    ("GB-P-006", "price in EUR", lambda d: d["payloadDescriptors"][-1].update(currency="EUR")),
    ("GB-P-007", "Northern Ireland", lambda d: d.update(principalSubdivision="GB-NIR")),
]:
    case(rule, label, lambda mutate=mutate: validate_program(mutated(su_program, mutate)))


def mwd_program_with_delta() -> list[Violation]:
    data = example_program("MWD").dump()
    data["payloadDescriptors"].append({"payloadType": "DISPATCH_SETPOINT_RELATIVE", "units": "KW"})
    return validate_program(data)


case("GB-P-006", "MW Dispatch program declares a delta setpoint", mwd_program_with_delta)

for rule, label, mutate in [
    ("GB-X-001", "intervals missing", lambda d: d.pop("intervals")),
    ("GB-E-001", "other operator", lambda d: d.update(eventName="UKPN:D-1")),
    ("GB-E-001", "no namespace", lambda d: d.update(eventName="no-namespace")),
    ("GB-E-001", "bad ref characters", lambda d: d.update(eventName="NGED:D 1/2")),
    ("GB-E-002", "two FSPs", lambda d: d["targets"][0].update(values=["A", "B"])),
    ("GB-E-003", "no dispatch unit", lambda d: d["targets"].pop(1)),
    ("GB-E-004", "contract of another operator", lambda d: d["targets"][2].update(values=["UKPN:C-1"])),
    ("GB-E-005", "GROUP target", lambda d: d["targets"].append({"type": "GROUP", "values": ["all"]})),
    ("GB-E-005", "CMZ of another operator", lambda d: d["targets"][3].update(values=["UKPN:CMZ_1"])),
    ("GB-E-006", "local start", lambda d: d["intervalPeriod"].update(start="2025-12-03T17:00:00+01:00")),
    ("GB-E-006", "calendar duration", lambda d: d["intervalPeriod"].update(duration="P1M")),
    ("GB-E-007", "metadata with a period", lambda d: d["intervals"][0].update(intervalPeriod={"start": "2025-12-03T16:00:00Z"})),
    ("GB-E-008", "unknown status", lambda d: set_meta(d, "GB_DISPATCH_STATUS", ["GO"])),
    ("GB-E-009", "revision 0", lambda d: set_meta(d, "GB_DISPATCH_REVISION", [0])),
    ("GB-E-010", "local instruction time", lambda d: set_meta(d, "GB_INSTRUCTION_TIME", ["2025-11-19T16:57:00+01:00"])),
    ("GB-E-011", "extra metadata payload", lambda d: payloads(d).append({"type": "SIMPLE", "values": [1]})),
    ("GB-E-012", "ids not 1..n", lambda d: d["intervals"][2].update(id=5)),
    ("GB-E-012", "setpoint without period", lambda d: d["intervals"][1].pop("intervalPeriod")),
    ("GB-E-013", "gap between setpoints", lambda d: d["intervals"][2]["intervalPeriod"].update(start="2025-12-03T17:05:00Z")),
    ("GB-E-013", "last setpoint ends early", lambda d: d["intervals"][2]["intervalPeriod"].update(duration="PT30M")),
    ("GB-E-014", "two setpoint types", lambda d: payloads(d, 1).append({"type": "DISPATCH_SETPOINT", "values": [1.0]})),
    ("GB-E-014", "non-numeric volume", lambda d: payloads(d, 1)[0].update(values=["x"])),
    ("GB-E-015", "units MW", lambda d: d["payloadDescriptors"][0].update(units="MW")),
    ("GB-E-015", "undeclared payload", lambda d: d["payloadDescriptors"].pop(0)),
    ("GB-E-016", "price in EUR", lambda d: d["payloadDescriptors"][1].update(currency="EUR")),
    ("GB-E-017", "RUN without setpoints", lambda d: d["intervals"].__delitem__(slice(1, None))),
    ("GB-E-017", "CANCELLED with setpoints", lambda d: set_meta(d, "GB_DISPATCH_STATUS", ["CANCELLED"])),
    ("GB-E-018", "no ack request", lambda d: d.update(reportDescriptors=[])),
    ("GB-E-019", "priority 0 without EMERGENCY_STOP", lambda d: d.update(priority=0)),
    ("GB-E-020", "too little notice", lambda d: set_meta(d, "GB_INSTRUCTION_TIME", ["2025-12-03T12:00:00Z"])),
    ("GB-E-021", "four decimals", lambda d: payloads(d, 1)[0].update(values=[-250.1234])),
    ("GB-E-021", "six price decimals", lambda d: payloads(d, 1)[1].update(values=[0.123456])),
    ("GB-E-023", "not a JWS", lambda d: payloads(d).append({"type": "GB_SIGNATURE", "values": ["not-a-jws"]})),
]:
    case(rule, label, lambda mutate=mutate: validate_event(mutated(su_event, mutate), su_program()))


def emergency_stop_without_priority() -> list[Violation]:
    ins = b.revise(example_instruction("OU_2MIN"), SERVICE_START, status=m.DispatchStatus.EMERGENCY_STOP)
    return validate_event(b.build_event(ins, "p").dump() | {"priority": None})


def delta_for_mw_dispatch() -> list[Violation]:
    return validate_event(su_event(), example_program("MWD").dump() | {"retailerName": OPERATOR})


def tampered_signature() -> list[Violation]:
    data = sign_event(example_event("SU"), OPERATOR_KEY).dump()
    payloads(data, 1)[0]["values"] = [-999.0]
    return validate_event(data, keys=KEYS)


def anchor_with_target() -> list[Violation]:
    anchor = b.build_anchor_event("p", OPERATOR, SERVICE_START).dump()
    anchor["targets"] = [{"type": "VEN_NAME", "values": ["x"]}]
    return validate_event(anchor)


case("GB-E-019", "EMERGENCY_STOP without priority 0", emergency_stop_without_priority)
case("GB-E-022", "delta setpoint on a MW Dispatch program", delta_for_mw_dispatch)
case("GB-E-023", "signature does not verify", tampered_signature)
case("GB-E-030", "anchor with a target", anchor_with_target)


def acceptance_for_another_fsp() -> list[Violation]:
    from datetime import date

    from gb_profile.availability import acceptance_event

    event = acceptance_event("p", OPERATOR, "FSP-ACME", date(2027, 3, 22), [])
    event["targets"] = [{"type": "VEN_NAME", "values": ["FSP-OTHER"]}]
    return validate_event(event)


case("GB-E-031", "acceptance event targeting another FSP", acceptance_for_another_fsp)


def first_and_second():
    first = example_event("SU")
    return first, b.revise_event(first, SERVICE_START - timedelta(days=2))


def same_revision() -> list[Violation]:
    _, second = first_and_second()
    return validate_event_update(second, second)


def renamed() -> list[Violation]:
    first, second = first_and_second()
    return validate_event_update(first, second.dump() | {"eventName": "NGED:OTHER"})


def retargeted() -> list[Violation]:
    first, second = first_and_second()
    data = second.dump()
    data["targets"][1]["values"] = ["DU-8"]
    return validate_event(data, previous=first)


def restarted_after_stop() -> list[Violation]:
    first = example_event("SU")
    stopped = b.stop_event(first, SERVICE_START, SERVICE_START)
    again = b.build_event(b.revise(b.parse_event(first), SERVICE_START, status=m.DispatchStatus.RUN), "prog-1").dump()
    set_meta(again, "GB_DISPATCH_REVISION", [3])
    return validate_event_update(stopped, again)


def instruction_time_backwards() -> list[Violation]:
    first, second = first_and_second()
    earlier = second.dump()
    set_meta(earlier, "GB_INSTRUCTION_TIME", ["2020-01-01T00:00:00Z"])
    return validate_event(earlier, previous=first)


case("GB-E-040", "same revision again", same_revision)
case("GB-E-041", "eventName changed", renamed)
case("GB-E-041", "dispatch unit changed", retargeted)
case("GB-E-042", "RUN after STOP", restarted_after_stop)
case("GB-E-043", "instruction time moved backwards", instruction_time_backwards)


def ack_and_event(event=None):
    event = event or example_event("SU")
    return b.build_ack_report(b.acknowledge(event, SERVICE_START), "prog-1", "ev-1").dump(), event.dump()


def ack_payloads(d):
    return d["resources"][0]["intervals"][0]["payloads"]


def validate_ack(mutate) -> list[Violation]:
    report, event = ack_and_event()
    mutate(report)
    return validate_report(report, event)


for rule, label, mutate in [
    ("GB-X-001", "clientName missing", lambda d: d.pop("clientName")),
    ("GB-R-001", "unknown report name", lambda d: d.update(reportName="ACK")),
    ("GB-R-002", "another FSP", lambda d: d.update(clientName="FSP-OTHER")),
    ("GB-R-003", "repeated payload", lambda d: ack_payloads(d).append(dict(ack_payloads(d)[0]))),
    ("GB-R-003", "local interval start", lambda d: d["resources"][0]["intervals"][0]["intervalPeriod"].update(
        start="2025-12-03T17:00:00+01:00")),
    ("GB-R-004", "another dispatch unit", lambda d: d["resources"][0].update(resourceName="DU-8")),
    ("GB-R-004", "two resources", lambda d: d["resources"].append(copy.deepcopy(d["resources"][0]))),
    ("GB-R-005", "not an instant", lambda d: d["resources"][0]["intervals"][0]["intervalPeriod"].update(duration="PT1M")),
    ("GB-R-006", "unknown result", lambda d: ack_payloads(d)[3].update(values=["MAYBE"])),
    ("GB-R-006", "no revision", lambda d: ack_payloads(d).pop(2)),
    ("GB-R-007", "REJECTED without reason", lambda d: ack_payloads(d)[3].update(values=["REJECTED"])),
    ("GB-R-011", "other dispatch ref", lambda d: ack_payloads(d)[1].update(values=["NGED:OTHER"])),
    ("GB-R-011", "revision above the event's", lambda d: ack_payloads(d)[2].update(values=[2])),
    ("GB-R-050", "not a detached JWS", lambda d: ack_payloads(d).append({"type": "GB_SIGNATURE", "values": ["a.b.c"]})),
]:
    case(rule, label, lambda mutate=mutate: validate_ack(mutate))


def misread_status() -> list[Violation]:
    """GB-R-008 is a flag, not a refusal: the misread ack validates, `readback_mismatches` reports it."""
    report, event = ack_and_event()
    ack_payloads(report)[0].update(values=["STOP"])
    assert not {"GB-R-008", "GB-R-011"} & rules_of(validate_report(report, event))
    return readback_mismatches(report, event)


case("GB-R-008", "status read back wrong (flagged)", misread_status)


def test_readback_mismatches_only_for_a_misread_status_of_the_current_revision():
    report, event = ack_and_event()
    assert readback_mismatches(report, event) == []
    assert readback_mismatches({"reportName": "GB_ACK"}, event) == []  # too malformed to compare: validate_report refuses it
    ack_payloads(report)[0].update(values=["STOP"])
    ack_payloads(report)[2].update(values=[0])  # not the current revision: its status is not in the event
    assert readback_mismatches(report, event) == []


def unsigned_ack_of_signed_dispatch() -> list[Violation]:
    report, event = ack_and_event(sign_event(example_event("SU"), OPERATOR_KEY))
    return validate_report(report, event)


def ack_signed_twice() -> list[Violation]:
    report, event = ack_and_event()
    signed = sign_report(report, FSP_KEY).dump()
    signature = ack_payloads(signed)[-1]
    assert signature["type"] == "GB_SIGNATURE"
    signed["resources"].append({"resourceName": "DU-7", "intervals": [{"id": 0, "payloads": [copy.deepcopy(signature)]}]})
    return validate_report(signed, event, keys=KEYS)


def ack_signed_by_operator_key() -> list[Violation]:
    report, event = ack_and_event()
    return validate_report(sign_report(report, OPERATOR_KEY).dump(), event, keys=KEYS)


case("GB-R-009", "signed dispatch, unsigned ack", unsigned_ack_of_signed_dispatch)
case("GB-R-050", "two signatures", ack_signed_twice)
case("GB-R-050", "signed with a key that is not the FSP's", ack_signed_by_operator_key)


def reading_interval(d, index=0):
    return d["resources"][0]["intervals"][index]


def heartbeat(mutate) -> list[Violation]:
    data = b.build_heartbeat_report(m.Heartbeat(FSP, OPERATOR, SERVICE_START, ((UNIT, "NORMAL"),)), "p", "a").dump()
    mutate(data)
    return validate_report(data)


case("GB-R-010", "unknown operator", lambda: heartbeat(lambda d: reading_interval(d)["payloads"][1].update(values=["WPD"])))
case("GB-R-010", "no AGGREGATED_REPORT", lambda: heartbeat(lambda d: d["resources"].pop(0)))
case("GB-R-010", "bad OPERATING_STATE", lambda: heartbeat(lambda d: d["resources"][1]["intervals"][0]["payloads"][0].update(
    values=["ON_FIRE"])))


def readings_as(own_resources: set[str]) -> list[Violation]:
    data = b.build_readings_report(example_readings(), "p", "a").dump()
    return validate_report(data, own_resources=own_resources)


case("GB-R-012", "a meter of another FSP", lambda: readings_as({"MU-OTHER"}))


def test_own_meters_pass_gb_r_012():
    meters = {r["resourceName"] for r in b.build_readings_report(example_readings(), "p", "a").dump()["resources"]}
    assert "GB-R-012" not in rules_of(readings_as(meters))


def readings(mutate, kind=m.ReadingKind.POWER_KW) -> list[Violation]:
    data = b.build_readings_report(example_readings(kind), "p", "a").dump()
    mutate(data)
    return validate_report(data)


for rule, label, mutate in [
    ("GB-R-020", "DEMAND as PEAK", lambda d: d["payloadDescriptors"][0].update(readingType="PEAK")),
    ("GB-R-020", "undeclared DEMAND", lambda d: d.update(payloadDescriptors=[])),
    ("GB-R-021", "five-minute DEMAND", lambda d: reading_interval(d, 1)["intervalPeriod"].update(duration="PT5M")),
    ("GB-R-021", "DEMAND off the minute", lambda d: reading_interval(d, 1)["intervalPeriod"].update(start=
        "2025-12-03T16:01:30Z")),
    ("GB-R-022", "unknown DATA_QUALITY", lambda d: reading_interval(d)["payloads"][1].update(values=["GOOD"])),
    ("GB-R-022", "no value", lambda d: reading_interval(d, 1).update(payloads=[])),
    ("GB-R-023", "repeated id", lambda d: reading_interval(d, 1).update(id=0)),
    ("GB-R-023", "overlap", lambda d: reading_interval(d, 2)["intervalPeriod"].update(start="2025-12-03T16:01:00Z")),
    ("GB-R-024", "no operator", lambda d: reading_interval(d)["payloads"].pop(2)),
]:
    case(rule, label, lambda mutate=mutate: readings(mutate))

case("GB-R-021", "USAGE off the half hour", lambda: readings(
    lambda d: reading_interval(d)["intervalPeriod"].update(start="2025-12-03T16:15:00Z"), m.ReadingKind.ENERGY_KWH))


def availability(mutate) -> list[Violation]:
    data = b.build_availability_report(example_availability(), "p", "a").dump()
    mutate(data)
    return validate_report(data)


for rule, label, mutate in [
    ("GB-R-030", "declared as MEAN", lambda d: d["payloadDescriptors"][0].update(readingType="MEAN")),
    ("GB-R-031", "off a period boundary", lambda d: reading_interval(d)["intervalPeriod"].update(start="2025-12-03T16:10:00Z")),
    ("GB-R-031", "not whole periods", lambda d: reading_interval(d)["intervalPeriod"].update(duration="PT45M")),
    ("GB-R-032", "negative", lambda d: reading_interval(d)["payloads"][0].update(values=[-5])),
    ("GB-R-032", "nothing declared", lambda d: reading_interval(d, 1).update(payloads=[])),
    ("GB-R-024", "no contract", lambda d: reading_interval(d)["payloads"].pop(1)),
]:
    case(rule, label, lambda mutate=mutate: availability(mutate))


def emergency_stop(mutate) -> list[Violation]:
    data = b.build_emergency_stop_report(m.EmergencyStop(FSP, OPERATOR, (UNIT,), SERVICE_START, "x"), "p", "e").dump()
    mutate(data)
    return validate_report(data)


case("GB-R-040", "empty reason", lambda: emergency_stop(lambda d: reading_interval(d)["payloads"][0].update(values=[""])))
case("GB-R-040", "no dispatch unit", lambda: emergency_stop(lambda d: d.update(resources=[])))


def clearance(mutate) -> list[Violation]:
    data = b.build_emergency_stop_report(m.EmergencyStop(FSP, OPERATOR, (UNIT, "DU-8"), SERVICE_START, "fixed", cleared=True),
                                         "p", "e").dump()
    mutate(data)
    return validate_report(data)


def mixed_stop_and_clearance(d) -> None:  # type: ignore[no-untyped-def]
    d["resources"][1]["intervals"][0]["payloads"][0]["type"] = m.P_EMERGENCY_STOP


case("GB-R-041", "empty note", lambda: clearance(lambda d: reading_interval(d)["payloads"][0].update(values=[""])))
case("GB-R-041", "stop and clearance mixed", lambda: clearance(mixed_stop_and_clearance))
case("GB-R-041", "no operator", lambda: clearance(lambda d: reading_interval(d)["payloads"].pop(1)))


def test_clearance_round_trips_and_is_valid() -> None:
    cleared = m.EmergencyStop(FSP, OPERATOR, (UNIT,), SERVICE_START, "inverter replaced", cleared=True)
    report = b.build_emergency_stop_report(cleared, "p", "e")
    assert validate_report(report.dump()) == []
    assert b.parse_emergency_stop_report(report.dump()) == cleared
    payloads = {p.type: p.values for p in report.resources[0].intervals[0].payloads}
    assert payloads[m.P_EMERGENCY_STOP_CLEARED] == ["inverter replaced"] and m.P_EMERGENCY_STOP not in payloads
    assert payloads[m.P_OPERATING_STATE] == ["IDLE_NORMAL"]


def resource(mutate, meter=False) -> list[Violation]:
    built = (
        b.build_meterable_unit_resource(m.MeterableUnit(FSP, "MU-1", ("1312345678907",)))
        if meter
        else b.build_dispatch_unit_resource(m.DispatchUnit(FSP, UNIT, OPERATOR))
    )
    data = built.dump()
    mutate(data)
    return validate_resource(data)


case("GB-X-001", "resource without name", lambda: resource(lambda d: d.pop("resourceName")))
case("GB-V-001", "unknown role", lambda: resource(lambda d: d["attributes"][0].update(values=["SITE"])))
case("GB-V-001", "no role", lambda: resource(lambda d: d.update(attributes=[])))
case("GB-V-002", "bad check digit", lambda: resource(lambda d: d["attributes"][1].update(values=["1312345678901"]), meter=True))
case("GB-V-002", "no MPAN", lambda: resource(lambda d: d["attributes"].pop(1), meter=True))


def meter_with(**kw) -> list[Violation]:
    data = b.build_meterable_unit_resource(m.MeterableUnit(FSP, "MU-1", ("1312345678907",))).dump()
    return validate_resource(data, **kw)


case("GB-V-003", "MPAN core registered by another FSP", lambda: meter_with(taken={"1312345678907": "FSP-OTHER"}))
case("GB-V-004", "MPAN outside the operator's licence areas", lambda: meter_with(operator_id="NGED"))  # 13: SPEN


def test_resource_checks_that_need_the_registry_or_the_operator():
    assert meter_with() == []
    assert meter_with(taken={"2499999999991": "FSP-OTHER"}, operator_id="SPEN") == []
    [violation] = meter_with(taken={"1312345678907": "FSP-OTHER"})
    assert "FSP-OTHER" in violation.message
    unit = b.build_dispatch_unit_resource(m.DispatchUnit(FSP, UNIT, OPERATOR)).dump()
    assert validate_resource(unit, operator_id="UKPN") == []  # a dispatch unit names no MPAN
    assert is_gb_resource(unit)
    assert not is_gb_resource({"resourceName": "r", "attributes": [{"type": "GB_MPAN", "values": ["1"]}]})


@pytest.mark.parametrize(("rule", "thunk"), [(r, t) for r, _, t in CASES], ids=[f"{r}-{label}" for r, label, _ in CASES])
def test_failing_case(rule, thunk):
    violations = thunk()
    assert rule in rules_of(violations), violations
    assert all(v.rule in RULES and v.message for v in violations)


def test_every_rule_has_a_failing_case_and_is_documented():
    assert {rule for rule, _, _ in CASES} == set(RULES), set(RULES) ^ {rule for rule, _, _ in CASES}
    documented = set(re.findall(r"GB-[A-Z]-\d{3}", DOC.read_text()))
    assert documented == set(RULES), documented ^ set(RULES)
    table = dict(re.findall(r"^\| (GB-[A-Z]-\d{3}) \| (.+) \|$", DOC.read_text(), re.MULTILINE))
    assert table == RULES, {k for k in RULES if table.get(k) != RULES[k]}


def test_minute_and_half_hour_readings_of_one_meter_may_overlap():
    """GB-R-023 forbids overlap within one payload type only: a meter's DEMAND minutes sit inside its USAGE half hour."""
    both = m.MeterReadings(FSP, OPERATOR, example_readings().readings + example_readings(m.ReadingKind.ENERGY_KWH).readings)
    report = b.build_readings_report(both, "p", "a").dump()
    assert validate_report(report) == []
    usage = next(i for i in report["resources"][0]["intervals"] if i["payloads"][0]["type"] == "USAGE" and i["id"] > 0)
    usage["intervalPeriod"]["start"] = "2025-12-03T16:00:00Z"  # now two USAGE half hours coincide
    assert rules_of(validate_report(report)) == {"GB-R-023"}
