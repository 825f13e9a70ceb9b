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
from vtn.core.responses import JSONText
from vtn.core.store import ObjectStore
from vtn.delivery.readings import ReadingsUpload, record_readings
from vtn.profiles import check_report_body, check_report_change, is_gb_readings, report_keys, report_resources
from vtn.reports.models import ReportRow

store: ObjectStore[ReportRow] = ObjectStore(ObjectType.REPORT, ReportRow)


async def list_reports(
    session: AsyncSession,
    viewer: Viewer,
    program_id: str | None,
    event_id: str | None,
    client_name: str | None,
    page: Page,
    with_extra: bool = False,
    *,
    as_json: bool = False,
) -> list[Any] | JSONText:
    """Documents (or, `with_extra`, (document, extra) pairs for the 3.1.0 API; `as_json`, one JSON text) of the
    reports `viewer` may read."""
    where = read_clauses(viewer, store)
    if program_id is not None:
        where.append(ReportRow.program_id == program_id)
    if event_id is not None:
        where.append(ReportRow.event_id == event_id)
    if client_name is not None:
        where.append(ReportRow.client_name == client_name)
    return await store.list_page(session, where, page, with_extra=with_extra, as_json=as_json)


async def get_report(session: AsyncSession, viewer: Viewer, report_id: str, for_update: bool = False) -> ReportRow:
    return await find_visible(session, viewer, store, report_id, for_update=for_update)


async def report_document(session: AsyncSession, viewer: Viewer, report_id: str) -> dict[str, Any]:
    return (await get_report(session, viewer, report_id)).document


async def _check_references(
    session: AsyncSession, viewer: Viewer, report: Report | ReadingsUpload, content: dict[str, Any]
) -> tuple[str, Any, list[Any] | None]:
    """Check what the report names and says (`content`: its `content()`); returns the operator it belongs to (its
    event's), its program, and for a `ReadingsUpload` its readings (taken out by the checks, off the event loop)."""
    from vtn.events.service import store as events
    from vtn.programs.service import store as programs

    event = await require_reference(session, viewer, events, report.eventID, "eventID")
    ensure_own_client_name(viewer, report.clientName, "report")
    if event.program_id != report.programID:
        raise Conflict(f"event {report.eventID!r} belongs to program {event.program_id!r}, not {report.programID!r}")
    program = await programs.get(session, event.program_id)
    items = None
    if program is not None:
        keys = await report_keys(session, str(event.operator), content, program.document)
        own = await report_resources(session, viewer, content, program.document)
        if isinstance(report, ReadingsUpload):
            items = await report.checked(event.document, program.document, own, keys)
        else:
            check_report_body(report, event.document, program.document, own, keys)
    elif isinstance(report, ReadingsUpload):
        raise Conflict(f"event {report.eventID!r} belongs to no program")  # the event's program went: not expected
    return str(event.operator), program, items


NAME_COLUMN_LENGTH = 128


def _columns(report: Report | ReadingsUpload) -> dict[str, Any]:
    name = report.reportName if report.reportName and len(report.reportName) <= NAME_COLUMN_LENGTH else None
    return {"program_id": report.programID, "event_id": report.eventID, "client_name": report.clientName,
            "report_name": name}


async def program_of_event(session: AsyncSession, viewer: Viewer, event_id: str) -> str:
    """The program of the event a 3.1.0 report answers (3.1.0 reports name no program, issue 253); 409 if the
    caller cannot read that event, as for any reference."""
    from vtn.events.service import store as events

    return str((await require_reference(session, viewer, events, event_id, "eventID")).program_id)


async def create_report(
    session: AsyncSession, viewer: Viewer, report: Report | ReadingsUpload, extra: dict[str, Any] | None = None, *,
    owner_ven_id: str | None = None, operator_entry: bool = False,
) -> dict[str, Any]:
    """`extra`: what only 3.1.0 can say (openadr3.convert). `owner_ven_id`, `operator_entry`: a declaration the
    operator enters for an FSP (vtn.contracts.availability), owned by the FSP's ven so its VEN sees it, read-only
    to it."""
    content = report.content()
    operator, program, items = await _check_references(session, viewer, report, content)
    owner = owner_ven_id if operator_entry else viewer.ven_id
    row = await store.insert(
        session,
        content,
        change={"program_id": report.programID, "owner_ven_id": owner},
        owner_ven_id=owner,
        operator=operator,
        extra=extra,
        **_columns(report),
    )
    if program is not None and is_gb_readings(row.document, program.document):
        await record_readings(session, operator, row.id, row.document, items)
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


async def update_report(
    session: AsyncSession, viewer: Viewer, report_id: str, report: Report | ReadingsUpload,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """`extra` (3.1.0 only, openadr3.convert) replaces the stored one; None (a 3.0.1 PUT) keeps it."""
    row = await get_report(session, viewer, report_id, for_update=True)
    content = report.content()
    _, program, items = await _check_references(session, viewer, report, content)
    await check_report_change(session, row, content)  # GB: an acknowledgement is never changed
    report_was_declaration = row.document.get("reportName") == "GB_AVAILABILITY"
    if report_was_declaration and report.reportName != "GB_AVAILABILITY":
        await _before_delete(session, viewer, row)  # no longer a declaration: its windows go, as on a delete
    row = await store.replace(
        session,
        row,
        content,
        change={"program_id": report.programID, "owner_ven_id": row.owner_ven_id},
        **({} if extra is None else {"extra": extra}),
        **_columns(report),
    )
    if program is not None and is_gb_readings(row.document, program.document):
        # a PUT of a readings report: changed values are corrections (new versions), the rest no-ops
        await record_readings(session, row.operator, row.id, row.document, items)
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
