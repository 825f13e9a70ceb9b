"""Target matching, the one rule used everywhere (filters, privacy, notifications, the VEN).

The spec never defines it (checklist A.4); our stance, documented in docs/architecture.md:
an object matches a (targetType, targetValues) filter when one of its `targets` entries has that
type and shares at least one value with targetValues (OR over values). An object without targets
does not match a target filter.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

TargetPair = tuple[str, str]


def value_key(value: Any) -> str | None:
    """The string a target value is compared by; `None` for values that cannot be filtered on."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return json.dumps(value)
    if isinstance(value, str):
        return value
    return None


def target_pairs(targets: Iterable[Mapping[str, Any]] | None) -> set[TargetPair]:
    """Every (type, value) pair of a wire `targets` list."""
    pairs: set[TargetPair] = set()
    for entry in targets or ():
        for value in entry.get("values") or ():
            key = value_key(value)
            if key is not None:
                pairs.add((entry["type"], key))
    return pairs


def matches_filter(
    targets: Iterable[Mapping[str, Any]] | None, target_type: str, target_values: Iterable[str]
) -> bool:
    wanted = {(target_type, v) for v in target_values}
    return bool(target_pairs(targets) & wanted)


def intersects(targets: Iterable[Mapping[str, Any]] | None, granted: set[TargetPair]) -> bool:
    return bool(target_pairs(targets) & granted)
