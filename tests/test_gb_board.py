"""gb_profile.board: acknowledgement status per dispatch and delivery against meter readings (no database)."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from gb_profile import board
from gb_profile import builders as b
from gb_profile import model as m
from gb_profile.examples import FSP, OPERATOR, UNIT, example_instruction
from gb_profile.products import SetpointKind
from gb_profile.settlement import periods_in_day

MINUTE = timedelta(minutes=1)


def wire(obj: Any) -> dict[str, Any]:
    """As the API returns it: JSON text decoded."""
    return json.loads(json.dumps(obj.dump()))


def event_doc(ins: m.DispatchInstruction) -> dict[str, Any]:
    return wire(b.build_event(ins, "prog-1", event_id="ev-1"))


def ack_doc(ins: m.DispatchInstruction, received: datetime, **kw: Any) -> dict[str, Any]:
    ack = b.acknowledge(b.build_event(ins, "prog-1", event_id="ev-1"), received, **kw)
    return wire(b.build_ack_report(ack, "prog-1", "ev-1"))


# --- acknowledgements ---------------------------------------------------------------------------------------------


def test_unacknowledged_dispatch() -> None:
    ins = example_instruction()
    [state] = board.ack_status(event_doc(ins), [])
    assert (state.event_id, state.event_name, state.fsp_id, state.dispatch_unit) == ("ev-1", ins.event_name, FSP, UNIT)
    assert state.revision == 1 and state.status is m.DispatchStatus.RUN
    assert state.acks == () and state.acknowledged_revisions == () and state.acknowledged_revision is None
    assert not state.latest_acknowledged and state.latest_status_matches is None and state.latest_latency_seconds is None


def test_revisions_acknowledged_with_latency_and_readback() -> None:
    first = example_instruction()
    second = b.revise(first, first.instruction_time + timedelta(minutes=10), setpoints=first.setpoints[:1])
    third = b.stop(second, second.service_start + timedelta(minutes=30), second.instruction_time + timedelta(minutes=5))
    reports = [
        ack_doc(first, first.instruction_time + timedelta(seconds=42)),
        ack_doc(first, first.instruction_time + timedelta(seconds=50)),  # a duplicate: the later one counts
        ack_doc(third, third.instruction_time + timedelta(seconds=7.5), status=m.DispatchStatus.RUN),  # misread
        wire(b.build_readings_report(
            m.MeterReadings(FSP, OPERATOR, (m.MeterReading("MU-1", first.service_start, m.ReadingKind.POWER_KW, 1.0),)),
            "prog-1", "ev-1",
        )),  # not an ack: ignored
    ]
    [state] = board.ack_status(event_doc(third), reports, history=[first, second])
    assert state.revision == 3 and state.status is m.DispatchStatus.STOP
    assert state.acknowledged_revisions == (1, 3) and state.acknowledged_revision == 3
    assert [a.revision for a in state.acks] == [1, 1, 3]
    assert state.acks[0].latency_seconds == 42.0
    assert state.latest_acknowledged
    assert state.latest_latency_seconds == 7.5
    assert state.latest_ack is not None and state.latest_ack.status is m.DispatchStatus.RUN
    assert state.latest_status_matches is False
    assert state.latest_ack.received_time.tzinfo is not None

    # without history only the latest revision's instruction time is known
    [bare] = board.ack_status(event_doc(third), reports)
    assert bare.acks[0].latency_seconds is None and bare.latest_latency_seconds == 7.5


def test_acks_of_other_units_fsps_or_dispatches_do_not_count() -> None:
    ins = example_instruction()
    other_unit = replace(ins, dispatch_unit="DU-8")
    other_ref = replace(ins, dispatch_ref="D-OTHER")
    when = ins.instruction_time + timedelta(minutes=1)
    other_fsp = ack_doc(ins, when)
    other_fsp["clientName"] = "FSP-OTHER"
    broken = ack_doc(ins, when)
    broken["resources"] = []
    reports = [ack_doc(other_unit, when), ack_doc(other_ref, when), other_fsp, broken]
    [state] = board.ack_status(event_doc(ins), reports)
    assert state.acks == () and not state.latest_acknowledged


def test_rejected_ack_is_an_acknowledgement_with_its_reason() -> None:
    ins = example_instruction()
    reports = [ack_doc(ins, ins.instruction_time + MINUTE, result=m.AckResult.REJECTED, reason="unit offline")]
    [state] = board.ack_status(event_doc(ins), reports)
    assert state.latest_acknowledged and state.latest_status_matches
    assert state.latest_ack is not None and state.latest_ack.result is m.AckResult.REJECTED
    assert state.latest_ack.reason == "unit offline"


def test_parse_acks_sorted_by_revision_then_receipt() -> None:
    first = example_instruction()
    second = b.revise(first, first.instruction_time + timedelta(minutes=10))
    t = first.instruction_time
    acks = board.parse_acks([ack_doc(second, t + timedelta(hours=1)), ack_doc(first, t + timedelta(hours=2)),
                             ack_doc(first, t + MINUTE), {"reportName": "GB_HEARTBEAT"}])
    assert [(a.revision, a.received_time) for a in acks] == [(1, t + MINUTE), (1, t + timedelta(hours=2)),
                                                            (2, t + timedelta(hours=1))]


def stamped(doc: dict[str, Any], report_id: str, created: datetime) -> dict[str, Any]:
    """As the VTN returns a stored report: with its id and createdDateTime."""
    return {**doc, "id": report_id, "createdDateTime": b.utc_text(created)}


def test_latest_acknowledgement_of_a_revision_wins_by_created_time_then_id() -> None:
    """REJECTED, then ACCEPTED for one revision: the later one (the VTN's createdDateTime, ties by report id) counts,
    whatever the FSP's receipt times or the order of the list; every ack stays listed."""
    ins = example_instruction()
    t = ins.instruction_time
    # the plain case: REJECTED, then ACCEPTED a minute later
    reports = [ack_doc(ins, t + MINUTE, result=m.AckResult.REJECTED, reason="no headroom"), ack_doc(ins, t + 2 * MINUTE)]
    [state] = board.ack_status(event_doc(ins), reports)
    assert state.latest_ack is not None and state.latest_ack.result is m.AckResult.ACCEPTED
    assert [a.result for a in state.acks] == [m.AckResult.REJECTED, m.AckResult.ACCEPTED]

    rejected = stamped(ack_doc(ins, t + timedelta(seconds=30), result=m.AckResult.REJECTED, reason="no headroom"),
                       "rep-b", t + timedelta(seconds=31))
    # the FSP's own receipt time is earlier, but the VTN stored it later: it is the FSP's latest word
    accepted = stamped(ack_doc(ins, t + timedelta(seconds=20)), "rep-a", t + timedelta(seconds=90))
    for reports in ([rejected, accepted], [accepted, rejected]):
        [state] = board.ack_status(event_doc(ins), reports)
        assert [(a.result, a.report_id) for a in state.acks] == [(m.AckResult.REJECTED, "rep-b"), (m.AckResult.ACCEPTED, "rep-a")]
        assert state.latest_ack is not None and state.latest_ack.result is m.AckResult.ACCEPTED
        assert state.ack_for(1) is state.latest_ack and state.latest_latency_seconds == 20.0
        assert [a.superseded for a in state.acks] == [True, False]

    # same createdDateTime: the higher report id is the later one
    tie = stamped(ack_doc(ins, t + timedelta(seconds=5), result=m.AckResult.REJECTED, reason="x"), "rep-c",
                  t + timedelta(seconds=90))
    [state] = board.ack_status(event_doc(ins), [tie, accepted])
    assert state.latest_ack is not None
    assert (state.latest_ack.report_id, state.latest_ack.result) == ("rep-c", m.AckResult.REJECTED)
    assert board.effective_acks(state.acks) == {1: state.latest_ack}


def test_mismatching_readback_is_flagged_on_each_ack() -> None:
    """A read-back whose status differs from the issued revision's is kept and flagged (GB-R-008), for the latest
    revision from the event, for earlier ones when their instructions are supplied."""
    first = example_instruction()
    second = b.revise(first, first.instruction_time + timedelta(minutes=10), status=m.DispatchStatus.RUN)
    t = second.instruction_time
    reports = [
        ack_doc(first, t - timedelta(minutes=5), status=m.DispatchStatus.PRE_NOTIFY),  # revision 1 was RUN
        ack_doc(second, t + timedelta(seconds=3), status=m.DispatchStatus.STOP),
    ]
    [state] = board.ack_status(event_doc(second), reports, history=[first])
    assert [(a.revision, a.matches) for a in state.acks] == [(1, False), (2, False)]
    assert state.latest_status_matches is False
    [bare] = board.ack_status(event_doc(second), reports)
    assert [(a.revision, a.matches) for a in bare.acks] == [(1, None), (2, False)]  # revision 1's status unknown
    [good] = board.ack_status(event_doc(second), [ack_doc(second, t + timedelta(seconds=3))])
    assert good.acks[0].matches is True and good.latest_status_matches is True


# --- delivery -----------------------------------------------------------------------------------------------------


def turn_down(start: datetime, minutes: int, volume: float = -100.0) -> m.DispatchInstruction:
    base = example_instruction()
    return replace(
        base,
        service_start=start,
        service_end=start + minutes * MINUTE,
        instruction_time=start - timedelta(hours=1),
        setpoints=(m.Setpoint(start, volume, m.ServiceUnits.KW, SetpointKind.DELTA),),
    )


def power_report(start: datetime, values: list[float | None], unit: str = "MU-1", fsp: str = FSP) -> dict[str, Any]:
    readings = tuple(
        m.MeterReading(unit, start + i * MINUTE, m.ReadingKind.POWER_KW, v) for i, v in enumerate(values) if v is not None
    )
    return wire(b.build_readings_report(m.MeterReadings(fsp, OPERATOR, readings), "prog-1", "anchor-1"))


def energy_report(start: datetime, values: list[float], unit: str = "MU-1") -> dict[str, Any]:
    step = timedelta(minutes=30)
    readings = tuple(m.MeterReading(unit, start + i * step, m.ReadingKind.ENERGY_KWH, v) for i, v in enumerate(values))
    return wire(b.build_readings_report(m.MeterReadings(FSP, OPERATOR, readings), "prog-1", "anchor-1"))


def rows(summary: board.DeliverySummary) -> list[dict[str, str]]:
    text = summary.to_csv()
    assert text.splitlines()[0] == ",".join(board.CSV_HEADER)
    return list(csv.DictReader(io.StringIO(text)))


def test_turn_down_delivery_per_minute() -> None:
    start = datetime(2026, 1, 14, 17, 0, tzinfo=UTC)
    ins = turn_down(start, 30)
    # 200 kW baseline; the unit drops to 110 kW (90 kW of the 100 kW asked) during the window
    summary = board.delivery_summary(ins, [power_report(start, [110.0] * 30)], baseline=200.0)
    assert summary.step == MINUTE and summary.direction is m.Direction.TURN_DOWN
    assert len(summary.points) == 30 and summary.missing_steps == 0 and summary.coverage == 1.0
    point = summary.points[0]
    assert (point.instructed_kw, point.target_kw, point.metered_kw, point.baseline_kw, point.delivered_kw) == (
        -100.0, 100.0, 110.0, 200.0, 90.0
    )
    assert summary.delivered_kwh == pytest.approx(45.0)
    assert summary.requested_kwh == pytest.approx(50.0)
    assert summary.metered_kwh == pytest.approx(55.0)
    assert summary.meterable_units == ("MU-1",)
    cols = summary.columns()
    assert cols[0][0] == int(start.timestamp()) and cols[3][0] == 110.0 and len(cols) == 6


def test_turn_up_sign_and_absolute_setpoint() -> None:
    start = datetime(2026, 1, 14, 3, 0, tzinfo=UTC)
    ins = replace(turn_down(start, 2), setpoints=(m.Setpoint(start, 80.0, m.ServiceUnits.KW, SetpointKind.ABSOLUTE),))
    summary = board.delivery_summary(ins, [power_report(start, [70.0, 90.0])], baseline=20.0)
    assert summary.direction is m.Direction.TURN_UP  # absolute target above baseline
    assert [p.target_kw for p in summary.points] == [80.0, 80.0]
    assert [p.delivered_kw for p in summary.points] == [50.0, 70.0]
    assert summary.delivered_kwh == pytest.approx(2.0)  # (50 + 70) kW x 1 min
    assert summary.requested_kwh == pytest.approx(2.0)  # 60 kW x 2 min
    unbased = board.delivery_summary(ins, [power_report(start, [70.0, 90.0])])
    assert unbased.requested_kwh is None and unbased.direction is None and unbased.delivered_kwh is None


def test_missing_readings_are_gaps_not_zeros() -> None:
    start = datetime(2026, 1, 14, 17, 0, tzinfo=UTC)
    ins = turn_down(start, 10)
    values: list[float | None] = [100.0] * 10
    values[3] = values[4] = None
    report = power_report(start, values)
    # a reading flagged MISSING carries no value either (intervals skip minutes 3 and 4)
    minute_7 = report["resources"][0]["intervals"][5]
    minute_7["payloads"].append({"type": "DATA_QUALITY", "values": ["MISSING"]})
    summary = board.delivery_summary(ins, [report], baseline=150.0)
    assert summary.missing_steps == 3 and summary.coverage == pytest.approx(0.7)
    assert [p.metered_kw is None for p in summary.points] == [i in (3, 4, 7) for i in range(10)]
    assert summary.delivered_kwh == pytest.approx(50.0 * 7 / 60)
    row = rows(summary)[3]
    assert row["metered_kw"] == "" and row["delivered_kw"] == "" and row["instructed_kw"] == "-100.000"

    # a second meterable unit with no reading at a minute makes the DU total unknown there
    other = power_report(start, [5.0] * 9 + [None], unit="MU-2")
    both = board.delivery_summary(ins, [report, other], baseline=150.0)
    assert both.meterable_units == ("MU-1", "MU-2")
    assert both.points[0].metered_kw == 105.0 and both.points[9].metered_kw is None and both.missing_steps == 4
    only = board.delivery_summary(ins, [report, other], baseline=150.0, meterable_units=["MU-2"])
    assert only.points[0].metered_kw == 5.0

    # no readings at all, or no baseline: series still aligned, energies unknown
    empty = board.delivery_summary(ins, [], baseline=150.0)
    assert empty.step == timedelta(minutes=30) and empty.metered_kwh is None and empty.delivered_kwh is None
    assert empty.missing_steps == len(empty.points) == 1
    unbased = board.delivery_summary(ins, [report])
    assert unbased.delivered_kwh is None and unbased.direction is m.Direction.TURN_DOWN
    assert unbased.requested_kwh == pytest.approx(100.0 * 10 / 60)  # a delta is sized without a baseline
    assert unbased.points[0].target_kw is None and unbased.metered_kwh == pytest.approx(100.0 * 7 / 60)


def test_units_at_different_granularities_are_summed() -> None:
    """A dispatch unit with one per-minute meter (MU-1) and one half-hourly meter (MU-2): each unit is resampled to
    the summary's step as mean kW over the step (a half hour's kWh x 2, flat within it), then the units are summed.
    Worked numbers, 17:00-18:00 UTC, 100 kW turn-down, baseline 500 kW:
      MU-1: 200 kW every minute                      -> 200 kWh
      MU-2: 75 kWh 17:00-17:30 (150 kW), 50 kWh 17:30-18:00 (100 kW) -> 125 kWh
      DU:   350 kW for 30 min, then 300 kW for 30 min -> 325 kWh metered = 200 + 125
      delivered (500 - metered): 150 kW x 0.5 h + 200 kW x 0.5 h = 175 kWh
    """
    start = datetime(2026, 1, 14, 17, 0, tzinfo=UTC)
    ins = turn_down(start, 60)
    per_minute = power_report(start, [200.0] * 60, unit="MU-1")
    half_hourly = energy_report(start, [75.0, 50.0], unit="MU-2")

    alone = [board.delivery_summary(ins, [r], baseline=500.0) for r in (per_minute, half_hourly)]
    assert [a.metered_kwh for a in alone] == [pytest.approx(200.0), pytest.approx(125.0)]

    summary = board.delivery_summary(ins, [per_minute, half_hourly], baseline=500.0)
    assert summary.step == MINUTE and summary.meterable_units == ("MU-1", "MU-2")
    assert [p.metered_kw for p in summary.points] == [350.0] * 30 + [300.0] * 30
    assert summary.missing_steps == 0
    assert summary.metered_kwh == pytest.approx(325.0)
    assert summary.delivered_kwh == pytest.approx(175.0)
    assert [p.delivered_kw for p in summary.points[29:31]] == [150.0, 200.0]

    # the same on a half-hourly and a 5-minute grid
    half = board.delivery_summary(ins, [per_minute, half_hourly], baseline=500.0, step=timedelta(minutes=30))
    assert [p.metered_kw for p in half.points] == [350.0, 300.0] and half.delivered_kwh == pytest.approx(175.0)
    five = board.delivery_summary(ins, [per_minute, half_hourly], baseline=500.0, step=timedelta(minutes=5))
    assert [p.metered_kw for p in five.points] == [350.0] * 6 + [300.0] * 6 and five.metered_kwh == pytest.approx(325.0)

    # a half hour the half-hourly meter has not reported is a gap in the DU total, not a zero
    partial = board.delivery_summary(ins, [per_minute, energy_report(start, [75.0], unit="MU-2")], baseline=500.0)
    assert [p.metered_kw for p in partial.points] == [350.0] * 30 + [None] * 30 and partial.missing_steps == 30
    assert partial.metered_kwh == pytest.approx(175.0)


def test_other_fsps_readings_are_ignored() -> None:
    start = datetime(2026, 1, 14, 17, 0, tzinfo=UTC)
    summary = board.delivery_summary(turn_down(start, 2), [power_report(start, [1.0, 1.0], fsp="FSP-OTHER")], baseline=5.0)
    assert summary.meterable_units == () and summary.missing_steps == 1 and summary.metered_kwh is None


def test_spring_clock_change_half_hourly() -> None:
    # 2026-03-29: clocks go forward at 01:00 UTC; 46 settlement periods
    day = date(2026, 3, 29)
    assert periods_in_day(day) == 46
    start = datetime(2026, 3, 29, 0, 0, tzinfo=UTC)
    ins = turn_down(start, 120, volume=-40.0)
    # half-hourly kWh: 30, 30, 35, 40 kWh -> 60, 60, 70, 80 kW mean
    summary = board.delivery_summary(ins, [energy_report(start, [30.0, 30.0, 35.0, 40.0])],
                                     baseline={start: 100.0, start + timedelta(hours=1): 110.0})
    assert summary.step == timedelta(minutes=30)
    assert [p.metered_kw for p in summary.points] == [60.0, 60.0, 70.0, 80.0]
    assert [p.baseline_kw for p in summary.points] == [100.0, 100.0, 110.0, 110.0]
    assert summary.delivered_kwh == pytest.approx((40 + 40 + 40 + 30) / 2)
    assert summary.metered_kwh == pytest.approx(135.0)
    assert summary.requested_kwh == pytest.approx(80.0)  # 40 kW for 2 hours of real (UTC) time
    table = rows(summary)
    assert [r["time_utc"] for r in table] == ["2026-03-29T00:00:00Z", "2026-03-29T00:30:00Z",
                                             "2026-03-29T01:00:00Z", "2026-03-29T01:30:00Z"]
    assert [r["time_europe_london"] for r in table] == ["2026-03-29T00:00:00+00:00", "2026-03-29T00:30:00+00:00",
                                                       "2026-03-29T02:00:00+01:00", "2026-03-29T02:30:00+01:00"]
    assert [r["settlement_period"] for r in table] == ["1", "2", "3", "4"]
    assert {r["settlement_day"] for r in table} == {"2026-03-29"}


def test_autumn_clock_change_per_minute_local_hour_repeats() -> None:
    # 2026-10-25: clocks go back at 01:00 UTC; local 01:00-02:00 happens twice; 50 settlement periods
    assert periods_in_day(date(2026, 10, 25)) == 50
    start = datetime(2026, 10, 25, 0, 0, tzinfo=UTC)
    ins = turn_down(start, 120, volume=-10.0)
    values: list[float | None] = [50.0] * 120
    values[60] = None  # the first minute after the change is missing
    summary = board.delivery_summary(ins, [power_report(start, values)], baseline=60.0)
    assert len(summary.points) == 120 and summary.missing_steps == 1
    assert summary.delivered_kwh == pytest.approx(10.0 * 119 / 60)
    table = rows(summary)
    local = [r["time_europe_london"] for r in table]
    assert local[0] == "2026-10-25T01:00:00+01:00" and local[59] == "2026-10-25T01:59:00+01:00"
    assert local[60] == "2026-10-25T01:00:00+00:00" and local[119] == "2026-10-25T01:59:00+00:00"
    assert len(set(local)) == 120  # the offset keeps repeated local times distinct
    assert table[0]["settlement_period"] == "3" and table[60]["settlement_period"] == "5"
    assert table[60]["metered_kw"] == "" and table[61]["metered_kw"] == "50.000"
    # half-hourly view of the same per-minute readings: periods with a gap have no mean
    half = board.delivery_summary(ins, [power_report(start, values)], baseline=60.0, step=timedelta(minutes=30))
    assert [p.metered_kw for p in half.points] == [50.0, 50.0, None, 50.0]


def test_window_context_and_partial_steps() -> None:
    start = datetime(2026, 1, 14, 17, 10, tzinfo=UTC)  # not on a half-hour
    ins = turn_down(start, 40)
    before = start - timedelta(minutes=10)
    readings = [energy_report(datetime(2026, 1, 14, 16, 30, tzinfo=UTC), [50.0, 40.0, 45.0, 50.0])]
    summary = board.delivery_summary(ins, readings, baseline=200.0, start=before - timedelta(minutes=30),
                                     end=start + timedelta(hours=1))
    assert [p.start.strftime("%H:%M") for p in summary.points] == ["16:30", "17:00", "17:30", "18:00"]
    assert [p.active_seconds for p in summary.points] == [0.0, 1200.0, 1200.0, 0.0]
    assert [p.instructed_kw for p in summary.points] == [None, -100.0, -100.0, None]
    # only the in-window part of each step counts: (200-80) kW x 20 min + (200-90) kW x 20 min
    assert summary.delivered_kwh == pytest.approx(120 / 3 + 110 / 3)
    assert summary.missing_steps == 0


def test_cancelled_dispatch_and_bad_input() -> None:
    ins = example_instruction()
    cancelled = b.cancel(ins, ins.instruction_time + MINUTE)
    summary = board.delivery_summary(cancelled, [], baseline=1.0)
    assert summary.points == () and summary.coverage == 1.0 and summary.delivered_kwh is None
    assert rows(summary) == []
    with pytest.raises(m.ProfileError):
        board.delivery_summary(example_instruction(reactive=True), [])
    with pytest.raises(ValueError):
        board.delivery_summary(ins, [], step=timedelta(minutes=7))
    # other reports are skipped; undecodable readings reports are skipped and counted
    bad = board.delivery_summary(ins, [{"reportName": "GB_READINGS", "resources": []}, {"reportName": "GB_HEARTBEAT"}])
    assert bad.skipped_reports == 1 and bad.meterable_units == ()
