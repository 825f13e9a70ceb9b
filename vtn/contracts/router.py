"""`{base}/admin/gb/programs/{programID}/terms[...]`: contract terms, for business-logic (BL) clients only."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path, Query, Request, Response
from fastapi.responses import JSONResponse

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
             "cut-off in London time, acceptance mode, operator-managed, the outside-window rule and RAG thresholds. "
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
