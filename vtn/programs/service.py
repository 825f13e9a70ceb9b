"""Program logic: unique names, privacy, and the delete cascade."""

from __future__ import annotations

from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from openadr3.models import ObjectType, Program
from vtn.audit import service as audit
from vtn.auth.privacy import Viewer, ensure_can_write, find_visible, read_clauses
from vtn.core.errors import Conflict
from vtn.core.pagination import Page
from vtn.core.store import ObjectStore, TargetFilter
from vtn.profiles import check_program, check_program_delete
from vtn.programs.models import ProgramRow, is_sandbox_name

store: ObjectStore[ProgramRow] = ObjectStore(ObjectType.PROGRAM, ProgramRow)
PROGRAM_NAME = "PROGRAM_NAME"


async def list_programs(
    session: AsyncSession, viewer: Viewer, targets: TargetFilter | None, page: Page, with_extra: bool = False
) -> list[Any]:
    """Documents (or, `with_extra`, (document, extra) pairs for the 3.1.0 API) of the programs `viewer` may read.

    A program's own name is its PROGRAM_NAME target (python-oa3-client finds programs with
    `?targetType=PROGRAM_NAME&targetValues=<name>`)."""
    where = read_clauses(viewer, store)
    named = store.named_target_clause(targets, PROGRAM_NAME, ProgramRow.program_name) if targets else None
    if named is not None:
        where.append(named)
        targets = None
    return await (store.list_with_extra if with_extra else store.list_documents)(session, where, page, targets)


async def get_program(session: AsyncSession, viewer: Viewer, program_id: str, for_update: bool = False) -> ProgramRow:
    return await find_visible(session, viewer, store, program_id, for_update=for_update)


async def program_document(session: AsyncSession, viewer: Viewer, program_id: str) -> dict[str, Any]:
    return (await get_program(session, viewer, program_id)).document


async def _ensure_unique_name(session: AsyncSession, viewer: Viewer, name: str, own_id: str | None = None) -> None:
    """programName is unique per VTN (Y301); each operator is a VTN of its own."""
    where = [ProgramRow.operator == viewer.operator, ProgramRow.program_name == name]
    await store.ensure_unique(session, where, own_id, f"a program named {name!r} already exists")


async def create_program(
    session: AsyncSession, viewer: Viewer, program: Program, extra: dict[str, Any] | None = None
) -> dict[str, Any]:
    ensure_can_write(viewer, ObjectType.PROGRAM)
    check_program(program.content())
    await _ensure_unique_name(session, viewer, program.programName)
    row = await store.insert(session, program.content(), program_name=program.programName, operator=viewer.operator,
                             sandbox=is_sandbox_name(program.programName), extra=extra)
    await audit.record_write(session, viewer.principal, "create", ObjectType.PROGRAM, row.document)
    return row.document


async def update_program(
    session: AsyncSession, viewer: Viewer, program_id: str, program: Program, extra: dict[str, Any] | None = None
) -> dict[str, Any]:
    """`extra` (3.1.0 only, openadr3.convert) replaces the stored one; None (a 3.0.1 PUT) keeps it."""
    ensure_can_write(viewer, ObjectType.PROGRAM)
    row = await get_program(session, viewer, program_id, for_update=True)
    check_program(program.content())
    await _ensure_unique_name(session, viewer, program.programName, own_id=row.id)
    if is_sandbox_name(program.programName) != row.sandbox:
        # its events' visibility (and a VEN's decision to actuate them) hangs on it: fixed at creation
        raise Conflict(f"program {row.program_name!r} cannot move between sandbox and production "
                       "(a sandbox program's name ends -SANDBOX); create a new program instead")
    more = {} if extra is None else {"extra": extra}
    row = await store.replace(
        session, row, program.content(), change={"program_id": row.id}, program_name=program.programName, **more
    )
    await audit.record_write(session, viewer.principal, "update", ObjectType.PROGRAM, row.document)
    return row.document


async def delete_program(session: AsyncSession, viewer: Viewer, program_id: str) -> dict[str, Any]:
    """Delete a program with everything that belongs to it (docs/architecture.md, "Deleting").

    Its subscriptions, events and reports go first, each with its own DELETE notification. A GB program with
    dispatches or reports is not deleted (409, VTN-GB-003).
    """
    from vtn.events.service import delete_events_of_program
    from vtn.reports.models import ReportRow
    from vtn.reports.service import delete_reports_where
    from vtn.subscriptions.service import delete_subscriptions_of_program

    ensure_can_write(viewer, ObjectType.PROGRAM)
    row = await get_program(session, viewer, program_id, for_update=True)
    await check_program_delete(session, row)  # GB: not while it holds dispatches or reports
    await delete_subscriptions_of_program(session, program_id)
    await delete_reports_where(session, ReportRow.program_id == program_id)
    await delete_events_of_program(session, program_id)
    document = await store.delete(session, row, change={"program_id": program_id})
    await audit.record_write(session, viewer.principal, "delete", ObjectType.PROGRAM, document)  # covers its events
    return document
