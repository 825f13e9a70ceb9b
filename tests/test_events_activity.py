"""`active` (OpenADR 3.1.0 GET /events?active=): an event's lifespan on the GB clock-change days."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from gb_profile.settlement import day_start, periods, periods_in_day
from vtn.events.activity import is_active


def day_event(london_midnight_utc: datetime, count: int, **more: Any) -> dict[str, Any]:
    """An event of `count` contiguous settlement periods from a London midnight (given in UTC)."""
    return {
        "id": "e", "createdDateTime": "2027-01-01T00:00:00Z", "programID": "p",
        "intervalPeriod": {"start": london_midnight_utc.isoformat(), "duration": "PT30M"},
        "intervals": [{"id": n, "payloads": [{"type": "DISPATCH_SETPOINT", "values": [1]}]} for n in range(count)],
        **more,
    }


@pytest.mark.parametrize(("day", "count"), [(date(2027, 3, 28), 46), (date(2027, 10, 31), 50)])
def test_a_whole_clock_change_day_is_active_to_its_last_period(day: date, count: int) -> None:
    midnight, next_midnight = day_start(day), day_start(day + timedelta(days=1))
    assert periods_in_day(day) == len(periods(midnight, next_midnight)) == count
    event = day_event(midnight, count)
    assert not is_active(event, None, midnight - timedelta(seconds=1))
    assert is_active(event, None, midnight)
    assert is_active(event, None, next_midnight - timedelta(seconds=1))  # the last settlement period
    assert not is_active(event, None, next_midnight)
    # a 3.1.0 duration cuts the lifespan, P9999Y makes it endless
    assert not is_active(event, {"duration": "PT1H"}, midnight + timedelta(hours=1))
    assert is_active(event, {"duration": "P9999Y"}, next_midnight + timedelta(days=400))


def test_cancelled_and_empty_events_are_never_active() -> None:
    now = datetime(2027, 3, 28, 12, 0, tzinfo=UTC)
    assert not is_active(day_event(now, 0), None, now)
    cancelled = day_event(now, 2, intervalPeriod={"start": "0001-01-01T00:00:00Z", "duration": "PT0S"})
    assert not is_active(cancelled, None, now)
