"""The availability week calendar of the console (operator and FSP pages; docs/console.md, "Availability").

One row per (FSP, dispatch unit, direction), one column per London day of the week commencing Monday `week`;
each cell lists the windows starting that day with their local times, kW and acceptance status.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from gb_profile.model import week_of
from gb_profile.settlement import LONDON


@dataclass
class Slot:
    id: int | None
    start: datetime
    end: datetime
    declared_kw: float
    status: str
    accepted_kw: float | None = None
    bid_price: float | None = None
    awarded_price: float | None = None
    reason: str | None = None
    entered_by: str = ""
    operator_entered: bool = False

    @property
    def times(self) -> str:
        start, end = self.start.astimezone(LONDON), self.end.astimezone(LONDON)
        return f"{start:%H:%M}–{end:%H:%M} {end:%Z}" if start.tzname() == end.tzname() else \
            f"{start:%H:%M %Z}–{end:%H:%M %Z}"


@dataclass
class Row:
    ven_name: str
    unit: str
    direction: str
    cells: list[list[Slot]] = field(default_factory=lambda: [[] for _ in range(7)])


def parse_week(value: str | None, now: datetime) -> date:
    """The London Monday named by `value` (YYYY-MM-DD, any day of its week), or this week's."""
    if value:
        try:
            day = date.fromisoformat(value)
        except ValueError:
            day = week_of(now)
        return day - timedelta(days=day.weekday())
    return week_of(now)


def grid(week: date, entries: Iterable[tuple[str, str, str, Slot]]) -> dict[str, Any]:
    """The template's context: days (label) and rows, from (FSP, unit, direction, slot) entries of that week."""
    rows: dict[tuple[str, str, str], Row] = {}
    for ven_name, unit, direction, slot in entries:
        day = slot.start.astimezone(LONDON).date()
        index = (day - week).days
        if not 0 <= index < 7:
            continue
        row = rows.setdefault((ven_name, unit, direction), Row(ven_name, unit, direction))
        row.cells[index].append(slot)
    for row in rows.values():
        for cell in row.cells:
            cell.sort(key=lambda s: s.start)
    days = [week + timedelta(days=i) for i in range(7)]
    return {
        "week": week.isoformat(), "previous": (week - timedelta(days=7)).isoformat(),
        "next": (week + timedelta(days=7)).isoformat(),
        "days": [f"{d:%a %d %b}" for d in days],
        "rows": [rows[k] for k in sorted(rows)],
    }
