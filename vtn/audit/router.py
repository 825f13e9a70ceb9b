"""`GET {base}/admin/audit`: the audit log for business-logic (BL) clients."""

from __future__ import annotations

from datetime import UTC
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from pydantic import AwareDatetime, BaseModel, Field

from vtn.audit.models import ACTION_MAX, ACTOR_MAX, OBJECT_MAX
from vtn.audit.service import AuditFilter, entry, list_entries
from vtn.core.errors import BadRequest
from vtn.core.pagination import Page, page_params
from vtn.core.responses import error_responses
from vtn.core.security import Principal, require_bl


class AuditItem(BaseModel):
    """One line of the audit log (schema for the OpenAPI document; the handler builds the JSON)."""

    id: int = Field(description="Increases with every line; lines are never changed or removed.")
    at: str = Field(description="When, in UTC (RFC 3339).")
    actor: str = Field(description="Client id, `console:<username>` or `cli:<os user>` (the `vtn` command).")
    actorRole: str = Field(description="BL or VEN (API clients and console accounts acting as one), operator or fsp "
                                       "(console sign-in), cli, anonymous (a failed sign-in).")
    action: str = Field(description="e.g. gb.dispatch, gb.revise, gb.stop, gb.cancel, gb.emergency_stop, event.create, "
                                    "subscription.delete, client.add, user.disable, console.signin, signing_key.rotate.")
    objectType: str
    objectID: str | None
    outcome: Literal["success", "failure", "refused"]
    detail: dict[str, Any] | None = Field(description="A small summary of what was done (never secrets).")
    operator: str = Field(description="The operator (tenant) the line belongs to; a BL reads only its own.")


router = APIRouter(prefix="/admin", tags=["admin"], dependencies=[Depends(require_bl)])


@router.get("/audit", operation_id="listAuditLog", summary="the audit log (BL)", response_model=list[AuditItem],
            responses=error_responses(400, 401, 403, 500),
            description="Audited actions, oldest first (pages stay stable as lines are appended): GB dispatches and "
                        "their revisions, stops and cancellations, event, program and subscription writes, client and "
                        "console account changes, console sign-ins (also failed ones), token signing key rotations. "
                        "BL clients only; also `vtn audit list` and the console's Audit page.")
async def get_audit(
    request: Request,
    principal: Annotated[Principal, Depends(require_bl)],
    page: Annotated[Page, Depends(page_params)],
    since: Annotated[AwareDatetime | None, Query(description="Only lines at or after this instant (with an offset).")] = None,
    actor: Annotated[str | None, Query(max_length=ACTOR_MAX, description="Actor, or a prefix ending with `*`.")] = None,
    action: Annotated[str | None, Query(max_length=ACTION_MAX, description="Action, or a prefix ending with `*`.")] = None,
    objectID: Annotated[str | None, Query(max_length=OBJECT_MAX, description="The object acted on.")] = None,
) -> JSONResponse:
    try:
        since = since.astimezone(UTC) if since else None
    except OverflowError:  # an offset pushing the instant past year 9999
        raise BadRequest("since is out of range") from None
    where = AuditFilter(since=since, actor=actor, action=action, object_id=objectID, operator=principal.operator)
    async with request.app.state.db.session(write=False) as session:
        rows = await list_entries(session, where, page)
    return JSONResponse([entry(row) for row in rows])
