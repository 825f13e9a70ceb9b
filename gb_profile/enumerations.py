"""How the profile uses the OpenADR 3.1.0 enumeration schemas (docs/gb-profile.md §4.4).

The 3.1.0 `valuesMap` schemas declare `minimum: 0` for four payload types the profile carries signed
(net import positive). As the enumerations README tells private extensions to, the profile copies the
schemas and modifies exactly those four: `profile_schemas` derives the profile's definitions from the
standard ones by dropping that `minimum`, keeping every other constraint.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from gb_profile import model as m

SIGNED_PAYLOADS = frozenset({m.P_SETPOINT_ABSOLUTE, m.P_SETPOINT_DELTA, m.P_USAGE, m.P_DEMAND})
"""Standard payload types whose values are signed under the profile (3.1.0 says >= 0)."""


def profile_schemas(definitions: Mapping[str, Any]) -> dict[str, Any]:
    """The profile's schemas: the standard `definitions` with `items.minimum` removed for `SIGNED_PAYLOADS`."""
    result = copy.deepcopy(dict(definitions))
    for name in SIGNED_PAYLOADS & set(result):
        items = result[name].get("items")
        if isinstance(items, dict):
            items.pop("minimum", None)
    return result


def is_private(type_name: str) -> bool:
    """Private payload, target and attribute types of the profile all carry the `GB_` prefix."""
    return type_name.startswith("GB_")
