"""The GB flexibility profile of OpenADR 3.0.1 (docs/gb-profile.md).

Depends only on pydantic, joserfc/cryptography and the standard library (plus `openadr3` wire models),
so an FSP can use it without the VTN server's stack.
"""

from gb_profile.model import PROFILE_VERSION, PROGRAM_TYPE_PREFIX
from gb_profile.validator import (
    RULES,
    Violation,
    is_gb_program,
    validate_event,
    validate_event_update,
    validate_program,
    validate_report,
    validate_resource,
)

__all__ = [
    "PROFILE_VERSION",
    "PROGRAM_TYPE_PREFIX",
    "RULES",
    "Violation",
    "is_gb_program",
    "validate_event",
    "validate_event_update",
    "validate_program",
    "validate_report",
    "validate_resource",
]
