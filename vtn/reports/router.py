"""HTTP operations on /reports (Y301:310-575)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, Response

from openadr3.models import ObjectID, Report
from vtn.auth.dependencies import ReadContext, ViewerFor
from vtn.core.deps import ObjectIDPath, WriteSession, request_body_schema, validated_body
from vtn.core.offload import CpuPool
from vtn.core.pagination import Page, page_params
from vtn.core.responses import error_responses, object_response
from vtn.core.security import Scope, requires
from vtn.delivery.readings import ReadingsUpload, parse_upload
from vtn.reports import service

router = APIRouter(tags=["reports"])
BODY_DESCRIPTION = "report item to add or update."


async def report_body(request: Request, _writer: Annotated[object, requires(Scope.WRITE_REPORTS)]) -> Report | ReadingsUpload:
    """The request's report. A large GB_READINGS body (a chunk of meter data) is parsed and checked in a worker
    process (vtn.core.offload), so polls are not held up behind it; any other body, or one that does not parse
    there, is read here as FastAPI reads a declared body. Resolved after the caller's scope is checked and before
    the write session opens (SQLite's writer is not held while the body is parsed)."""
    raw = await request.body()
    pool: CpuPool = request.app.state.offload
    if pool.processes > 0 and len(raw) >= request.app.state.settings.offload_body_bytes:
        content = await pool.run(parse_upload, raw)
        if content is not None:
            return ReadingsUpload(raw, content, pool)
    return validated_body(Report, raw)


ReportBody = Annotated[Report | ReadingsUpload, Depends(report_body)]


@router.get(
    "/reports", operation_id="searchAllReports", summary="searches all reports",
    response_model=list[Report], responses=error_responses(400, 401, 403, 500),
)
async def search_all_reports(
    read: ReadContext,
    page: Annotated[Page, Depends(page_params)],
    programID: Annotated[ObjectID | None, Query(description="filter results to reports with programID.")] = None,
    eventID: Annotated[ObjectID | None, Query(description="filter results to reports with eventID.")] = None,
    clientName: Annotated[str | None, Query(description="filter results to reports with clientName.")] = None,
) -> Response:
    return await read.answer(
        lambda session, viewer: service.list_reports(session, viewer, programID, eventID, clientName, page, as_json=True)
    )


@router.post(
    "/reports", operation_id="createReport", summary="add a report", status_code=201,
    response_model=Report, responses=error_responses(400, 401, 403, 409, 500),
    openapi_extra=request_body_schema(Report, BODY_DESCRIPTION),
)
async def create_report(body: ReportBody, session: WriteSession, viewer: ViewerFor(Scope.WRITE_REPORTS)) -> JSONResponse:
    return object_response(await service.create_report(session, viewer, body), status=201)


@router.get(
    "/reports/{reportID}", operation_id="searchReportsByReportID", summary="searches reports by reportID",
    response_model=Report, responses=error_responses(400, 401, 403, 404, 500),
)
async def search_report_by_id(read: ReadContext, reportID: ObjectIDPath) -> Response:
    return await read.answer(lambda session, viewer: service.report_document(session, viewer, reportID))


@router.put(
    "/reports/{reportID}", operation_id="updateReport", summary="update a report",
    response_model=Report, responses=error_responses(400, 401, 403, 404, 409, 500),
    openapi_extra=request_body_schema(Report, BODY_DESCRIPTION),
)
async def update_report(
    reportID: ObjectIDPath, body: ReportBody, session: WriteSession, viewer: ViewerFor(Scope.WRITE_REPORTS)
) -> JSONResponse:
    return object_response(await service.update_report(session, viewer, reportID, body))


@router.delete(
    "/reports/{reportID}", operation_id="deleteReport", summary="delete a report",
    response_model=Report, responses=error_responses(400, 401, 403, 404, 409, 500),
)
async def delete_report(session: WriteSession, viewer: ViewerFor(Scope.WRITE_REPORTS), reportID: ObjectIDPath) -> JSONResponse:
    return object_response(await service.delete_report(session, viewer, reportID))
