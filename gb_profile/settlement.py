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
