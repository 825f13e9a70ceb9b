"""gb_profile.delivery: baselines and per-event delivery reports, with worked figures (docs/gb-profile.md §6.8)."""

from __future__ import annotations

import csv
import io
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from gb_profile import delivery as d
from gb_profile import model as m
from gb_profile.settlement import day_start, periods_in_day

MINUTE = timedelta(minutes=1)
# Tuesday 12 January 2027: GMT, so London time = UTC and 16:30 is settlement period 34
DAY = datetime(2027, 1, 12, tzinfo=UTC)


def instruction(start: datetime, end: datetime, kw: float = -200.0, sent: datetime | None = None,
                price: float | None = None) -> m.DispatchInstruction:
    return m.DispatchInstruction(
        operator_id="NGED", dispatch_ref="D-1", revision=1, status=m.DispatchStatus.RUN,
        instruction_time=sent or start, fsp_id="FSP-A", dispatch_unit="DU-1", contract_id="C-1",
        service_start=start, service_end=end,
        setpoints=(m.Setpoint(start, kw, m.ServiceUnits.KW, m.SetpointKind.DELTA, price=price),),
    )


def minutes(unit: str, start: datetime, count: int, kw: float) -> list[d.Reading]:
    return [d.Reading(unit, start + i * MINUTE, m.ReadingKind.POWER_KW, kw) for i in range(count)]


def worked_readings() -> list[d.Reading]:
    """MU-1 by the minute, 16:00-19:00: 320 kW in SP34, 290 in SP35, 300 then 400 in SP36, 560 in the rebound."""
    at = DAY.replace(hour=16)
    return [
        *minutes("MU-1", at, 30, 500.0),  # 16:00-16:30, before the first counted period
        *minutes("MU-1", at + timedelta(minutes=30), 30, 320.0),  # SP34
        *minutes("MU-1", at + timedelta(minutes=60), 30, 290.0),  # SP35
        *minutes("MU-1", at + timedelta(minutes=90), 15, 300.0),  # SP36, first quarter hour
        *minutes("MU-1", at + timedelta(minutes=105), 15, 400.0),  # SP36, second quarter hour
        *minutes("MU-1", at + timedelta(minutes=120), 60, 560.0),  # SP37, SP38: rebound
    ]


STATIC_500 = {"MU-1": d.BaselineSpec(d.BaselineMethod.STATIC, static_kw=500.0)}
TERMS = d.Terms(utilisation_price_gbp_per_mwh=Decimal("341.70"))


def worked_report(readings: list[d.Reading] | None = None) -> d.DeliveryReport:
    # instructed at 16:10 to turn down 200 kW at once until 18:00: the period under way (SP33) is not judged
    ins = instruction(DAY.replace(hour=16, minute=10), DAY.replace(hour=18))
    series = {"MU-1": d.UnitSeries.of(worked_readings() if readings is None else readings)}
    report, _used = d.delivery_report(ins, ["MU-1"], series, STATIC_500, TERMS)
    return report


def test_turn_down_with_static_baseline_worked_figures() -> None:
    report = worked_report()
    assert report.direction is m.Direction.TURN_DOWN
    assert report.counted_from == DAY.replace(hour=16, minute=30)  # first period starting after the instruction
    assert [(ln.settlement_day, ln.settlement_period) for ln in report.lines] == [
        (date(2027, 1, 12), 34), (date(2027, 1, 12), 35), (date(2027, 1, 12), 36)]
    # baseline 500 kW x 0.5 h = 250 kWh a period; instructed 200 kW x 0.5 h = 100 kWh
    assert [ln.baseline_kwh for ln in report.lines] == [250.0, 250.0, 250.0]
    assert [ln.instructed_kwh for ln in report.lines] == [100.0, 100.0, 100.0]
    # metered: 320 x 0.5 = 160; 290 x 0.5 = 145; 300 x 0.25 + 400 x 0.25 = 175
    assert [round(ln.metered_kwh or 0, 6) for ln in report.lines] == [160.0, 145.0, 175.0]
    # delivered = baseline - metered (turn-down): 90, 105, 75
    assert [round(ln.delivered_kwh or 0, 6) for ln in report.lines] == [90.0, 105.0, 75.0]
    # payable = delivered clamped to [0, instructed]: the 5 kWh over-delivered in SP35 are not paid
    assert [ln.payable_kwh for ln in report.lines] == [90.0, 100.0, 75.0]
    assert report.instructed_kwh == 300.0 and report.delivered_kwh == 270.0 and report.payable_kwh == 265.0
    assert report.percent == pytest.approx(90.0)
    # £341.70/MWh: 90 kWh -> £30.753 -> £30.75; 100 -> £34.17; 75 -> £25.6275 -> £25.63 (half up); total £90.55
    assert [ln.earnings_gbp for ln in report.lines] == [Decimal("30.75"), Decimal("34.17"), Decimal("25.63")]
    assert report.earnings_gbp == Decimal("90.55")
    assert report.rag is d.Rag.AMBER  # 90 % is under 95 (GREEN) and at least 80 (AMBER)
    # rebound window: two periods after the end at 560 kW: 280 kWh metered, 30 kWh above the baseline each
    assert [ln.settlement_period for ln in report.rebound] == [37, 38]
    assert [ln.delivered_kwh for ln in report.rebound] == [-30.0, -30.0]
    assert all(ln.earnings_gbp is None and ln.payable_kwh == 0 for ln in report.rebound)
    document = report.to_json()
    assert document["reboundKwh"] == 60.0 and document["earningsGbp"] == "90.55" and document["percent"] == 90.0


def test_rag_thresholds_are_configurable() -> None:
    assert d.rag(90.0, replace(TERMS, rag_green_percent=90.0)) is d.Rag.GREEN
    assert d.rag(79.99, TERMS) is d.Rag.RED
    assert d.rag(None, TERMS) is d.Rag.RED
    assert d.rag(95.0, TERMS) is d.Rag.GREEN


def test_gap_stays_a_gap_and_is_not_paid() -> None:
    readings = [r for r in worked_readings() if r.start != DAY.replace(hour=17, minute=40)]  # one minute of SP36 lost
    report = worked_report(readings)
    assert [ln.delivered_kwh is None for ln in report.lines] == [False, False, True]
    assert report.lines[2].payable_kwh == 0 and report.lines[2].earnings_gbp == Decimal("0.00")
    assert report.missing_periods == 1
    assert report.delivered_kwh == 195.0 and report.earnings_gbp == Decimal("64.92")  # 30.75 + 34.17


def test_missing_quality_is_a_gap_not_zero() -> None:
    readings = [replace(r, value=None) if r.start == DAY.replace(hour=16, minute=31) else r for r in worked_readings()]
    assert worked_report(readings).lines[0].delivered_kwh is None


def test_instruction_on_a_period_boundary_counts_that_period() -> None:
    start = DAY.replace(hour=16, minute=30)
    ins = instruction(start, start + timedelta(hours=1), sent=start - timedelta(minutes=20))
    assert d.counted_start(ins) == start
    ins = instruction(start, start + timedelta(hours=1), sent=start)
    assert d.counted_start(ins) == start
    ins = instruction(start, start + timedelta(hours=1), sent=start + timedelta(seconds=1))
    assert d.counted_start(ins) == start + timedelta(minutes=30)


def test_turn_up_is_metered_minus_baseline() -> None:
    start = DAY.replace(hour=2)
    ins = instruction(start, start + timedelta(minutes=30), kw=150.0, sent=start - timedelta(hours=1))
    series = {"MU-1": d.UnitSeries.of(minutes("MU-1", start, 30, 620.0))}
    report, _ = d.delivery_report(ins, ["MU-1"], series, STATIC_500, replace(TERMS, rebound_periods=0))
    assert report.direction is m.Direction.TURN_UP
    assert report.lines[0].delivered_kwh == pytest.approx(60.0)  # (620 - 500) x 0.5
    assert report.percent == pytest.approx(80.0)  # of 75 kWh instructed


def test_half_hourly_energy_and_two_units_summed() -> None:
    start = DAY.replace(hour=10)
    ins = instruction(start, start + timedelta(hours=1), kw=-100.0, sent=start - timedelta(hours=1))
    half = m.ReadingKind.ENERGY_KWH
    series = {
        "MU-1": d.UnitSeries.of([d.Reading("MU-1", start, half, 100.0), d.Reading("MU-1", start + d.PERIOD, half, 90.0)]),
        "MU-2": d.UnitSeries.of(minutes("MU-2", start, 60, 40.0)),
    }
    baselines = {**STATIC_500, "MU-2": d.BaselineSpec(d.BaselineMethod.STATIC, static_kw=100.0)}
    report, _ = d.delivery_report(ins, ["MU-1", "MU-2"], series, baselines, replace(TERMS, rebound_periods=0))
    # baseline (500 + 100) x 0.5 = 300; metered 100 + 20 then 90 + 20
    assert [ln.delivered_kwh for ln in report.lines] == [180.0, 190.0]


@pytest.mark.parametrize(("day", "count"), [(date(2027, 3, 28), 46), (date(2027, 10, 31), 50), (date(2027, 6, 1), 48)])
def test_clock_change_days_have_46_and_50_periods(day: date, count: int) -> None:
    start, end = day_start(day), day_start(day + timedelta(days=1))
    assert periods_in_day(day) == count
    ins = instruction(start, end, kw=-10.0, sent=start - timedelta(hours=1))
    readings = []
    cursor = start
    while cursor < end:
        readings.append(d.Reading("MU-1", cursor, m.ReadingKind.ENERGY_KWH, 40.0))  # 80 kW, baseline 100 kW
        cursor += d.PERIOD
    baseline = {"MU-1": d.BaselineSpec(d.BaselineMethod.STATIC, static_kw=100.0)}
    report, _ = d.delivery_report(ins, ["MU-1"], {"MU-1": d.UnitSeries.of(readings)}, baseline,
                                  replace(TERMS, rebound_periods=0))
    assert [ln.settlement_period for ln in report.lines] == list(range(1, count + 1))
    assert {ln.settlement_day for ln in report.lines} == {day}
    assert report.delivered_kwh == 10.0 * count and report.instructed_kwh == 5.0 * count
    # 5 kWh payable per period at £341.70/MWh = £1.7085 -> £1.71
    assert report.earnings_gbp == Decimal("1.71") * count


def test_weekly_template_follows_london_wall_clock_across_the_clock_changes() -> None:
    template = {day: [float(slot) for slot in range(48)] for day in d.WEEKDAYS}
    spec = d.BaselineSpec(d.BaselineMethod.WEEKLY, weekly_kw=template)
    # 31 October 2027 (Sunday): 00:30Z is 01:30 BST, 01:30Z is 01:30 GMT: the same wall-clock slot twice
    assert d.weekly_slot(datetime(2027, 10, 31, 0, 30, tzinfo=UTC)) == ("sun", 3)
    assert d.weekly_slot(datetime(2027, 10, 31, 1, 30, tzinfo=UTC)) == ("sun", 3)
    # 28 March 2027 (Sunday): 01:00Z is 02:00 BST; slots 2 and 3 never occur
    assert d.weekly_slot(datetime(2027, 3, 28, 1, 0, tzinfo=UTC)) == ("sun", 4)
    assert d.baseline_kw(spec, datetime(2027, 7, 5, 16, 0, tzinfo=UTC)) == 34.0  # Monday 17:00 BST
    with pytest.raises(m.ProfileError):
        d.BaselineSpec(d.BaselineMethod.WEEKLY, weekly_kw={"mon": [1.0] * 48})


def test_auto_baseline_averages_like_days_and_excludes_event_minutes() -> None:
    target = datetime(2027, 1, 15, 17, 0, tzinfo=UTC)  # Friday 17:00
    readings = []
    # the ten weekdays before: Thu 14 back to Fri 1 January; kW = day of month x 10
    day = target - timedelta(days=1)
    while len(readings) < 12 * 30:
        if day.weekday() < 5:
            readings += minutes("MU-1", day, 30, day.day * 10.0)
        day -= timedelta(days=1)
    series = d.UnitSeries.of(readings)
    spec = d.BaselineSpec(d.BaselineMethod.AUTO, auto_days=3)
    # the three latest weekdays: 14, 13, 12 January -> (140 + 130 + 120) / 3
    assert d.baseline_kw(spec, target, series) == pytest.approx(130.0)
    # an event on the 13th at that time is left out: 14, 12, 11 -> (140 + 120 + 110) / 3
    event = (datetime(2027, 1, 13, 16, 45, tzinfo=UTC), datetime(2027, 1, 13, 17, 10, tzinfo=UTC))
    assert d.baseline_kw(spec, target, series, [event]) == pytest.approx(370 / 3)
    # a weekend day has no like days in this history: a gap, not zero
    assert d.baseline_kw(spec, datetime(2027, 1, 16, 17, 0, tzinfo=UTC), series) is None


def test_frozen_baseline_is_reused() -> None:
    ins = instruction(DAY.replace(hour=16, minute=30), DAY.replace(hour=17), sent=DAY.replace(hour=16))
    series = {"MU-1": d.UnitSeries.of(minutes("MU-1", DAY.replace(hour=16, minute=30), 30, 300.0))}
    first, used = d.delivery_report(ins, ["MU-1"], series, STATIC_500, TERMS)
    assert used == {"MU-1": {DAY.replace(hour=16, minute=30): 500.0, DAY.replace(hour=17): 500.0,
                             DAY.replace(hour=17, minute=30): 500.0}}
    # the unit's method changed since: the frozen figures still rule
    changed = {"MU-1": d.BaselineSpec(d.BaselineMethod.STATIC, static_kw=900.0)}
    again, _ = d.delivery_report(ins, ["MU-1"], series, changed, TERMS, frozen_baseline_kw=used)
    assert again.lines[0].baseline_kwh == first.lines[0].baseline_kwh == 250.0


def test_csv_has_a_row_per_period_and_a_total() -> None:
    document = worked_report().to_json()
    rows = list(csv.reader(io.StringIO(d.report_csv(document))))
    assert rows[0] == list(d.CSV_HEADER)
    assert [r[0] for r in rows[1:]] == ["event"] * 3 + ["rebound"] * 2 + ["total"]
    assert rows[1][2] == "34" and rows[1][-1] == "30.75" and rows[-1][-1] == "90.55"


def test_baseline_spec_json_is_checked() -> None:
    with pytest.raises(m.ProfileError):
        d.BaselineSpec.from_json({"method": "MAGIC"})
    with pytest.raises(m.ProfileError):
        d.BaselineSpec.from_json({"method": "STATIC", "staticKw": "500"})
    with pytest.raises(m.ProfileError):
        d.BaselineSpec.from_json({"method": "STATIC"})
    with pytest.raises(m.ProfileError):
        d.BaselineSpec.from_json({"method": "AUTO", "autoDays": 0})
    spec = d.BaselineSpec.from_json({"method": "STATIC", "staticKw": 12})
    assert d.BaselineSpec.from_json(spec.to_json()) == spec
