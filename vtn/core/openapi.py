"""The served OpenAPI document uses the spec's schema names and the spec's own schemas."""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

import yaml
from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from openadr3 import spec_path

SPEC_NAMES = {
    "Program": "program", "Event": "event", "Report": "report", "Subscription": "subscription",
    "Ven": "ven", "Resource": "resource", "Interval": "interval", "IntervalPeriod": "intervalPeriod",
    "ValuesMap": "valuesMap", "Point": "point", "EventPayloadDescriptor": "eventPayloadDescriptor",
    "ReportPayloadDescriptor": "reportPayloadDescriptor", "ReportDescriptor": "reportDescriptor",
    "Problem": "problem", "ClientCredentialResponse": "clientCredentialResponse", "AuthError": "authError",
    "Notification": "notification",
}


@lru_cache
def official_schemas(version: str = "3.0.1") -> dict[str, Any]:
    with open(spec_path(version)) as handle:
        schemas = yaml.safe_load(handle)["components"]["schemas"]
    return json.loads(json.dumps(schemas, default=str))  # YAML examples parse as datetimes


def install_openapi(app: FastAPI, base_path: str, extra_paths: dict[str, Any] | None = None) -> None:
    def build() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        document = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes,
            servers=[{"url": base_path or "/", "description": "base path"}],
        )
        # Paths are relative to the server URL, as in the spec.
        document["paths"] = {
            (p[len(base_path):] or "/") if base_path and p.startswith(base_path) else p: v
            for p, v in document["paths"].items()
        }
        text = json.dumps(document)
        for ours, theirs in SPEC_NAMES.items():
            text = text.replace(f'"#/components/schemas/{ours}"', f'"#/components/schemas/{theirs}"')
        document = json.loads(text)
        schemas = document.setdefault("components", {}).setdefault("schemas", {})
        for ours in SPEC_NAMES:
            schemas.pop(ours, None)
        schemas.update(official_schemas())
        app.openapi_schema = document
        return document

    app.openapi = build  # type: ignore[method-assign]
