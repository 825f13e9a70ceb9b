"""FastAPI dependencies turning the caller into a privacy `Viewer` after the scope check.

No `from __future__ import annotations` here: FastAPI must see the closure's real annotations.
"""


from typing import Annotated, Any

from fastapi import Depends, Request

from vtn.auth.privacy import Viewer, resolve_viewer
from vtn.core.security import Principal, Scope, requires


def ViewerFor(scope: Scope) -> Any:
    """`Annotated[Viewer, …]` for an operation that needs `scope`."""

    async def viewer(request: Request, principal: Annotated[Principal, requires(scope)]) -> Viewer:
        db = request.app.state.db
        async with db.session(write=False) as session:
            viewer = await resolve_viewer(session, principal)
        viewer.gb_operator = request.app.state.settings.gb_operator
        return viewer

    return Annotated[Viewer, Depends(viewer)]
