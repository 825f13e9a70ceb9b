"""`GET {base}/admin/events/{eventID}/evidence`: a dispatch's evidence bundle, for business-logic (BL) clients."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from vtn.auth.privacy import resolve_viewer
from vtn.core.deps import ObjectIDPath
from vtn.core.responses import error_responses
from vtn.core.security import Principal, require_bl
from vtn.gb.evidence import build_evidence
from vtn.gb.keys import operator_public_keys

router = APIRouter(prefix="/admin", tags=["admin"], dependencies=[Depends(require_bl)])


def download_name(event_id: str) -> str:
    return "evidence-" + re.sub(r"[^A-Za-z0-9._-]", "_", event_id) + ".json"


@router.get("/events/{eventID}/evidence", operation_id="gbDispatchEvidence", summary="a dispatch's evidence bundle (BL)",
            responses=error_responses(400, 401, 403, 404, 500),
            description="GB profile: one JSON document with the event as stored now, its acknowledgements and other "
                        "reports, each GB_SIGNATURE with the VTN's verification result, the public keys used (the "
                        "operator's and the FSPs' registered keys) and the audit lines of the event and its reports "
                        "(docs/gb-profile.md §7.1). BL clients only; another operator's event is 404.")
async def get_evidence(request: Request, principal: Annotated[Principal, Depends(require_bl)],
                       eventID: ObjectIDPath) -> JSONResponse:
    keys = operator_public_keys(request.app.state.settings)
    async with request.app.state.db.session(write=False) as session:
        bundle = await build_evidence(session, await resolve_viewer(session, principal), eventID, keys)
    return JSONResponse(bundle, headers={"content-disposition": f'attachment; filename="{download_name(eventID)}"'})
