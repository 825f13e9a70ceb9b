"""HTTP operations on /vens and /vens/{venID}/resources (Y301:1141-1703)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Depends, Query
from fastapi.responses import JSONResponse, Response

from openadr3.models import Resource, Ven
from vtn.auth.dependencies import ReadContext, ViewerFor
from vtn.core.deps import ObjectIDPath, Targets, WriteSession
from vtn.core.pagination import Page, page_params
from vtn.core.responses import error_responses, object_response
from vtn.core.security import Scope
from vtn.vens import service

router = APIRouter()
VenBody = Annotated[Ven, Body(description="ven item to add or update.")]
ResourceBody = Annotated[Resource, Body(description="resource item to add or update.")]


@router.get(
    "/vens", tags=["vens"], operation_id="searchVens", summary="search vens",
    response_model=list[Ven], responses=error_responses(400, 401, 403, 500),
)
async def search_vens(
    read: ReadContext,
    targets: Targets,
    page: Annotated[Page, Depends(page_params)],
    venName: Annotated[str | None, Query(description="Indicates ven objects w venName")] = None,
) -> Response:
    return await read.answer(lambda session, viewer: service.list_vens(session, viewer, venName, targets, page, as_json=True))


@router.post(
    "/vens", tags=["vens"], operation_id="createVen", summary="create ven", status_code=201,
    response_model=Ven, responses=error_responses(400, 401, 403, 409, 500),
)
async def create_ven(session: WriteSession, viewer: ViewerFor(Scope.WRITE_VENS), body: VenBody) -> JSONResponse:
    return object_response(await service.create_ven(session, viewer, body), status=201)


@router.get(
    "/vens/{venID}", tags=["vens"], operation_id="searchVenByID", summary="search vens by ID",
    response_model=Ven, responses=error_responses(400, 401, 403, 404, 500),
)
async def search_ven_by_id(read: ReadContext, venID: ObjectIDPath) -> Response:
    return await read.answer(lambda session, viewer: service.ven_document(session, viewer, venID))


@router.put(
    "/vens/{venID}", tags=["vens"], operation_id="updateVen", summary="update ven",
    response_model=Ven, responses=error_responses(400, 401, 403, 404, 409, 500),
)
async def update_ven(
    session: WriteSession, viewer: ViewerFor(Scope.WRITE_VENS), venID: ObjectIDPath, body: VenBody
) -> JSONResponse:
    return object_response(await service.update_ven(session, viewer, venID, body))


@router.delete(
    "/vens/{venID}", tags=["vens"], operation_id="deleteVen", summary="delete ven",
    response_model=Ven, responses=error_responses(400, 401, 403, 404, 500),
)
async def delete_ven(session: WriteSession, viewer: ViewerFor(Scope.WRITE_VENS), venID: ObjectIDPath) -> JSONResponse:
    return object_response(await service.delete_ven(session, viewer, venID))


@router.get(
    "/vens/{venID}/resources", tags=["resources"], operation_id="searchVenResources", summary="search ven resources",
    response_model=list[Resource], responses=error_responses(400, 401, 403, 404, 500),
)
async def search_ven_resources(
    read: ReadContext,
    venID: ObjectIDPath,
    targets: Targets,
    page: Annotated[Page, Depends(page_params)],
    resourceName: Annotated[str | None, Query(description="Indicates resource objects with resourceName")] = None,
) -> Response:
    return await read.answer(
        lambda session, viewer: service.list_resources(session, viewer, venID, resourceName, targets, page, as_json=True)
    )


@router.post(
    "/vens/{venID}/resources", tags=["resources"], operation_id="createResource", summary="create resource",
    status_code=201, response_model=Resource, responses=error_responses(400, 401, 403, 404, 409, 500),
)
async def create_resource(
    session: WriteSession, viewer: ViewerFor(Scope.WRITE_VENS), venID: ObjectIDPath, body: ResourceBody
) -> JSONResponse:
    return object_response(await service.create_resource(session, viewer, venID, body), status=201)


@router.get(
    "/vens/{venID}/resources/{resourceID}", tags=["resources"], operation_id="searchVenResourceByID",
    summary="search ven resources by ID", response_model=Resource, responses=error_responses(400, 401, 403, 404, 500),
)
async def search_ven_resource_by_id(read: ReadContext, venID: ObjectIDPath, resourceID: ObjectIDPath) -> Response:
    return await read.answer(lambda session, viewer: service.resource_document(session, viewer, venID, resourceID))


@router.put(
    "/vens/{venID}/resources/{resourceID}", tags=["resources"], operation_id="updateVenResource",
    summary="update ven resource", response_model=Resource, responses=error_responses(400, 401, 403, 404, 409, 500),
)
async def update_ven_resource(
    session: WriteSession,
    viewer: ViewerFor(Scope.WRITE_VENS),
    venID: ObjectIDPath,
    resourceID: ObjectIDPath,
    body: ResourceBody,
) -> JSONResponse:
    return object_response(await service.update_resource(session, viewer, venID, resourceID, body))


@router.delete(
    "/vens/{venID}/resources/{resourceID}", tags=["resources"], operation_id="deleteVenResource",
    summary="delete ven resource", response_model=Resource, responses=error_responses(400, 401, 403, 404, 500),
)
async def delete_ven_resource(
    session: WriteSession, viewer: ViewerFor(Scope.WRITE_VENS), venID: ObjectIDPath, resourceID: ObjectIDPath
) -> JSONResponse:
    return object_response(await service.delete_resource(session, viewer, venID, resourceID))
