"""HTTP operations on /programs (Y301:50-309)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Depends
from fastapi.responses import JSONResponse, Response

from openadr3.models import Program
from vtn.auth.dependencies import ReadContext, ViewerFor
from vtn.core.deps import ObjectIDPath, Targets, WriteSession
from vtn.core.pagination import Page, page_params
from vtn.core.responses import error_responses, object_response
from vtn.core.security import Scope
from vtn.programs import service

router = APIRouter(tags=["programs"])
ProgramBody = Annotated[Program, Body(description="program item to add or update.")]


@router.get(
    "/programs", operation_id="searchAllPrograms", summary="searches all programs",
    response_model=list[Program], responses=error_responses(400, 401, 403, 500),
)
async def search_all_programs(read: ReadContext, targets: Targets, page: Annotated[Page, Depends(page_params)]) -> Response:
    return await read.answer(lambda session, viewer: service.list_programs(session, viewer, targets, page, as_json=True))


@router.post(
    "/programs", operation_id="createProgram", summary="create a program", status_code=201,
    response_model=Program, responses=error_responses(400, 401, 403, 409, 500),
)
async def create_program(session: WriteSession, viewer: ViewerFor(Scope.WRITE_PROGRAMS), body: ProgramBody) -> JSONResponse:
    return object_response(await service.create_program(session, viewer, body), status=201)


@router.get(
    "/programs/{programID}", operation_id="searchProgramByProgramId", summary="searches programs by program ID",
    response_model=Program, responses=error_responses(400, 401, 403, 404, 500),
)
async def search_program_by_id(read: ReadContext, programID: ObjectIDPath) -> Response:
    return await read.answer(lambda session, viewer: service.program_document(session, viewer, programID))


@router.put(
    "/programs/{programID}", operation_id="updateProgram", summary="update a program",
    response_model=Program, responses=error_responses(400, 401, 403, 404, 409, 500),
)
async def update_program(
    session: WriteSession, viewer: ViewerFor(Scope.WRITE_PROGRAMS), programID: ObjectIDPath, body: ProgramBody
) -> JSONResponse:
    return object_response(await service.update_program(session, viewer, programID, body))


@router.delete(
    "/programs/{programID}", operation_id="deleteProgram", summary="delete a program",
    response_model=Program, responses=error_responses(400, 401, 403, 404, 409, 500),
)
async def delete_program(session: WriteSession, viewer: ViewerFor(Scope.WRITE_PROGRAMS), programID: ObjectIDPath) -> JSONResponse:
    return object_response(await service.delete_program(session, viewer, programID))
