"""Cheap polling: strong ETags and 304s on every GET under the base path, and VEN heartbeats.

The ETag of a GET is a hash of (the revisions its result depends on, the caller's identity and
binding, the path and the normalised query). Each object type has a revision, bumped inside
every write transaction that changed an object of that type (see `notifications.on_change`).
A GET depends on every type except those that cannot change its result (`INDEPENDENT`: a
report never changes what programs, events or vens anyone sees), so a VEN posting a report
does not turn every other VEN's next poll into a full GET. Writes of vens and resources, the
only inputs of a VEN's grants, count for every collection. The revisions are read *before*
the handler runs, so an ETag is never newer than its body. A
matching `If-None-Match` is answered 304 with no body after one primary-key read, without
running the handler; `If-None-Match: *` runs it and answers 304 only if it found something.

Heartbeats: the last request time of each VEN client is kept in memory and flushed to the
database every `heartbeat_flush_seconds` (no write per request).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from vtn.core.database import Database, upsert, utcnow
from vtn.core.security import Principal, Role
from vtn.subscriptions.notification_models import HeartbeatRow
from vtn.subscriptions.notifications import current_revisions

log = logging.getLogger("vtn.polling")
CACHE_CONTROL = "private, no-cache"
SKIP_PREFIXES = ("/auth/", "/admin/")
# Object types whose writes cannot change a GET of the collection (first path segment). Stored
# documents embed no other object, and privacy depends on the ven/resource tables only (grants:
# vtn.auth.privacy). Cascades (program → subscriptions, reports, events; ven → resources,
# subscriptions) emit a change for every object they delete, so they bump those types too.
INDEPENDENT: dict[str, frozenset[str]] = {
    "programs": frozenset({"REPORT", "SUBSCRIPTION"}),
    "events": frozenset({"REPORT", "SUBSCRIPTION"}),
    "vens": frozenset({"REPORT", "SUBSCRIPTION"}),  # and /vens/{id}/resources
    "reports": frozenset({"SUBSCRIPTION"}),
    "subscriptions": frozenset({"REPORT"}),
}


def revision_for(revisions: dict[str, int], sub_path: str) -> str:
    """The part of the revisions a GET of `sub_path` (below the base path) depends on."""
    independent = INDEPENDENT.get(sub_path.strip("/").split("/", 1)[0], frozenset())
    return ",".join(f"{name}={value}" for name, value in sorted(revisions.items()) if name not in independent)


def etag_for(revision: str, principal: Principal, path: str, query: str) -> str:
    normalised = "&".join(f"{k}={v}" for k, v in sorted(parse_qsl(query, keep_blank_values=True)))
    key = "|".join((
        revision, principal.client_id, principal.role.value, principal.ven_name or "", principal.operator,
        " ".join(sorted(principal.scopes)), path, normalised,
    ))
    return '"' + hashlib.sha256(key.encode()).hexdigest()[:32] + '"'


def if_none_match(header: str | None, etag: str) -> bool:
    """Whether the header names `etag` (weak comparison, RFC 9110 13.1.2); `*` is not handled here."""
    if not header:
        return False
    opaque = etag.removeprefix("W/")
    return any(candidate.strip().removeprefix("W/") == opaque for candidate in header.split(","))


def matches_any(header: str | None) -> bool:
    """`If-None-Match: *`: true when a current representation exists, so the handler must run."""
    return bool(header) and any(candidate.strip() == "*" for candidate in (header or "").split(","))


class Heartbeats:
    """Last request time per VEN client, in memory, flushed periodically."""

    def __init__(self) -> None:
        self.pending: dict[str, tuple[str | None, str, datetime]] = {}
        self.seen: dict[str, tuple[str | None, str, datetime]] = {}

    def record(self, principal: Principal) -> None:
        if principal.role != Role.VEN:
            return
        entry = (principal.ven_name, principal.operator, utcnow())
        self.pending[principal.client_id] = entry
        self.seen[principal.client_id] = entry

    def latest_by_ven(self, operator: str) -> dict[str, datetime]:
        """This process's newest request time per ven name of `operator` (also what is not flushed yet)."""
        latest: dict[str, datetime] = {}
        for ven_name, tenant, seen in self.seen.values():
            if ven_name and tenant == operator and (ven_name not in latest or seen > latest[ven_name]):
                latest[ven_name] = seen
        return latest

    async def flush(self, db: Database) -> int:
        if not self.pending:
            return 0
        batch, self.pending = self.pending, {}
        rows = [{"client_id": client_id, "ven_name": ven_name, "operator": operator, "last_seen": seen}
                for client_id, (ven_name, operator, seen) in sorted(batch.items())]
        try:
            async with db.session() as session:
                await upsert(session, HeartbeatRow.__table__, rows,  # type: ignore[attr-defined]
                             key=["client_id"], update_columns=["ven_name", "operator", "last_seen"])
        except Exception:
            for client_id, entry in batch.items():
                self.pending.setdefault(client_id, entry)
            raise
        return len(batch)

    async def run(self, db: Database, every: float) -> None:
        while True:
            await asyncio.sleep(every)
            try:
                await self.flush(db)
            except Exception:
                log.warning("heartbeat flush failed; retrying", exc_info=True)


class PollingMiddleware:
    """ETag / If-None-Match on GETs under `base`, and heartbeats of VEN clients."""

    def __init__(self, app: ASGIApp, base: str) -> None:
        self.app = app
        self.base = base

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(self.base + "/"):
            await self.app(scope, receive, send)
            return
        state = scope["app"].state
        heartbeats: Heartbeats | None = getattr(state, "heartbeats", None)
        sub_path = scope["path"][len(self.base):]
        if scope["method"] != "GET" or sub_path.startswith(SKIP_PREFIXES) or sub_path == "/openapi.json":
            await self.app(scope, receive, send)
            principal = scope.get("state", {}).get("principal")
            if heartbeats is not None and isinstance(principal, Principal):
                heartbeats.record(principal)
            return
        request = Request(scope)
        try:
            principal: Principal = await state.authenticator.authenticate(request)
        except Exception:
            await self.app(scope, receive, send)  # the handler answers the 401 itself
            return
        request.state.principal = principal  # reused by `current_principal`
        if heartbeats is not None:
            heartbeats.record(principal)
        db: Database = state.db
        async with db.session(write=False) as session:
            revisions = await current_revisions(session)
        query = scope.get("query_string", b"").decode("latin-1")
        etag = etag_for(revision_for(revisions, sub_path), principal, scope["path"], query)
        headers = [(b"etag", etag.encode()), (b"cache-control", CACHE_CONTROL.encode())]
        condition = request.headers.get("if-none-match")
        if if_none_match(condition, etag):
            await send({"type": "http.response.start", "status": 304, "headers": headers})
            await send({"type": "http.response.body", "body": b""})
            return
        star = matches_any(condition)
        not_modified = False

        async def send_with_etag(message: Message) -> None:
            nonlocal not_modified
            if message["type"] == "http.response.start" and message["status"] == 200:
                if star:  # `*` and the resource exists: 304 (a 404 or 403 passes through)
                    not_modified = True
                    message = {"type": "http.response.start", "status": 304, "headers": headers}
                else:
                    message = {**message, "headers": [*message.get("headers", []), *headers]}
            elif not_modified and message["type"] == "http.response.body":
                if message.get("more_body", False):
                    return
                message = {"type": "http.response.body", "body": b""}
            await send(message)

        await self.app(scope, receive, send_with_etag)


async def start_heartbeats(state: Any, db: Database, every: float) -> asyncio.Task[None]:
    return asyncio.create_task(state.heartbeats.run(db, every), name="vtn-heartbeats")


async def stop_heartbeats(task: asyncio.Task[None] | None, state: Any, db: Database) -> None:
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    with contextlib.suppress(Exception):
        await state.heartbeats.flush(db)
