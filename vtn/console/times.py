"""Instants for people: parse RFC 3339 text, show Europe/London wall time (GMT/BST)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from gb_profile.settlement import LONDON


def parse_time(text: Any) -> datetime | None:
    """An RFC 3339 date-time with an offset as an aware datetime; None when absent or not one."""
    if not isinstance(text, str):
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else None


def london(moment: datetime | str | None, with_date: bool = True) -> str:
    """An instant as London wall time with its zone, e.g. `Wed 01 Jul 2026 14:30:00 BST`; '—' when absent.

    Text that is not a date-time is shown as it is (it is escaped by the template).
    """
    if isinstance(moment, str):
        parsed = parse_time(moment)
        if parsed is None:
            return moment
        moment = parsed
    if moment is None:
        return "—"
    local = moment.astimezone(LONDON)
    return local.strftime("%a %d %b %Y %H:%M:%S %Z" if with_date else "%H:%M:%S %Z")


def london_window(start: datetime | None, end: datetime | None) -> str:
    """'Mon 23 Nov 2026 19:32:00 – 19:37:00 GMT' on one London day, both in full otherwise."""
    if start is None or end is None:
        return london(start)
    first, last = start.astimezone(LONDON), end.astimezone(LONDON)
    if first.date() == last.date() and first.tzname() == last.tzname():
        return f"{first:%a %d %b %Y %H:%M:%S} – {last:%H:%M:%S %Z}"
    return f"{london(first)} – {london(last)}"
