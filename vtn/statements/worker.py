"""The background task that issues monthly statements (docs/gb-profile.md §6.9).

Every `gb_statement_worker_seconds` each VTN process runs one round (`service.run_due`) in a write transaction.
Several processes may run it: on PostgreSQL a round takes a transaction advisory lock with try-lock (the others skip
that round) and (operator, fsp, month, version) is unique, so a version is never issued twice; on SQLite the single
writer serialises rounds and each round re-reads the latest versions inside its transaction.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI

from vtn.core import background
from vtn.core.database import Database
from vtn.statements.service import run_due

log = logging.getLogger("vtn.statements")


async def run_round(db: Database, nothing_owed: dict[tuple[str, str, str], str]) -> int:
    async with db.session() as session:
        return len(await run_due(session, nothing_owed=nothing_owed))


def start_statements(app: FastAPI) -> None:
    settings = app.state.settings
    nothing_owed: dict[tuple[str, str, str], str] = {}  # this process's rounds: FSPs owed no adjustment (run_due)
    app.state.statement_task = background.start(
        settings.gb_statement_worker_seconds, lambda: run_round(app.state.db, nothing_owed), log, "statement round",
        enabled=settings.gb_statements)


async def stop_statements(app: FastAPI) -> None:
    await background.cancel(getattr(app.state, "statement_task", None))
    app.state.statement_task = None
