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
from fastapi.responses import JSONResponse, Response
from sqlmodel.ext.asyncio.session import AsyncSession

from vtn.auth.privacy import Viewer
from vtn.core.deps import ReadSession, WriteSession
from vtn.core.security import Principal, Scope, requires
from vtn.subscriptions.polling import ConditionalRead, etag_for, revision_for


def grants_version(revisions: dict[str, int]) -> tuple[int, int]:
    """What a VEN's grants depend on: the revisions of the ven and resource tables."""
    return revisions.get("VEN", 0), revisions.get("RESOURCE", 0)


async def resolve(state: Any, session: AsyncSession, principal: Principal, version: tuple[int, int]) -> Viewer:
    viewer = await state.viewers.resolve(session, principal, version)
    viewer.gb_operator = state.settings.gb_operator
    return viewer


def ViewerFor(scope: Scope) -> Any:
    """`Annotated[Viewer, …]` for an operation that needs `scope` (writes: resolved in the write session)."""
    Session = ReadSession if scope == Scope.READ_ALL else WriteSession

    async def viewer(request: Request, principal: Annotated[Principal, requires(scope)], session: Session) -> Viewer:
        state = request.app.state
        return await resolve(state, session, principal, grants_version(await state.revisions.current(state.db)))

    return Annotated[Viewer, Depends(viewer)]


@dataclass
class Read:
    """A GET's context: the caller, the revisions at the start of the request, and the ETag they make.

    The answer needs no database when it is a 304 or a body from memory; otherwise one read session
    is opened, the caller's viewer resolved in it (from the grant cache when the ven/resource
    revisions are unchanged) and `load(session, viewer)` runs in it.
    """

    state: Any  # the app's state: database, settings, caches
    principal: Principal
    version: tuple[int, int]  # `grants_version` of the same snapshot as the ETag
    conditional: ConditionalRead

    async def answer(self, load: Callable[[AsyncSession, Viewer], Awaitable[Any]]) -> Response:
        async def query() -> Any:
            async with self.state.db.session(write=False) as session:
                return await load(session, await resolve(self.state, session, self.principal, self.version))

        return await self.conditional.answer(query)

    async def fresh(self, load: Callable[[AsyncSession, Viewer], Awaitable[Any]]) -> Response:
        """The answer computed now, without ETag or cached body: for answers that change with the clock
        alone (3.1.0 `active` events), which no revision tracks."""
        async with self.state.db.session(write=False) as session:
            body = await load(session, await resolve(self.state, session, self.principal, self.version))
        return JSONResponse(body)


def api_sub_path(settings: Any, path: str) -> str:
    """`path` below the base path of the API (3.0.1 or 3.1.0) it was sent to."""
    base_31 = settings.base_path_31
    if base_31 and (path == base_31 or path.startswith(base_31 + "/")):
        return path[len(base_31):]
    return path[len(settings.base_path):]


async def _read(request: Request, principal: Principal) -> Read:
    state = request.app.state
    scope = request.scope
    revisions = await state.revisions.current(state.db)
    # one snapshot for the grants, the ETag and the body: the ETag is never newer than either
    revision = revision_for(revisions, api_sub_path(state.settings, scope["path"]))
    etag = etag_for(revision, principal, scope["path"], scope.get("query_string", b"").decode("latin-1"))
    conditional = ConditionalRead(etag, request.headers.get("if-none-match"), state.representations)
    return Read(state, principal, grants_version(revisions), conditional)


async def read_context(request: Request, principal: Annotated[Principal, requires(Scope.READ_ALL)]) -> Read:
    return await _read(request, principal)


ReadContext = Annotated[Read, Depends(read_context)]


def ReadContextFor(scope: Scope) -> Any:
    """`ReadContext` for an operation whose read scope is `scope` (the 3.1.0 API's `read_targets`, …)."""

    async def context(request: Request, principal: Annotated[Principal, requires(scope)]) -> Read:
        return await _read(request, principal)

    return Annotated[Read, Depends(context)]
