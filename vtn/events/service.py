"""Event logic: an event belongs to an existing program; deleting it removes its reports.

Events of GB programs: every version written is kept (`vtn.events.revisions.record_revision`), and a dispatch
is never deleted (`vtn.profiles.check_event_delete`)."""

from __future__ import annotations

from typing import Any

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from openadr3.models import Event, ObjectType
from vtn.audit import service as audit
from vtn.auth.privacy import Viewer, ensure_can_write, find_visible, read_clauses
from vtn.contracts.availability import outside_window_warnings
from vtn.contracts.runtime import run_term_warnings
from vtn.core.pagination import Page
from vtn.core.references import require_reference
from vtn.core.responses import JSONText
from vtn.core.store import ObjectStore, TargetFilter
from vtn.events.models import EventRow
from vtn.events.revisions import record_revision
from vtn.profiles import check_event, check_event_delete, grant_dispatch_targets, open_dispatch, stop_warnings

store: ObjectStore[EventRow] = ObjectStore(ObjectType.EVENT, EventRow)


async def list_events(
    session: AsyncSession, viewer: Viewer, program_id: str | None, targets: TargetFilter | None, page: Page,
    with_extra: bool = False, *, as_json: bool = False,
) -> list[Any] | JSONText:
    """Documents (or, `with_extra`, (document, extra) pairs for the 3.1.0 API) of the events `viewer` may read;
    `as_json`: the page as one JSON text (a 3.0.1 response body)."""
    where = read_clauses(viewer, store)
    if program_id is not None:
        where.append(EventRow.program_id == program_id)
    return await store.list_page(session, where, page, targets, with_extra=with_extra, as_json=as_json)


async def get_event(session: AsyncSession, viewer: Viewer, event_id: str, for_update: bool = False) -> EventRow:
    return await find_visible(session, viewer, store, event_id, for_update=for_update)


async def event_document(session: AsyncSession, viewer: Viewer, event_id: str) -> dict[str, Any]:
    return (await get_event(session, viewer, event_id)).document


async def create_event(
    session: AsyncSession, viewer: Viewer, event: Event, extra: dict[str, Any] | None = None, *,
    warnings: list[str] | None = None,
) -> dict[str, Any]:
    """The stored event. `extra`: what only 3.1.0 can say (openadr3.convert). `warnings`, when given, receives
    the GB warnings of the dispatch (`vtn.profiles.dispatch_warnings`, judged with the program already read)."""
    from vtn.programs.service import store as programs

    ensure_can_write(viewer, ObjectType.EVENT)
    program = await require_reference(session, viewer, programs, event.programID, "programID")
    check_event(event.content(), program.document)
    ins = open_dispatch(program.document, event.content())
    outside = await outside_window_warnings(session, program, ins) if ins else []  # REFUSE: 409 before storing
    outside += await run_term_warnings(session, program, ins) if ins else []  # likewise
    await grant_dispatch_targets(session, event.content(), program)
    row = await store.insert(
        session, event.content(), change={"program_id": event.programID}, program_id=event.programID,
        operator=program.operator, sandbox=program.sandbox, extra=extra,
    )
    await record_revision(session, viewer.principal, row, program.document)
    await audit.record_write(session, viewer.principal, "create", ObjectType.EVENT, row.document, program.document)
    if warnings is not None and ins is not None:
        warnings.extend(await stop_warnings(session, program.operator, ins) + outside)
    return row.document


async def update_event(
    session: AsyncSession, viewer: Viewer, event_id: str, event: Event, extra: dict[str, Any] | None = None, *,
    warnings: list[str] | None = None,
) -> dict[str, Any]:
    """`extra` (3.1.0 only) replaces the stored one; None (a 3.0.1 PUT) keeps it. `warnings` as for `create_event`."""
    from vtn.programs.service import store as programs

    ensure_can_write(viewer, ObjectType.EVENT)
    row = await get_event(session, viewer, event_id, for_update=True)
    program = await require_reference(session, viewer, programs, event.programID, "programID")
    moved_from = await programs.get(session, row.program_id) if row.program_id != program.id else program
    check_event(event.content(), program.document, previous=row.document,
                previous_program=moved_from and moved_from.document)
    ins = open_dispatch(program.document, event.content())
    outside = await outside_window_warnings(session, program, ins) if ins else []  # REFUSE: 409 before storing
    outside += await run_term_warnings(session, program, ins) if ins else []  # likewise
    await grant_dispatch_targets(session, event.content(), program)
    row = await store.replace(
        session, row, event.content(), change={"program_id": event.programID}, program_id=event.programID,
        sandbox=program.sandbox, **({} if extra is None else {"extra": extra}),
    )
    await record_revision(session, viewer.principal, row, program.document)
    await audit.record_write(session, viewer.principal, "update", ObjectType.EVENT, row.document, program.document)
    if warnings is not None and ins is not None:
        warnings.extend(await stop_warnings(session, program.operator, ins) + outside)
    return row.document


async def _delete(session: AsyncSession, row: EventRow) -> dict[str, Any]:
    from vtn.reports.models import ReportRow
    from vtn.reports.service import delete_reports_where

    await delete_reports_where(session, ReportRow.event_id == row.id)
    return await store.delete(session, row, change={"program_id": row.program_id})


async def delete_event(session: AsyncSession, viewer: Viewer, event_id: str) -> dict[str, Any]:
    from vtn.programs.service import store as programs

    ensure_can_write(viewer, ObjectType.EVENT)
    row = await get_event(session, viewer, event_id, for_update=True)
    program = await programs.get(session, row.program_id)
    await check_event_delete(session, row, program and program.document)  # GB: dispatches are never deleted
    document = await _delete(session, row)
    await audit.record_write(session, viewer.principal, "delete", ObjectType.EVENT, document, program and program.document)
    return document


async def delete_events_of_program(session: AsyncSession, program_id: str) -> None:
    rows = (await session.exec(select(EventRow).where(EventRow.program_id == program_id))).all()  # type: ignore[call-overload]
    for row in rows:
        await _delete(session, row)
