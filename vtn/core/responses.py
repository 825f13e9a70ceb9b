"""JSON responses built from stored wire documents.

Documents were validated on the way in and are stored in wire form, so reads send them as
they are: no per-request model validation, which keeps list endpoints cheap.
"""

from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse

from vtn.core.errors import PROBLEM_MEDIA_TYPE


def object_response(document: dict[str, Any], status: int = 200) -> JSONResponse:
    return JSONResponse(document, status_code=status)


def list_response(documents: list[dict[str, Any]]) -> JSONResponse:
    return JSONResponse(documents)


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` entries declaring problem bodies for `statuses`."""
    from vtn.core.errors import problem_schema_ref

    return {
        status: {"description": description, "content": {PROBLEM_MEDIA_TYPE: {"schema": problem_schema_ref()}}}
        for status, description in _DESCRIPTIONS.items()
        if status in statuses
    }


_DESCRIPTIONS = {
    400: "Bad Request.",
    401: "Unauthorized: no, invalid or expired token.",
    403: "Forbidden: the token lacks the required scope.",
    404: "Not Found.",
    409: "Conflict. Implementation dependent response if program with the same name exists.",
    413: "Payload Too Large.",
    415: "Unsupported Media Type.",
    500: "Internal Server Error.",
}
