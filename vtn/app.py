"""The VTN application: one FastAPI app serving the OpenADR 3.0.1 API under its base path."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import IntegrityError

from vtn.audit.router import router as audit_router
from vtn.auth.authenticator import build_authenticator
from vtn.auth.dependencies import UnchangedPolls, read_paths
from vtn.auth.router import router as auth_router
from vtn.auth.router import server_info, well_known
from vtn.auth.tls import TrustedProxyCertMiddleware
from vtn.auth.tokens import TokenService
from vtn.contracts.acks import AckWatcher
from vtn.contracts.router import router as contracts_router
from vtn.core.database import Database
from vtn.core.errors import install_error_handlers, problem_response
from vtn.core.logs import configure_logging
from vtn.core.middleware import BodyGuard
from vtn.core.offload import CpuPool
from vtn.core.openapi import install_openapi
from vtn.core.security import Scope
from vtn.core.settings import Settings, get_settings
from vtn.core.versions import install_openapi_31
from vtn.delivery.router import admin_router as delivery_admin_router
from vtn.delivery.router import router as delivery_router
from vtn.delivery.worker import start_delivery_reports, stop_delivery_reports
from vtn.events.router import admin_router as event_admin_router
from vtn.events.router import router as events_router
from vtn.events.router31 import router as events_router_31
from vtn.gb.router import router as gb_router
from vtn.notifications.setup import install_notifications, start_notifications, stop_notifications
from vtn.programs.router import router as programs_router
from vtn.programs.router31 import router as programs_router_31
from vtn.reports.router import router as reports_router
from vtn.reports.router31 import router as reports_router_31
from vtn.statements.router import admin_router as statements_admin_router
from vtn.statements.router import router as statements_router
from vtn.statements.worker import start_statements, stop_statements
from vtn.subscriptions.router import router as subscriptions_router
from vtn.subscriptions.router31 import router as subscriptions_router_31
from vtn.vens.router import router as vens_router
from vtn.vens.router31 import router as vens_router_31

log = logging.getLogger("vtn")

DESCRIPTION = (
    "OpenADR 3.0.1 VTN for Great Britain's flexibility market. The API follows "
    "openadr3.yaml (OpenADR Alliance, Apache-2.0); errors are application/problem+json."
)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    configure_logging(settings.log_level, settings.log_format)
    base = settings.base_path

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await start_notifications(app)
        app.state.ack_watcher = AckWatcher(app.state.db, settings.gb_ack_check_seconds)
        app.state.ack_watcher.start()
        start_delivery_reports(app)
        start_statements(app)
        log.info("VTN serving %s on %s", base or "/", app.state.db.dialect)
        yield
        await stop_statements(app)
        await stop_delivery_reports(app)
        await app.state.ack_watcher.stop()
        await stop_notifications(app)
        app.state.offload.close()
        await app.state.db.dispose()
        log.debug("VTN stopped")

    app = FastAPI(
        title="OpenADR 3 API",
        version="3.0.1",
        description=DESCRIPTION,
        lifespan=lifespan,
        openapi_url=f"{base}/openapi.json",
        docs_url=None,
        redoc_url=None,
        separate_input_output_schemas=False,
    )
    db = Database(settings.database_url, settings.db_pool_size)
    issuer = (settings.public_url or f"http://{settings.host}:{settings.port}").rstrip("/")
    tokens = TokenService(db, issuer, settings.token_audience or issuer, settings.token_lifetime_seconds)
    app.state.settings = settings
    app.state.db = db
    app.state.tokens = tokens
    app.state.scopes = {s.value for s in Scope}
    app.state.offload = CpuPool(settings.offload_processes, settings.offload_concurrency)
    app.state.authenticator = build_authenticator(settings, db, tokens)

    install_error_handlers(app)

    async def integrity_error(_request: object, exc: Exception) -> JSONResponse:
        log.info("integrity conflict: %s", exc)
        return problem_response(409, "the request conflicts with stored data (a duplicate or a dangling reference)")

    app.add_exception_handler(IntegrityError, integrity_error)

    for router in (programs_router, reports_router, events_router, subscriptions_router, vens_router):
        app.include_router(router, prefix=base)
    app.include_router(audit_router, prefix=base)
    app.include_router(gb_router, prefix=base)
    app.include_router(contracts_router, prefix=base)
    app.include_router(event_admin_router, prefix=base)
    app.include_router(delivery_admin_router, prefix=base)
    app.include_router(delivery_router, prefix=base)
    app.include_router(statements_admin_router, prefix=base)
    app.include_router(statements_router, prefix=base)
    if settings.auth_mode == "builtin":
        app.include_router(auth_router, prefix=base)
    app.include_router(well_known)
    # OpenADR 3.1.0 over the same store (docs/openadr-3.1.md); /notifiers is added by the notifications package
    base_31 = settings.base_path_31
    if base_31 and base_31 != base:
        for router in (programs_router_31, reports_router_31, events_router_31, subscriptions_router_31, vens_router_31,
                       server_info):
            app.include_router(router, prefix=base_31, include_in_schema=False)
        if settings.auth_mode == "builtin":
            app.include_router(auth_router, prefix=base_31, include_in_schema=False)
        install_openapi_31(app, base_31)

    # Swagger UI from the vendored swagger-ui-dist (vtn/static/swagger, THIRD_PARTY.md): no CDN at run time
    app.mount("/static/swagger", StaticFiles(directory=Path(__file__).parent / "static" / "swagger"), name="swagger-static")

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=f"{base}/openapi.json",
            title="OpenADR 3 VTN",
            swagger_js_url="/static/swagger/swagger-ui-bundle.js",
            swagger_css_url="/static/swagger/swagger-ui.css",
            swagger_favicon_url="/static/swagger/favicon-32x32.png",
        )

    @app.get("/health", include_in_schema=False)
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    if settings.console_enabled:  # the operator/FSP web console, a sub-application with its own error pages
        from vtn.console.router import install_console

        install_console(app, settings)
    install_notifications(app, settings)
    install_openapi(app, base)
    # innermost: a VEN's unchanged poll is a 304 before routing (vtn.auth.dependencies)
    app.add_middleware(UnchangedPolls, paths=read_paths(base, (
        programs_router, reports_router, events_router, subscriptions_router, vens_router)))
    app.add_middleware(
        BodyGuard,
        max_bytes=settings.max_body_bytes,
        form_paths=("/auth/token", "/auth/login"),
        form_prefix=settings.console_path if settings.console_enabled else None,
    )
    if settings.trusted_proxy_cert_header:  # keep last: outermost, sees the real TCP peer
        app.add_middleware(TrustedProxyCertMiddleware, header=settings.trusted_proxy_cert_header,
                           trusted_proxies=settings.trusted_proxies)
    return app
