"""Baselines and per-event delivery reports, computed from stored readings (docs/gb-profile.md §6.8).

Pure functions: the VTN (vtn/delivery) loads the readings, the unit baselines and the contract terms and
stores what these return. All instants are UTC; settlement periods are London half-hours
(gb_profile.settlement), so a report on 28 March 2027 has at most 46 periods and on 31 October 50.

Sign convention as everywhere in the profile: power and energy are net import positive. Delivered energy is
baseline − metered for turn-down and metered − baseline for turn-up, so it is positive when the unit moved
as instructed.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from itertools import pairwise
from typing import Any

from gb_profile import builders as b
from gb_profile import model as m
from gb_profile.products import SetpointKind
from gb_profile.settlement import LONDON, PERIOD, period_of, period_start

MINUTE = timedelta(minutes=1)
UNUSABLE_QUALITIES = frozenset({"MISSING", "BAD"})
SLOTS_PER_DAY = 48  # a weekly template has one value per local wall-clock half hour (00:00, 00:30, ... 23:30)
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class BaselineMethod(StrEnum):
    STATIC = "STATIC"  # a nominated constant kW
    WEEKLY = "WEEKLY"  # a nominated weekly template in London local time, kW per wall-clock half hour
    AUTO = "AUTO"  # from the unit's past readings, event minutes excluded


class Rag(StrEnum):
    GREEN = "GREEN"
    AMBER = "AMBER"
    RED = "RED"


@dataclass(frozen=True)
class BaselineSpec:
    """How one meterable unit's baseline is set (recorded per unit, vtn/delivery `gb_unit_baseline`)."""

    method: BaselineMethod
    static_kw: float | None = None
    weekly_kw: Mapping[str, Sequence[float]] | None = None  # "mon".."sun" -> 48 kW values by wall-clock half hour
    auto_days: int = 10  # AUTO: how many past like days (weekday / weekend) are averaged

    def __post_init__(self) -> None:
        if self.method is BaselineMethod.STATIC:
            if self.static_kw is None or not math.isfinite(self.static_kw):
                raise m.ProfileError("a STATIC baseline needs a finite static_kw")
        elif self.method is BaselineMethod.WEEKLY:
            template = self.weekly_kw or {}
            if sorted(template) != sorted(WEEKDAYS):
                raise m.ProfileError(f"a WEEKLY baseline needs one list per day: {', '.join(WEEKDAYS)}")
            for day, values in template.items():
                if len(values) != SLOTS_PER_DAY or not all(isinstance(v, int | float) and math.isfinite(v)
                                                           for v in values):
                    raise m.ProfileError(f"WEEKLY baseline {day!r}: {SLOTS_PER_DAY} finite kW values, one per half hour")
        elif not 1 <= self.auto_days <= 60:
            raise m.ProfileError("an AUTO baseline averages 1 to 60 past days")

    def to_json(self) -> dict[str, Any]:
        return {"method": self.method.value, "staticKw": self.static_kw,
                "weeklyKw": {d: list(v) for d, v in self.weekly_kw.items()} if self.weekly_kw else None,
                "autoDays": self.auto_days}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> BaselineSpec:
        try:
            method = BaselineMethod(data.get("method"))
        except ValueError:
            raise m.ProfileError(f"baseline method must be one of {', '.join(BaselineMethod)}") from None
        static = data.get("staticKw")
        if static is not None and (isinstance(static, bool) or not isinstance(static, int | float)):
            raise m.ProfileError("staticKw must be a number")
        weekly = data.get("weeklyKw")
        if weekly is not None and not isinstance(weekly, dict):
            raise m.ProfileError("weeklyKw must be an object of day -> 48 values")
        days = data.get("autoDays", 10)
        if isinstance(days, bool) or not isinstance(days, int):
            raise m.ProfileError("autoDays must be an integer")
        return cls(method, None if static is None else float(static),
                   None if weekly is None else {k: [float(x) if isinstance(x, int | float) and not isinstance(x, bool)
                                                    else math.nan for x in (v if isinstance(v, list) else [])]
                                                for k, v in weekly.items()}, days)


@dataclass(frozen=True)
class Reading:
    """One stored reading (its latest version): per-minute kW or half-hourly kWh, import positive."""

    unit: str
    start: datetime
    kind: m.ReadingKind
    value: float | None  # None: a gap (MISSING / BAD quality)


@dataclass
class UnitSeries:
    """A unit's readings indexed for lookups: per-minute kW and half-hourly kWh by UTC start."""

    minutes: dict[datetime, float | None] = field(default_factory=dict)
    halves: dict[datetime, float | None] = field(default_factory=dict)
    minute_halves: set[datetime] = field(default_factory=set)  # half hours in which the unit reports by the minute

    @classmethod
    def of(cls, readings: Iterable[Reading]) -> UnitSeries:
        series = cls()
        for r in readings:
            if r.kind is m.ReadingKind.POWER_KW:
                series.minutes[r.start] = r.value
                series.minute_halves.add(_floor_half(r.start))
            else:
                series.halves[r.start] = r.value
        return series

    def energy_kwh(self, start: datetime, end: datetime) -> float | None:
        """Net import over [start, end) inside one half hour, or None when any needed reading is missing.

        Per-minute readings are used when the unit reports by the minute in that half hour (each minute's kW/60);
        otherwise the half hour's kWh, pro rata.
        """
        half = _floor_half(start)
        if half in self.minute_halves:
            total = 0.0
            cursor = start
            while cursor < end:
                value = self.minutes.get(cursor)
                if value is None:
                    return None
                total += value / 60
                cursor += MINUTE
            return total
        value = self.halves.get(half)
        if value is None:
            return None
        return value * ((end - start) / PERIOD)


def _floor_half(moment: datetime) -> datetime:
    moment = b.utc(moment)
    return moment.replace(minute=moment.minute - moment.minute % 30, second=0, microsecond=0)


def _overlaps(start: datetime, end: datetime, spans: Sequence[tuple[datetime, datetime]]) -> bool:
    return any(s < end and start < e for s, e in spans)


def weekly_slot(moment: datetime) -> tuple[str, int]:
    """The (weekday, wall-clock half hour 0-47) of a UTC instant in London local time.

    On 31 October 2027 the wall-clock 01:00-01:59 happens twice, so slots 2 and 3 are used twice; on 28 March
    they never occur (the template is wall-clock time, as a site's routine is)."""
    local = b.utc(moment).astimezone(LONDON)
    return WEEKDAYS[local.weekday()], local.hour * 2 + local.minute // 30


def baseline_kw(spec: BaselineSpec, start: datetime, history: UnitSeries | None = None,
                excluded: Sequence[tuple[datetime, datetime]] = ()) -> float | None:
    """A unit's baseline (mean kW) for the half hour starting at `start` (a UTC half-hour boundary).

    AUTO: the mean, over the `auto_days` most recent like days before `start` (weekdays for a weekday, Saturday
    and Sunday for a weekend day) on which the same London wall-clock half hour has complete readings and no
    event minute, of that half hour's mean kW. Days with gaps or events are skipped, not counted as zero; with
    no usable day the baseline is None (a gap).
    """
    if spec.method is BaselineMethod.STATIC:
        return spec.static_kw
    if spec.method is BaselineMethod.WEEKLY:
        day, slot = weekly_slot(start)
        assert spec.weekly_kw is not None
        return float(spec.weekly_kw[day][slot])
    if history is None:
        return None
    local = b.utc(start).astimezone(LONDON)
    weekend = local.weekday() >= 5
    values: list[float] = []
    for back in range(1, 8 * spec.auto_days + 1):
        if len(values) >= spec.auto_days:
            break
        earlier = (local - timedelta(days=back))
        if (earlier.weekday() >= 5) != weekend:
            continue
        try:
            begin = b.utc(_wall(earlier.date(), local.hour, local.minute))
        except ValueError:
            continue  # that wall-clock time did not exist that day (the spring clock change)
        end = begin + PERIOD
        if _overlaps(begin, end, excluded):
            continue
        energy = history.energy_kwh(begin, end)
        if energy is not None:
            values.append(energy * 2)
    return sum(values) / len(values) if values else None


def _wall(day: date, hour: int, minute: int) -> datetime:
    """A London wall-clock time as an aware instant (the first occurrence when it happens twice)."""
    moment = datetime(day.year, day.month, day.day, hour, minute, tzinfo=LONDON)
    if moment.astimezone(LONDON).replace(tzinfo=None) != moment.replace(tzinfo=None):
        raise ValueError("nonexistent local time")
    return moment


# --- the delivery report -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Terms:
    """What a report needs from the contract (vtn/delivery adapts the stored contract terms to this)."""

    utilisation_price_gbp_per_mwh: Decimal | None = None
    rag_green_percent: float = 95.0  # at least this: GREEN (the contract terms' defaults, gb_profile.model.Contract)
    rag_amber_percent: float = 80.0  # at least this: AMBER, else RED
    rebound_periods: int = 2  # settlement periods after the event shown as the rebound window


@dataclass(frozen=True)
class PeriodLine:
    settlement_day: date
    settlement_period: int
    start: datetime  # UTC start of the settlement period
    counted_from: datetime  # UTC start of the part counted (service start or instruction rule)
    counted_to: datetime
    instructed_kwh: float | None
    baseline_kwh: float | None
    metered_kwh: float | None
    delivered_kwh: float | None  # None: a gap (readings or baseline missing)
    payable_kwh: float  # delivered clamped to [0, instructed]
    earnings_gbp: Decimal | None  # payable × price, to the penny
    rebound: bool = False  # a period of the rebound window (not paid)

    def to_json(self) -> dict[str, Any]:
        return {
            "settlementDay": self.settlement_day.isoformat(), "settlementPeriod": self.settlement_period,
            "start": b.utc_text(self.start), "startLondon": self.start.astimezone(LONDON).isoformat(),
            "countedFrom": b.utc_text(self.counted_from), "countedTo": b.utc_text(self.counted_to),
            "instructedKwh": _r(self.instructed_kwh), "baselineKwh": _r(self.baseline_kwh),
            "meteredKwh": _r(self.metered_kwh), "deliveredKwh": _r(self.delivered_kwh),
            "payableKwh": _r(self.payable_kwh),
            "earningsGbp": None if self.earnings_gbp is None else str(self.earnings_gbp), "rebound": self.rebound,
        }


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


PENNY = Decimal("0.01")


def earnings(kwh: float, price_gbp_per_mwh: Decimal) -> Decimal:
    """£ for `kwh` at a £/MWh price, rounded half up to the penny (kWh to 3 decimals first, as reported)."""
    return (Decimal(str(round(kwh, 3))) * price_gbp_per_mwh / Decimal(1000)).quantize(PENNY, rounding=ROUND_HALF_UP)


def rag(percent: float | None, terms: Terms) -> Rag:
    if percent is None:
        return Rag.RED
    if percent >= terms.rag_green_percent:
        return Rag.GREEN
    return Rag.AMBER if percent >= terms.rag_amber_percent else Rag.RED


def direction_of(ins: m.DispatchInstruction, baseline_at_start: float | None) -> m.Direction | None:
    for sp in ins.setpoints:
        change = sp.volume if SetpointKind(sp.kind) is SetpointKind.DELTA else (
            None if baseline_at_start is None else sp.volume - baseline_at_start)
        if change is not None and change:
            return m.Direction.TURN_DOWN if change < 0 else m.Direction.TURN_UP
    return None


def counted_start(ins: m.DispatchInstruction) -> datetime:
    """Delivery is counted from the first settlement period that starts at or after the instruction was sent
    (a period already under way when the FSP was told is not judged), and never before the service start."""
    sent = b.utc(ins.instruction_time)
    first = sent if sent.minute in (0, 30) and not sent.second and not sent.microsecond else _floor_half(sent) + PERIOD
    return max(first, b.utc(ins.service_start))


def _setpoint_at(ins: m.DispatchInstruction, moment: datetime) -> m.Setpoint | None:
    active = [sp for sp in ins.setpoints if b.utc(sp.timestamp) <= moment]
    return active[-1] if active else None


def _instructed_kwh(ins: m.DispatchInstruction, start: datetime, end: datetime, base_kw: float | None) -> float | None:
    """|change asked for| integrated over [start, end), setpoint by setpoint (each holds until the next)."""
    cuts = sorted({start, end, *(b.utc(sp.timestamp) for sp in ins.setpoints if start < b.utc(sp.timestamp) < end)})
    total = 0.0
    for begin, finish in pairwise(cuts):
        sp = _setpoint_at(ins, begin)
        if sp is None:
            continue
        if SetpointKind(sp.kind) is SetpointKind.DELTA:
            change = abs(sp.volume)
        elif base_kw is None:
            return None
        else:
            change = abs(sp.volume - base_kw)
        total += change * (finish - begin).total_seconds() / 3600
    return total


@dataclass(frozen=True)
class DeliveryReport:
    event_name: str
    fsp_id: str
    dispatch_unit: str
    revision: int
    direction: m.Direction | None
    meterable_units: tuple[str, ...]
    baselines: dict[str, dict[str, Any]]  # unit -> spec json (method recorded)
    counted_from: datetime
    service_end: datetime
    lines: tuple[PeriodLine, ...]
    rebound: tuple[PeriodLine, ...]
    instructed_kwh: float | None
    delivered_kwh: float | None
    payable_kwh: float
    percent: float | None
    earnings_gbp: Decimal | None
    price_gbp_per_mwh: Decimal | None
    rag: Rag
    missing_periods: int
    terms: Terms

    def to_json(self) -> dict[str, Any]:
        return {
            "eventName": self.event_name, "fspID": self.fsp_id, "dispatchUnit": self.dispatch_unit,
            "dispatchRevision": self.revision, "direction": None if self.direction is None else self.direction.value,
            "meterableUnits": list(self.meterable_units), "baselines": self.baselines,
            "countedFrom": b.utc_text(self.counted_from), "serviceEnd": b.utc_text(self.service_end),
            "periods": [line.to_json() for line in self.lines],
            "rebound": [line.to_json() for line in self.rebound],
            "reboundKwh": _r(sum(-(line.delivered_kwh or 0.0) for line in self.rebound if line.delivered_kwh is not None)
                             if any(line.delivered_kwh is not None for line in self.rebound) else None),
            "instructedKwh": _r(self.instructed_kwh), "deliveredKwh": _r(self.delivered_kwh),
            "payableKwh": _r(self.payable_kwh),
            "percent": None if self.percent is None else round(self.percent, 1),
            "utilisationPriceGbpPerMwh": None if self.price_gbp_per_mwh is None else str(self.price_gbp_per_mwh),
            "earningsGbp": None if self.earnings_gbp is None else str(self.earnings_gbp),
            "rag": self.rag.value, "ragThresholds": {"greenPercent": self.terms.rag_green_percent,
                                                     "amberPercent": self.terms.rag_amber_percent},
            "missingPeriods": self.missing_periods,
        }


def _split_by_period(start: datetime, end: datetime) -> list[tuple[date, int, datetime, datetime, datetime]]:
    """(day, period, period start, part start, part end) for each settlement period overlapping [start, end)."""
    parts = []
    cursor = start
    while cursor < end:
        day, number = period_of(cursor)
        begin = period_start(day, number)
        finish = min(begin + PERIOD, end)
        parts.append((day, number, begin, cursor, finish))
        cursor = finish
    return parts


def delivery_report(
    ins: m.DispatchInstruction,
    units: Sequence[str],
    series: Mapping[str, UnitSeries],
    baselines: Mapping[str, BaselineSpec],
    terms: Terms,
    *,
    frozen_baseline_kw: Mapping[str, Mapping[datetime, float | None]] | None = None,
    excluded: Sequence[tuple[datetime, datetime]] = (),
) -> tuple[DeliveryReport, dict[str, dict[datetime, float | None]]]:
    """One event's delivery report, and the baseline (kW per unit per half-hour start) it used.

    `frozen_baseline_kw`: the baseline an earlier version of the report used; given, it is used as is, so a late
    correction of past readings does not move an AUTO baseline after the event's first report. `excluded`:
    event windows of the unit's past dispatches (left out of AUTO baselines).
    Per settlement period p counted (see `counted_start`), with h_p the hours of p inside the counted span:
      instructed_p = |setpoint change| × h_p          baseline_p = Σ_units baseline_kW × h_p
      metered_p = Σ_units metered energy               delivered_p = baseline_p − metered_p (turn-down; reverse up)
      payable_p = min(max(delivered_p, 0), instructed_p)  earnings_p = payable_p × price / 1000, to the penny
    A period where any unit lacks a reading or a baseline is a gap: delivered None, payable 0.
    """
    start = counted_start(ins)
    end = b.utc(ins.service_end)
    rebound_end = end + terms.rebound_periods * PERIOD
    used: dict[str, dict[datetime, float | None]] = {u: dict((frozen_baseline_kw or {}).get(u, {})) for u in units}

    def base_kw(unit: str, half: datetime) -> float | None:
        table = used[unit]
        if half not in table:
            spec = baselines.get(unit)
            table[half] = None if spec is None else baseline_kw(spec, half, series.get(unit), excluded)
        return table[half]

    def total_base_kw(half: datetime) -> float | None:
        values = [base_kw(u, half) for u in units]
        return sum(v for v in values if v is not None) if units and all(v is not None for v in values) else None

    direction = direction_of(ins, total_base_kw(_floor_half(start)) if start < end else None)
    price = terms.utilisation_price_gbp_per_mwh

    def line(day: date, number: int, begin: datetime, part_start: datetime, part_end: datetime, rebound: bool
             ) -> PeriodLine:
        hours = (part_end - part_start) / timedelta(hours=1)
        base = total_base_kw(begin)
        # every energy to the Wh (3 decimals) before it is combined, so a line recomputes by hand exactly
        baseline = None if base is None else round(base * hours, 3)
        energies = [series[u].energy_kwh(part_start, part_end) if u in series else None for u in units]
        metered = round(sum(e for e in energies if e is not None), 3) \
            if units and all(e is not None for e in energies) else None
        delivered = None
        if metered is not None and baseline is not None and direction is not None:
            delivered = round(baseline - metered if direction is m.Direction.TURN_DOWN else metered - baseline, 3)
        instructed = None if rebound else _instructed_kwh(ins, part_start, part_end, base)
        instructed = None if instructed is None else round(instructed, 3)
        payable = 0.0 if rebound or delivered is None or instructed is None else min(max(delivered, 0.0), instructed)
        payable = round(payable, 3)
        money = None if rebound or price is None else earnings(payable, price)
        return PeriodLine(day, number, begin, part_start, part_end, instructed, baseline, metered, delivered, payable,
                          money, rebound)

    lines = tuple(line(*part, False) for part in _split_by_period(start, end)) if start < end else ()
    rebound = tuple(line(*part, True) for part in _split_by_period(end, rebound_end))
    instructed_values = [ln.instructed_kwh for ln in lines]
    instructed = None if any(v is None for v in instructed_values) else sum(v for v in instructed_values if v is not None)
    delivered_values = [ln.delivered_kwh for ln in lines if ln.delivered_kwh is not None]
    delivered = round(sum(delivered_values), 3) if delivered_values else None
    payable = round(sum(ln.payable_kwh for ln in lines), 3)
    percent = None if not instructed or delivered is None else 100 * delivered / instructed
    money = None if price is None else sum((ln.earnings_gbp or Decimal(0) for ln in lines), Decimal("0.00"))
    report = DeliveryReport(
        event_name=ins.event_name, fsp_id=ins.fsp_id, dispatch_unit=ins.dispatch_unit, revision=ins.revision,
        direction=direction, meterable_units=tuple(units),
        baselines={u: baselines[u].to_json() if u in baselines else {"method": None} for u in units},
        counted_from=start, service_end=end, lines=lines, rebound=rebound,
        instructed_kwh=None if instructed is None else round(instructed, 3), delivered_kwh=delivered,
        payable_kwh=payable, percent=percent, earnings_gbp=money, price_gbp_per_mwh=price,
        rag=rag(percent, terms), missing_periods=sum(1 for ln in lines if ln.delivered_kwh is None), terms=terms,
    )
    return report, used


CSV_HEADER = ("section", "settlement_day", "settlement_period", "start_utc", "start_europe_london", "counted_from_utc",
              "counted_to_utc", "instructed_kwh", "baseline_kwh", "metered_kwh", "delivered_kwh", "payable_kwh",
              "earnings_gbp")


def report_csv(document: Mapping[str, Any]) -> str:
    """A stored report document as CSV: one row per period (event, then rebound), then a TOTAL row."""
    import csv
    import io

    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_HEADER)

    def cell(value: Any) -> str:
        return "" if value is None else str(value)

    for section, key in (("event", "periods"), ("rebound", "rebound")):
        for p in document.get(key) or ():
            writer.writerow([section, p["settlementDay"], p["settlementPeriod"], p["start"], p["startLondon"],
                             p["countedFrom"], p["countedTo"], cell(p["instructedKwh"]), cell(p["baselineKwh"]),
                             cell(p["meteredKwh"]), cell(p["deliveredKwh"]), cell(p["payableKwh"]),
                             cell(p["earningsGbp"])])
    writer.writerow(["total", "", "", "", "", document.get("countedFrom"), document.get("serviceEnd"),
                     cell(document.get("instructedKwh")), "", "", cell(document.get("deliveredKwh")),
                     cell(document.get("payableKwh")), cell(document.get("earningsGbp"))])
    return out.getvalue()


__all__ = ["BaselineMethod", "BaselineSpec", "DeliveryReport", "PeriodLine", "Rag", "Reading", "Terms", "UnitSeries",
           "baseline_kw", "counted_start", "delivery_report", "earnings", "rag", "report_csv", "weekly_slot"]
