"""When each interval of an event is active (User Guide 3.1.0 §7.3-7.4, §7.9).

Rules implemented:
- an interval's own `intervalPeriod` overrides the event's default period, field by field for
  `duration` and `randomizeStart`;
- an interval without a period, or whose start is `0001-01-01` ("the beginning of time"), follows
  the previous interval immediately; the first such interval starts at the event's start, or "now"
  when the event has no period or itself starts at `0001-01-01` ("do it now");
- `P9999Y` (or a missing duration) is open ended;
- `randomizeStart` shifts the first start by a uniform random amount within ±randomizeStart; following
  intervals and later absolute starts are shifted by the same amount, unless an interval carries its
  own `randomizeStart`, which draws a new shift from there on;
- an event whose period is `0001-01-01` + `PT0S` is cancelled (§7.9). The GB profile's terminal
  `GB_DISPATCH_STATUS` values (STOP, CANCELLED, EMERGENCY_STOP) in any interval are treated the same way.

All arithmetic is on aware date-times (RFC 3339 offsets), so a Europe/London clock change needs no
special casing: `london()` only changes how an instant is displayed.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from gb_profile.model import P_STATUS, TERMINAL_STATUSES
from openadr3.durations import IsoDuration, parse_duration
from openadr3.models import Event, Interval, IntervalPeriod

LONDON = ZoneInfo("Europe/London")
# The GB profile's terminal statuses, from the profile itself so a new one cannot be missed here.
CANCEL_STATUSES = frozenset(str(s) for s in TERMINAL_STATUSES)
STATUS_PAYLOAD = P_STATUS


@dataclass(frozen=True)
class ScheduledInterval:
    """One interval of an event placed on the time line."""

    interval: Interval
    start: datetime
    end: datetime | None  # None: open ended
    nominal_start: datetime
    shift: timedelta = timedelta(0)

    @property
    def id(self) -> int:
        return self.interval.id

    def active_at(self, moment: datetime) -> bool:
        return self.start <= moment and (self.end is None or moment < self.end)

    def values(self) -> dict[str, list[object]]:
        """payload type → values, e.g. {"DISPATCH_SETPOINT": [120.0]}."""
        return {p.type: list(p.values) for p in self.interval.payloads}


def is_beginning_of_time(moment: datetime | None) -> bool:
    return moment is not None and moment.year == 1


def _duration(period: IntervalPeriod | None, default: IntervalPeriod | None) -> IsoDuration | None:
    for candidate in (period, default):
        if candidate is not None and candidate.duration:
            return parse_duration(candidate.duration)
    return None


def _end(start: datetime, duration: IsoDuration | None) -> datetime | None:
    if duration is None or duration.infinite:
        return None
    try:
        return duration.add_to(start)
    except OverflowError:
        return None


def _random_shift(randomize: str | None, rng: random.Random) -> timedelta:
    if not randomize:
        return timedelta(0)
    limit = abs(parse_duration(randomize).as_timedelta().total_seconds())
    return timedelta(seconds=rng.uniform(-limit, limit)) if limit else timedelta(0)


def is_cancelled(event: Event) -> bool:
    """Cancelled by an update: zero-length period at the beginning of time, or a terminal GB status."""
    period = event.intervalPeriod
    if period is not None and is_beginning_of_time(period.start):
        duration = parse_duration(period.duration) if period.duration else None
        if duration is not None and duration.is_zero:
            return True
    for interval in event.intervals:
        for payload in interval.payloads:
            if payload.type == STATUS_PAYLOAD and any(str(v) in CANCEL_STATUSES for v in payload.values):
                return True
    return False


def schedule(event: Event, received_at: datetime, rng: random.Random | None = None) -> list[ScheduledInterval]:
    """Place every interval of `event` on the time line.

    `received_at` is the "now" of a 'do it now' event: the moment the event was first obtained, so a
    later recomputation keeps the same start. `rng` draws the randomizeStart shifts (seed it to make the
    result stable across recomputations of the same event version).
    """
    if is_cancelled(event):
        return []
    rng = rng or random.Random()
    default = event.intervalPeriod
    shift = _random_shift(default.randomizeStart if default else None, rng)
    result: list[ScheduledInterval] = []
    previous_end: datetime | None = None
    for index, interval in enumerate(event.intervals):
        period = interval.intervalPeriod
        if period is not None and period.randomizeStart:
            shift = _random_shift(period.randomizeStart, rng)
        own_start = period.start if period is not None and not is_beginning_of_time(period.start) else None
        if own_start is not None:
            nominal = own_start
            start = own_start + shift
        elif index == 0:
            if default is not None and not is_beginning_of_time(default.start):
                nominal = default.start
                start = default.start + shift
            else:
                nominal = start = received_at
        else:
            if previous_end is None:  # the previous interval never ends: nothing can follow it
                break
            nominal = start = previous_end
        end = _end(start, _duration(period, default))
        result.append(ScheduledInterval(interval, start, end, nominal, shift))
        previous_end = end
    return result


def event_span(intervals: Iterable[ScheduledInterval]) -> tuple[datetime | None, datetime | None, bool]:
    """(first start, last end, open ended) of a schedule."""
    items = list(intervals)
    if not items:
        return None, None, False
    start = min(i.start for i in items)
    open_ended = any(i.end is None for i in items)
    ends = [i.end for i in items if i.end is not None]
    return start, (max(ends) if ends else None), open_ended


def active_intervals(intervals: Iterable[ScheduledInterval], moment: datetime) -> list[ScheduledInterval]:
    return [i for i in intervals if i.active_at(moment)]


def has_ended(intervals: list[ScheduledInterval], moment: datetime) -> bool:
    _start, end, open_ended = event_span(intervals)
    return bool(intervals) and not open_ended and end is not None and end <= moment


def london(moment: datetime) -> datetime:
    return moment.astimezone(LONDON)


def format_both(moment: datetime | None) -> str:
    """'2025-03-30 02:00 BST (01:00Z)' style: London wall time and UTC."""
    if moment is None:
        return "open"
    local = london(moment)
    utc = moment.astimezone(ZoneInfo("UTC"))
    return f"{local:%Y-%m-%d %H:%M} {local.tzname()} ({utc:%H:%M}Z)"
