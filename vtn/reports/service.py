"""Report logic: a report answers an existing event of its program; VENs own their reports."""

from __future__ import annotations

from typing import Any

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from openadr3.models import ObjectType, Report
from vtn.auth.privacy import Viewer, ensure_own_client_name, find_visible, read_clauses
from vtn.core.errors import Conflict
from vtn.core.pagination import Page
from vtn.core.references import require_reference
from vtn.core.store import ObjectStore
from vtn.delivery.readings import record_readings
from vtn.profiles import check_report, check_report_change, is_gb_readings, report_keys, report_resources
from vtn.reports.models import ReportRow

store: ObjectStore[ReportRow] = ObjectStore(ObjectType.REPORT, ReportRow)


async def list_reports(
    session: AsyncSession,
    viewer: Viewer,
    program_id: str | None,
    event_id: str | None,
    client_name: str | None,
    page: Page,
) -> list[dict[str, Any]]:
    where = read_clauses(viewer, store)
    if program_id is not None:
        where.append(ReportRow.program_id == program_id)
    if event_id is not None:
        where.append(ReportRow.event_id == event_id)
    if client_name is not None:
        where.append(ReportRow.client_name == client_name)
    return await store.list_documents(session, where, page)


async def get_report(session: AsyncSession, viewer: Viewer, report_id: str, for_update: bool = False) -> ReportRow:
    return await find_visible(session, viewer, store, report_id, for_update=for_update)


async def report_document(session: AsyncSession, viewer: Viewer, report_id: str) -> dict[str, Any]:
    return (await get_report(session, viewer, report_id)).document


async def _check_references(session: AsyncSession, viewer: Viewer, report: Report) -> tuple[str, Any]:
    """Check what the report names and says; returns the operator it belongs to (its event's) and its program."""
    from vtn.events.service import store as events
    from vtn.programs.service import store as programs

    event = await require_reference(session, viewer, events, report.eventID, "eventID")
    ensure_own_client_name(viewer, report.clientName, "report")
    if event.program_id != report.programID:
        raise Conflict(f"event {report.eventID!r} belongs to program {event.program_id!r}, not {report.programID!r}")
    program = await programs.get(session, event.program_id)
    if program is not None:
        content = report.content()
        keys = await report_keys(session, str(event.operator), content, program.document)
        own = await report_resources(session, viewer, content, program.document)
        # the request's model, already validated, without the provisioned fields (= `content`): a readings report of
        # thousands of intervals is not parsed again by the profile's validator
        unprovisioned = report.model_copy(update=dict.fromkeys(("id", "createdDateTime", "modificationDateTime")))
        check_report(unprovisioned, event.document, program.document, own, keys)
    return str(event.operator), program


NAME_COLUMN_LENGTH = 128


def _columns(report: Report) -> dict[str, Any]:
    name = report.reportName if report.reportName and len(report.reportName) <= NAME_COLUMN_LENGTH else None
    return {"program_id": report.programID, "event_id": report.eventID, "client_name": report.clientName,
            "report_name": name}


async def create_report(session: AsyncSession, viewer: Viewer, report: Report, *, owner_ven_id: str | None = None,
                        operator_entry: bool = False) -> dict[str, Any]:
    """`owner_ven_id`, `operator_entry`: a declaration the operator enters for an FSP (vtn.contracts.availability),
    owned by the FSP's ven so its VEN sees it, read-only to it."""
    operator, program = await _check_references(session, viewer, report)
    owner = owner_ven_id if operator_entry else viewer.ven_id
    row = await store.insert(
        session,
        report.content(),
        change={"program_id": report.programID, "owner_ven_id": owner},
        owner_ven_id=owner,
        operator=operator,
        **_columns(report),
    )
    if program is not None and is_gb_readings(row.document, program.document):
        await record_readings(session, operator, row.id, row.document)
    await _after_write(session, viewer, row.document, program, operator_entry=operator_entry)
    return row.document


async def _after_write(session: AsyncSession, viewer: Viewer, document: dict[str, Any], program: Any, *,
                       operator_entry: bool = False, replacing: bool = False) -> None:
    """GB: a declaration's windows recorded (and checked) in this transaction; an acknowledgement's timeliness."""
    from vtn.audit.service import Actor
    from vtn.contracts.acks import on_acknowledgement
    from vtn.contracts.availability import on_declaration

    if program is None:
        return
    await on_declaration(session, Actor.of(viewer.principal), document, program, operator_entry=operator_entry,
                         replacing=replacing)
    await on_acknowledgement(session, document, program)


async def update_report(session: AsyncSession, viewer: Viewer, report_id: str, report: Report) -> dict[str, Any]:
    row = await get_report(session, viewer, report_id, for_update=True)
    _, program = await _check_references(session, viewer, report)
    await check_report_change(session, row, report.content())  # GB: an acknowledgement is never changed
    report_was_declaration = row.document.get("reportName") == "GB_AVAILABILITY"
    if report_was_declaration and report.reportName != "GB_AVAILABILITY":
        await _before_delete(session, viewer, row)  # no longer a declaration: its windows go, as on a delete
    row = await store.replace(
        session,
        row,
        report.content(),
        change={"program_id": report.programID, "owner_ven_id": row.owner_ven_id},
        **_columns(report),
    )
    if program is not None and is_gb_readings(row.document, program.document):
        # a PUT of a readings report: changed values are corrections (new versions), the rest no-ops
        await record_readings(session, row.operator, row.id, row.document)
    if row.document.get("reportName") == "GB_AVAILABILITY":
        await _after_write(session, viewer, row.document, program, operator_entry=viewer.is_bl, replacing=True)
    return row.document


async def delete_report(session: AsyncSession, viewer: Viewer, report_id: str) -> dict[str, Any]:
    row = await get_report(session, viewer, report_id, for_update=True)
    await check_report_change(session, row, None)  # GB: nor deleted
    await _before_delete(session, viewer, row)
    return await store.delete(session, row, change={"program_id": row.program_id, "owner_ven_id": row.owner_ven_id})


async def _before_delete(session: AsyncSession, viewer: Viewer, row: ReportRow) -> None:
    from vtn.contracts.availability import on_declaration_deleted
    from vtn.programs.models import ProgramRow

    if row.document.get("reportName") == "GB_AVAILABILITY":
        program = await session.get(ProgramRow, row.program_id)
        if program is not None:
            await on_declaration_deleted(session, viewer.is_bl, row.document, program)


async def delete_reports_where(session: AsyncSession, *where: Any) -> None:
    rows = (await session.exec(select(ReportRow).where(*where))).all()  # type: ignore[call-overload]
    for row in rows:
        await store.delete(session, row, change={"program_id": row.program_id, "owner_ven_id": row.owner_ven_id})
