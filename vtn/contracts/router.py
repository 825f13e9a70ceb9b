"""`{base}/admin/gb/programs/{programID}/terms[...]`: contract terms, for business-logic (BL) clients only."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Path, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from vtn.audit.service import Actor
from vtn.contracts.service import (
    TermsBody,
    all_unit_terms,
    clear_unit_terms,
    contract_terms,
    find_program,
    list_terms,
    row_document,
    set_terms,
    terms_document,
)
from vtn.core.deps import ObjectIDPath
from vtn.core.responses import error_responses
from vtn.core.security import Principal, require_bl

router = APIRouter(prefix="/admin/gb", tags=["admin"], dependencies=[Depends(require_bl)])
BL = Annotated[Principal, Depends(require_bl)]
UnitPath = Annotated[str, Path(min_length=1, max_length=128, description="The dispatch unit (resourceName).")]
ERRORS = error_responses(400, 401, 403, 404, 500)
TERMS_DOC = ("GB profile contract terms (docs/gb-profile.md §2.1): prices (availability GBP/MW/h, utilisation "
             "GBP/MWh), notice, run times, capacity, acknowledgement period, validity, the weekly declaration "
             "cut-off in London time, acceptance mode, operator-managed, the outside-window rule, what a dispatch "
             "against the run-time or notice terms gets (runTimeTerms OFF|WARN|REFUSE, §2.1.1) and RAG thresholds. "
             "A full replacement of this level; BL clients only, within their operator.")


def _db(request: Request) -> Any:
    return request.app.state.db


@router.get("/programs/{programID}/terms", operation_id="gbGetContractTerms", summary="a program's contract terms (BL)",
            responses=ERRORS,
            description="The program's terms in force (`program`), the stored levels (`stored`: the program's row and "
                        "each unit's overrides, null = not set at that level) and each unit's terms in force (`units`).")
async def get_terms(request: Request, principal: BL, programID: ObjectIDPath) -> JSONResponse:
    async with _db(request).session(write=False) as session:
        program, rows = await list_terms(session, principal.operator, programID)
        merged = await all_unit_terms(session, principal.operator, program)
    return JSONResponse({
        "program": terms_document(merged[None]),
        "stored": [row_document(r) for r in rows],
        "units": [terms_document(t) for u, t in sorted(merged.items(), key=lambda kv: kv[0] or "") if u],
    })


@router.get("/programs/{programID}/terms/effective", operation_id="gbEffectiveContractTerms",
            summary="the contract terms in force for a unit (BL)", responses=ERRORS,
            description="The unit's terms over its program's, field by field (no unit: the program's).")
async def get_effective(request: Request, principal: BL, programID: ObjectIDPath,
                        unit: Annotated[str | None, Query(min_length=1, max_length=128)] = None) -> JSONResponse:
    async with _db(request).session(write=False) as session:
        program = await find_program(session, principal.operator, programID)
        terms = await contract_terms(session, principal.operator, program.id, unit)
    return JSONResponse(terms_document(terms))


@router.put("/programs/{programID}/terms", operation_id="gbSetContractTerms", summary="set a program's terms (BL)",
            responses=ERRORS, description=TERMS_DOC)
async def put_terms(request: Request, principal: BL, programID: ObjectIDPath,
                    body: Annotated[dict[str, Any], Body(openapi_examples={"terms": {"value": {
                        "availabilityPrice": 12.5, "utilisationPrice": 300, "ackPeriodSeconds": 300,
                        "declarationCutoff": {"weekday": "TUESDAY", "time": "23:59"}}}})]) -> JSONResponse:
    async with _db(request).session() as session:
        row = await set_terms(session, Actor.of(principal), principal.operator, programID, body)
        document = row_document(row)
    return JSONResponse(document)


@router.put("/programs/{programID}/terms/units/{unit}", operation_id="gbSetUnitContractTerms",
            summary="set a dispatch unit's terms (BL)", responses=ERRORS,
            description=TERMS_DOC + " Fields left null inherit the program's.")
async def put_unit_terms(request: Request, principal: BL, programID: ObjectIDPath, unit: UnitPath,
                         body: Annotated[dict[str, Any], Body()]) -> JSONResponse:
    async with _db(request).session() as session:
        row = await set_terms(session, Actor.of(principal), principal.operator, programID, body, unit)
        document = row_document(row)
    return JSONResponse(document)


@router.delete("/programs/{programID}/terms/units/{unit}", operation_id="gbClearUnitContractTerms", status_code=204,
               summary="remove a dispatch unit's own terms (BL)", responses=ERRORS)
async def delete_unit_terms(request: Request, principal: BL, programID: ObjectIDPath, unit: UnitPath) -> Response:
    async with _db(request).session() as session:
        await clear_unit_terms(session, Actor.of(principal), principal.operator, programID, unit)
    return Response(status_code=204)


__all__ = ["TermsBody", "router"]


# --- the availability cycle (docs/gb-profile.md §6.5) ----------------------------------------------------------


def _week(value: str | None) -> Any:
    from datetime import date

    from vtn.core.errors import BadRequest

    if value is None:
        return None
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise BadRequest(f"week {value!r} is not a date (YYYY-MM-DD, the London Monday)") from None
    if day.weekday() != 0:
        raise BadRequest(f"week {value!r} is not a Monday")
    return day


WeekQuery = Annotated[str | None, Query(description="The week commencing (London Monday, YYYY-MM-DD).",
                                        max_length=10)]
VenQuery = Annotated[str | None, Query(max_length=128, description="Only this FSP's (venName).")]


@router.get("/programs/{programID}/acceptances", operation_id="gbListAcceptances",
            summary="declared windows and their acceptance (BL)", responses=ERRORS,
            description="Every declared window of the program (one per unit and direction), with the operator's "
                        "answer: PENDING, ACCEPTED (accepted kW, awarded price) or REJECTED (reason).")
async def get_acceptances(request: Request, principal: BL, programID: ObjectIDPath, week: WeekQuery = None,
                          venName: VenQuery = None) -> JSONResponse:
    from vtn.contracts.availability import acceptance_item, list_acceptances

    async with _db(request).session(write=False) as session:
        _, rows = await list_acceptances(session, principal.operator, programID, _week(week), venName)
    return JSONResponse([acceptance_item(r) for r in rows])


@router.get("/programs/{programID}/acceptances.csv", operation_id="gbAcceptancesCsv",
            summary="a week's acceptances as CSV (BL)", responses=ERRORS,
            description="One line per declared window of the week: UTC and London times, declared and accepted kW, "
                        "bid and awarded prices, status, who declared and who decided.")
async def get_acceptances_csv(request: Request, principal: BL, programID: ObjectIDPath,
                              week: Annotated[str, Query(max_length=10, description="London Monday, YYYY-MM-DD")],
                              venName: VenQuery = None) -> Response:
    from vtn.contracts.availability import acceptances_csv, list_acceptances

    day = _week(week)
    async with _db(request).session(write=False) as session:
        program, rows = await list_acceptances(session, principal.operator, programID, day, venName)
    name = f"acceptances-{program.document.get('programName', program.id)}-{day.isoformat()}.csv"
    return Response(acceptances_csv(rows), media_type="text/csv",
                    headers={"content-disposition": f'attachment; filename="{name}"'})


class Decision(BaseModel):
    """The operator's answer to one declared window."""

    model_config = ConfigDict(extra="forbid")
    status: Literal["ACCEPTED", "REJECTED"]
    acceptedKW: float | None = Field(None, ge=0, le=1e7)
    awardedPrice: float | None = Field(None, ge=0, le=1e6, description="GBP/MW/h")
    bidPrice: float | None = Field(None, ge=0, le=1e6, description="GBP/MW/h, when the bid came another way")
    reason: str | None = Field(None, max_length=1000)


@router.post("/acceptances/{acceptanceID}", operation_id="gbDecideAcceptance",
             summary="accept or reject a declared window (BL)", responses=ERRORS,
             description="ACCEPTED (all the declared kW, or `acceptedKW`; auctions need `awardedPrice`) or REJECTED "
                         "(with a `reason`). The FSP's acceptance event of that week is rewritten at once.")
async def post_decision(request: Request, principal: BL,
                        acceptanceID: Annotated[int, Path(ge=1, le=2**31 - 1)], body: Decision) -> JSONResponse:
    from vtn.contracts.availability import acceptance_item, decide

    async with _db(request).session() as session:
        row = await decide(session, Actor.of(principal), principal.operator, acceptanceID, body.status,
                           body.acceptedKW, body.awardedPrice, body.bidPrice, body.reason)
        item = acceptance_item(row)
    return JSONResponse(item)


async def _declaration(session: Any, principal: Principal, program_id: str, body: dict[str, Any]) -> Any:
    """The availability declaration (a GB_AVAILABILITY report) an operator enters in `program_id` for an FSP."""
    from pydantic import ValidationError

    from openadr3.models import Report
    from vtn.core.errors import BadRequest

    program = await find_program(session, principal.operator, program_id)
    try:
        report = Report.model_validate({**body, "programID": program.id})
    except ValidationError as exc:
        raise BadRequest(f"not a valid report: {exc.errors()[0]['msg']}") from None
    if report.reportName != "GB_AVAILABILITY":
        raise BadRequest("an operator enters availability declarations only (reportName GB_AVAILABILITY)")
    return report


@router.post("/programs/{programID}/declarations", operation_id="gbEnterDeclaration", status_code=201,
             summary="enter an FSP's availability declaration (BL, operator-managed programs)", responses=ERRORS,
             description="The operator enters a GB_AVAILABILITY report for the FSP named by its clientName (which "
                         "must have a ven in this operator). Stored as that FSP's report (its VEN can read it, not "
                         "change it), attributed to the operator's client in the audit log and the acceptances.")
async def post_declaration(request: Request, principal: BL, programID: ObjectIDPath,
                           body: Annotated[dict[str, Any], Body()]) -> JSONResponse:
    from sqlmodel import select

    from vtn.auth.privacy import Viewer
    from vtn.core.errors import BadRequest
    from vtn.reports.service import create_report
    from vtn.vens.models import VenRow

    async with _db(request).session() as session:
        report = await _declaration(session, principal, programID, body)
        ven = (await session.exec(select(VenRow).where(VenRow.operator == principal.operator,
                                                       VenRow.ven_name == report.clientName))).first()
        if ven is None:
            raise BadRequest(f"no ven {report.clientName!r} in this operator: the FSP registers its ven first")
        document = await create_report(session, Viewer(principal), report, owner_ven_id=ven.id, operator_entry=True)
    return JSONResponse(document, status_code=201)


# --- acknowledgement deadlines (docs/gb-profile.md §6.1.1) ----------------------------------------------------


@router.get("/ack-deadlines", operation_id="gbAckDeadlines", summary="acknowledgement deadlines (BL)",
            responses=ERRORS,
            description="The latest revision of every GB dispatch written in the last 7 days whose unit's terms set "
                        "an ackPeriodSeconds: its deadline (instruction time + period), when the first "
                        "acknowledgement arrived (the VTN's clock) and its state ON_TIME, LATE, OVERDUE or WAITING, "
                        "computed on read; `alarmRaisedDateTime` when the background check raised the alarm. "
                        "`state` filters (e.g. OVERDUE).")
async def get_ack_deadlines(request: Request, principal: BL,
                            state: Annotated[str | None, Query(pattern="^(ON_TIME|LATE|OVERDUE|WAITING)$")] = None
                            ) -> JSONResponse:
    from vtn.contracts.acks import ack_deadlines, alarm_rows
    from vtn.core.database import utcnow

    now = utcnow()
    async with _db(request).session(write=False) as session:
        deadlines = await ack_deadlines(session, principal.operator, now)
        alarms = {(a.event_id, a.revision, a.unit): a for a in await alarm_rows(session, principal.operator, False)}

    def z(moment: Any) -> str | None:
        return moment.isoformat().replace("+00:00", "Z") if moment else None

    items = []
    for d in deadlines:
        alarm = alarms.get((d.event_id or "", d.revision, d.dispatch_unit))
        items.append({"eventID": d.event_id, "eventName": d.event_name, "venName": d.fsp_id,
                      "resourceName": d.dispatch_unit, "revision": d.revision,
                      "instructionDateTime": z(d.instruction_time), "deadline": z(d.deadline),
                      "acknowledgedDateTime": z(d.acknowledged), "state": d.state(now),
                      "alarmRaisedDateTime": z(alarm.raised_at) if alarm else None})
    return JSONResponse([i for i in items if state is None or i["state"] == state])


@router.put("/programs/{programID}/declarations/{reportID}", operation_id="gbReplaceDeclaration",
            summary="replace a declaration the operator entered (BL)", responses=ERRORS,
            description="Before the week's cut-off: the declaration's windows are replaced and checked again.")
async def put_declaration(request: Request, principal: BL, programID: ObjectIDPath, reportID: ObjectIDPath,
                          body: Annotated[dict[str, Any], Body()]) -> JSONResponse:

    from vtn.auth.privacy import Viewer
    from vtn.reports.service import update_report

    async with _db(request).session() as session:
        report = await _declaration(session, principal, programID, body)
        document = await update_report(session, Viewer(principal), reportID, report)
    return JSONResponse(document)


@router.delete("/programs/{programID}/declarations/{reportID}", operation_id="gbDeleteDeclaration",
               summary="withdraw a declaration (BL)", responses=ERRORS,
               description="Before the week's cut-off; its windows and their acceptances go.")
async def delete_declaration(request: Request, principal: BL, programID: ObjectIDPath,
                             reportID: ObjectIDPath) -> JSONResponse:
    from vtn.auth.privacy import Viewer
    from vtn.core.errors import NotFound
    from vtn.reports.service import delete_report, get_report

    async with _db(request).session() as session:
        program = await find_program(session, principal.operator, programID)
        row = await get_report(session, Viewer(principal), reportID)
        if row.program_id != program.id or row.document.get("reportName") != "GB_AVAILABILITY":
            raise NotFound(f"declaration {reportID!r} not found in program {programID!r}")
        document = await delete_report(session, Viewer(principal), reportID)
    return JSONResponse(document)
