"""HTTP operations on /programs of the OpenADR 3.1.0 API (Y310 /programs), over the same programs as 3.0.1.

Bodies are checked against the 3.1.0 schemas, converted by `openadr3.convert` and handled by the one program
service; what 3.1.0 says that 3.0.1 cannot (attributes without a 3.0.1 field) is kept in the row's `extra`.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends
from fastapi.responses import JSONResponse, Response

from openadr3.convert import program_from_v31, program_to_v31
from openadr3.models import Program
from vtn.auth.dependencies import ReadContextFor, ViewerFor
from vtn.auth.privacy import Viewer
from vtn.core.deps import ObjectIDPath, WriteSession
from vtn.core.pagination import Page, page_params
from vtn.core.responses import object_response
from vtn.core.security import Scope
from vtn.core.versions import Requested, check_v31, model_of, targets_query
from vtn.programs import service

router = APIRouter(tags=["programs"])
ReadTargets = ReadContextFor(Scope.READ_TARGETS)
Body31 = Annotated[dict[str, Any], Body(description="programRequest (OpenADR 3.1.0)")]


def _program(body: dict[str, Any]) -> tuple[Program, dict[str, Any]]:
    content, extra = program_from_v31(check_v31("programRequest", body, "program"))
    return model_of(Program, content), extra


@router.get("/programs", operation_id="searchAllPrograms")
async def search_all_programs(
    read: ReadTargets, page: Annotated[Page, Depends(page_params)],
    targets: Annotated[list[str] | None, Depends(targets_query)],
) -> Response:
    async def load(session: Any, viewer: Viewer) -> list[dict[str, Any]]:
        requested = Requested(viewer, targets)
        if requested.empty:
            return []
        rows = await service.list_programs(session, viewer, requested.filter, page, with_extra=True)
        return [program_to_v31(document, extra, requested.keep) for document, extra in rows]

    return await read.answer(load)


@router.post("/programs", operation_id="createProgram", status_code=201)
async def create_program(session: WriteSession, viewer: ViewerFor(Scope.WRITE_PROGRAMS), body: Body31) -> JSONResponse:
    program, extra = _program(body)
    document = await service.create_program(session, viewer, program, extra)
    return object_response(program_to_v31(document, extra), status=201)


@router.get("/programs/{programID}", operation_id="searchProgramByProgramId")
async def search_program_by_id(read: ReadTargets, programID: ObjectIDPath) -> Response:
    async def load(session: Any, viewer: Viewer) -> dict[str, Any]:
        row = await service.get_program(session, viewer, programID)
        return program_to_v31(row.document, row.extra, Requested(viewer, None).keep)

    return await read.answer(load)


@router.put("/programs/{programID}", operation_id="updateProgram")
async def update_program(
    session: WriteSession, viewer: ViewerFor(Scope.WRITE_PROGRAMS), programID: ObjectIDPath, body: Body31
) -> JSONResponse:
    program, extra = _program(body)
    document = await service.update_program(session, viewer, programID, program, extra)
    return object_response(program_to_v31(document, extra))


@router.delete("/programs/{programID}", operation_id="deleteProgram")
async def delete_program(session: WriteSession, viewer: ViewerFor(Scope.WRITE_PROGRAMS), programID: ObjectIDPath) -> JSONResponse:
    extra = (await service.get_program(session, viewer, programID)).extra
    return object_response(program_to_v31(await service.delete_program(session, viewer, programID), extra))
