import copy
import re
from datetime import timedelta
from pathlib import Path

import pytest

from gb_profile import builders as b
from gb_profile import model as m
from gb_profile.examples import (
    SERVICE_START,
    example_availability,
    example_event,
    example_instruction,
    example_program,
    example_readings,
)
from gb_profile.products import PRODUCTS
from gb_profile.validator import (
    RULES,
    is_gb_program,
    validate_event,
    validate_event_update,
    validate_program,
    validate_report,
    validate_resource,
)

DOC = Path(__file__).resolve().parents[1] / "docs" / "gb-profile.md"


def rules_of(violations):
    return {v.rule for v in violations}


@pytest.mark.parametrize("code", list(PRODUCTS))
def test_valid_examples_per_product(code):
    program = example_program(code)
    assert is_gb_program(program.dump()) and is_gb_program(program)
    assert validate_program(program.dump()) == []
    event = example_event(code)
    assert validate_event(event.dump(), program.dump()) == []
    ack = b.build_ack_report(b.acknowledge(event, SERVICE_START), "prog-1", "ev-1")
    assert validate_report(ack.dump(), event.dump()) == []


def test_not_gb_program():
    assert not is_gb_program({"programName": "x", "programType": "DSO_CPO_INTERFACE-2.0"})


def prog(mutate):
    data = example_program("SU").dump()
    mutate(data)
    return rules_of(validate_program(data))


@pytest.mark.parametrize(
    ("rule", "mutate"),
    [
        ("GB-X-001", lambda d: d.pop("programName")),
        ("GB-P-001", lambda d: d.update(programType="GB_FLEX:RESERVE")),
        ("GB-P-002", lambda d: d.update(retailerName="WPD", programName="WPD-SU")),
        ("GB-P-003", lambda d: d.update(programName="NGED-SECURE")),
        ("GB-P-004", lambda d: d.update(country="NL")),
        ("GB-P-005", lambda d: d.update(bindingEvents=True)),
        ("GB-P-006", lambda d: d["payloadDescriptors"].append({"payloadType": "SIMPLE"})),
        ("GB-P-007", lambda d: d.update(principalSubdivision="GB-NIR")),
    ],
)
def test_program_rules(rule, mutate):
    assert rule in prog(mutate)


def test_mwd_program_rejects_delta():
    data = example_program("MWD").dump()
    data["payloadDescriptors"].append({"payloadType": "DISPATCH_SETPOINT_RELATIVE", "units": "KW"})
    assert rules_of(validate_program(data)) == {"GB-P-006"}


def payloads(d, interval=0):
    return d["intervals"][interval]["payloads"]


def set_meta(d, type_, values):
    for p in payloads(d):
        if p["type"] == type_:
            p["values"] = values


@pytest.mark.parametrize(
    ("rule", "mutate"),
    [
        ("GB-X-001", lambda d: d.pop("intervals")),
        ("GB-E-001", lambda d: d.update(eventName="UKPN:D-1")),
        ("GB-E-001", lambda d: d.update(eventName="no-namespace")),
        ("GB-E-002", lambda d: d["targets"][0].update(values=["A", "B"])),
        ("GB-E-003", lambda d: d["targets"].pop(1)),
        ("GB-E-004", lambda d: d["targets"][2].update(values=["UKPN:C-1"])),
        ("GB-E-005", lambda d: d["targets"].append({"type": "GROUP", "values": ["all"]})),
        ("GB-E-006", lambda d: d["intervalPeriod"].update(start="2025-12-03T17:00:00+01:00")),
        ("GB-E-006", lambda d: d["intervalPeriod"].update(duration="P1M")),
        ("GB-E-007", lambda d: d["intervals"][0].update(intervalPeriod={"start": "2025-12-03T16:00:00Z"})),
        ("GB-E-008", lambda d: set_meta(d, "GB_DISPATCH_STATUS", ["GO"])),
        ("GB-E-009", lambda d: set_meta(d, "GB_DISPATCH_REVISION", [0])),
        ("GB-E-010", lambda d: set_meta(d, "GB_INSTRUCTION_TIME", ["2025-11-19T16:57:00+01:00"])),
        ("GB-E-011", lambda d: payloads(d).append({"type": "SIMPLE", "values": [1]})),
        ("GB-E-012", lambda d: d["intervals"][2].update(id=5)),
        ("GB-E-012", lambda d: d["intervals"][1].pop("intervalPeriod")),
        ("GB-E-013", lambda d: d["intervals"][2]["intervalPeriod"].update(start="2025-12-03T17:05:00Z")),
        ("GB-E-014", lambda d: payloads(d, 1).append({"type": "DISPATCH_SETPOINT", "values": [1.0]})),
        ("GB-E-014", lambda d: payloads(d, 1)[0].update(values=["x"])),
        ("GB-E-015", lambda d: d["payloadDescriptors"][0].update(units="MW")),
        ("GB-E-016", lambda d: d["payloadDescriptors"][1].update(currency="EUR")),
        ("GB-E-017", lambda d: d["intervals"].__delitem__(slice(1, None))),
        ("GB-E-018", lambda d: d.update(reportDescriptors=[])),
        ("GB-E-019", lambda d: d.update(priority=0)),
        ("GB-E-020", lambda d: set_meta(d, "GB_INSTRUCTION_TIME", ["2025-12-03T12:00:00Z"])),
        ("GB-E-021", lambda d: payloads(d, 1)[0].update(values=[-250.1234])),
        ("GB-E-023", lambda d: payloads(d).append({"type": "GB_SIGNATURE", "values": ["not-a-jws"]})),
    ],
)
def test_event_rules(rule, mutate):
    data = example_event("SU").dump()
    mutate(data)
    assert rule in rules_of(validate_event(data, example_program("SU").dump()))


def test_e022_product_setpoint_kind():
    data = example_event("SU").dump()
    assert "GB-E-022" in rules_of(validate_event(data, example_program("MWD").dump() | {"retailerName": "NGED"}))


def test_e017_cancelled_with_setpoints():
    data = example_event("SU").dump()
    set_meta(data, "GB_DISPATCH_STATUS", ["CANCELLED"])
    assert "GB-E-017" in rules_of(validate_event(data))


def test_e030_anchor():
    anchor = b.build_anchor_event("p", "NGED", SERVICE_START).dump()
    anchor["targets"] = [{"type": "VEN_NAME", "values": ["x"]}]
    assert rules_of(validate_event(anchor)) == {"GB-E-030"}


def test_update_rules():
    first = example_event("SU")
    second = b.revise_event(first, SERVICE_START - timedelta(days=2))
    assert validate_event_update(first, second) == []
    assert "GB-E-040" in rules_of(validate_event_update(second, second))
    renamed = second.dump() | {"eventName": "NGED:OTHER"}
    assert "GB-E-041" in rules_of(validate_event_update(first, renamed))
    stopped = b.stop_event(first, SERVICE_START, SERVICE_START)
    restarted = b.build_event(
        b.revise(b.parse_event(first), SERVICE_START + timedelta(minutes=1), status=m.DispatchStatus.RUN), "prog-1"
    ).dump()
    set_meta(restarted, "GB_DISPATCH_REVISION", [3])
    assert "GB-E-042" in rules_of(validate_event_update(stopped, restarted))
    earlier = second.dump()
    set_meta(earlier, "GB_INSTRUCTION_TIME", ["2020-01-01T00:00:00Z"])
    assert "GB-E-043" in rules_of(validate_event(earlier, previous=first))


# --- reports -------------------------------------------------------------------------------


def ack_dict(**kwargs):
    event = example_event("SU")
    ack = b.acknowledge(event, SERVICE_START, **kwargs)
    return b.build_ack_report(ack, "prog-1", "ev-1").dump(), event.dump()


def ack_payloads(d):
    return d["resources"][0]["intervals"][0]["payloads"]


@pytest.mark.parametrize(
    ("rule", "mutate"),
    [
        ("GB-X-001", lambda d: d.pop("clientName")),
        ("GB-R-001", lambda d: d.update(reportName="ACK")),
        ("GB-R-002", lambda d: d.update(clientName="FSP-OTHER")),
        ("GB-R-003", lambda d: ack_payloads(d).append(dict(ack_payloads(d)[0]))),
        ("GB-R-004", lambda d: d["resources"][0].update(resourceName="DU-8")),
        ("GB-R-005", lambda d: d["resources"][0]["intervals"][0]["intervalPeriod"].update(duration="PT1M")),
        ("GB-R-006", lambda d: ack_payloads(d)[3].update(values=["MAYBE"])),
        ("GB-R-007", lambda d: ack_payloads(d)[3].update(values=["REJECTED"])),
        ("GB-R-008", lambda d: ack_payloads(d)[0].update(values=["STOP"])),
        ("GB-R-008", lambda d: ack_payloads(d)[1].update(values=["NGED:OTHER"])),
        ("GB-R-050", lambda d: ack_payloads(d).append({"type": "GB_SIGNATURE", "values": ["a.b.c"]})),
    ],
)
def test_ack_rules(rule, mutate):
    report, event = ack_dict()
    mutate(report)
    assert rule in rules_of(validate_report(report, event))


def test_r009_signed_dispatch_needs_signed_ack():
    from gb_profile.signing import generate_key, sign_event

    event = sign_event(example_event("SU"), generate_key("k1"))
    report = b.build_ack_report(b.acknowledge(event, SERVICE_START), "prog-1", "ev-1")
    assert rules_of(validate_report(report, event)) == {"GB-R-009"}


def test_r010_heartbeat():
    report = b.build_heartbeat_report(m.Heartbeat("FSP-ACME", "NGED", SERVICE_START), "p", "a").dump()
    assert validate_report(report) == []
    report["resources"][0]["intervals"][0]["payloads"][1]["values"] = ["WPD"]
    assert rules_of(validate_report(report)) == {"GB-R-010"}


def readings(kind=m.ReadingKind.POWER_KW):
    return b.build_readings_report(example_readings(kind), "p", "a").dump()


@pytest.mark.parametrize(
    ("rule", "mutate"),
    [
        ("GB-R-020", lambda d: d["payloadDescriptors"][0].update(readingType="PEAK")),
        ("GB-R-021", lambda d: d["resources"][0]["intervals"][1]["intervalPeriod"].update(duration="PT5M")),
        ("GB-R-021", lambda d: d["resources"][0]["intervals"][1]["intervalPeriod"].update(start="2025-12-03T16:01:30Z")),
        ("GB-R-022", lambda d: d["resources"][0]["intervals"][0]["payloads"][1].update(values=["GOOD"])),
        ("GB-R-023", lambda d: d["resources"][0]["intervals"][1].update(id=0)),
        ("GB-R-024", lambda d: d["resources"][0]["intervals"][0]["payloads"].pop(2)),
    ],
)
def test_readings_rules(rule, mutate):
    data = readings()
    mutate(data)
    assert rule in rules_of(validate_report(data))


def test_r021_usage_alignment():
    data = readings(m.ReadingKind.ENERGY_KWH)
    data["resources"][0]["intervals"][0]["intervalPeriod"]["start"] = "2025-12-03T16:15:00Z"
    assert "GB-R-021" in rules_of(validate_report(data))


def availability():
    return b.build_availability_report(example_availability(), "p", "a").dump()


@pytest.mark.parametrize(
    ("rule", "mutate"),
    [
        ("GB-R-030", lambda d: d["payloadDescriptors"][0].update(readingType="MEAN")),
        ("GB-R-031", lambda d: d["resources"][0]["intervals"][0]["intervalPeriod"].update(start="2025-12-03T16:10:00Z")),
        ("GB-R-032", lambda d: d["resources"][0]["intervals"][0]["payloads"][0].update(values=[-5])),
        ("GB-R-024", lambda d: d["resources"][0]["intervals"][0]["payloads"].pop(1)),
    ],
)
def test_availability_rules(rule, mutate):
    data = availability()
    mutate(data)
    assert rule in rules_of(validate_report(data))


def test_r040_emergency_stop():
    report = b.build_emergency_stop_report(m.EmergencyStop("FSP-ACME", "NGED", ("DU-7",), SERVICE_START, "x"), "p", "e")
    data = report.dump()
    data["resources"][0]["intervals"][0]["payloads"][0]["values"] = [""]
    assert rules_of(validate_report(data)) == {"GB-R-040"}


def test_resource_rules():
    du = b.build_dispatch_unit_resource(m.DispatchUnit("FSP-ACME", "DU-7", "NGED")).dump()
    mu = b.build_meterable_unit_resource(m.MeterableUnit("FSP-ACME", "MU-1", ("1312345678907",))).dump()
    assert validate_resource(du) == [] and validate_resource(mu) == []
    bad_role = copy.deepcopy(du)
    bad_role["attributes"][0]["values"] = ["SITE"]
    assert rules_of(validate_resource(bad_role)) == {"GB-V-001"}
    mu["attributes"][1]["values"] = ["1312345678901"]
    assert rules_of(validate_resource(mu)) == {"GB-V-002"}


def test_every_rule_has_a_failing_case_and_is_documented():
    source = Path(__file__).read_text()
    tested = set(re.findall(r'"(GB-[A-Z]-\d{3})"', source))
    assert set(RULES) <= tested, set(RULES) - tested
    documented = set(re.findall(r"GB-[A-Z]-\d{3}", DOC.read_text()))
    assert documented == set(RULES), documented ^ set(RULES)


def test_stateless_validation_of_an_instruction_with_signature_only_checks_form():
    event = b.build_event(example_instruction("SU"), "p")
    assert validate_event(event) == []
