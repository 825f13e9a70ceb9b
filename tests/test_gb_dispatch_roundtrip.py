import dataclasses
import itertools
from datetime import UTC, date, datetime, time, timedelta

import pytest
import typer

from gb_profile import builders as b
from gb_profile import model as m
from gb_profile import settlement as sp
from gb_profile.cli import parse_time
from gb_profile.examples import SERVICE_START, example_availability, example_instruction, example_readings
from gb_profile.products import PRODUCTS
from gb_profile.validator import validate_event, validate_event_update, validate_report
from openadr3.models import Event, Program, Report

T0 = SERVICE_START


def wire_roundtrip(event):
    data = event.dump()
    assert Event.model_validate(data).dump() == data
    return data


@pytest.mark.parametrize("code", list(PRODUCTS))
def test_instruction_event_instruction_lossless(code):
    ins = example_instruction(code)
    program = b.build_program(code, None, operator_id="NGED")
    Program.model_validate(program.dump())
    event = b.build_event(ins, "prog-1")
    back = b.parse_event(wire_roundtrip(event))
    assert back == ins
    # every Appendix A field, one by one
    for f in dataclasses.fields(ins):
        assert getattr(back, f.name) == getattr(ins, f.name), f.name
    assert validate_event(event, program) == []


def test_every_setpoint_field_survives():
    ins = dataclasses.replace(
        example_instruction("OU_15MIN"),
        setpoints=(
            m.Setpoint(T0, -250.125, m.ServiceUnits.KVAR, m.SetpointKind.DELTA, price=0.12345),
            m.Setpoint(T0 + timedelta(minutes=7), 40.0, m.ServiceUnits.KVAR, m.SetpointKind.ABSOLUTE, price=None),
            m.Setpoint(T0 + timedelta(minutes=61), 0, m.ServiceUnits.KVAR, m.SetpointKind.DELTA, price=0.0),
        ),
        cmz=None,
        signature="abc..def",
        status=m.DispatchStatus.PRE_NOTIFY,
    )
    event = b.build_event(ins, "p")
    back = b.parse_event(wire_roundtrip(event))
    assert back == ins
    assert [s.service_type for s in back.setpoints] == [m.ServiceType.REACTIVE] * 3
    descriptors = {d.payloadType: (d.units, d.currency) for d in event.payloadDescriptors}
    assert descriptors == {
        "DISPATCH_SETPOINT": ("KVAR", None),
        "DISPATCH_SETPOINT_RELATIVE": ("KVAR", None),
        "PRICE": ("KVARH", "GBP"),
    }


def test_wire_shape():
    event = b.build_event(example_instruction("SU"), "prog-1").dump()
    assert event["eventName"] == "NGED:D-SU-0001"
    assert event["intervalPeriod"] == {"start": "2025-12-03T16:00:00Z", "duration": "PT2H"}
    assert {t["type"]: t["values"] for t in event["targets"]} == {
        "VEN_NAME": ["FSP-ACME"],
        "RESOURCE_NAME": ["DU-7"],
        "GB_CONTRACT": ["NGED:C-4411"],
        "GB_CMZ": ["NGED:CMZ_T7B_SWA_0012"],
    }
    zero = event["intervals"][0]
    assert zero["id"] == 0 and "intervalPeriod" not in zero
    assert {p["type"]: p["values"] for p in zero["payloads"]} == {
        "GB_DISPATCH_STATUS": ["RUN"],
        "GB_DISPATCH_REVISION": [1],
        "GB_INSTRUCTION_TIME": ["2025-11-19T15:57:00Z"],
    }
    assert event["intervals"][2]["intervalPeriod"] == {"start": "2025-12-03T17:00:00Z", "duration": "PT1H"}


def test_non_utc_inputs_become_utc():
    ins = example_instruction("SU")
    plus_one = datetime(2025, 12, 3, 17, 0, tzinfo=__import__("zoneinfo").ZoneInfo("Europe/Paris"))
    moved = dataclasses.replace(ins, service_start=plus_one)
    assert b.build_event(moved, "p").dump()["intervalPeriod"]["start"] == "2025-12-03T16:00:00Z"
    with pytest.raises(m.ProfileError):
        b.build_event(dataclasses.replace(ins, service_start=datetime(2025, 12, 3, 16)), "p")


def test_revision_stop_cancel_flow():
    event = b.build_event(
        dataclasses.replace(example_instruction("VAOU_15MIN"), status=m.DispatchStatus.PRE_NOTIFY), "p", event_id="e1"
    )
    run = b.revise_event(event, T0 - timedelta(minutes=20), status=m.DispatchStatus.RUN)
    assert run.id == "e1" and b.parse_event(run).revision == 2 and b.parse_event(run).status is m.DispatchStatus.RUN
    assert validate_event_update(event, run) == [] and validate_event(run, previous=event) == []
    stopped = b.stop_event(run, T0 + timedelta(minutes=75), T0 + timedelta(minutes=74))
    ins = b.parse_event(stopped)
    assert (ins.revision, ins.status) == (3, m.DispatchStatus.STOP)
    assert ins.service_end == T0 + timedelta(minutes=75) and len(ins.setpoints) == 2
    assert stopped.intervals[-1].intervalPeriod.duration == "PT15M"
    assert validate_event(stopped, previous=run) == []
    with pytest.raises(m.ProfileError, match="cannot change"):
        b.revise_event(stopped, T0 + timedelta(hours=1), status=m.DispatchStatus.RUN)
    with pytest.raises(m.ProfileError, match="cannot be revised"):
        b.revise_event(stopped, T0 + timedelta(hours=1))
    cancelled = b.cancel_event(event, T0 - timedelta(hours=1))
    c = b.parse_event(cancelled)
    assert c.status is m.DispatchStatus.CANCELLED and c.setpoints == () and c.service_end == c.service_start
    assert validate_event(cancelled, previous=event) == []
    # going backwards is caught by the update rules
    assert {v.rule for v in validate_event_update(run, event)} >= {"GB-E-040"}


def test_revision_cannot_change_identity():
    with pytest.raises(m.ProfileError, match="cannot change dispatch_unit"):
        b.revise(example_instruction("SU"), T0, dispatch_unit="DU-8")


def test_emergency_stop_event_has_priority_zero():
    ins = b.revise(example_instruction("OU_2MIN"), T0 + timedelta(minutes=1), status=m.DispatchStatus.EMERGENCY_STOP)
    event = b.build_event(ins, "p")
    assert event.priority == 0 and validate_event(event) == []


@pytest.mark.parametrize("status", list(m.DispatchStatus))
def test_ack_roundtrip(status):
    event = b.build_event(example_instruction("SU"), "p", event_id="e1")
    ack = b.acknowledge(event, T0 - timedelta(days=1), status=status, result=m.AckResult.REJECTED, reason="asset offline")
    report = b.build_ack_report(ack, "p", "e1")
    Report.model_validate(report.dump())
    assert b.parse_ack_report(report.dump()) == ack
    assert ack.dispatch_unit == "DU-7" and ack.event_name == "NGED:D-SU-0001"


def test_heartbeat_emergency_stop_availability_roundtrip():
    hb = m.Heartbeat("FSP-ACME", "NGED", T0, operating_states=(("DU-7", "RUNNING_CURTAILED"),))
    assert b.parse_heartbeat_report(b.build_heartbeat_report(hb, "p", "anchor").dump()) == hb
    es = m.EmergencyStop("FSP-ACME", "NGED", ("DU-7", "DU-8"), T0, "site safety")
    report = b.build_emergency_stop_report(es, "p", "e1")
    assert b.parse_emergency_stop_report(report.dump()) == es and validate_report(report) == []
    av = example_availability()
    report = b.build_availability_report(av, "p", "anchor")
    assert b.parse_availability_report(report.dump()) == av and validate_report(report) == []
    with pytest.raises(m.ProfileError, match=">= 0"):
        b.build_availability_report(
            dataclasses.replace(av, windows={"DU-7": (m.AvailabilityWindow(T0, timedelta(minutes=30), turn_down_kw=-1),)}),
            "p",
            "a",
        )


@pytest.mark.parametrize("kind", list(m.ReadingKind))
def test_readings_roundtrip(kind):
    readings = example_readings(kind)
    report = b.build_readings_report(readings, "p", "anchor")
    assert validate_report(report) == []
    assert b.parse_readings_report(report.dump()) == readings
    descriptor = report.payloadDescriptors[0]
    assert (descriptor.payloadType, descriptor.units) == (
        ("DEMAND", "KW") if kind is m.ReadingKind.POWER_KW else ("USAGE", "KWH")
    )


def test_flexible_power_conversion():
    r = b.from_flexible_power("MU-1", datetime(2025, 2, 1, 2, 0, tzinfo=UTC), -907.99, m.ReadingKind.POWER_KW)
    assert r.start == datetime(2025, 2, 1, 1, 59, tzinfo=UTC) and r.value == 907.99
    assert b.to_flexible_power(r) == (datetime(2025, 2, 1, 2, 0, tzinfo=UTC), -907.99)
    h = b.from_flexible_power("MU-1", datetime(2025, 2, 1, 2, 0, tzinfo=UTC), 12.5, m.ReadingKind.ENERGY_KWH)
    assert h.start == datetime(2025, 2, 1, 1, 30, tzinfo=UTC) and h.value == -12.5


def test_anchor_event():
    anchor = b.build_anchor_event("p", "NGED", T0)
    Event.model_validate(anchor.dump())
    assert b.is_anchor_event(anchor.dump()) and validate_event(anchor) == []


def test_program_and_ven():
    from gb_profile.examples import example_contract

    program = b.build_program("SAOU_2MIN", example_contract("SAOU_2MIN"))
    assert (program.programName, program.programType, program.retailerName) == ("NGED-SAOU_2MIN", "GB_FLEX:SAOU_2MIN", "NGED")
    ven = b.build_ven(
        "FSP-ACME",
        [m.DispatchUnit("FSP-ACME", "DU-7", "NGED", meterable_units=("MU-1",), cmz="CMZ_1", contracts=("C-4411",))],
        [m.MeterableUnit("FSP-ACME", "MU-1", ("13 1234 5678 907",), dispatch_unit="DU-7")],
    )
    targets = {t.type: t.values for t in ven.targets}
    assert targets == {"VEN_NAME": ["FSP-ACME"], "GB_CONTRACT": ["NGED:C-4411"], "RESOURCE_NAME": ["DU-7"]}
    mu = ven.resources[1]
    assert {a.type: a.values for a in mu.attributes}["GB_MPAN"] == ["1312345678907"]
    with pytest.raises(Exception, match="check digit"):
        b.build_meterable_unit_resource(m.MeterableUnit("FSP-ACME", "MU-2", ("1312345678901",)))


# --- settlement periods ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "count"),
    [
        (date(2025, 3, 30), 46),
        (date(2025, 10, 26), 50),
        (date(2025, 6, 1), 48),
        (date(2024, 3, 31), 46),
        (date(2024, 10, 27), 50),
    ],
)
def test_periods_per_day(day, count):
    assert sp.periods_in_day(day) == count
    starts = [sp.period_start(day, n) for n in range(1, count + 1)]
    assert all(b2 - a == timedelta(minutes=30) for a, b2 in itertools.pairwise(starts))
    assert starts[-1] + timedelta(minutes=30) == sp.day_start(day + timedelta(days=1))
    assert [sp.period_of(s) for s in starts] == [(day, n) for n in range(1, count + 1)]


def test_clock_change_instants():
    spring, autumn = date(2025, 3, 30), date(2025, 10, 26)
    assert sp.period_start(spring, 1) == datetime(2025, 3, 30, 0, 0, tzinfo=UTC)  # 00:00 GMT
    assert sp.period_start(spring, 3) == datetime(2025, 3, 30, 1, 0, tzinfo=UTC)  # 02:00 BST
    assert sp.period_start(autumn, 1) == datetime(2025, 10, 25, 23, 0, tzinfo=UTC)  # 00:00 BST
    assert sp.period_start(autumn, 3) == datetime(2025, 10, 26, 0, 0, tzinfo=UTC)  # first 01:00 (BST)
    assert sp.period_start(autumn, 5) == datetime(2025, 10, 26, 1, 0, tzinfo=UTC)  # second 01:00 (GMT)
    assert sp.period_of(datetime(2025, 10, 26, 1, 15, tzinfo=UTC)) == (autumn, 5)
    assert sp.period_of(datetime(2025, 7, 1, 12, 0, tzinfo=UTC)) == (date(2025, 7, 1), 27)  # 13:00 BST
    with pytest.raises(sp.SettlementPeriodError):
        sp.period_start(spring, 47)
    with pytest.raises(sp.SettlementPeriodError):
        sp.period_of(datetime(2025, 7, 1, 12))
    assert len(sp.periods(datetime(2025, 10, 25, 23, tzinfo=UTC), datetime(2025, 10, 26, 3, tzinfo=UTC))) == 8


@pytest.mark.parametrize(("day", "count"), [(date(2025, 3, 30), 46), (date(2025, 10, 26), 50), (date(2025, 12, 3), 48)])
def test_availability_for_every_settlement_period_of_a_clock_change_day(day, count):
    """One availability window per settlement period of the day: valid, lossless, and numbered 1..count."""
    windows = tuple(
        m.AvailabilityWindow(sp.period_start(day, n), timedelta(minutes=30), turn_down_kw=float(n)) for n in range(1, count + 1)
    )
    declaration = m.AvailabilityDeclaration("FSP-ACME", "NGED", "C-4411", {"DU-7": windows})
    report = b.build_availability_report(declaration, "p", "anchor")
    assert validate_report(report) == []
    back = b.parse_availability_report(report.dump())
    assert back == declaration
    assert [sp.period_of(w.start) for w in back.windows["DU-7"]] == [(day, n) for n in range(1, count + 1)]
    assert back.windows["DU-7"][-1].start + timedelta(minutes=30) == sp.day_start(day + timedelta(days=1))
    # one window spanning the whole local day is whole periods too: 23, 24 or 25 hours
    whole = m.AvailabilityWindow(sp.day_start(day), sp.day_start(day + timedelta(days=1)) - sp.day_start(day), turn_up_kw=5.0)
    day_report = b.build_availability_report(dataclasses.replace(declaration, windows={"DU-7": (whole,)}), "p", "anchor")
    assert validate_report(day_report) == [] and whole.duration == timedelta(minutes=30 * count)


def test_local_contract_windows_across_clock_changes():
    """A 16:00-19:00 London window is 16:00Z in winter, 15:00Z in summer; skipped/repeated local times are refused."""
    assert sp.local_window(date(2025, 3, 29), time(16), time(19))[0] == datetime(2025, 3, 29, 16, tzinfo=UTC)
    assert sp.local_window(date(2025, 3, 30), time(16), time(19))[0] == datetime(2025, 3, 30, 15, tzinfo=UTC)
    begin, end = sp.local_window(date(2025, 10, 26), time(0, 30), time(3))
    assert (begin, end - begin) == (datetime(2025, 10, 25, 23, 30, tzinfo=UTC), timedelta(hours=3, minutes=30))
    assert sp.local_window(date(2025, 3, 30), time(0, 30), time(0))[1] == datetime(2025, 3, 30, 23, tzinfo=UTC)
    for skipped_or_repeated in (datetime(2025, 3, 30, 1, 30), datetime(2025, 10, 26, 1, 0)):
        with pytest.raises(sp.SettlementPeriodError):
            sp.local_to_utc(skipped_or_repeated)
    with pytest.raises(typer.BadParameter, match="ambiguous"):
        parse_time("2025-10-26T01:30")
    assert parse_time("2025-10-26T01:30+00:00") == datetime(2025, 10, 26, 1, 30, tzinfo=UTC)
    assert parse_time("2025-07-01T16:00") == datetime(2025, 7, 1, 15, tzinfo=UTC)
