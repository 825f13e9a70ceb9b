"""The background task that issues monthly statements (docs/gb-profile.md §6.9).

Every `gb_statement_worker_seconds` each VTN process runs one round (`service.run_due`) in a write transaction.
Several processes may run it: on PostgreSQL a round takes a transaction advisory lock with try-lock (the others skip
that round) and (operator, fsp, month, version) is unique, so a version is never issued twice; on SQLite the single
writer serialises rounds and each round re-reads the latest versions inside its transaction.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from fastapi import FastAPI

from vtn.core.database import Database
from vtn.statements.service import run_due

log = logging.getLogger("vtn.statements")


async def run_round(db: Database) -> int:
    async with db.session() as session:
        return len(await run_due(session))


async def _loop(db: Database, interval: float) -> None:
    while True:
        # first round one interval after start: a starting process (or a test's app) does no work at once
        await asyncio.sleep(interval)
        try:
            await run_round(db)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("statement round failed; retrying next round")


def start_statements(app: FastAPI) -> None:
    settings = app.state.settings
    app.state.statement_task = (
        asyncio.create_task(_loop(app.state.db, settings.gb_statement_worker_seconds), name="vtn-statements")
        if settings.gb_statements else None)


async def stop_statements(app: FastAPI) -> None:
    task = getattr(app.state, "statement_task", None)
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
    app.state.statement_task = None
