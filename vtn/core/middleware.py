"""ASGI middleware guarding requests: body size (413), media type (415), U+0000 anywhere (400)."""

from __future__ import annotations

import json
import re
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from vtn.core.errors import problem_response

BODY_METHODS = {"POST", "PUT", "PATCH"}
JSON_TYPES = ("application/json",)
# A \u0000 escape in a JSON text: an odd run of backslashes before u0000 (an even run is literal text).
JSON_NUL_ESCAPE = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")
NUL_DETAIL = "text must not contain the NUL character (U+0000)"


def _is_json(content_type: str) -> bool:
    media = content_type.split(";")[0].strip().lower()
    return media in JSON_TYPES or media.endswith("+json")


class BodyGuard:
    """Refuses bodies over `max_bytes`, non-JSON bodies on JSON endpoints and U+0000 in queries or JSON.

    The token endpoint takes a form body, so paths in `form_paths` are exempt from the
    media-type check (not from the size limit); so is everything under `form_prefix` (the
    console's HTML forms). A body without Content-Type on a JSON endpoint is read as JSON.
    U+0000 is refused because PostgreSQL text and jsonb cannot store it: without this check the
    same request is stored on SQLite and a 500 on PostgreSQL.
    """

    def __init__(
        self, app: ASGIApp, max_bytes: int, form_paths: tuple[str, ...] = (), form_prefix: str | None = None
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.form_paths = form_paths
        self.form_prefix = form_prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if b"%00" in scope.get("query_string", b""):
            await self._reject(scope, receive, send, 400, f"query parameters: {NUL_DETAIL}")
            return
        if scope["method"] not in BODY_METHODS:
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
        if not is_form_path:
            await self._json(scope, receive, send, content_type)
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

    async def _json(self, scope: Scope, receive: Receive, send: Send, content_type: str | None) -> None:
        """Reads the whole (bounded) JSON body first, so it can be checked before the app sees it."""
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            if len(body) > self.max_bytes:
                await self._reject(scope, receive, send, 413, f"request body larger than {self.max_bytes} bytes")
                return
            if not message.get("more_body", False):
                break
        encoding = json.detect_encoding(bytes(body))
        if encoding.startswith(("utf-16", "utf-32")):  # read as the app would, checked and passed on as UTF-8
            try:
                body = bytearray(body.decode(encoding).encode("utf-8", "surrogatepass"))
            except UnicodeError:
                await self._reject(scope, receive, send, 400, f"request body is not valid {encoding}")
                return
        if b"\x00" in body or (b"\\u0000" in body and JSON_NUL_ESCAPE.search(body)):  # the regex only where it can match
            await self._reject(scope, receive, send, 400, f"request body: {NUL_DETAIL}")
            return
        if content_type is None:
            scope = {**scope, "headers": [*scope["headers"], (b"content-type", b"application/json")]}
        pending: list[Message] = [{"type": "http.request", "body": bytes(body), "more_body": False}]

        async def replay() -> Message:
            return pending.pop() if pending else await receive()

        await self.app(scope, replay, send)

    async def _reject(self, scope: Scope, receive: Receive, send: Send, status: int, detail: str) -> None:
        response = problem_response(status, detail)
        await response(scope, receive, send)


class BodyTooLarge(Exception):
    pass


def header_dict(scope: dict[str, Any]) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
