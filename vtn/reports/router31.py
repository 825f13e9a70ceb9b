"""HTTP operations on /reports of the OpenADR 3.1.0 API, over the same reports as 3.0.1.

A 3.1.0 report names no program (issue 253): the VTN takes its event's. Its clientID is the reporting
client's (from the token, never the body), kept in the row's `extra`.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query, Request
from fastapi.responses import JSONResponse, Response
from sqlmodel.ext.asyncio.session import AsyncSession

from openadr3.convert import report_from_v31, report_to_v31
from openadr3.models import ObjectID, Report
from vtn.auth.dependencies import ReadContextFor, ViewerFor
from vtn.auth.privacy import Viewer
from vtn.core.deps import ObjectIDPath, WriteSession
from vtn.core.pagination import Page, page_params
from vtn.core.responses import object_response
from vtn.core.security import Scope
from vtn.core.versions import check_v31_off_loop, model_of
from vtn.reports import service

router = APIRouter(tags=["reports"])
ReadVenObjects = ReadContextFor(Scope.READ_VEN_OBJECTS)
Body31 = Annotated[dict[str, Any], Body(description="reportRequest (OpenADR 3.1.0)")]


async def _report(request: Request, session: AsyncSession, viewer: Viewer, body: Any) -> tuple[Report, dict[str, Any]]:
    body = await check_v31_off_loop(request, "reportRequest", body, "report")  # a chunk of meter readings: off the loop
    program_id = await service.program_of_event(session, viewer, body["eventID"])
    content, extra = report_from_v31(body, program_id, viewer.principal.client_id)
    return model_of(Report, content), extra


@router.get("/reports", operation_id="searchAllReports")
async def search_all_reports(
    read: ReadVenObjects, page: Annotated[Page, Depends(page_params)],
    programID: Annotated[ObjectID | None, Query(description="filter results to reports with programID.")] = None,
    eventID: Annotated[ObjectID | None, Query(description="filter results to reports with eventID.")] = None,
    clientName: Annotated[str | None, Query(description="filter results to reports with clientName.")] = None,
) -> Response:
    async def load(session: Any, viewer: Viewer) -> list[dict[str, Any]]:
        rows = await service.list_reports(session, viewer, programID, eventID, clientName, page, with_extra=True)
        return [report_to_v31(document, extra) for document, extra in rows]

    return await read.answer(load)


@router.post("/reports", operation_id="createReport", status_code=201)
async def create_report(
    request: Request, session: WriteSession, viewer: ViewerFor(Scope.WRITE_REPORTS), body: Body31
) -> JSONResponse:
    report, extra = await _report(request, session, viewer, body)
    return object_response(report_to_v31(await service.create_report(session, viewer, report, extra), extra), status=201)


@router.get("/reports/{reportID}", operation_id="searchReportsByReportID")
async def search_report_by_id(read: ReadVenObjects, reportID: ObjectIDPath) -> Response:
    async def load(session: Any, viewer: Viewer) -> dict[str, Any]:
        row = await service.get_report(session, viewer, reportID)
        return report_to_v31(row.document, row.extra)

    return await read.answer(load)


@router.put("/reports/{reportID}", operation_id="updateReport")
async def update_report(
    request: Request, session: WriteSession, viewer: ViewerFor(Scope.WRITE_REPORTS), reportID: ObjectIDPath,
    body: Body31,
) -> JSONResponse:
    report, extra = await _report(request, session, viewer, body)
    return object_response(report_to_v31(await service.update_report(session, viewer, reportID, report, extra), extra))


@router.delete("/reports/{reportID}", operation_id="deleteReport")
async def delete_report(session: WriteSession, viewer: ViewerFor(Scope.WRITE_REPORTS), reportID: ObjectIDPath) -> JSONResponse:
    extra = (await service.get_report(session, viewer, reportID)).extra
    return object_response(report_to_v31(await service.delete_report(session, viewer, reportID), extra))
