"""problem+json errors (RFC 9457 / the spec's `problem` schema) for every failure path.

Handlers turn FastAPI's 422, Starlette's 404/405 and any unexpected exception into a problem
body; a real server fault is logged with a reference id and answered without internals.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger("vtn.errors")

PROBLEM_MEDIA_TYPE = "application/problem+json"


class ApiError(Exception):
    """An error answered as problem+json with `status`."""

    status: int = 500

    def __init__(self, detail: str, *, status: int | None = None, headers: dict[str, str] | None = None,
                 extra: dict[str, Any] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        if status is not None:
            self.status = status
        self.headers = headers or {}
        self.extra = extra or {}


class BadRequest(ApiError):
    status = 400


class Unauthorized(ApiError):
    status = 401

    def __init__(self, detail: str, *, error: str = "invalid_token") -> None:
        challenge = f'Bearer realm="openadr3", error="{error}", error_description="{detail}"'
        if error == "missing":
            challenge = 'Bearer realm="openadr3"'
        super().__init__(detail, headers={"WWW-Authenticate": challenge})


class Forbidden(ApiError):
    status = 403


class NotFound(ApiError):
    status = 404


class Conflict(ApiError):
    status = 409


NOT_REPRESENTABLE_TYPE = "tag:gb-openadr3,2026:problem/not-in-3.0.1"


class NotRepresentable(NotFound):
    """An object the 3.0.1 API cannot show because only 3.1.0 can express it (docs/openadr-3.1.md): a 404, the
    status 3.0.1 declares for by-id operations, with its own problem `type` so a client can tell it apart."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail, extra={"type": NOT_REPRESENTABLE_TYPE, "availableIn": "3.1.0"})


class PayloadTooLarge(ApiError):
    status = 413


class UnsupportedMediaType(ApiError):
    status = 415


def problem_response(status: int, detail: str, *, headers: dict[str, str] | None = None,
                     extra: dict[str, Any] | None = None) -> JSONResponse:
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
    }
    body.update(extra or {})
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_MEDIA_TYPE)


def _location(loc: Sequence[Any]) -> str:
    parts = [str(p) for p in loc if p not in ("body",)]
    return ".".join(parts) if parts else "body"


def describe_validation_errors(errors: Sequence[dict[str, Any]]) -> tuple[str, list[dict[str, str]]]:
    """A one-line summary and a list of {field, message} for a validation failure."""
    items = []
    for err in errors:
        loc = list(err.get("loc", ()))
        if err.get("type") == "json_invalid":
            return "request body is not valid JSON", [{"field": "body", "message": err.get("msg", "")}]
        # Union and function-validator noise: keep the human part of the location only.
        loc = [p for p in loc if not (isinstance(p, str) and ("[" in p or p.startswith("function-")))]
        items.append({"field": _location(loc), "message": err.get("msg", "invalid")})
    summary = "; ".join(f"{i['field']}: {i['message']}" for i in items[:5])
    return summary or "invalid request", items


async def _api_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return problem_response(exc.status, exc.detail, headers=exc.headers, extra=exc.extra)


async def _validation_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    summary, items = describe_validation_errors(exc.errors())
    return problem_response(400, summary, extra={"errors": items})


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    status = exc.status_code
    if status == 404:
        detail = exc.detail if exc.detail != "Not Found" else f"no resource at {request.url.path}"
    elif status == 405:
        detail = f"method {request.method} is not allowed on {request.url.path}"
    else:
        detail = str(exc.detail)
    return problem_response(status, detail, headers=dict(exc.headers or {}))


async def _unexpected_error(request: Request, exc: Exception) -> Response:
    reference = uuid.uuid4().hex
    log.exception("unhandled error %s on %s %s", reference, request.method, request.url.path)
    return problem_response(500, f"internal server error (reference {reference})")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected_error)


def problem_schema_ref() -> dict[str, str]:
    return {"$ref": "#/components/schemas/problem"}
