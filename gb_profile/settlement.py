"""Settlement periods: local (Europe/London) half-hours, numbered from 1 at local midnight.

A settlement day has 48 periods, 46 on the spring clock-change day and 50 on the autumn one.
Instants on the wire are UTC; these helpers convert both ways (docs/gb-profile.md §4.3).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

LONDON = ZoneInfo("Europe/London")
PERIOD = timedelta(minutes=30)


class SettlementPeriodError(ValueError):
    pass


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise SettlementPeriodError(f"{moment.isoformat()} has no UTC offset; instants must be timezone-aware")
    return moment.astimezone(UTC)


def day_start(day: date) -> datetime:
    """Local midnight of `day` as a UTC instant (GB clocks change at 01:00 UTC, so midnight always exists)."""
    return datetime.combine(day, time(0), tzinfo=LONDON).astimezone(UTC)


def periods_in_day(day: date) -> int:
    """46, 48 or 50."""
    length = day_start(day + timedelta(days=1)) - day_start(day)
    return int(length / PERIOD)


def period_start(day: date, period: int) -> datetime:
    """UTC start of settlement period `period` (1-based) of settlement day `day`."""
    count = periods_in_day(day)
    if not isinstance(period, int) or isinstance(period, bool) or not 1 <= period <= count:
        raise SettlementPeriodError(f"settlement period {period!r} does not exist on {day.isoformat()} (1-{count})")
    return day_start(day) + (period - 1) * PERIOD


def period_bounds(day: date, period: int) -> tuple[datetime, datetime]:
    start = period_start(day, period)
    return start, start + PERIOD


def period_of(moment: datetime) -> tuple[date, int]:
    """The (settlement day, period) containing the instant `moment`."""
    instant = _utc(moment)
    day = instant.astimezone(LONDON).date()
    return day, int((instant - day_start(day)) / PERIOD) + 1


def is_period_boundary(moment: datetime) -> bool:
    instant = _utc(moment)
    return instant.second == 0 and instant.microsecond == 0 and instant.minute in (0, 30)


def periods(start: datetime, end: datetime) -> list[tuple[date, int]]:
    """Every settlement period overlapping the half-open span [start, end)."""
    first, last = _utc(start), _utc(end)
    result: list[tuple[date, int]] = []
    day, number = period_of(first)
    cursor = period_start(day, number)
    while cursor < last:
        result.append(period_of(cursor))
        cursor += PERIOD
    return result


def local_to_utc(moment: datetime) -> datetime:
    """A Europe/London wall-clock time (naive) as a UTC instant.

    Refuses the local times the clock changes make meaningless: 01:00-01:59 on the spring day does not
    exist and 01:00-01:59 on the autumn day happens twice (give an explicit offset instead).
    """
    if moment.tzinfo is not None:
        return _utc(moment)
    first, second = moment.replace(tzinfo=LONDON, fold=0), moment.replace(tzinfo=LONDON, fold=1)
    if first.utcoffset() != second.utcoffset():
        kind = "is ambiguous (occurs twice)" if first.utcoffset() > second.utcoffset() else "does not exist"
        raise SettlementPeriodError(f"London local time {moment.isoformat()} {kind}: give a UTC offset")
    return first.astimezone(UTC)


def local_window(day: date, start: time, end: time) -> tuple[datetime, datetime]:
    """A contract window given in London local time (e.g. 16:00-19:00) on `day`, as UTC instants.

    Each boundary is converted with the offset in force at that local time, so a window keeps its
    local clock times all year and its UTC times move by an hour at each clock change. An `end` of
    00:00 means midnight at the end of `day`.
    """
    begin = local_to_utc(datetime.combine(day, start))
    finish = day_start(day + timedelta(days=1)) if end == time(0) else local_to_utc(datetime.combine(day, end))
    if finish <= begin:
        raise SettlementPeriodError(f"window {start}-{end} on {day.isoformat()} is empty")
    return begin, finish
