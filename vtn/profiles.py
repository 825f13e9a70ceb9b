"""Profile enforcement: programs that declare the GB profile (programType `GB_FLEX:<product>`)
are held to it, and so are their events and reports; so are resources that declare a GB role
(attribute `GB_RESOURCE_ROLE`). Violations are a 400 listing rule IDs (an MPAN another FSP holds: 409).

Also the VTN's GB alarms: FSP emergency stops not cleared, and the `GB-Warning` a dispatch to such a
unit is answered with."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from sqlalchemy import Text, cast, text
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from openadr3.models import Report
from vtn.core.errors import BadRequest, Conflict

if TYPE_CHECKING:
    from gb_profile.emergency import UnitEmergencyStop
    from gb_profile.signing import KeyRing
    from vtn.auth.privacy import Viewer

log = logging.getLogger("vtn.profiles")


def _reject(kind: str, violations: list[Any], error: type[BadRequest | Conflict] = BadRequest) -> None:
    if violations:
        rules = ", ".join(sorted({v.rule for v in violations}))
        raise error(
            f"{kind} violates the GB profile ({rules}); see docs/gb-profile.md",
            extra={"errors": [{"rule": v.rule, "field": v.path, "message": v.message} for v in violations]},
        )


def check_program(program: dict[str, Any]) -> None:
    from gb_profile.validator import is_gb_program, validate_program

    if is_gb_program(program):
        _reject("program", validate_program(program))


def check_event(
    event: dict[str, Any], program: dict[str, Any], previous: dict[str, Any] | None = None,
    previous_program: dict[str, Any] | None = None,
) -> None:
    """`previous`: the stored version an update replaces; `previous_program`: its program (an update may name another)."""
    from gb_profile.validator import Violation, is_gb_program, validate_event

    if previous_program is not None and is_gb_program(previous_program) and not is_gb_program(program):
        # GB-E-041 keeps a revision in its program; outside the profile nothing would check it, and a dispatch moved
        # to a plain program could then be deleted (VTN-GB-001)
        _reject("event", [Violation("GB-E-041", "programID", "an event of a GB program cannot move to another program")])
    if is_gb_program(program):
        _reject("event", validate_event(event, program, previous=previous))
        _reject("event", _sandbox_marking(event, program))


SANDBOX_RULE = "VTN-SBX-001"


def _sandbox_marking(event: dict[str, Any], program: dict[str, Any]) -> list[Any]:
    """A dispatch is a test exactly when its program is a sandbox program: the contract `<NO>:SANDBOX` says so on
    the event itself, so a VEN can tell without looking the program up (and never actuates it)."""
    from gb_profile import builders as b
    from gb_profile import model as m
    from gb_profile.validator import Violation
    from vtn.programs.models import is_sandbox_name

    if b.is_info_event(event):
        return []  # not a dispatch: it carries readings and emergency stops, and instructs nothing
    contracts = [v for t in event.get("targets") or () if isinstance(t, dict) and t.get("type") == m.T_CONTRACT
                 for v in t.get("values") or ()]
    test = any(isinstance(v, str) and v.split(":", 1)[-1] == m.SANDBOX_CONTRACT for v in contracts)
    sandbox = is_sandbox_name(program.get("programName"))
    if sandbox and not test:
        return [Violation(SANDBOX_RULE, "targets", f"a dispatch on sandbox program {program.get('programName')!r} "
                                                   f"must have the contract <NO>:{m.SANDBOX_CONTRACT}")]
    if test and not sandbox:
        return [Violation(SANDBOX_RULE, "targets", f"contract {m.SANDBOX_CONTRACT} is for sandbox programs only "
                                                   "(a name ending -SANDBOX)")]
    return []


def check_report(
    report: dict[str, Any] | Report, event: dict[str, Any], program: dict[str, Any], own_resources: set[str] | None = None,
    keys: KeyRing | None = None,
) -> None:
    """`own_resources`: the posting VEN's resource names (None for BL), so a VEN reports only for its own units.
    `keys`: the FSP's registered public keys (`report_keys`); with them a signed report must verify (GB-R-050)."""
    from gb_profile.validator import is_gb_program, validate_report

    if is_gb_program(program):
        _reject("report", validate_report(report, event, own_resources=own_resources, keys=keys))
        _flag_readback(report, event)


def check_report_body(report: Report, event: dict[str, Any], program: dict[str, Any],
                      own_resources: set[str] | None = None, keys: KeyRing | None = None) -> None:
    """`check_report` of a request's validated body, its provisioned fields set aside (what is stored): the model as
    it is, so a readings report of thousands of intervals is not parsed again by the profile's validator."""
    unprovisioned = report.model_copy(update=dict.fromkeys(("id", "createdDateTime", "modificationDateTime")))
    check_report(unprovisioned, event, program, own_resources, keys)


def is_gb_readings(report: dict[str, Any], program: dict[str, Any]) -> bool:
    """A GB_READINGS report of a GB program: its readings are also kept as versioned rows (vtn.delivery.readings)."""
    from gb_profile import model as m
    from gb_profile.validator import is_gb_program

    return report.get("reportName") == m.R_READINGS and is_gb_program(program)


async def report_keys(session: AsyncSession, operator: str, report: dict[str, Any], program: dict[str, Any]
                      ) -> KeyRing | None:
    """The keys the report's signer (clientName) registered with `operator` (vtn.gb.keys); None in non-GB programs
    and for FSPs without a registered key (their signatures are then checked for form only)."""
    from gb_profile.validator import is_gb_program
    from vtn.gb.keys import fsp_key_ring

    if not is_gb_program(program) or not isinstance(report.get("clientName"), str):
        return None
    return await fsp_key_ring(session, operator, [report["clientName"]])


async def report_resources(session: AsyncSession, viewer: Viewer, report: dict[str, Any], program: dict[str, Any]
                           ) -> set[str] | None:
    """The resource names a VEN's GB readings may name (its own, GB-R-012); None when there is nothing to check
    (a BL, another report, a non-GB program), so other reports cost no query."""
    from gb_profile import model as m
    from gb_profile.validator import is_gb_program
    from vtn.vens.models import ResourceRow

    if viewer.is_bl or report.get("reportName") != m.R_READINGS or not is_gb_program(program):
        return None
    if viewer.ven_id is None:
        return set()
    names = await session.exec(select(ResourceRow.resource_name).where(ResourceRow.ven_id == viewer.ven_id))  # type: ignore[call-overload]
    return set(names.all())


async def grant_dispatch_targets(session: Any, event: dict[str, Any], program: Any) -> None:
    """In a GB program, dispatching to a unit is the operator's grant of it (docs/security.md).

    The targets of the dispatch other than VEN_NAME (RESOURCE_NAME, GB_CONTRACT, GB_CMZ) are added to
    the dispatch unit resource of the VEN the dispatch names (or to that ven, when it has registered
    no such resource), so the VEN named by the BL, and only it, can read the dispatch. Nothing is
    granted to any other VEN, and nothing when the ven does not exist in the program's operator.
    """
    from sqlmodel import select

    from gb_profile import model as m
    from gb_profile.validator import is_gb_program
    from openadr3.models import PROVISIONED_FIELDS
    from openadr3.targets import target_pairs
    from vtn.vens.models import ResourceRow, VenRow
    from vtn.vens.service import resources, vens

    if not is_gb_program(program.document):
        return
    pairs = target_pairs(event.get("targets"))
    fsp = sorted(v for t, v in pairs if t == m.T_VEN_NAME)
    units = sorted(v for t, v in pairs if t == m.T_RESOURCE_NAME)
    wanted = {(t, v) for t, v in pairs if t != m.T_VEN_NAME}
    if len(fsp) != 1 or not wanted:
        return  # not a dispatch (the anchor event), or refused by the validator already
    ven = (await session.exec(
        select(VenRow).where(VenRow.operator == program.operator, VenRow.ven_name == fsp[0])
    )).first()
    if ven is None:
        return
    unit = (await session.exec(
        select(ResourceRow).where(ResourceRow.ven_id == ven.id, ResourceRow.resource_name.in_(units))  # type: ignore[attr-defined]
    )).first() if units else None
    store, row = (resources, unit) if unit is not None else (vens, ven)
    if wanted <= target_pairs(row.document.get("targets")):
        return
    merged: dict[str, list[Any]] = {}
    for entry in row.document.get("targets") or ():
        merged.setdefault(entry["type"], []).extend(entry.get("values") or ())
    for target_type, value in sorted(wanted - target_pairs(row.document.get("targets"))):
        merged.setdefault(target_type, []).append(value)
    content = {k: v for k, v in row.document.items() if k not in PROVISIONED_FIELDS}
    content["targets"] = [{"type": t, "values": values} for t, values in merged.items()]
    await store.replace(session, row, content, change={"owner_ven_id": ven.id})


def _flag_readback(report: dict[str, Any] | Report, event: dict[str, Any]) -> None:
    """A misread acknowledgement is stored, not refused (GB-R-008): the operator's record of it is this warning
    and the board's "does not match", which gb_profile.board derives from the stored ack and the event."""
    from gb_profile.validator import readback_mismatches

    for notice in readback_mismatches(report, event):
        client = report.clientName if isinstance(report, Report) else report.get("clientName")
        log.warning(
            "%s: acknowledgement by %s of event %s does not match the dispatch: %s",
            notice.rule, client, event.get("id"), notice.message,
        )


# --- the dispatch record (docs/gb-profile.md §5.4): what a GB program holds is evidence, never deleted -------------

# VTN rules (what the VTN does with stored objects, not what a payload says: outside gb_profile.validator.RULES)
DISPATCH_KEPT = "VTN-GB-001"  # a dispatch event is never deleted
ANCHOR_KEPT = "VTN-GB-002"  # the anchor event is not deleted while reports hang on it
PROGRAM_KEPT = "VTN-GB-003"  # a GB program with dispatches or reports is not deleted (its delete cascades to them)
ACK_KEPT = "VTN-GB-004"  # an acknowledgement is never deleted or changed
END_A_DISPATCH = ("end it with a revision instead: `vtn gb cancel EVENT` before its service start, `vtn gb stop EVENT` "
                  "after it (or PUT the event with GB_DISPATCH_STATUS CANCELLED or STOP, docs/gb-profile.md §5.3)")


def _refuse(rule: str, field: str, message: str) -> None:
    raise Conflict(f"{rule}: {message}; see docs/gb-profile.md §5.4",
                   extra={"errors": [{"rule": rule, "field": field, "message": message}]})


async def _has_reports(session: AsyncSession, *where: Any) -> bool:
    from vtn.reports.models import ReportRow

    return (await session.exec(select(ReportRow.id).where(*where).limit(1))).first() is not None  # type: ignore[call-overload]


async def check_event_delete(session: AsyncSession, event: Any, program: dict[str, Any] | None) -> None:
    """An event of a GB program may be deleted only when it is the anchor event and has no reports (409 otherwise).

    Every other event of a GB program is a dispatch (the validator admits nothing else): it was sent the moment it
    was stored, so it is a contract instruction, and its acknowledgements would go with it.
    """
    from gb_profile.builders import is_anchor_event
    from gb_profile.validator import is_gb_program
    from vtn.reports.models import ReportRow

    if program is None or not is_gb_program(program):
        return
    if not is_anchor_event(event.document):
        _refuse(DISPATCH_KEPT, "$", f"event {event.id!r} is a dispatch of a GB program and is never deleted; "
                + END_A_DISPATCH)
    if await _has_reports(session, ReportRow.event_id == event.id):
        _refuse(ANCHOR_KEPT, "$", f"event {event.id!r} is the anchor event of a GB program and carries the FSPs' "
                "reports (heartbeats, readings, availability, emergency stops); deleting it would delete them")


async def check_program_delete(session: AsyncSession, program: Any) -> None:
    """A GB program is deleted only while it has no dispatch and no report (its delete would cascade to them)."""
    from gb_profile.builders import is_anchor_event
    from gb_profile.validator import is_gb_program
    from vtn.events.models import EventRow
    from vtn.reports.models import ReportRow

    if not is_gb_program(program.document):
        return
    documents = await session.exec(select(EventRow.document).where(EventRow.program_id == program.id))  # type: ignore[call-overload]
    if any(not is_anchor_event(d) for d in documents.all()):
        _refuse(PROGRAM_KEPT, "$", f"program {program.id!r} has dispatches, which are never deleted "
                f"(a program delete would delete them); {END_A_DISPATCH.replace('it ', 'each ', 1)}")
    if await _has_reports(session, ReportRow.program_id == program.id):
        _refuse(PROGRAM_KEPT, "$", f"program {program.id!r} has reports of its FSPs, which a program delete would delete")


async def check_report_change(session: AsyncSession, report: Any, content: dict[str, Any] | None) -> None:
    """An acknowledgement (GB_ACK report of a GB program) is evidence: never deleted (`content` None), never changed
    by a PUT (a PUT that stores the same content again is accepted: a retry), and no other report is turned into one
    (an acknowledgement is a new report, POSTed, so its createdDateTime is when it arrived, §6.1)."""
    from gb_profile import model as m
    from gb_profile.validator import is_gb_program
    from openadr3.models import PROVISIONED_FIELDS
    from vtn.programs.models import ProgramRow

    was_ack = report.document.get("reportName") == m.R_ACK
    if not was_ack and (content is None or content.get("reportName") != m.R_ACK):
        return
    program = await session.get(ProgramRow, report.program_id)
    if program is None or not is_gb_program(program.document):
        return
    if content is None:
        _refuse(ACK_KEPT, "$", f"report {report.id!r} is an acknowledgement of a GB dispatch and is never deleted")
    stored = {k: v for k, v in report.document.items() if k not in PROVISIONED_FIELDS}
    if not was_ack:
        _refuse(ACK_KEPT, "reportName", "an acknowledgement is a new report (POST /reports), not a PUT over another one")
    if content != stored:
        _refuse(ACK_KEPT, "$", f"report {report.id!r} is an acknowledgement of a GB dispatch and is never changed; "
                "a new acknowledgement is a new report (POST /reports)")


# One MPAN registration at a time on PostgreSQL (SQLite writes are serialised already), so two FSPs cannot both
# claim a core in concurrent transactions. An arbitrary constant key, used for nothing else.
_MPAN_LOCK_KEY = 0x6762_6D70_616E


async def check_resource(session: AsyncSession, viewer: Viewer, ven_id: str, resource: dict[str, Any]) -> None:
    """A GB resource (attribute GB_RESOURCE_ROLE) is held to the profile before it is stored: valid role and MPANs
    (400), each MPAN core held by one FSP only (409, GB-V-003; `ven_id`'s own resources may repeat it) and, when
    the caller's operator is known (`viewer.gb_operator`, VTN_GB_OPERATOR), in its licence areas (GB-V-004)."""
    from gb_profile.validator import is_gb_resource, mpan_cores, validate_resource

    if not is_gb_resource(resource):
        return
    cores = set(mpan_cores(resource))
    if cores and session.bind.dialect.name == "postgresql":  # type: ignore[union-attr]
        await session.exec(text("SELECT pg_advisory_xact_lock(:key)").bindparams(key=_MPAN_LOCK_KEY))  # type: ignore[call-overload]
    taken = await _mpans_of_other_vens(session, viewer.operator, ven_id, cores) if cores else {}
    violations = validate_resource(resource, taken=taken, operator_id=licence_operator(viewer))
    _reject("resource", [v for v in violations if v.rule != "GB-V-003"])
    _reject("resource", violations, Conflict)


def licence_operator(viewer: Viewer) -> str | None:
    """The GB operator whose licence areas a resource's MPANs must lie in: the caller's operator (tenant) when
    it is a GB network operator ID, else VTN_GB_OPERATOR (a single-operator VTN), else none."""
    from gb_profile.identifiers import NETWORK_OPERATORS

    return viewer.operator if viewer.operator in NETWORK_OPERATORS else viewer.gb_operator


async def _mpans_of_other_vens(session: AsyncSession, operator: str, ven_id: str, cores: set[str]) -> dict[str, str]:
    """MPAN core -> the ven (by name) of another ven of `operator` whose resource names it, among `cores`.

    Within one operator: another operator's registrations are invisible (and an MPAN may be contracted to a
    DNO and to NESO alike)."""
    from gb_profile.validator import mpan_cores
    from vtn.vens.models import ResourceRow, VenRow

    # Documents keep MPANs as sent (spaced, full 21-character forms), so cores are compared after parsing; the
    # text filter only narrows the scan to resources that carry a GB_MPAN attribute at all.
    rows = await session.exec(
        select(ResourceRow.document, VenRow.ven_name)  # type: ignore[call-overload]
        .join(VenRow, VenRow.id == ResourceRow.ven_id)
        .where(VenRow.operator == operator, ResourceRow.ven_id != ven_id,
               cast(ResourceRow.document, Text).contains('"GB_MPAN"'))
    )
    taken: dict[str, str] = {}
    for document, ven_name in rows.all():
        for core in set(mpan_cores(document)) & cores:
            taken.setdefault(core, f"another FSP (ven {ven_name!r})")
    return taken


# --- FSP emergency stops (docs/gb-profile.md §6.3) --------------------------------------------------------------


async def fsp_emergency_stops(session: AsyncSession, operator: str, fsp_id: str | None = None) -> list[UnitEmergencyStop]:
    """Dispatch units whose FSP reported an emergency stop it has not cleared (all of `operator`'s FSPs, or
    one), newest first.

    Reads only `operator`'s GB_EMERGENCY_STOP reports (indexed `report_name`): an alarm is for that
    operator's control room whichever FSP's report it is, and never another operator's.
    """
    from gb_profile import model as m
    from gb_profile.emergency import active_fsp_stops
    from vtn.reports.models import ReportRow

    query = select(ReportRow.document).where(
        ReportRow.operator == operator, ReportRow.report_name == m.R_EMERGENCY_STOP
    )
    if fsp_id is not None:
        query = query.where(ReportRow.client_name == fsp_id)
    documents = (await session.exec(query.order_by(col(ReportRow.created_at), col(ReportRow.id)))).all()
    return active_fsp_stops(documents)


def open_dispatch(program_document: dict[str, Any], event: dict[str, Any]) -> Any:
    """The dispatch instruction of `event` when it is an open GB dispatch (not an anchor or acceptance event,
    not cancelled or stopped), else None: what the dispatch warnings and window checks judge."""
    from gb_profile import builders as b
    from gb_profile import model as m
    from gb_profile.validator import is_gb_program

    if not is_gb_program(program_document) or b.is_info_event(event):
        return None
    try:
        ins = b.parse_event(event)
    except (m.ProfileError, ValueError, IndexError):
        return None
    return ins if ins.status in m.ACTIVE_STATUSES else None


async def stop_warnings(session: AsyncSession, operator: str, ins: Any) -> list[str]:
    """A dispatch to a unit its FSP has emergency-stopped: stored all the same (the operator may have reasons to
    dispatch), with a warning, since the unit may not respond."""
    from gb_profile.emergency import dispatch_warning

    warning = dispatch_warning(ins, await fsp_emergency_stops(session, operator, ins.fsp_id))
    return [warning] if warning else []


async def dispatch_warnings(session: AsyncSession, event: dict[str, Any], program: Any = None) -> list[str]:
    """Warnings for a dispatch just written: its unit emergency-stopped by its FSP, outside its accepted
    availability windows (WARN terms), or against its run-time or notice terms (`vtn.contracts.runtime`).
    Empty for anything that is not an open GB dispatch. `program`: the
    event's program row when the caller has it (no second read of it in the write transaction)."""
    from vtn.contracts.availability import outside_window_warnings
    from vtn.contracts.runtime import run_term_warnings
    from vtn.programs.models import ProgramRow

    if program is None:
        program = await session.get(ProgramRow, event.get("programID"))  # the caller just wrote the event: visible
    ins = open_dispatch(program.document, event) if program is not None else None
    if ins is None:
        return []
    return (await stop_warnings(session, program.operator, ins) + await outside_window_warnings(session, program, ins)
            + await run_term_warnings(session, program, ins))


def warning_headers(warnings: list[str]) -> list[tuple[str, str]]:
    """One `GB-Warning` response header per warning (printable ASCII)."""
    from gb_profile.emergency import WARNING_HEADER, header_value

    return [(WARNING_HEADER, header_value(w)) for w in warnings]


async def grant_earlier_dispatches(session: AsyncSession, operator: str, ven_name: str) -> None:
    """Dispatches a BL sent to `ven_name` before its ven or unit was registered are granted now (the grant of
    `grant_dispatch_targets` had nowhere to go then). Only the VEN bound to `ven_name` in `operator` can
    register it, and only the units the BL addressed to that name are granted, so nothing is self-granted."""
    from gb_profile import model as m
    from vtn.core.tables import ObjectTarget
    from vtn.events.models import EventRow
    from vtn.programs.models import ProgramRow

    addressed = select(ObjectTarget.object_id).where(
        ObjectTarget.object_type == "EVENT", ObjectTarget.type == m.T_VEN_NAME, ObjectTarget.value == ven_name
    )
    rows = (await session.exec(
        select(EventRow, ProgramRow).join(ProgramRow, col(ProgramRow.id) == col(EventRow.program_id))  # type: ignore[call-overload]
        .where(EventRow.operator == operator, col(EventRow.id).in_(addressed))
        .order_by(col(EventRow.created_at), col(EventRow.id))
    )).all()
    for event, program in rows:
        await grant_dispatch_targets(session, event.document, program)
