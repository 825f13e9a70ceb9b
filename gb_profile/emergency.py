"""Emergency stops seen from the control room (docs/gb-profile.md §5.3, §6.3).

- **Operator emergency stop**: which dispatches one e-stop covers (`StopScope`: one dispatch, every dispatch
  of a program, of a constraint management zone, or of every GB program) — each gets its own
  EMERGENCY_STOP revision (`builders.emergency_stop_event`, priority 0, GB-E-019).
- **FSP emergency stop**: which dispatch units an FSP has emergency-stopped and not yet cleared
  (`active_fsp_stops`), from its `GB_EMERGENCY_STOP` reports, and the warning a new dispatch to such a
  unit carries (`dispatch_warning`).

Pure functions over the wire documents the VTN returns, shared by the web console, `vtn gb` and the VTN's
POST/PUT /events warning header.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from gb_profile import builders as b
from gb_profile import model as m
from openadr3.models import Event, Report

EventDoc = Event | Mapping[str, Any]
ReportDoc = Report | Mapping[str, Any]
Dispatch = tuple[EventDoc, m.DispatchInstruction]  # an event document and the instruction it carries

WARNING_HEADER = "GB-Warning"  # on POST/PUT /events answers (docs/gb-profile.md §6.3)

# --- operator emergency stop --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StopScope:
    """What one operator emergency stop covers: exactly one of a dispatch (event id), a program (id), a
    constraint management zone (`<NO>:<zone>`, the dispatches' GB_CMZ target) or everything (every
    dispatch of every GB program)."""

    event_id: str | None = None
    program_id: str | None = None
    cmz: str | None = None
    everything: bool = False

    def __post_init__(self) -> None:
        given = [x for x in (self.event_id, self.program_id, self.cmz) if x] + ([True] if self.everything else [])
        if len(given) != 1:
            raise ValueError("say what to stop: one dispatch, one program, one constraint zone (NO:ZONE) or everything")
        if self.cmz:
            b.split_namespaced(self.cmz, m.T_CMZ)  # "<NO>:<zone>", else ProfileError (a ValueError)

    def describe(self, program_name: str | None = None) -> str:
        if self.event_id:
            return f"dispatch {self.event_id}"
        if self.program_id:
            return f"every active dispatch of program {program_name or self.program_id}"
        if self.cmz:
            return f"every active dispatch in constraint zone {self.cmz}"
        return "every active dispatch of every GB program"


def can_emergency_stop(ins: m.DispatchInstruction, now: datetime) -> bool:
    """Whether an e-stop changes anything: the dispatch is open (PRE_NOTIFY, RUN, RUN_NOW: each may go to
    EMERGENCY_STOP, §5.2) and its window has not ended."""
    return ins.status in m.ACTIVE_STATUSES and b.utc(ins.service_end) > b.utc(now)


def select_for_emergency_stop(dispatches: Iterable[Dispatch], scope: StopScope, now: datetime) -> list[Dispatch]:
    """The dispatches `scope` covers that an e-stop would change, in the given order. `dispatches` are those of
    GB programs (the caller reads them); anchors and non-profile events must not be among them."""
    chosen = []
    for doc, ins in dispatches:
        if scope.event_id and b.field_of(doc, "id") != scope.event_id:
            continue
        if scope.program_id and b.field_of(doc, "programID") != scope.program_id:
            continue
        if scope.cmz and (ins.cmz is None or f"{ins.operator_id}:{ins.cmz}" != scope.cmz):
            continue
        if can_emergency_stop(ins, now):
            chosen.append((doc, ins))
    return chosen


# --- FSP emergency stop -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class UnitEmergencyStop:
    """A dispatch unit an FSP has emergency-stopped and not cleared (its latest GB_EMERGENCY_STOP report)."""

    fsp_id: str
    dispatch_unit: str
    operator_id: str
    reason: str
    effective_time: datetime
    report_id: str | None
    event_id: str | None
    program_id: str | None


def active_fsp_stops(reports: Iterable[ReportDoc]) -> list[UnitEmergencyStop]:
    """Units whose latest emergency-stop report (by effective time, then creation) is a stop, not a clearance,
    newest first. Reports that are not parseable GB_EMERGENCY_STOP reports are skipped."""
    latest: dict[tuple[str, str], tuple[tuple[datetime, str], m.EmergencyStop, ReportDoc]] = {}
    for doc in reports:
        if b.field_of(doc, "reportName") != m.R_EMERGENCY_STOP:
            continue
        try:
            stop = b.parse_emergency_stop_report(doc)
        except (m.ProfileError, ValueError):
            continue
        order = (b.utc(stop.effective_time), str(b.field_of(doc, "createdDateTime") or ""))
        for unit in stop.dispatch_units:
            key = (stop.fsp_id, unit)
            if key not in latest or order >= latest[key][0]:
                latest[key] = (order, stop, doc)
    active = [
        UnitEmergencyStop(fsp, unit, stop.operator_id, stop.reason, b.utc(stop.effective_time),
                          b.field_of(doc, "id"), b.field_of(doc, "eventID"), b.field_of(doc, "programID"))
        for (fsp, unit), (_order, stop, doc) in latest.items() if not stop.cleared
    ]
    active.sort(key=lambda s: (s.effective_time, s.fsp_id, s.dispatch_unit), reverse=True)
    return active


def dispatch_warning(ins: m.DispatchInstruction, stops: Iterable[UnitEmergencyStop]) -> str | None:
    """The warning for dispatching `ins` (an open status) while its unit is emergency-stopped by its FSP, or None."""
    if ins.status not in m.ACTIVE_STATUSES:
        return None
    for stop in stops:
        if (stop.fsp_id, stop.dispatch_unit) == (ins.fsp_id, ins.dispatch_unit):
            return (f"FSP {stop.fsp_id} reported an emergency stop of {stop.dispatch_unit} at "
                    f"{b.utc_text(stop.effective_time)} ({stop.reason}) and has not cleared it: the unit may not respond")
    return None


def header_value(text: str, limit: int = 1000) -> str:
    """`text` as an HTTP header value: printable ASCII only (an FSP's reason may hold anything), bounded."""
    return "".join(c if " " <= c <= "~" else "?" for c in text)[:limit]


__all__ = [
    "WARNING_HEADER", "StopScope", "UnitEmergencyStop", "active_fsp_stops", "can_emergency_stop", "dispatch_warning",
    "header_value", "select_for_emergency_stop",
]
