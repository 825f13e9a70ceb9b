"""JSON responses built from stored wire documents.

Documents were validated on the way in and are stored in wire form, so reads send them as
they are: no per-request model validation, which keeps list endpoints cheap.
"""

from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse

from vtn.core.errors import PROBLEM_MEDIA_TYPE


class JSONText(bytes):
    """A JSON body already serialised: a list page joined from the stored documents' texts.

    `vtn.core.store.ObjectStore.list_json` selects the document column as text and joins a page's
    texts, so a list is sent without decoding and re-encoding every document. The texts are the
    database's own (SQLite: as written; PostgreSQL: jsonb's output), so the bytes may differ from a
    re-encoding in insignificant whitespace and escapes; the JSON value and key order are the same.
    """

    @classmethod
    def array(cls, texts: list[str]) -> JSONText:
        return cls(("[" + ",".join(texts) + "]").encode())


def object_response(document: dict[str, Any], status: int = 200,
                    headers: list[tuple[str, str]] | None = None) -> JSONResponse:
    response = JSONResponse(document, status_code=status)
    for name, value in headers or ():
        response.headers.append(name, value)  # a name may repeat (one header per warning)
    return response


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
