"""Interval timing of the reference VEN (UG 3.1.0 §7.3-7.4, §7.9), incl. a Europe/London clock change."""

from __future__ import annotations

import itertools
import random
from datetime import UTC, datetime, timedelta

from gb_profile import builders as b
from gb_profile.examples import example_event, example_instruction
from openadr3.models import Event
from ven_client.timing import active_intervals, event_span, format_both, has_ended, is_cancelled, london, schedule

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


def payload(value: float) -> list[dict]:
    return [{"type": "DISPATCH_SETPOINT", "values": [value]}]


def make_event(intervals: list[dict], period: dict | None = None) -> Event:
    data: dict = {"id": "e1", "programID": "p1", "intervals": intervals}
    if period is not None:
        data["intervalPeriod"] = period
    return Event.model_validate(data)


def test_default_period_makes_contiguous_intervals() -> None:
    event = make_event([{"id": i, "payloads": payload(i)} for i in range(3)],
                       {"start": "2025-06-01T13:00:00Z", "duration": "PT30M"})
    items = schedule(event, NOW)
    assert [i.start.strftime("%H:%M") for i in items] == ["13:00", "13:30", "14:00"]
    assert items[-1].end == datetime(2025, 6, 1, 14, 30, tzinfo=UTC)
    assert event_span(items) == (datetime(2025, 6, 1, 13, tzinfo=UTC), datetime(2025, 6, 1, 14, 30, tzinfo=UTC), False)


def test_interval_overrides_duration_and_later_intervals_follow() -> None:
    event = make_event(
        [
            {"id": 0, "payloads": payload(1)},
            {"id": 1, "intervalPeriod": {"start": "0001-01-01T00:00:00Z", "duration": "PT2H"}, "payloads": payload(2)},
            {"id": 2, "payloads": payload(3)},
        ],
        {"start": "2025-06-01T00:00:00Z", "duration": "PT1H"},
    )
    starts = [(i.start.hour, i.end.hour if i.end else None) for i in schedule(event, NOW)]
    assert starts == [(0, 1), (1, 3), (3, 4)]


def test_absolute_interval_starts_with_gaps() -> None:
    event = make_event([
        {"id": 5, "intervalPeriod": {"start": "2025-06-01T10:00:00Z", "duration": "PT15M"}, "payloads": payload(1)},
        {"id": 9, "intervalPeriod": {"start": "2025-06-01T11:00:00Z", "duration": "PT15M"}, "payloads": payload(2)},
    ])
    items = schedule(event, NOW)
    assert [i.id for i in active_intervals(items, datetime(2025, 6, 1, 11, 5, tzinfo=UTC))] == [9]
    assert active_intervals(items, datetime(2025, 6, 1, 10, 30, tzinfo=UTC)) == []
    assert has_ended(items, NOW)


def test_do_it_now_and_infinite_duration() -> None:
    event = make_event([{"id": 0, "payloads": payload(7)}], {"start": "0001-01-01T00:00:00Z", "duration": "P9999Y"})
    items = schedule(event, NOW)
    assert items[0].start == NOW and items[0].end is None
    assert not has_ended(items, NOW + timedelta(days=3650))
    # No event period at all and a beginning-of-time interval start: also 'now'.
    own = {"start": "0001-01-01T00:00:00Z", "duration": "PT1H"}
    event = make_event([{"id": 0, "intervalPeriod": own, "payloads": payload(1)}])
    assert schedule(event, NOW)[0].start == NOW


def test_randomize_start_shifts_all_following_intervals_equally() -> None:
    event = make_event([{"id": i, "payloads": payload(i)} for i in range(4)],
                       {"start": "2025-06-01T13:00:00Z", "duration": "PT30M", "randomizeStart": "PT5M"})
    for seed in range(20):
        items = schedule(event, NOW, random.Random(seed))
        shift = items[0].start - items[0].nominal_start
        assert abs(shift) <= timedelta(minutes=5)
        assert all(i.shift == shift for i in items)
        assert [i.end - i.start for i in items] == [timedelta(minutes=30)] * 4
        assert all(a.end == b.start for a, b in itertools.pairwise(items))
    shifts = {schedule(event, NOW, random.Random(s))[0].shift for s in range(20)}
    assert len(shifts) > 1  # really random
    assert schedule(event, NOW, random.Random(3)) == schedule(event, NOW, random.Random(3))  # stable when seeded


def test_absolute_start_takes_first_shift_unless_it_randomizes_itself() -> None:
    event = make_event(
        [
            {"id": 0, "payloads": payload(1)},
            {"id": 1, "intervalPeriod": {"start": "2025-06-01T15:00:00Z"}, "payloads": payload(2)},
            {"id": 2, "intervalPeriod": {"start": "2025-06-01T17:00:00Z", "randomizeStart": "PT10M"}, "payloads": payload(3)},
        ],
        {"start": "2025-06-01T13:00:00Z", "duration": "PT1H", "randomizeStart": "PT1M"},
    )
    first, second, third = schedule(event, NOW, random.Random(1))
    assert second.shift == first.shift and abs(first.shift) <= timedelta(minutes=1)
    assert second.start == datetime(2025, 6, 1, 15, tzinfo=UTC) + first.shift
    assert abs(third.start - third.nominal_start) <= timedelta(minutes=10)


def test_cancellation_by_update() -> None:
    cancelled = make_event([{"id": 0, "payloads": payload(1)}], {"start": "0001-01-01T00:00:00Z", "duration": "PT0S"})
    assert is_cancelled(cancelled) and schedule(cancelled, NOW) == []
    stop = make_event([{"id": 0, "payloads": [{"type": "GB_DISPATCH_STATUS", "values": ["STOP"]}]}],
                      {"start": "2025-06-01T13:00:00Z", "duration": "PT1H"})
    assert is_cancelled(stop)
    running = make_event([{"id": 0, "payloads": [{"type": "GB_DISPATCH_STATUS", "values": ["RUN"]}]}],
                         {"start": "2025-06-01T13:00:00Z", "duration": "PT1H"})
    assert not is_cancelled(running)


def test_london_spring_forward_day_has_46_settlement_periods() -> None:
    # 2025-03-30: clocks go forward at 01:00 GMT. London midnight to midnight is 23 h = 46 half hours.
    event = make_event([{"id": i, "payloads": payload(i)} for i in range(46)],
                       {"start": "2025-03-30T00:00:00Z", "duration": "PT30M"})
    items = schedule(event, NOW)
    local = [london(i.start).strftime("%H:%M") for i in items]
    assert local[:4] == ["00:00", "00:30", "02:00", "02:30"]  # 01:00-01:59 London does not exist
    assert london(items[-1].end).strftime("%Y-%m-%d %H:%M %Z") == "2025-03-31 00:00 BST"
    assert all(i.end - i.start == timedelta(minutes=30) for i in items)
    # The interval active at 01:30 UTC is the 4th (02:30 BST).
    assert [i.id for i in active_intervals(items, datetime(2025, 3, 30, 1, 40, tzinfo=UTC))] == [3]
    assert format_both(items[2].start) == "2025-03-30 02:00 BST (01:00Z)"


def test_london_fall_back_day_with_local_offsets() -> None:
    # 2025-10-26: 01:00-02:00 BST is followed by 01:00-02:00 GMT; starts given with the sender's offsets.
    event = make_event([
        {"id": 0, "intervalPeriod": {"start": "2025-10-26T01:00:00+01:00", "duration": "PT1H"}, "payloads": payload(1)},
        {"id": 1, "intervalPeriod": {"start": "2025-10-26T01:00:00+00:00", "duration": "PT1H"}, "payloads": payload(2)},
    ])
    first, second = schedule(event, NOW)
    assert first.end == second.start  # contiguous in real time although both read 01:00 on the wall
    assert format_both(first.start) == "2025-10-26 01:00 BST (00:00Z)"
    assert format_both(second.start) == "2025-10-26 01:00 GMT (01:00Z)"
    assert [i.id for i in active_intervals([first, second], datetime(2025, 10, 26, 1, 30, tzinfo=UTC))] == [1]


def test_gb_cancelled_status_is_a_cancellation() -> None:
    """A CANCELLED revision (PT0S window at the original start, no setpoints) is a cancellation like STOP."""
    ins = example_instruction()
    cancelled = b.cancel_event(example_event(), ins.instruction_time + timedelta(minutes=1))
    assert cancelled.intervalPeriod is not None and cancelled.intervalPeriod.duration == "PT0S"
    assert is_cancelled(cancelled) and schedule(cancelled, NOW) == []
    assert not is_cancelled(example_event())
