"""Profile enforcement: programs that declare the GB profile (programType `GB_FLEX:<product>`)
are held to it, and so are their events and reports. Violations are a 400 listing rule IDs.

Also the VTN's GB alarms: FSP emergency stops not cleared, and the `GB-Warning` a dispatch to such a
unit is answered with."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from vtn.core.errors import BadRequest

if TYPE_CHECKING:
    from gb_profile.emergency import UnitEmergencyStop


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


# --- FSP emergency stops (docs/gb-profile.md §6.3) --------------------------------------------------------------


async def fsp_emergency_stops(session: AsyncSession, fsp_id: str | None = None) -> list[UnitEmergencyStop]:
    """Dispatch units whose FSP reported an emergency stop it has not cleared (all FSPs, or one), newest first.

    Reads only the GB_EMERGENCY_STOP reports (indexed `report_name`), as the operator: an alarm is for the
    control room whoever's report it is.
    """
    from gb_profile import model as m
    from gb_profile.emergency import active_fsp_stops
    from vtn.reports.models import ReportRow

    query = select(ReportRow.document).where(ReportRow.report_name == m.R_EMERGENCY_STOP)
    if fsp_id is not None:
        query = query.where(ReportRow.client_name == fsp_id)
    documents = (await session.exec(query.order_by(col(ReportRow.created_at), col(ReportRow.id)))).all()
    return active_fsp_stops(documents)


async def dispatch_warnings(session: AsyncSession, event: dict[str, Any]) -> list[str]:
    """Warnings for a dispatch just written (POST/PUT /events): its unit is emergency-stopped by its FSP.

    Empty for anything that is not an open GB dispatch. The event is stored all the same: the operator may
    have reasons to dispatch, but must know the unit may not respond.
    """
    from gb_profile import builders as b
    from gb_profile import model as m
    from gb_profile.emergency import dispatch_warning
    from gb_profile.validator import is_gb_program
    from vtn.programs.models import ProgramRow

    program = await session.get(ProgramRow, event.get("programID"))
    if program is None or not is_gb_program(program.document) or b.is_anchor_event(event):
        return []
    try:
        ins = b.parse_event(event)
    except (m.ProfileError, ValueError, IndexError):
        return []
    if ins.status not in m.ACTIVE_STATUSES:
        return []
    warning = dispatch_warning(ins, await fsp_emergency_stops(session, ins.fsp_id))
    return [warning] if warning else []


def warning_headers(warnings: list[str]) -> list[tuple[str, str]]:
    """One `GB-Warning` response header per warning (printable ASCII)."""
    from gb_profile.emergency import WARNING_HEADER, header_value

    return [(WARNING_HEADER, header_value(w)) for w in warnings]
