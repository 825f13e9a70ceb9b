"""HTTP: delivery reports (BL: every FSP of its operator; an FSP's VEN client: its own), unit baselines (BL).

`/admin/gb/...` is the operator's (BL clients only); `/gb/delivery-reports...` answers any client with read_all
scope, restricted by vtn.auth.privacy.fsp_record_clauses (a VEN client sees only its own FSP's reports).
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path, Query, Request
from fastapi.responses import JSONResponse, Response

from gb_profile.delivery import report_csv
from vtn.auth.privacy import resolve_viewer
from vtn.core.deps import ObjectIDPath
from vtn.core.records import Limit, Skip, add_record_routes
from vtn.core.responses import error_responses
from vtn.core.security import Principal, Scope, require_bl, requires
from vtn.delivery import service
from vtn.delivery.render import report_pdf

admin_router = APIRouter(prefix="/admin/gb", tags=["admin"], dependencies=[Depends(require_bl)])
router = APIRouter(prefix="/gb", tags=["gb"])

UnitName = Annotated[str, Path(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:-]+$")]


def download_name(document: dict[str, Any], suffix: str) -> str:
    base = re.sub(r"[^A-Za-z0-9._-]", "_", f"delivery-{document.get('eventName')}-v{document.get('version')}")
    return f"{base}.{suffix}"


async def _list(request: Request, principal: Principal, event_id: str | None, fsp: str | None, all_versions: bool,
                skip: int, limit: int) -> JSONResponse:
    async with request.app.state.db.session(write=False) as session:
        viewer = await resolve_viewer(session, principal)
        return JSONResponse(await service.list_reports(session, viewer, event_id, fsp, all_versions, skip, limit))


async def _one(request: Request, principal: Principal, report_id: str, form: str) -> Response:
    async with request.app.state.db.session(write=False) as session:
        row = await service.get_report(session, await resolve_viewer(session, principal), report_id)
    document = {**row.document, "latest": row.latest, "stale": row.stale}
    if form == "csv":
        return Response(report_csv(document), media_type="text/csv; charset=utf-8",
                        headers={"content-disposition": f'attachment; filename="{download_name(document, "csv")}"'})
    if form == "pdf":
        return Response(report_pdf(document), media_type="application/pdf",
                        headers={"content-disposition": f'attachment; filename="{download_name(document, "pdf")}"'})
    return JSONResponse(document)


LIST_DESCRIPTION = ("GB profile: delivery reports, one per dispatch and version (docs/gb-profile.md §6.8), latest "
                    "versions only unless allVersions; newest event first.")


@admin_router.get("/delivery-reports", operation_id="gbAdminDeliveryReports", summary="delivery reports (BL)",
                  responses=error_responses(400, 401, 403, 500), description=LIST_DESCRIPTION)
async def admin_list(request: Request, principal: Annotated[Principal, Depends(require_bl)],
                     eventID: Annotated[str | None, Query(max_length=128)] = None,
                     fsp: Annotated[str | None, Query(max_length=128)] = None,
                     allVersions: bool = False, skip: Skip = 0, limit: Limit = 50) -> JSONResponse:
    return await _list(request, principal, eventID, fsp, allVersions, skip, limit)


@admin_router.post("/events/{eventID}/delivery-report", operation_id="gbIssueDeliveryReport", status_code=201,
                   summary="issue a dispatch's delivery report now (BL)",
                   responses=error_responses(400, 401, 403, 404, 409, 500),
                   description="Computes the next version of the dispatch's report from the readings stored now "
                               "(the baseline stays the one frozen at the first version).")
async def admin_issue(request: Request, principal: Annotated[Principal, Depends(require_bl)],
                      eventID: ObjectIDPath) -> JSONResponse:
    async with request.app.state.db.session() as session:
        viewer = await resolve_viewer(session, principal)
        row = await service.issue_now(session, request.app.state.settings, viewer, eventID)
        document = row.document
    return JSONResponse(document, status_code=201)


@admin_router.get("/baselines", operation_id="gbBaselines", summary="meterable units' baseline methods (BL)",
                  responses=error_responses(401, 403, 500))
async def baselines(request: Request, principal: Annotated[Principal, Depends(require_bl)]) -> JSONResponse:
    async with request.app.state.db.session(write=False) as session:
        return JSONResponse(await service.list_baselines(session, principal.operator))


@admin_router.put("/baselines/{unit}", operation_id="gbSetBaseline", summary="set a meterable unit's baseline (BL)",
                  responses=error_responses(400, 401, 403, 500),
                  description="Body: {\"method\": \"STATIC\", \"staticKw\": 500} | {\"method\": \"WEEKLY\", "
                              "\"weeklyKw\": {\"mon\": [48 kW values by London wall-clock half hour], …, \"sun\": "
                              "[…]}} | {\"method\": \"AUTO\", \"autoDays\": 10}. Reports already issued keep the "
                              "baseline they froze.")
async def set_baseline(request: Request, principal: Annotated[Principal, Depends(require_bl)], unit: UnitName,
                       body: Annotated[Any, Body()] = None) -> JSONResponse:
    async with request.app.state.db.session() as session:
        return JSONResponse(await service.set_baseline(session, principal.operator, unit, body, principal.client_id))


add_record_routes(admin_router, router, "delivery-reports", "reportID", _one, {
    "json": "a delivery report", "csv": "a delivery report as CSV", "pdf": "a delivery report as PDF"},
    "DeliveryReport")


@router.get("/delivery-reports", operation_id="gbDeliveryReports", summary="the caller's delivery reports",
            responses=error_responses(400, 401, 403, 500),
            description=LIST_DESCRIPTION + " A VEN client sees its own FSP's (its venName) only.")
async def own_list(request: Request, principal: Annotated[Principal, requires(Scope.READ_ALL)],
                   eventID: Annotated[str | None, Query(max_length=128)] = None,
                   allVersions: bool = False, skip: Skip = 0, limit: Limit = 50) -> JSONResponse:
    return await _list(request, principal, eventID, None, allVersions, skip, limit)
