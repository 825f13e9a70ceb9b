"""HTTP operations on /events (Y301:576-843)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Depends, Query
from fastapi.responses import JSONResponse, Response

from openadr3.models import Event, ObjectID
from vtn.auth.dependencies import ReadContext, ViewerFor
from vtn.core.deps import ObjectIDPath, Targets, WriteSession
from vtn.core.pagination import Page, page_params
from vtn.core.responses import error_responses, object_response
from vtn.core.security import Scope
from vtn.events import service
from vtn.profiles import dispatch_warnings, warning_headers

router = APIRouter(tags=["events"])
EventBody = Annotated[Event, Body(description="event item to add or update.")]


@router.get(
    "/events", operation_id="searchAllEvents", summary="searches all events",
    response_model=list[Event], responses=error_responses(400, 401, 403, 500),
)
async def search_all_events(
    read: ReadContext,
    targets: Targets,
    page: Annotated[Page, Depends(page_params)],
    programID: Annotated[ObjectID | None, Query(description="filter results to events in programID.")] = None,
) -> Response:
    return await read.answer(lambda session, viewer: service.list_events(session, viewer, programID, targets, page))


@router.post(
    "/events", operation_id="createEvent", summary="create an event", status_code=201,
    response_model=Event, responses=error_responses(400, 401, 403, 409, 500),
)
async def create_event(session: WriteSession, viewer: ViewerFor(Scope.WRITE_EVENTS), body: EventBody) -> JSONResponse:
    document = await service.create_event(session, viewer, body)
    # GB: a dispatch to a unit its FSP has emergency-stopped is stored, with a GB-Warning header (§6.3)
    return object_response(document, status=201, headers=warning_headers(await dispatch_warnings(session, document)))


@router.get(
    "/events/{eventID}", operation_id="searchEventsByID", summary="search events by ID",
    response_model=Event, responses=error_responses(400, 401, 403, 404, 500),
)
async def search_event_by_id(read: ReadContext, eventID: ObjectIDPath) -> Response:
    return await read.answer(lambda session, viewer: service.event_document(session, viewer, eventID))


@router.put(
    "/events/{eventID}", operation_id="updateEvent", summary="update an event",
    response_model=Event, responses=error_responses(400, 401, 403, 404, 409, 500),
)
async def update_event(
    session: WriteSession, viewer: ViewerFor(Scope.WRITE_EVENTS), eventID: ObjectIDPath, body: EventBody
) -> JSONResponse:
    document = await service.update_event(session, viewer, eventID, body)
    return object_response(document, headers=warning_headers(await dispatch_warnings(session, document)))


@router.delete(
    "/events/{eventID}", operation_id="deleteEvent", summary="delete an event",
    response_model=Event, responses=error_responses(400, 401, 403, 404, 500),
)
async def delete_event(session: WriteSession, viewer: ViewerFor(Scope.WRITE_EVENTS), eventID: ObjectIDPath) -> JSONResponse:
    return object_response(await service.delete_event(session, viewer, eventID))
