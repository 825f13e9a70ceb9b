"""HTTP operations on /events of the OpenADR 3.1.0 API (Y310 /events), over the same events as 3.0.1.

Adds what 3.1.0 adds: `active` (events whose lifespan includes now, User Guide 3.1.0 §7.3), event `duration`
and `reportIntervals` (kept in the row's `extra`), string targets (openadr3.convert), target hiding.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query
from fastapi.responses import JSONResponse, Response

from openadr3.convert import event_from_v31, event_to_v31
from openadr3.models import Event, ObjectID
from vtn.auth.dependencies import ReadContextFor, ViewerFor
from vtn.auth.privacy import Viewer
from vtn.core.deps import ObjectIDPath, WriteSession
from vtn.core.pagination import Page, page_params
from vtn.core.responses import object_response
from vtn.core.security import Scope
from vtn.core.versions import Requested, check_v31, model_of, targets_query
from vtn.events import service
from vtn.events.activity import is_active
from vtn.profiles import dispatch_warnings, warning_headers

router = APIRouter(tags=["events"])
ReadTargets = ReadContextFor(Scope.READ_TARGETS)
Body31 = Annotated[dict[str, Any], Body(description="eventRequest (OpenADR 3.1.0)")]
ACTIVE_SCAN_PAGE = 500  # `active` is decided per event in Python: candidates are read this many at a time


def _event(body: dict[str, Any]) -> tuple[Event, dict[str, Any]]:
    content, extra = event_from_v31(check_v31("eventRequest", body, "event"))
    return model_of(Event, content), extra


@router.get("/events", operation_id="searchAllEvents")
async def search_all_events(
    read: ReadTargets, page: Annotated[Page, Depends(page_params)],
    targets: Annotated[list[str] | None, Depends(targets_query)],
    programID: Annotated[ObjectID | None, Query(description="filter results to events in programID.")] = None,
    active: Annotated[bool | None, Query(description="true: only events whose lifespan includes now; "
                                                      "false: only the others")] = None,
) -> Response:
    async def load(session: Any, viewer: Viewer) -> list[dict[str, Any]]:
        requested = Requested(viewer, targets)
        if requested.empty:
            return []
        if active is None:
            rows = await service.list_events(session, viewer, programID, requested.filter, page, with_extra=True)
        else:  # the clock decides: filter candidates in list order, then page
            now, rows, skip, offset = datetime.now(UTC), [], page.skip, 0
            while len(rows) < page.limit:
                batch = await service.list_events(session, viewer, programID, requested.filter,
                                                  Page(offset, ACTIVE_SCAN_PAGE), with_extra=True)
                for document, extra in batch:
                    if is_active(document, extra, now) == active:
                        if skip:
                            skip -= 1
                        elif len(rows) < page.limit:
                            rows.append((document, extra))
                if len(batch) < ACTIVE_SCAN_PAGE:
                    break
                offset += ACTIVE_SCAN_PAGE
        return [event_to_v31(document, extra, requested.keep) for document, extra in rows]

    # `active` answers change with the clock alone: never from the ETag cache
    return await (read.answer(load) if active is None else read.fresh(load))


@router.post("/events", operation_id="createEvent", status_code=201)
async def create_event(session: WriteSession, viewer: ViewerFor(Scope.WRITE_EVENTS), body: Body31) -> JSONResponse:
    event, extra = _event(body)
    document = await service.create_event(session, viewer, event, extra)
    # GB: a dispatch to an emergency-stopped unit is stored, with a GB-Warning header (§6.3), as in 3.0.1
    return object_response(event_to_v31(document, extra), status=201,
                           headers=warning_headers(await dispatch_warnings(session, document)))


@router.get("/events/{eventID}", operation_id="searchEventsByID")
async def search_event_by_id(read: ReadTargets, eventID: ObjectIDPath) -> Response:
    async def load(session: Any, viewer: Viewer) -> dict[str, Any]:
        row = await service.get_event(session, viewer, eventID)
        return event_to_v31(row.document, row.extra, Requested(viewer, None).keep)

    return await read.answer(load)


@router.put("/events/{eventID}", operation_id="updateEvent")
async def update_event(
    session: WriteSession, viewer: ViewerFor(Scope.WRITE_EVENTS), eventID: ObjectIDPath, body: Body31
) -> JSONResponse:
    event, extra = _event(body)
    document = await service.update_event(session, viewer, eventID, event, extra)
    return object_response(event_to_v31(document, extra), headers=warning_headers(await dispatch_warnings(session, document)))


@router.delete("/events/{eventID}", operation_id="deleteEvent")
async def delete_event(session: WriteSession, viewer: ViewerFor(Scope.WRITE_EVENTS), eventID: ObjectIDPath) -> JSONResponse:
    extra = (await service.get_event(session, viewer, eventID)).extra
    return object_response(event_to_v31(await service.delete_event(session, viewer, eventID), extra))
