"""HTTP: monthly statements (docs/gb-profile.md §6.9).

`/admin/gb/statements...` is the operator's (BL clients): list, issue a month on demand (provisional or final),
read, CSV, XLSX, and a program's fees and penalties. `/gb/statements...` answers an FSP's VEN client (its own
statements only, vtn.auth.privacy.fsp_record_clauses): list, read, CSV, XLSX, approve, reject with a reason.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from gb_profile.statements import statement_csv
from vtn.audit.service import Actor
from vtn.auth.privacy import resolve_viewer
from vtn.core.deps import ObjectIDPath
from vtn.core.records import Limit, RecordID, Skip, add_record_routes
from vtn.core.responses import error_responses
from vtn.core.security import Principal, Scope, require_bl, requires
from vtn.statements import service
from vtn.statements.models import APPROVED, FINAL, PROVISIONAL, REJECTED
from vtn.statements.render import file_name, statement_xlsx

admin_router = APIRouter(prefix="/admin/gb", tags=["admin"], dependencies=[Depends(require_bl)])
router = APIRouter(prefix="/gb", tags=["gb"])


MonthQuery = Annotated[str | None, Query(pattern=r"^\d{4}-\d{2}$", description="YYYY-MM (London calendar month)")]
BL = Annotated[Principal, Depends(require_bl)]
Reader = Annotated[Principal, requires(Scope.READ_ALL)]
Writer = Annotated[Principal, requires(Scope.WRITE_REPORTS)]

LIST_DESCRIPTION = ("GB profile: monthly statements (docs/gb-profile.md §6.9), the latest version of each FSP and "
                    "month unless allVersions; newest month first. `status`: PROVISIONAL, APPROVED, DISPUTED "
                    "(rejected by the FSP), FINAL or SUPERSEDED. A final statement is never changed: a later "
                    "correction of its month appears as `ADJUSTMENT` lines in the FSP's next open statement.")


class IssueBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    month: str = Field(pattern=r"^\d{4}-\d{2}$", description="YYYY-MM, a London calendar month")
    fsp: str | None = Field(None, min_length=1, max_length=128, description="One FSP (venName); default every FSP "
                                                                            "with anything in the month")
    kind: Literal["PROVISIONAL", "FINAL"] = PROVISIONAL


class RejectBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1, max_length=1000, description="Why the FSP disputes the statement")


async def _one(request: Request, principal: Principal, statement_id: str, form: str) -> Response:
    async with request.app.state.db.session(write=False) as session:
        document = await service.get_document(session, await resolve_viewer(session, principal), statement_id)
    if form == "csv":
        return Response(statement_csv(document), media_type="text/csv; charset=utf-8",
                        headers={"content-disposition": f'attachment; filename="{file_name(document, "csv")}"'})
    if form == "xlsx":
        return Response(statement_xlsx(document),
                        media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                        headers={"content-disposition": f'attachment; filename="{file_name(document, "xlsx")}"'})
    return JSONResponse(document)


async def _list(request: Request, principal: Principal, month: str | None, fsp: str | None, all_versions: bool,
                skip: int, limit: int) -> JSONResponse:
    async with request.app.state.db.session(write=False) as session:
        viewer = await resolve_viewer(session, principal)
        return JSONResponse(await service.list_statements(session, viewer, month, fsp, all_versions, skip, limit))


@admin_router.get("/statements", operation_id="gbAdminStatements", summary="monthly statements (BL)",
                  responses=error_responses(400, 401, 403, 500), description=LIST_DESCRIPTION)
async def admin_list(request: Request, principal: BL, month: MonthQuery = None,
                     fsp: Annotated[str | None, Query(max_length=128)] = None, allVersions: bool = False,
                     skip: Skip = 0, limit: Limit = 50) -> JSONResponse:
    return await _list(request, principal, month, fsp, allVersions, skip, limit)


@admin_router.post("/statements/issue", operation_id="gbIssueStatements", status_code=200,
                   summary="issue a month's statements now (BL)", responses=error_responses(400, 401, 403, 409, 500),
                   description="Computes each FSP's statement of the month from what is stored now, with an "
                               "`ADJUSTMENT` line for every line of the 12 months before whose statement is final "
                               "and whose recomputation differs from what was paid for it (a correction after a "
                               "final is paid or recovered in the next open statement, traced to that final). "
                               "PROVISIONAL: a new version only where a line changed; FINAL: a final version "
                               "(nothing is issued after it for that month). Answers the statements (`new`: whether "
                               "this call issued the version).")
async def admin_issue(request: Request, principal: BL, body: IssueBody) -> JSONResponse:
    month = service.month_of(body.month)
    async with request.app.state.db.session() as session:
        reason = "final: issued by the operator" if body.kind == FINAL else "provisional: issued by the operator"
        issued = await service.issue_month(session, principal.operator, month, body.kind, reason,
                                           Actor.of(principal), body.fsp)
        out = [{**(await service.document(session, row)), "new": new} for row, new in issued]
    return JSONResponse(out)


@admin_router.get("/programs/{programID}/statement-charges", operation_id="gbStatementCharges",
                  summary="a program's statement fees and penalties (BL)", responses=error_responses(401, 403, 404, 500))
async def get_charges(request: Request, principal: BL, programID: ObjectIDPath) -> JSONResponse:
    async with request.app.state.db.session(write=False) as session:
        return JSONResponse(await service.get_charges(session, principal.operator, programID))


@admin_router.put("/programs/{programID}/statement-charges", operation_id="gbSetStatementCharges",
                  summary="set a program's statement fees and penalties (BL)",
                  responses=error_responses(400, 401, 403, 404, 500),
                  description='Body: {"monthlyFeeGbp": "25.00", "lateAckPenaltyGbp": "50.00"} (pounds, at most two '
                              "decimals; absent = 0). Applies to statement versions issued from now on.")
async def set_charges(request: Request, principal: BL, programID: ObjectIDPath,
                      body: Annotated[Any, Body()] = None) -> JSONResponse:
    async with request.app.state.db.session() as session:
        return JSONResponse(await service.set_charges(session, Actor.of(principal), principal.operator, programID, body))


add_record_routes(admin_router, router, "statements", "statementID", _one, {
    "json": "a statement", "csv": "a statement as CSV", "xlsx": "a statement as XLSX"}, "Statement")


@router.get("/statements", operation_id="gbStatements", summary="the caller's monthly statements",
            responses=error_responses(400, 401, 403, 500),
            description=LIST_DESCRIPTION + " A VEN client sees its own FSP's (its venName) only.")
async def own_list(request: Request, principal: Reader, month: MonthQuery = None, allVersions: bool = False,
                   skip: Skip = 0, limit: Limit = 50) -> JSONResponse:
    return await _list(request, principal, month, None, allVersions, skip, limit)


async def _decide(request: Request, principal: Principal, statement_id: str, decision: str, reason: str | None
                  ) -> JSONResponse:
    async with request.app.state.db.session() as session:
        viewer = await resolve_viewer(session, principal)
        document = await service.decide(session, viewer, Actor.of(principal), statement_id, decision, reason)
    return JSONResponse(document)


@router.post("/statements/{statementID}/approve", operation_id="gbApproveStatement",
             summary="approve the latest provisional version (own FSP)",
             responses=error_responses(401, 403, 404, 409, 500))
async def approve(request: Request, principal: Writer, statementID: RecordID) -> JSONResponse:
    return await _decide(request, principal, statementID, APPROVED, None)


@router.post("/statements/{statementID}/reject", operation_id="gbRejectStatement",
             summary="reject (dispute) the latest provisional version with a reason (own FSP)",
             responses=error_responses(400, 401, 403, 404, 409, 500))
async def reject(request: Request, principal: Writer, statementID: RecordID, body: RejectBody) -> JSONResponse:
    return await _decide(request, principal, statementID, REJECTED, body.reason)
