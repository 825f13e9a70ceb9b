"""Wiring of notifications and polling into the app: routers, the poll path's caches, and the background tasks."""

from __future__ import annotations

from fastapi import FastAPI

from vtn.auth.privacy import Viewers
from vtn.core.settings import Settings
from vtn.notifications import (
    mqtt,
    outbox,  # noqa: F401 - registers the change listener
)
from vtn.notifications.admin import router as admin_router
from vtn.notifications.router import router as notifiers_router
from vtn.notifications.signing import WebhookSigner, well_known_router
from vtn.notifications.worker import DeliveryWorker
from vtn.subscriptions.polling import Heartbeats, Representations, start_heartbeats, stop_heartbeats
from vtn.subscriptions.revisions import SESSION_KEY, Revisions


def install_notifications(app: FastAPI, settings: Settings) -> None:
    app.state.webhook_signer = WebhookSigner(app.state.db)
    app.state.heartbeats = Heartbeats()
    # the poll path's memory: change revisions (shared with the database's sessions, which bump them),
    # VEN grants per revision, GET bodies per ETag
    app.state.revisions = app.state.db.info[SESSION_KEY] = Revisions(settings.revision_refresh_seconds)
    app.state.viewers = Viewers(settings.grant_cache_entries)
    app.state.representations = Representations(settings.poll_cache_entries, settings.poll_cache_bytes)
    app.state.delivery_worker = None
    app.state.heartbeat_task = None
    app.include_router(admin_router, prefix=settings.base_path)
    app.include_router(well_known_router)
    if settings.mqtt_url:  # the change listener writes MQTT outbox rows for the sessions of this database
        app.state.db.info[mqtt.SESSION_KEY] = mqtt.Topics(settings.mqtt_topic_prefix.strip("/"))
    if settings.base_path_31 and settings.base_path_31 != settings.base_path:  # in the 3.1.0 document, not the 3.0.1 one
        app.include_router(notifiers_router, prefix=settings.base_path_31, include_in_schema=False)


async def start_notifications(app: FastAPI) -> None:
    settings: Settings = app.state.settings
    app.state.heartbeat_task = await start_heartbeats(app.state, app.state.db, settings.heartbeat_flush_seconds)
    app.state.revisions.start(app.state.db)  # PostgreSQL: LISTEN for other processes' writes
    if settings.delivery_enabled:
        worker = DeliveryWorker(app.state.db, settings, app.state.webhook_signer)
        await worker.start()
        app.state.delivery_worker = worker


async def stop_notifications(app: FastAPI) -> None:
    if app.state.delivery_worker is not None:
        await app.state.delivery_worker.stop()
        app.state.delivery_worker = None
    await stop_heartbeats(app.state.heartbeat_task, app.state, app.state.db)
    await app.state.revisions.stop()
    app.state.heartbeat_task = None
