"""The background task that issues delivery reports (docs/gb-profile.md §6.8).

Every `gb_delivery_worker_seconds` each VTN process runs one round (`service.issue_due`) in a write transaction.
Several processes may run it: on PostgreSQL a round takes a transaction advisory lock with try-lock (the others
skip that round) and (event, version) is unique, so a report is never issued twice; on SQLite the database's single
writer serialises rounds and each round re-reads what is due inside its transaction. A report is therefore issued
at most delay + interval after the dispatch ends (defaults 30 min + 1 min: within the hour).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from fastapi import FastAPI

from vtn.core.database import Database
from vtn.core.settings import Settings
from vtn.delivery.service import issue_due

log = logging.getLogger("vtn.delivery")


async def run_round(db: Database, settings: Settings) -> int:
    async with db.session() as session:
        return len(await issue_due(session, settings))


async def _loop(db: Database, settings: Settings) -> None:
    while True:
        # first round one interval after start: a starting process (or a test's app) does no work at once
        await asyncio.sleep(settings.gb_delivery_worker_seconds)
        try:
            await run_round(db, settings)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("delivery report round failed; retrying next round")


def start_delivery_reports(app: FastAPI) -> None:
    settings: Settings = app.state.settings
    app.state.delivery_report_task = (
        asyncio.create_task(_loop(app.state.db, settings), name="vtn-delivery-reports")
        if settings.gb_delivery_reports else None)


async def stop_delivery_reports(app: FastAPI) -> None:
    task = getattr(app.state, "delivery_report_task", None)
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
    app.state.delivery_report_task = None
