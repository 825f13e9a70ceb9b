"""Wiring of notifications into the app: routers, middleware, and the background tasks."""

from __future__ import annotations

from fastapi import FastAPI

from vtn.core.settings import Settings
from vtn.subscriptions import notifications  # noqa: F401 - registers the change listener
from vtn.subscriptions.admin import router as admin_router
from vtn.subscriptions.delivery import DeliveryWorker
from vtn.subscriptions.polling import Heartbeats, PollingMiddleware, start_heartbeats, stop_heartbeats
from vtn.subscriptions.signing import WebhookSigner, well_known_router


def install_notifications(app: FastAPI, settings: Settings) -> None:
    app.state.webhook_signer = WebhookSigner(app.state.db)
    app.state.heartbeats = Heartbeats()
    app.state.delivery_worker = None
    app.state.heartbeat_task = None
    app.include_router(admin_router, prefix=settings.base_path)
    app.include_router(well_known_router)
    app.add_middleware(PollingMiddleware, base=settings.base_path)


async def start_notifications(app: FastAPI) -> None:
    settings: Settings = app.state.settings
    app.state.heartbeat_task = await start_heartbeats(app.state, app.state.db, settings.heartbeat_flush_seconds)
    if settings.delivery_enabled:
        worker = DeliveryWorker(app.state.db, settings, app.state.webhook_signer)
        await worker.start()
        app.state.delivery_worker = worker


async def stop_notifications(app: FastAPI) -> None:
    if app.state.delivery_worker is not None:
        await app.state.delivery_worker.stop()
        app.state.delivery_worker = None
    await stop_heartbeats(app.state.heartbeat_task, app.state, app.state.db)
    app.state.heartbeat_task = None
