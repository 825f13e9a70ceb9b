"""The per-object-type change revisions, kept in memory (ETags, cached bodies and cached grants key on them).

Every write transaction bumps the revision of each object type it changed, as its last statement
(`bump`, called by `notifications` before the commit) and learns the new values from `RETURNING`.
Once the commit is through, they are merged into this process's `Revisions`, so a write is seen
by the next poll in this process without reading the database. Other processes learn them:

- PostgreSQL: the same statement sends them with `pg_notify` on `vtn_revisions` (delivered only on
  commit); every process LISTENs on a dedicated connection (`listen`). While that connection is
  down, or before it is up, the revisions are re-read at most every `refresh_seconds` instead;
  after it (re)connects they are re-read once, so nothing sent meanwhile is missed.
- SQLite: several processes on one file (`VTN_WORKERS` > 1) see each other's writes within
  `refresh_seconds` (`VTN_REVISION_REFRESH_SECONDS`, default 1 s), when the values are re-read.

Values only grow (`merge` keeps the larger), so a slow re-read can never move a process back to
an older revision and serve a body it had cached for that older state.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Mapping
from typing import Any

from sqlalchemy import bindparam, event, text
from sqlalchemy.engine import make_url
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from vtn.core import background
from vtn.core.database import Database
from vtn.notifications.models import RevisionRow

log = logging.getLogger("vtn.revisions")
PG_CHANNEL = "vtn_revisions"
LISTENER_PING_SECONDS = 5.0  # a LISTEN connection that died silently is noticed within this (plus its timeout)
SESSION_KEY = "revisions"  # Database.info key: the sessions of a database know the Revisions of their process

_BUMP = """
INSERT INTO change_revision (name, value) VALUES {values}
ON CONFLICT (name) DO UPDATE SET value = change_revision.value + 1
RETURNING name, value
"""
# PostgreSQL: the same upsert, and the new values announced to every process in one round trip.
_BUMP_AND_NOTIFY = """
WITH bumped AS ({bump}),
sent AS (SELECT pg_notify('{channel}', string_agg(name || '=' || value, ',')) FROM bumped)
SELECT name, value FROM bumped, sent
"""


def _bump_statement(dialect: str, count: int) -> Any:
    values = ", ".join(f"(:n{i}, 1)" for i in range(count))
    bump = _BUMP.format(values=values)
    sql = _BUMP_AND_NOTIFY.format(bump=bump, channel=PG_CHANNEL) if dialect == "postgresql" else bump
    return text(sql).bindparams(*(bindparam(f"n{i}") for i in range(count)))


def bump(sync_session: Any, names: set[str]) -> dict[str, int]:
    """Bump the revisions of `names` in the session's transaction (in name order: writers never deadlock on
    them); once it commits, this process's `Revisions` have the new values."""
    if not names:
        return {}
    ordered = sorted(names)
    statement = _bump_statement(sync_session.bind.dialect.name, len(ordered))
    rows = sync_session.execute(statement, {f"n{i}": name for i, name in enumerate(ordered)}).all()
    values = {str(row[0]): int(row[1]) for row in rows}
    revisions: Revisions | None = sync_session.info.get(SESSION_KEY)
    if revisions is not None:
        # only a commit makes them true: a failed commit must not leave them for the session's next one
        pending = [values]
        event.listen(sync_session, "after_commit", lambda _s: pending and revisions.merge(pending.pop()), once=True)
        event.listen(sync_session, "after_rollback", lambda _s: pending.clear(), once=True)
    return values


async def stored_revisions(session: AsyncSession) -> dict[str, int]:
    """The revision of each object type in the database (one row per type; a type never written is absent)."""
    rows = (await session.exec(select(RevisionRow.name, RevisionRow.value))).all()
    return {str(name): int(value) for name, value in rows}


def parse_payload(payload: str) -> dict[str, int]:
    values = {}
    for item in payload.split(","):
        name, _, value = item.partition("=")
        if name and value.isdigit():
            values[name] = int(value)
    return values


class Revisions:
    """This process's view of the change revisions."""

    def __init__(self, refresh_seconds: float = 1.0) -> None:
        self.values: dict[str, int] = {}
        self.refresh_seconds = refresh_seconds
        self.listening = False  # PostgreSQL: notifications arrive, memory is current
        self._loaded_at = float("-inf")
        self.task: asyncio.Task[None] | None = None

    def merge(self, values: Mapping[str, int]) -> None:
        for name, value in values.items():
            if value > self.values.get(name, 0):
                self.values[name] = value

    async def reload(self, db: Database) -> None:
        async with db.session(write=False) as session:
            self.merge(await stored_revisions(session))

    async def current(self, db: Database) -> dict[str, int]:
        """The revisions; re-read from the database only when no notifications arrive and they are old."""
        if not self.listening:
            now = time.monotonic()
            if now - self._loaded_at >= self.refresh_seconds:
                self._loaded_at = now  # concurrent requests keep the values they have meanwhile
                try:
                    await self.reload(db)
                except BaseException:
                    self._loaded_at = float("-inf")
                    raise
        return self.values

    # --- PostgreSQL: LISTEN ------------------------------------------------------------------
    def start(self, db: Database) -> None:
        if db.dialect == "postgresql":
            self.task = asyncio.create_task(self.listen(db), name="vtn-revisions-listen")

    async def stop(self) -> None:
        await background.cancel(self.task)
        self.task = None
        self.listening = False

    async def listen(self, db: Database) -> None:
        import asyncpg

        dsn = make_url(db.url).set(drivername="postgresql").render_as_string(hide_password=False)
        while True:
            connection = None
            try:
                connection = await asyncpg.connect(dsn)
                closed = asyncio.Event()
                connection.add_termination_listener(lambda *_a, closed=closed: closed.set())
                await connection.add_listener(PG_CHANNEL, lambda *args: self.merge(parse_payload(str(args[3]))))
                await self.reload(db)  # whatever was committed before the LISTEN took effect
                self.listening = True
                while not closed.is_set():
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(closed.wait(), LISTENER_PING_SECONDS)
                    if not closed.is_set():
                        await connection.fetchval("SELECT 1", timeout=LISTENER_PING_SECONDS)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("revisions listener failed (%s); re-reading revisions meanwhile", exc)
            finally:
                self.listening = False
                self._loaded_at = float("-inf")
                if connection is not None:
                    with contextlib.suppress(Exception):
                        await connection.close()
            await asyncio.sleep(1.0)
