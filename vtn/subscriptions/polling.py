"""Cheap polling: strong ETags, 304s and bodies from memory on every GET under the base path; VEN heartbeats.

The ETag of a GET is a hash of (the revisions its result depends on, the caller's identity and
binding, the path and the normalised query). Each object type has a revision, bumped inside
every write transaction that changed an object of that type and kept in memory
(`vtn.subscriptions.revisions`). A GET depends on every type except those that cannot change its
result (`INDEPENDENT`: a report never changes what programs, events or vens anyone sees), so a VEN
posting a report does not turn every other VEN's next poll into a full GET. Writes of vens and
resources, the only inputs of a VEN's grants, count for every collection.

The revisions are read once, at the start of the request, before the caller's grants and the body
(`vtn.auth.dependencies`), so an ETag is never newer than its body. `ConditionalRead.answer`:
a matching `If-None-Match` is a 304 without running the query; else the body cached under the
ETag (`Representations`, bounded) is sent, else the query runs and its body is cached.
`If-None-Match: *` answers 304 only if the resource exists (the query found it).

Heartbeats: the last request time of each VEN client is kept in memory and flushed to the
database every `heartbeat_flush_seconds` (no write per request).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl

from starlette.responses import Response

from vtn.core import background
from vtn.core.database import Database, upsert, utcnow
from vtn.core.responses import JSONText
from vtn.core.security import Principal, Role
from vtn.notifications.models import HeartbeatRow

log = logging.getLogger("vtn.polling")
CACHE_CONTROL = "private, no-cache"
# Object types whose writes cannot change a GET of the collection (first path segment). Stored
# documents embed no other object, and privacy depends on the ven/resource tables only (grants:
# vtn.auth.privacy). Cascades (program → subscriptions, reports, events; ven → resources,
# subscriptions) emit a change for every object they delete, so they bump those types too.
INDEPENDENT: dict[str, frozenset[str]] = {
    "programs": frozenset({"REPORT", "SUBSCRIPTION"}),
    "events": frozenset({"REPORT", "SUBSCRIPTION"}),
    "vens": frozenset({"REPORT", "SUBSCRIPTION"}),  # and /vens/{id}/resources
    "resources": frozenset({"REPORT", "SUBSCRIPTION"}),  # 3.1.0 /resources
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


class Representations:
    """Serialised bodies by ETag, least recently used first out, within `max_bytes` and `max_entries`.

    An ETag names (revisions, caller, path, query), so a hit is exactly the body the query would
    return now; entries of old revisions are never hit again and age out.
    """

    def __init__(self, max_entries: int, max_bytes: int) -> None:
        self.max_entries, self.max_bytes = max_entries, max_bytes
        self.size = 0
        self._bodies: OrderedDict[str, bytes] = OrderedDict()

    def get(self, etag: str) -> bytes | None:
        body = self._bodies.get(etag)
        if body is not None:
            self._bodies.move_to_end(etag)
        return body

    def put(self, etag: str, body: bytes) -> None:
        if len(body) > self.max_bytes // 16 or etag in self._bodies:  # one large page must not flush the rest
            return
        self._bodies[etag] = body
        self.size += len(body)
        while self.size > self.max_bytes or len(self._bodies) > self.max_entries:
            _, dropped = self._bodies.popitem(last=False)
            self.size -= len(dropped)


def render(content: Any) -> bytes:
    """JSON as `JSONResponse` writes it; a `JSONText` (a list page of stored texts) as it is."""
    if isinstance(content, JSONText):
        return bytes(content)
    return json.dumps(content, ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":")).encode()


@dataclass
class ConditionalRead:
    """A GET's answer: 304, a body from memory, or the query's body (then cached)."""

    etag: str
    condition: str | None  # the If-None-Match header
    representations: Representations

    def headers(self) -> dict[str, str]:
        return {"etag": self.etag, "cache-control": CACHE_CONTROL}

    def unchanged(self) -> Response | None:
        """The 304 when `If-None-Match` names the current ETag (`*` is not handled here)."""
        return Response(status_code=304, headers=self.headers()) if if_none_match(self.condition, self.etag) else None

    async def answer(self, load: Callable[[], Awaitable[Any]]) -> Response:
        if (not_modified := self.unchanged()) is not None:
            return not_modified
        body = self.representations.get(self.etag)
        if body is None:
            body = render(await load())  # a 404/403 raised here carries no ETag and is not cached
            self.representations.put(self.etag, body)
        if matches_any(self.condition):
            return Response(status_code=304, headers=self.headers())
        return Response(body, media_type="application/json", headers=self.headers())


async def start_heartbeats(state: Any, db: Database, every: float) -> asyncio.Task[None]:
    return asyncio.create_task(state.heartbeats.run(db, every), name="vtn-heartbeats")


async def stop_heartbeats(task: asyncio.Task[None] | None, state: Any, db: Database) -> None:
    await background.cancel(task)
    with contextlib.suppress(Exception):
        await state.heartbeats.flush(db)
