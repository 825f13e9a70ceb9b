"""The background task that issues delivery reports (docs/gb-profile.md §6.8).

Every `gb_delivery_worker_seconds` each VTN process runs one round (`service.issue_due`) in a write transaction.
Several processes may run it: on PostgreSQL a round takes a transaction advisory lock with try-lock (the others
skip that round) and (event, version) is unique, so a report is never issued twice; on SQLite the database's single
writer serialises rounds and each round re-reads what is due inside its transaction. A report is therefore issued
at most delay + interval after the dispatch ends (defaults 30 min + 1 min: within the hour).
"""

from __future__ import annotations

import logging

from fastapi import FastAPI

from vtn.core import background
from vtn.core.database import Database
from vtn.core.settings import Settings
from vtn.delivery.service import issue_due

log = logging.getLogger("vtn.delivery")


async def run_round(db: Database, settings: Settings) -> int:
    async with db.session() as session:
        return len(await issue_due(session, settings))


def start_delivery_reports(app: FastAPI) -> None:
    settings: Settings = app.state.settings
    app.state.delivery_report_task = background.start(
        settings.gb_delivery_worker_seconds, lambda: run_round(app.state.db, settings), log, "delivery report round",
        enabled=settings.gb_delivery_reports)


async def stop_delivery_reports(app: FastAPI) -> None:
    await background.cancel(getattr(app.state, "delivery_report_task", None))
    app.state.delivery_report_task = None
