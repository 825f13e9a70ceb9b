"""The request context of every operation, built once per request by one chain of dependencies.

`current_principal` (vtn.core.security) authenticates (cached tokens and clients, vtn.auth.authenticator)
and checks the scope; then, in the request's own session, the caller's privacy `Viewer` is taken from
the grant cache (`Viewers`, per ven/resource revision) or resolved; for a GET the ETag is derived from
the same revision snapshot and the answer is a 304, a body from memory or the query's
(`vtn.subscriptions.polling.ConditionalRead`). Nothing is handed over through `request.state`.

No `from __future__ import annotations` here: FastAPI must see the closures' real annotations.
"""

import re
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from sqlmodel.ext.asyncio.session import AsyncSession
from starlette.routing import compile_path
from starlette.types import ASGIApp, Receive, Send
from starlette.types import Scope as AsgiScope

from vtn.auth.privacy import Viewer
from vtn.core.deps import ReadSession, WriteSession
from vtn.core.security import Principal, Scope, authenticated, requires
from vtn.subscriptions.polling import ConditionalRead, etag_for, matches_any, revision_for


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


async def conditional_read(
    state: Any, principal: Principal, scope: AsgiScope, condition: str | None
) -> tuple[dict[str, int], ConditionalRead]:
    """The revisions now and the conditional answer (ETag) they make for `principal`'s GET of `scope`."""
    revisions = await state.revisions.current(state.db)
    # one snapshot for the grants, the ETag and the body: the ETag is never newer than either
    revision = revision_for(revisions, api_sub_path(state.settings, scope["path"]))
    etag = etag_for(revision, principal, scope["path"], scope.get("query_string", b"").decode("latin-1"))
    return revisions, ConditionalRead(etag, condition, state.representations)


async def _read(request: Request, principal: Principal) -> Read:
    state = request.app.state
    revisions, conditional = await conditional_read(state, principal, request.scope, request.headers.get("if-none-match"))
    return Read(state, principal, grants_version(revisions), conditional)


async def read_context(request: Request, principal: Annotated[Principal, requires(Scope.READ_ALL)]) -> Read:
    return await _read(request, principal)


ReadContext = Annotated[Read, Depends(read_context)]


def ReadContextFor(scope: Scope) -> Any:
    """`ReadContext` for an operation whose read scope is `scope` (the 3.1.0 API's `read_targets`, …)."""

    async def context(request: Request, principal: Annotated[Principal, requires(scope)]) -> Read:
        return await _read(request, principal)

    return Annotated[Read, Depends(context)]


def read_paths(prefix: str, routers: Iterable[APIRouter]) -> list[re.Pattern[str]]:
    """The paths of the GET operations answered through `ReadContext` (their ETags are this module's)."""
    return [
        compile_path(prefix + route.path)[0]
        for router in routers for route in router.routes
        if isinstance(route, APIRoute) and "GET" in route.methods
        and any(d.call is read_context for d in route.dependant.dependencies)
    ]


class UnchangedPolls:
    """An unchanged conditional poll answered before routing: the hot path of a polling VEN.

    A GET of a `ReadContext` path with `If-None-Match` is authenticated (`authenticated`, as
    `current_principal` does: cached token and client, heartbeat, scope `read_all`) and its ETag derived
    (`conditional_read`); when the header names it, the 304 is sent here, without FastAPI's routing
    and dependency solving. Otherwise — another ETag, `*`, a refused token, any error — the request
    goes on to the app, which builds its own context from scratch: nothing is handed over.

    A matching ETag was issued by the operation for this (revisions, caller, path, query), so the
    operation would answer 304 too; an ETag computed by the client itself for an invalid query gets
    a 304 here where the operation would say 400 (nothing is disclosed: a 304 has no body).
    """

    def __init__(self, app: ASGIApp, paths: list[re.Pattern[str]]) -> None:
        self.app = app
        self.paths = paths

    async def __call__(self, scope: AsgiScope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET":
            response = await self._unchanged(scope)
            if response is not None:
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)

    async def _unchanged(self, scope: AsgiScope) -> Response | None:
        condition = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"if-none-match"), None)
        if not condition or matches_any(condition) or not any(p.match(scope["path"]) for p in self.paths):
            return None
        request = Request(scope)
        try:
            principal = await authenticated(request, [Scope.READ_ALL.value])
            _, conditional = await conditional_read(request.app.state, principal, scope, condition)
        except Exception:  # the operation meets the same refusal or error and answers it (401, 403, problem+json)
            return None
        return conditional.unchanged()
