"""HTTP operations on /vens and /resources of the OpenADR 3.1.0 API, over the same vens and resources as 3.0.1.

3.1.0 makes resources first-level objects (issue 306: `/resources`, venID in the body) and gives vens and
resources a clientID: a BL names it in the body, a VEN's is its own (from its token). Who may see or change
which ven is still decided by vtn.auth.privacy (a VEN client owns the ven of its bound name).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query
from fastapi.responses import JSONResponse, Response

from openadr3.convert import resource_from_v31, resource_to_v31, ven_from_v31, ven_to_v31
from openadr3.models import ObjectID, Resource, Ven
from vtn.auth.dependencies import ReadContextFor, ViewerFor
from vtn.auth.privacy import Viewer
from vtn.core.deps import ObjectIDPath, WriteSession
from vtn.core.errors import Conflict
from vtn.core.pagination import Page, page_params
from vtn.core.responses import object_response
from vtn.core.security import Scope
from vtn.core.versions import check_v31, model_of, target_filter, targets_query
from vtn.vens import service

router = APIRouter()
ReadVenObjects = ReadContextFor(Scope.READ_VEN_OBJECTS)
Body31 = Annotated[dict[str, Any], Body(description="venRequest / resourceRequest (OpenADR 3.1.0)")]


def _request(viewer: Viewer, body: Any, kind: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Check a venRequest or resourceRequest: BL's and a VEN's differ by objectType (BL_…/VEN_…_REQUEST); a body
    without one is read as the caller's kind. Returns (3.0.1 content, extra)."""
    if isinstance(body, dict) and body.get("objectType") not in (f"BL_{kind}_REQUEST", f"VEN_{kind}_REQUEST"):
        body = {**body, "objectType": f"BL_{kind}_REQUEST" if viewer.is_bl else f"VEN_{kind}_REQUEST"}
    check_v31("venRequest" if kind == "VEN" else "resourceRequest", body, kind.lower())
    client_id = body.get("clientID") if viewer.is_bl else viewer.principal.client_id
    convert = ven_from_v31 if kind == "VEN" else resource_from_v31
    content, extra = convert(body, client_id)
    content.pop("objectType", None)
    return content, extra


# --- vens ---------------------------------------------------------------------------------------


@router.get("/vens", tags=["vens"], operation_id="searchVens")
async def search_vens(
    read: ReadVenObjects, page: Annotated[Page, Depends(page_params)],
    targets: Annotated[list[str] | None, Depends(targets_query)],
    venName: Annotated[str | None, Query(description="Indicates ven objects w venName")] = None,
) -> Response:
    async def load(session: Any, viewer: Viewer) -> list[dict[str, Any]]:
        # a plain filter: no grant intersection nor target hiding on vens (D310 "Target hiding"), a VEN reads
        # only its own anyway
        rows = await service.list_vens(session, viewer, venName, target_filter(targets), page, with_extra=True)
        return [ven_to_v31(document, extra) for document, extra in rows]

    return await read.answer(load)


@router.post("/vens", tags=["vens"], operation_id="createVen", status_code=201)
async def create_ven(session: WriteSession, viewer: ViewerFor(Scope.WRITE_VENS), body: Body31) -> JSONResponse:
    content, extra = _request(viewer, body, "VEN")
    document = await service.create_ven(session, viewer, model_of(Ven, content), extra)
    return object_response(ven_to_v31(document, extra), status=201)


@router.get("/vens/{venID}", tags=["vens"], operation_id="searchVenByID")
async def search_ven_by_id(read: ReadVenObjects, venID: ObjectIDPath) -> Response:
    async def load(session: Any, viewer: Viewer) -> dict[str, Any]:
        row = await service.get_ven(session, viewer, venID)
        return ven_to_v31(row.document, row.extra)

    return await read.answer(load)


@router.put("/vens/{venID}", tags=["vens"], operation_id="updateVen")
async def update_ven(
    session: WriteSession, viewer: ViewerFor(Scope.WRITE_VENS), venID: ObjectIDPath, body: Body31
) -> JSONResponse:
    content, extra = _request(viewer, body, "VEN")
    row = await service.get_ven(session, viewer, venID)
    if not viewer.is_bl:
        extra = {**(row.extra or {}), **{k: v for k, v in extra.items() if k != "clientID"}}  # the BL's clientID stays
    document = await service.update_ven(session, viewer, venID, model_of(Ven, content), extra)
    return object_response(ven_to_v31(document, extra))


@router.delete("/vens/{venID}", tags=["vens"], operation_id="deleteVen")
async def delete_ven(session: WriteSession, viewer: ViewerFor(Scope.WRITE_VENS), venID: ObjectIDPath) -> JSONResponse:
    extra = (await service.get_ven(session, viewer, venID)).extra
    return object_response(ven_to_v31(await service.delete_ven(session, viewer, venID), extra))


# --- resources (first-level objects in 3.1.0) ---------------------------------------------------


@router.get("/resources", tags=["resources"], operation_id="searchVenResources")
async def search_resources(
    read: ReadVenObjects, page: Annotated[Page, Depends(page_params)],
    targets: Annotated[list[str] | None, Depends(targets_query)],
    resourceName: Annotated[str | None, Query(description="Indicates resource objects with resourceName")] = None,
    venID: Annotated[ObjectID | None, Query(description="Indicates resource objects of the ven venID")] = None,
) -> Response:
    async def load(session: Any, viewer: Viewer) -> list[dict[str, Any]]:
        rows = await service.list_all_resources(session, viewer, venID, resourceName, target_filter(targets), page)
        return [resource_to_v31(document, extra) for document, extra in rows]

    return await read.answer(load)


@router.post("/resources", tags=["resources"], operation_id="createResource", status_code=201)
async def create_resource(session: WriteSession, viewer: ViewerFor(Scope.WRITE_VENS), body: Body31) -> JSONResponse:
    content, extra = _request(viewer, body, "RESOURCE")
    document = await service.create_resource(session, viewer, content["venID"], model_of(Resource, content), extra)
    return object_response(resource_to_v31(document, extra), status=201)


@router.get("/resources/{resourceID}", tags=["resources"], operation_id="searchVenResourceByID")
async def search_resource_by_id(read: ReadVenObjects, resourceID: ObjectIDPath) -> Response:
    async def load(session: Any, viewer: Viewer) -> dict[str, Any]:
        row = await service.find_resource(session, viewer, resourceID)
        return resource_to_v31(row.document, row.extra)

    return await read.answer(load)


@router.put("/resources/{resourceID}", tags=["resources"], operation_id="updateVenResource")
async def update_resource(
    session: WriteSession, viewer: ViewerFor(Scope.WRITE_VENS), resourceID: ObjectIDPath, body: Body31
) -> JSONResponse:
    content, extra = _request(viewer, body, "RESOURCE")
    row = await service.find_resource(session, viewer, resourceID)
    if content["venID"] != row.ven_id:
        raise Conflict(f"resource {resourceID!r} belongs to ven {row.ven_id!r}: a resource does not move between vens")
    if not viewer.is_bl:
        extra = {**(row.extra or {}), **{k: v for k, v in extra.items() if k != "clientID"}}
    document = await service.update_resource(session, viewer, row.ven_id, resourceID, model_of(Resource, content), extra)
    return object_response(resource_to_v31(document, extra))


@router.delete("/resources/{resourceID}", tags=["resources"], operation_id="deleteVenResource")
async def delete_resource(session: WriteSession, viewer: ViewerFor(Scope.WRITE_VENS), resourceID: ObjectIDPath) -> JSONResponse:
    row = await service.find_resource(session, viewer, resourceID)
    document = await service.delete_resource(session, viewer, row.ven_id, resourceID)
    return object_response(resource_to_v31(document, row.extra))
