"""Whether an event is active: its lifespan includes a moment (User Guide 3.1.0 §7.3, the 3.1.0 `active` query).

The lifespan is the VEN's own schedule (`ven_client.timing.schedule`, one implementation of the timing rules)
without the randomizeStart draw (the VTN answers with nominal starts), 'do it now' events counting from their
creation; a 3.1.0 event `duration` sets the end from the first start (P9999Y: open ended).
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from openadr3.durations import InvalidDuration, parse_duration
from openadr3.models import Event
from ven_client.timing import event_span, schedule


class _Nominal(random.Random):
    """No randomizeStart shift: the middle of every range."""

    def uniform(self, a: float, b: float) -> float:
        return (a + b) / 2


def is_active(document: Mapping[str, Any], extra: Mapping[str, Any] | None, now: datetime) -> bool:
    event = Event.model_validate(document)
    created = event.createdDateTime or now
    start, end, open_ended = event_span(schedule(event, created, _Nominal()))
    if start is None:
        return False  # no intervals, or cancelled
    duration = (extra or {}).get("duration")
    if duration:
        try:
            length = parse_duration(duration)
        except InvalidDuration:
            length = None
        if length is not None:
            if length.infinite:
                return start <= now
            try:
                end, open_ended = length.add_to(start), False
            except OverflowError:
                return start <= now
    return start <= now and (open_ended or end is None or now < end)
