"""HTTP operations on /events (Y301:576-843), and the revision history of GB events under /admin."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Depends, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from openadr3.models import Event, ObjectID
from vtn.auth.dependencies import ReadContext, ViewerFor
from vtn.auth.privacy import Viewer
from vtn.core.deps import ObjectIDPath, Targets, WriteSession
from vtn.core.pagination import Page, page_params
from vtn.core.responses import error_responses, object_response
from vtn.core.security import Principal, Scope, require_bl
from vtn.events import revisions, service
from vtn.profiles import warning_headers

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
    return await read.answer(lambda session, viewer: service.list_events(session, viewer, programID, targets, page, as_json=True))


@router.post(
    "/events", operation_id="createEvent", summary="create an event", status_code=201,
    response_model=Event, responses=error_responses(400, 401, 403, 409, 500),
)
async def create_event(session: WriteSession, viewer: ViewerFor(Scope.WRITE_EVENTS), body: EventBody) -> JSONResponse:
    warnings: list[str] = []  # GB: a dispatch to a unit its FSP has emergency-stopped is stored, with a GB-Warning header (§6.3)
    document = await service.create_event(session, viewer, body, warnings=warnings)
    return object_response(document, status=201, headers=warning_headers(warnings))


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
    warnings: list[str] = []
    document = await service.update_event(session, viewer, eventID, body, warnings=warnings)
    return object_response(document, headers=warning_headers(warnings))


@router.delete(
    "/events/{eventID}", operation_id="deleteEvent", summary="delete an event",
    response_model=Event, responses=error_responses(400, 401, 403, 404, 409, 500),
)
async def delete_event(session: WriteSession, viewer: ViewerFor(Scope.WRITE_EVENTS), eventID: ObjectIDPath) -> JSONResponse:
    return object_response(await service.delete_event(session, viewer, eventID))


# --------------------------------------------------------------------------------------------- the dispatch record


class RevisionAckItem(BaseModel):
    """One acknowledgement (GB_ACK report) of a revision (schema for the OpenAPI document)."""

    reportID: str | None
    result: str = Field(description="ACCEPTED or REJECTED.")
    status: str = Field(description="The status the FSP read back.")
    reason: str | None
    receivedDateTime: str = Field(description="The FSP's receipt time (UTC).")
    createdDateTime: str | None = Field(description="When the VTN stored the report (UTC); orders acks of a revision.")
    latencySeconds: float | None = Field(description="Receipt minus the revision's instruction time.")
    matches: bool | None = Field(description="Read-back status equals the issued one (GB-R-008); null if unknown.")
    superseded: bool = Field(description="A later acknowledgement of the same revision counts instead.")


class RevisionItem(BaseModel):
    """One stored version of an event of a GB program."""

    eventID: str
    programID: str
    revision: int = Field(description="GB_DISPATCH_REVISION; 1, 2, … for events without one (the anchor event).")
    modificationDateTime: str = Field(description="When this version was stored (UTC).")
    actor: str = Field(description="Client id, or `console:<username>`, that wrote it (`-`: stored before the VTN kept "
                                   "revisions).")
    actorRole: str
    signed: bool = Field(description="Whether it carries a GB_SIGNATURE.")
    status: str | None = Field(description="GB_DISPATCH_STATUS of this revision (null: not a dispatch).")
    instructionTime: str | None
    event: Event = Field(description="The event exactly as stored by this write.")
    acknowledgements: list[RevisionAckItem] = Field(description="Every acknowledgement of this revision, by arrival.")


admin_router = APIRouter(prefix="/admin", tags=["admin"], dependencies=[Depends(require_bl)])


@admin_router.get(
    "/events/{eventID}/revisions", operation_id="listEventRevisions", summary="revision history of a GB event (BL)",
    response_model=list[RevisionItem], responses=error_responses(400, 401, 403, 404, 500),
    description="Every version of an event of a GB program the VTN stored (create and each accepted PUT), oldest "
                "first, with who wrote it, when, the full document, and the acknowledgements of each revision "
                "(docs/gb-profile.md §5.4). `GET /events/{eventID}` returns the current version. Events of other "
                "programs have no history (empty list). BL clients only; another operator's event is 404. Also "
                "`vtn gb history EVENT` and the console's dispatch page.",
)
async def list_event_revisions(
    request: Request, principal: Annotated[Principal, Depends(require_bl)], eventID: ObjectIDPath,
    page: Annotated[Page, Depends(page_params)],
) -> JSONResponse:
    async with request.app.state.db.session(write=False) as session:
        found = await revisions.history(session, Viewer(principal), eventID, page)
    return JSONResponse([r.entry() for r in found])
