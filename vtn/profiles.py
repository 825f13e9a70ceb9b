"""Profile enforcement: programs that declare the GB profile (programType `GB_FLEX:<product>`)
are held to it, and so are their events and reports. Violations are a 400 listing rule IDs."""

from __future__ import annotations

import logging
from typing import Any

from vtn.core.errors import BadRequest

log = logging.getLogger("vtn.profiles")


def _reject(kind: str, violations: list[Any]) -> None:
    if violations:
        rules = ", ".join(sorted({v.rule for v in violations}))
        raise BadRequest(
            f"{kind} violates the GB profile ({rules}); see docs/gb-profile.md",
            extra={"errors": [{"rule": v.rule, "field": v.path, "message": v.message} for v in violations]},
        )


def check_program(program: dict[str, Any]) -> None:
    from gb_profile.validator import is_gb_program, validate_program

    if is_gb_program(program):
        _reject("program", validate_program(program))


def check_event(event: dict[str, Any], program: dict[str, Any], previous: dict[str, Any] | None = None) -> None:
    from gb_profile.validator import is_gb_program, validate_event

    if is_gb_program(program):
        _reject("event", validate_event(event, program, previous=previous))


def check_report(report: dict[str, Any], event: dict[str, Any], program: dict[str, Any]) -> None:
    from gb_profile.validator import is_gb_program, validate_report

    if is_gb_program(program):
        _reject("report", validate_report(report, event))
        _flag_readback(report, event)


def _flag_readback(report: dict[str, Any], event: dict[str, Any]) -> None:
    """A misread acknowledgement is stored, not refused (GB-R-008): the operator's record of it is this warning
    and the board's "does not match", which gb_profile.board derives from the stored ack and the event."""
    from gb_profile.validator import readback_mismatches

    for notice in readback_mismatches(report, event):
        log.warning(
            "%s: acknowledgement by %s of event %s does not match the dispatch: %s",
            notice.rule, report.get("clientName"), event.get("id"), notice.message,
        )
