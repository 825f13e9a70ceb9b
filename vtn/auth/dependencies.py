"""The request context of every operation, built once per request by one chain of dependencies.

`current_principal` (vtn.core.security) authenticates (cached tokens and clients, vtn.auth.authenticator)
and checks the scope; then, in the request's own session, the caller's privacy `Viewer` is taken from
the grant cache (`Viewers`, per ven/resource revision) or resolved; for a GET the ETag is derived from
the same revision snapshot and the answer is a 304, a body from memory or the query's
(`vtn.subscriptions.polling.ConditionalRead`). Nothing is handed over through `request.state`.

No `from __future__ import annotations` here: FastAPI must see the closures' real annotations.
"""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.responses import Response
from sqlmodel.ext.asyncio.session import AsyncSession

from vtn.auth.privacy import Viewer
from vtn.core.deps import ReadSession, WriteSession
from vtn.core.security import Principal, Scope, requires
from vtn.subscriptions.polling import ConditionalRead, etag_for, revision_for


async def _viewer(request: Request, session: AsyncSession, principal: Principal, revisions: dict[str, int]) -> Viewer:
    state = request.app.state
    grants_version = (revisions.get("VEN", 0), revisions.get("RESOURCE", 0))
    viewer = await state.viewers.resolve(session, principal, grants_version)
    viewer.gb_operator = state.settings.gb_operator
    return viewer


def ViewerFor(scope: Scope) -> Any:
    """`Annotated[Viewer, …]` for an operation that needs `scope` (writes: resolved in the write session)."""
    Session = ReadSession if scope == Scope.READ_ALL else WriteSession

    async def viewer(request: Request, principal: Annotated[Principal, requires(scope)], session: Session) -> Viewer:
        state = request.app.state
        return await _viewer(request, session, principal, await state.revisions.current(state.db))

    return Annotated[Viewer, Depends(viewer)]


@dataclass
class Read:
    """A GET's context: the caller's viewer and the request's read session (for the query), and its ETag."""

    viewer: Viewer
    session: AsyncSession
    conditional: ConditionalRead

    async def answer(self, load: Callable[[], Awaitable[Any]]) -> Response:
        """304, the body from memory, or `load()`'s result (then remembered under the ETag)."""
        return await self.conditional.answer(load)


async def read_context(request: Request, principal: Annotated[Principal, requires(Scope.READ_ALL)],
                       session: ReadSession) -> Read:
    state = request.app.state
    scope = request.scope
    revisions = await state.revisions.current(state.db)
    # one snapshot for the grants, the ETag and the body: the ETag is never newer than either
    revision = revision_for(revisions, scope["path"][len(state.settings.base_path):])
    viewer = await _viewer(request, session, principal, revisions)
    etag = etag_for(revision, principal, scope["path"], scope.get("query_string", b"").decode("latin-1"))
    return Read(viewer, session, ConditionalRead(etag, request.headers.get("if-none-match"), state.representations))


ReadContext = Annotated[Read, Depends(read_context)]
