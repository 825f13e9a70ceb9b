"""ASGI middleware guarding request bodies: size limit (413) and media type (415)."""

from __future__ import annotations

from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from vtn.core.errors import problem_response

BODY_METHODS = {"POST", "PUT", "PATCH"}
JSON_TYPES = ("application/json",)


def _is_json(content_type: str) -> bool:
    media = content_type.split(";")[0].strip().lower()
    return media in JSON_TYPES or media.endswith("+json")


class BodyGuard:
    """Refuses bodies over `max_bytes` and non-JSON bodies on JSON endpoints.

    The token endpoint takes a form body, so paths in `form_paths` are exempt from the
    media-type check (not from the size limit); so is everything under `form_prefix` (the
    console's HTML forms).
    """

    def __init__(
        self, app: ASGIApp, max_bytes: int, form_paths: tuple[str, ...] = (), form_prefix: str | None = None
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.form_paths = form_paths
        self.form_prefix = form_prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in BODY_METHODS:
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        length = headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_bytes):
            await self._reject(scope, receive, send, 413, f"request body larger than {self.max_bytes} bytes")
            return
        content_type = headers.get("content-type")
        path: str = scope["path"]
        is_form_path = any(path.endswith(p) for p in self.form_paths) or bool(
            self.form_prefix and (path == self.form_prefix or path.startswith(self.form_prefix + "/"))
        )
        if content_type and not is_form_path and not _is_json(content_type):
            await self._reject(
                scope, receive, send, 415, f"content type {content_type!r} is not supported; send application/json"
            )
            return

        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge
            return message

        try:
            await self.app(scope, limited_receive, send)
        except BodyTooLarge:
            await self._reject(scope, receive, send, 413, f"request body larger than {self.max_bytes} bytes")

    async def _reject(self, scope: Scope, receive: Receive, send: Send, status: int, detail: str) -> None:
        response = problem_response(status, detail)
        await response(scope, receive, send)


class BodyTooLarge(Exception):
    pass


def header_dict(scope: dict[str, Any]) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
