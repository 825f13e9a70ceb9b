"""ISO 8601 durations as the OpenADR 3 `duration` schema defines them (Y301:2467-2472).

Years and months are calendar units, so a duration is added to a date-time field by field
rather than converted to seconds; `P9999Y` means "forever" (UG310:657-660).
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

DURATION_PATTERN = (
    r"^(-?)P(?=\d|T\d)(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)([DW]))?"
    r"(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$"
)
_DURATION = re.compile(DURATION_PATTERN)
INFINITE_YEARS = 9999


class InvalidDuration(ValueError):
    pass


@dataclass(frozen=True)
class IsoDuration:
    negative: bool = False
    years: int = 0
    months: int = 0
    days: int = 0
    seconds: float = 0.0

    @property
    def infinite(self) -> bool:
        return self.years >= INFINITE_YEARS

    @property
    def is_zero(self) -> bool:
        return not (self.years or self.months or self.days or self.seconds)

    def as_timedelta(self) -> timedelta:
        """Exact length; only for durations without calendar units (years, months)."""
        if self.years or self.months:
            raise InvalidDuration("a duration with years or months has no fixed length")
        delta = timedelta(days=self.days, seconds=self.seconds)
        return -delta if self.negative else delta

    def add_to(self, moment: datetime) -> datetime:
        """`moment` + this duration, calendar-aware for years and months."""
        sign = -1 if self.negative else 1
        total_months = moment.month - 1 + sign * (self.years * 12 + self.months)
        year, month = moment.year + total_months // 12, total_months % 12 + 1
        if not 1 <= year <= 9999:
            raise OverflowError("date out of range")
        day = min(moment.day, calendar.monthrange(year, month)[1])
        shifted = moment.replace(year=year, month=month, day=day)
        return shifted + sign * timedelta(days=self.days, seconds=self.seconds)

    def __str__(self) -> str:
        return format_duration(self)


def parse_duration(text: str) -> IsoDuration:
    match = _DURATION.match(text)
    if not match:
        raise InvalidDuration(f"{text!r} is not an ISO 8601 duration such as PT30M or P1D")
    sign, years, months, count, unit, hours, minutes, seconds = match.groups()
    days = int(count or 0) * (7 if unit == "W" else 1)
    total_seconds = int(hours or 0) * 3600 + int(minutes or 0) * 60 + float(seconds or 0)
    return IsoDuration(
        negative=sign == "-",
        years=int(years or 0),
        months=int(months or 0),
        days=days,
        seconds=total_seconds,
    )


def format_duration(value: IsoDuration | timedelta) -> str:
    """Render as the shortest matching ISO 8601 string (`PT0S` for zero)."""
    if isinstance(value, timedelta):
        negative = value < timedelta(0)
        value = abs(value)
        value = IsoDuration(negative=negative, days=value.days, seconds=value.seconds + value.microseconds / 1e6)
    date_part = ""
    if value.years:
        date_part += f"{value.years}Y"
    if value.months:
        date_part += f"{value.months}M"
    if value.days:
        date_part += f"{value.days}D"
    hours, rest = divmod(value.seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    time_part = ""
    if hours:
        time_part += f"{int(hours)}H"
    if minutes:
        time_part += f"{int(minutes)}M"
    if seconds:
        time_part += f"{seconds:g}S" if seconds != int(seconds) else f"{int(seconds)}S"
    if not date_part and not time_part:
        time_part = "0S"
    text = "P" + date_part + (f"T{time_part}" if time_part else "")
    return ("-" if value.negative else "") + text
