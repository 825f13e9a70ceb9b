"""Dispatch board logic for operators: acknowledgement status and delivery against meter readings.

Pure functions over the wire documents the VTN returns (no database, no HTTP), shared by the web console,
`vtn gb status` and `gb_profile.operator`. Decoding goes through `gb_profile.builders`; see
docs/gb-profile.md §6.6 ("Board and delivery") for the rules stated here in code.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from gb_profile import builders as b
from gb_profile import model as m
from gb_profile.products import SetpointKind
from gb_profile.settlement import LONDON, period_of
from openadr3.models import Event, Report

EventDoc = Event | Mapping[str, Any]  # a wire document as the API returns it, or the model
ReportDoc = Report | Mapping[str, Any]

# Readings whose DATA_QUALITY says they carry no usable value count as missing.
UNUSABLE_QUALITIES = frozenset({"MISSING", "BAD"})
MINUTE = timedelta(minutes=1)
HALF_HOUR = timedelta(minutes=30)

# --- acknowledgements ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RevisionAck:
    """One acknowledgement (read-back) received for one revision."""

    revision: int
    received_time: datetime  # the FSP's receipt time (the ack's interval start)
    status: m.DispatchStatus  # the status as the FSP understood it
    result: m.AckResult
    reason: str | None
    latency_seconds: float | None  # receipt minus the revision's instruction time, when that is known
    report_id: str | None = None  # the VTN's report id
    created: datetime | None = None  # the VTN's createdDateTime of the report
    # read-back status == the revision's issued status (GB-R-008); None when that revision's status is not known
    matches: bool | None = None
    superseded: bool = False  # a later ack of the same revision counts instead (see `effective_acks`)

    @property
    def arrival(self) -> tuple[datetime, str]:
        """Order of acks of one revision: the VTN's createdDateTime (else the receipt time), ties by report id."""
        return (self.created or self.received_time, self.report_id or "")


def effective_acks(acks: Iterable[RevisionAck]) -> dict[int, RevisionAck]:
    """The acknowledgement that counts for each revision: the latest to arrive (`RevisionAck.arrival`).

    An FSP may acknowledge a revision more than once (REJECTED, then ACCEPTED once it can); its latest word is
    its answer. The console board, its dispatch view and `vtn gb status` all decide through this one function.
    """
    latest: dict[int, RevisionAck] = {}
    for ack in acks:
        current = latest.get(ack.revision)
        if current is None or ack.arrival > current.arrival:
            latest[ack.revision] = ack
    return latest


@dataclass(frozen=True)
class AckStatus:
    """Acknowledgement state of one dispatch for the VEN (FSP) and dispatch unit it addresses."""

    event_id: str | None
    event_name: str
    fsp_id: str
    dispatch_unit: str
    revision: int  # the latest revision issued (the one the event carries)
    status: m.DispatchStatus  # its status
    instruction_time: datetime  # its instruction time
    acks: tuple[RevisionAck, ...]  # every matching ack, by revision then arrival; earlier ones of a revision superseded

    @property
    def acknowledged_revisions(self) -> tuple[int, ...]:
        return tuple(sorted({a.revision for a in self.acks}))

    @property
    def acknowledged_revision(self) -> int | None:
        """The newest revision acknowledged, if any."""
        return max(self.acknowledged_revisions, default=None)

    def ack_for(self, revision: int) -> RevisionAck | None:
        """The ack that counts for `revision` (the latest received, `effective_acks`), if any."""
        return effective_acks(self.acks).get(revision)

    @property
    def latest_ack(self) -> RevisionAck | None:
        """The ack that counts for the latest revision."""
        return self.ack_for(self.revision)

    @property
    def latest_acknowledged(self) -> bool:
        return self.latest_ack is not None

    @property
    def latest_status_matches(self) -> bool | None:
        """Whether the read-back status of the latest revision equals the issued one (GB-R-008); None if unacked."""
        ack = self.latest_ack
        return None if ack is None else ack.matches

    @property
    def latest_latency_seconds(self) -> float | None:
        ack = self.latest_ack
        return None if ack is None else ack.latency_seconds


def _addressed(ins: m.DispatchInstruction) -> dict[str, Any]:
    """What both board views say about a dispatch: which one, to whom, and its latest revision."""
    return {
        "event_name": ins.event_name,
        "fsp_id": ins.fsp_id,
        "dispatch_unit": ins.dispatch_unit,
        "revision": ins.revision,
        "status": ins.status,
    }


def parse_acks(reports: Iterable[ReportDoc]) -> list[m.Acknowledgement]:
    """The GB_ACK reports among `reports`, decoded, by revision then receipt time; others and undecodable ones skipped."""
    acks = []
    for report in reports:
        if b.field_of(report, "reportName") != m.R_ACK:
            continue
        try:
            acks.append(b.parse_ack_report(report))
        except (m.ProfileError, ValueError):
            continue
    return sorted(acks, key=lambda a: (a.revision, b.utc(a.received_time), a.fsp_id))


def ack_status(
    event: EventDoc,
    reports: Iterable[ReportDoc],
    *,
    history: Iterable[m.DispatchInstruction] = (),
) -> list[AckStatus]:
    """Acknowledgement state of a dispatch event for each VEN/dispatch unit it addresses.

    `reports` are report documents for the event (others are ignored: only GB_ACKs naming this dispatch, from
    the addressed FSP, for the addressed dispatch unit count). `history` may hold earlier revisions of the same
    dispatch: their instruction times give latencies for acks of those revisions (the event carries only the
    latest). A GB dispatch addresses one FSP and one dispatch unit (GB-E-002/003), so the list has one item.
    """
    ins = b.parse_event(event)
    event_id = b.field_of(event, "id")
    issued = {h.revision: h for h in history if h.event_name == ins.event_name}
    issued[ins.revision] = ins
    acks = []
    for report in reports:
        if b.field_of(report, "reportName") != m.R_ACK:
            continue
        try:
            ack = b.parse_ack_report(report)
        except (m.ProfileError, ValueError):
            continue
        if (ack.event_name, ack.fsp_id, ack.dispatch_unit) != (ins.event_name, ins.fsp_id, ins.dispatch_unit):
            continue
        received = b.utc(ack.received_time)
        sent = issued.get(ack.revision)
        report_id, created = b.field_of(report, "id"), b.field_of(report, "createdDateTime")
        acks.append(
            RevisionAck(
                revision=ack.revision,
                received_time=received,
                status=ack.status,
                result=ack.result,
                reason=ack.reason,
                latency_seconds=None if sent is None else (received - b.utc(sent.instruction_time)).total_seconds(),
                report_id=None if report_id is None else str(report_id),
                created=_instant(created),
                matches=None if sent is None else ack.status == sent.status,
            )
        )
    counted = {id(a) for a in effective_acks(acks).values()}
    ordered = sorted(acks, key=lambda a: (a.revision, a.arrival))
    return [
        AckStatus(
            event_id=None if event_id is None else str(event_id),
            **_addressed(ins),
            instruction_time=b.utc(ins.instruction_time),
            acks=tuple(a if id(a) in counted else replace(a, superseded=True) for a in ordered),
        )
    ]


def _instant(value: Any) -> datetime | None:
    """A createdDateTime as the API returns it (UTC RFC 3339 text) or as a model holds it; None if absent or bad."""
    try:
        return b.utc(value) if isinstance(value, datetime) else b.parse_utc_text(value, "createdDateTime")
    except m.ProfileError:
        return None


# --- delivery -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DeliveryPoint:
    """One step of the delivery series; all power net import positive (docs/gb-profile.md §4.4)."""

    start: datetime  # UTC start of the step
    instructed_kw: float | None  # the setpoint volume in effect, as sent (a delta for DISPATCH_SETPOINT_RELATIVE)
    target_kw: float | None  # the net import aimed at: the absolute setpoint, or baseline + delta
    metered_kw: float | None  # mean metered net import over the step (None: a reading is missing)
    baseline_kw: float | None
    delivered_kw: float | None  # flexibility delivered in the instructed direction (+ = as instructed)
    active_seconds: float  # how much of the step lies in the service window


@dataclass(frozen=True)
class DeliverySummary:
    event_name: str
    fsp_id: str
    dispatch_unit: str
    revision: int
    status: m.DispatchStatus
    direction: m.Direction | None  # TURN_DOWN or TURN_UP; None when it cannot be told
    step: timedelta
    meterable_units: tuple[str, ...]  # whose readings were summed
    points: tuple[DeliveryPoint, ...]
    requested_kwh: float | None  # the change asked for, |delta| or |absolute - baseline|, integrated over the window
    metered_kwh: float | None  # net import over the window's steps that have readings
    delivered_kwh: float | None  # over the window's steps with readings and baseline
    missing_steps: int  # window steps without a usable metered value
    skipped_reports: int = 0  # GB_READINGS reports that could not be decoded (other reports are ignored silently)

    @property
    def active_steps(self) -> int:
        return sum(1 for p in self.points if p.active_seconds > 0)

    @property
    def coverage(self) -> float:
        """Share of the window's steps that have metered data (1.0 for an empty window)."""
        return 1.0 if self.active_steps == 0 else 1 - self.missing_steps / self.active_steps

    def columns(self) -> list[list[Any]]:
        """Column-major series for a chart (uPlot): epoch seconds, instructed, target, metered, baseline, delivered."""
        return [
            [int(p.start.timestamp()) for p in self.points],
            [p.instructed_kw for p in self.points],
            [p.target_kw for p in self.points],
            [p.metered_kw for p in self.points],
            [p.baseline_kw for p in self.points],
            [p.delivered_kw for p in self.points],
        ]

    def to_csv(self) -> str:
        return delivery_csv(self)


CSV_HEADER = (
    "time_utc",
    "time_europe_london",
    "settlement_day",
    "settlement_period",
    "instructed_kw",
    "target_kw",
    "metered_kw",
    "baseline_kw",
    "delivered_kw",
    "in_window_seconds",
)


def _cell(value: float | None) -> str:
    return "" if value is None else f"{value:.3f}"


def delivery_csv(summary: DeliverySummary) -> str:
    """CSV export: one row per step, instants ISO 8601 in UTC (`Z`) and in Europe/London with its offset."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_HEADER)
    for p in summary.points:
        day, period = period_of(p.start)
        writer.writerow(
            [
                b.utc_text(p.start),
                p.start.astimezone(LONDON).isoformat(),
                day.isoformat(),
                period,
                _cell(p.instructed_kw),
                _cell(p.target_kw),
                _cell(p.metered_kw),
                _cell(p.baseline_kw),
                _cell(p.delivered_kw),
                f"{p.active_seconds:g}",
            ]
        )
    return out.getvalue()


def _floor(moment: datetime, step: timedelta) -> datetime:
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    return epoch + ((b.utc(moment) - epoch) // step) * step


def _step_fn(points: Mapping[datetime, float]) -> list[tuple[datetime, float]]:
    return sorted((b.utc(t), float(v)) for t, v in points.items())


def _at(steps: list[tuple[datetime, float]], moment: datetime) -> float | None:
    """The value of a step function (each value holds until the next key) at `moment`."""
    value = None
    for start, v in steps:
        if start > moment:
            break
        value = v
    return value


def _readings(sources: Iterable[ReportDoc | m.MeterReadings], ins: m.DispatchInstruction) -> tuple[list[m.MeterReading], int]:
    """The readings of the instruction's FSP and operator, and how many GB_READINGS reports could not be decoded."""
    readings: list[m.MeterReading] = []
    skipped = 0
    for source in sources:
        if not isinstance(source, m.MeterReadings):
            if b.field_of(source, "reportName") != m.R_READINGS:
                continue
            try:
                source = b.parse_readings_report(source)
            except (m.ProfileError, ValueError):
                skipped += 1
                continue
        # another FSP's or operator's meters are not this dispatch's delivery
        if source.fsp_id == ins.fsp_id and source.operator_id == ins.operator_id:
            readings.extend(source.readings)
    return readings, skipped


def _infer_direction(ins: m.DispatchInstruction, baseline: list[tuple[datetime, float]]) -> m.Direction | None:
    for sp in ins.setpoints:
        if SetpointKind(sp.kind) is SetpointKind.DELTA:
            change = sp.volume
        else:
            base = _at(baseline, b.utc(sp.timestamp))
            if base is None:
                continue
            change = sp.volume - base
        if change < 0:
            return m.Direction.TURN_DOWN
        if change > 0:
            return m.Direction.TURN_UP
    return None


def delivery_summary(
    instruction: m.DispatchInstruction,
    readings: Iterable[ReportDoc | m.MeterReadings],
    *,
    baseline: float | Mapping[datetime, float] | None = None,
    meterable_units: Iterable[str] | None = None,
    direction: m.Direction | None = None,
    step: timedelta | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
) -> DeliverySummary:
    """Instructed vs metered vs baseline for one dispatch, on a regular grid, and the energy delivered.

    `readings`: report documents (or already decoded `MeterReadings`); only GB_READINGS of the instruction's
    FSP and operator count, summed over `meterable_units` (default: every unit in them), each unit first
    resampled to the step from its own granularity (per-minute kW or half-hourly kWh). Readings without a
    value (DATA_QUALITY MISSING or BAD, or absent) leave a gap (None), never a zero.
    `baseline`: constant kW, or kW by UTC start instant held until the next one (a step function).
    `step`: one minute when any per-minute reading is present, else 30 minutes. The grid spans the service
    window widened to whole steps, or [start, end) when given (to show the run-up and recovery).
    Delivered flexibility is baseline − metered for turn-down and metered − baseline for turn-up, so it is
    positive when the unit moved as instructed; its energy counts only the part of each step inside the window.
    """
    ins = instruction
    if any(m.ServiceUnits(sp.units) is not m.ServiceUnits.KW for sp in ins.setpoints):
        raise m.ProfileError("delivery is measured for real-power (KW) dispatches only")
    window_start, window_end = b.utc(ins.service_start), b.utc(ins.service_end)
    every, skipped = _readings(readings, ins)
    wanted = None if meterable_units is None else frozenset(meterable_units)
    every = [r for r in every if wanted is None or r.meterable_unit in wanted]
    units = tuple(sorted(wanted if wanted is not None else {r.meterable_unit for r in every}))
    if step is None:
        step = MINUTE if any(r.kind is m.ReadingKind.POWER_KW for r in every) else HALF_HOUR
    if step < MINUTE or HALF_HOUR % step or step % MINUTE:
        raise ValueError("step must be whole minutes dividing 30 minutes")

    power: dict[tuple[str, datetime], float] = {}
    energy: dict[tuple[str, datetime], float] = {}
    per_minute_halves: set[tuple[str, datetime]] = set()  # (unit, half hour) in which the unit reports by the minute
    for r in every:
        if r.kind is m.ReadingKind.POWER_KW:
            per_minute_halves.add((r.meterable_unit, _floor(r.start, HALF_HOUR)))
        if r.quality in UNUSABLE_QUALITIES or not math.isfinite(r.value):
            continue
        (power if r.kind is m.ReadingKind.POWER_KW else energy)[(r.meterable_unit, b.utc(r.start))] = r.value

    def unit_mean_kw(unit: str, begin: datetime) -> float | None:
        """One unit's mean kW over [begin, begin + step), resampled from its own granularity.

        Units of one dispatch unit may report at different granularities (one by the minute, one half-hourly), so
        each is brought to the step before they are summed. A half hour's kWh x 2 is its mean kW, taken as flat
        within the half hour for finer steps; a unit that reports by the minute in that half hour is read from its
        minutes (a missing minute stays a gap) unless the step is the half hour and its kWh is known (exact).
        """
        half = _floor(begin, HALF_HOUR)
        if (unit, half) in energy and (step == HALF_HOUR or (unit, half) not in per_minute_halves):
            return energy[(unit, half)] * 2  # kWh over half an hour -> mean kW
        minutes = [power.get((unit, begin + i * MINUTE)) for i in range(step // MINUTE)]
        if all(v is not None for v in minutes):
            return sum(v for v in minutes if v is not None) / len(minutes)
        return None

    baseline_steps = [] if baseline is None or isinstance(baseline, int | float) else _step_fn(baseline)
    constant = float(baseline) if isinstance(baseline, int | float) else None

    def baseline_at(moment: datetime) -> float | None:
        return constant if constant is not None else _at(baseline_steps, moment)

    direction = direction or _infer_direction(ins, baseline_steps if constant is None else [(window_start, constant)])
    setpoints = [(b.utc(sp.timestamp), sp) for sp in ins.setpoints]

    grid_start = _floor(start or window_start, step)
    grid_end = b.utc(end or window_end)
    points = []
    requested: float | None = 0.0
    metered_total = delivered_total = 0.0
    any_metered = any_delivered = False
    missing = 0
    cursor = grid_start
    while cursor < grid_end:
        following = cursor + step
        overlap = max(0.0, (min(following, window_end) - max(cursor, window_start)).total_seconds())
        hours = overlap / 3600
        active = [sp for t, sp in setpoints if t <= max(cursor, window_start)]
        setpoint = active[-1] if overlap > 0 and active else None
        base = baseline_at(cursor)
        per_unit = [unit_mean_kw(u, cursor) for u in units]
        metered = sum(v for v in per_unit if v is not None) if units and all(v is not None for v in per_unit) else None
        instructed = target = None
        if setpoint is not None:
            instructed = setpoint.volume
            if SetpointKind(setpoint.kind) is SetpointKind.ABSOLUTE:
                target = setpoint.volume
            elif base is not None:
                target = base + setpoint.volume
        delivered = None
        if metered is not None and base is not None and direction is not None:
            delivered = base - metered if direction is m.Direction.TURN_DOWN else metered - base
        if overlap > 0:
            if metered is None:
                missing += 1
            else:
                metered_total += metered * hours
                any_metered = True
            if delivered is not None:
                delivered_total += delivered * hours
                any_delivered = True
            if setpoint is not None and requested is not None:
                if SetpointKind(setpoint.kind) is SetpointKind.DELTA:
                    requested += abs(setpoint.volume) * hours
                elif base is not None:
                    requested += abs(setpoint.volume - base) * hours
                else:
                    requested = None  # an absolute setpoint cannot be sized as a change without a baseline
        points.append(DeliveryPoint(cursor, instructed, target, metered, base, delivered, overlap))
        cursor = following

    return DeliverySummary(
        **_addressed(ins),
        direction=direction,
        step=step,
        meterable_units=units,
        points=tuple(points),
        requested_kwh=None if requested is None else round(requested, 6),
        metered_kwh=round(metered_total, 6) if any_metered else None,
        delivered_kwh=round(delivered_total, 6) if any_delivered else None,
        missing_steps=missing,
        skipped_reports=skipped,
    )


# --- acknowledgement deadline (docs/gb-profile.md §6.1.1) -------------------------------------------------------


@dataclass(frozen=True)
class AckDeadline:
    """Whether the latest revision of a dispatch was acknowledged within the contract's acknowledgement period.

    The period runs from the revision's GB_INSTRUCTION_TIME to the VTN's receipt (`createdDateTime`) of the FSP's
    first acknowledgement of that revision: it measures that the instruction was *received*, not executed.
    """

    event_id: str | None
    event_name: str
    fsp_id: str
    dispatch_unit: str
    revision: int
    instruction_time: datetime
    deadline: datetime
    acknowledged: datetime | None  # the VTN's receipt of the first acknowledgement of the revision

    def state(self, now: datetime) -> str:
        """ON_TIME, LATE (acknowledged after the deadline), OVERDUE (none yet, deadline passed) or WAITING."""
        if self.acknowledged is not None:
            return "LATE" if self.acknowledged > self.deadline else "ON_TIME"
        return "OVERDUE" if now >= self.deadline else "WAITING"


def ack_deadline(state: AckStatus, period: timedelta | None) -> AckDeadline | None:
    """The deadline of `state`'s latest revision under an acknowledgement period (None: no period in the terms)."""
    if period is None:
        return None
    arrivals = [a.created or a.received_time for a in state.acks if a.revision == state.revision]
    return AckDeadline(
        event_id=state.event_id, event_name=state.event_name, fsp_id=state.fsp_id, dispatch_unit=state.dispatch_unit,
        revision=state.revision, instruction_time=state.instruction_time,
        deadline=b.utc(state.instruction_time) + period, acknowledged=min(arrivals) if arrivals else None,
    )
