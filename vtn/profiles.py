"""Profile enforcement: programs that declare the GB profile (programType `GB_FLEX:<product>`)
are held to it, and so are their events and reports. Violations are a 400 listing rule IDs."""

from __future__ import annotations

from typing import Any

from vtn.core.errors import BadRequest


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
