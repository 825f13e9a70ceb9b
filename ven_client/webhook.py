"""The push-mode receiver: a small ASGI app the VTN POSTs notifications to.

Every request must carry
- `Authorization: Bearer <token>`: the random bearerToken the VEN put in its subscription;
- Standard Webhooks headers `webhook-id`, `webhook-timestamp` and `webhook-signature: v1a,<base64>`,
  an ed25519 signature over `{id}.{timestamp}.{body}` by a key the VTN publishes at
  `{vtn}/.well-known/webhook-keys`.
Deliveries are retried by the VTN, so a `webhook-id` already seen is acknowledged and dropped.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from openadr3.models import Notification

log = logging.getLogger("ven_client.webhook")
WELL_KNOWN_KEYS = "/.well-known/webhook-keys"


class SignatureError(Exception):
    pass


def _b64decode(text: str) -> bytes:
    text = text.strip()
    padded = text + "=" * (-len(text) % 4)
    try:
        if "-" in text or "_" in text:
            return base64.urlsafe_b64decode(padded)
        return base64.b64decode(padded, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise SignatureError("not base64") from exc


def _public_key(raw: str) -> Ed25519PublicKey | None:
    text = raw.removeprefix("whpk_")
    try:
        data = _b64decode(text)
    except SignatureError:
        return None
    if len(data) != 32:
        return None
    return Ed25519PublicKey.from_public_bytes(data)


def parse_public_keys(document: Any) -> list[Ed25519PublicKey]:
    """ed25519 public keys found in the VTN's key document.

    Accepts a JWKS (`{"keys": [{"kty": "OKP", "crv": "Ed25519", "x": …}]}`) and Standard Webhooks style
    entries (`"whpk_<base64>"`, or objects with `publicKey`/`public_key`/`key`), so the VEN does not
    depend on one exact shape.
    """
    found: list[Ed25519PublicKey] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("crv") == "Ed25519" and isinstance(node.get("x"), str):
                key = _public_key(node["x"])
                if key is not None:
                    found.append(key)
                return
            for name in ("publicKey", "public_key", "key"):
                if isinstance(node.get(name), str):
                    key = _public_key(node[name])
                    if key is not None:
                        found.append(key)
                        return
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)
        elif isinstance(node, str) and node.startswith("whpk_"):
            key = _public_key(node)
            if key is not None:
                found.append(key)

    walk(document)
    return found


def verify_signature(keys: list[Ed25519PublicKey], message_id: str, timestamp: str, body: bytes,
                     signature_header: str, tolerance: float = 300.0, now: float | None = None) -> None:
    """Raise SignatureError unless one `v1a` signature in the header verifies with one of `keys`."""
    if not message_id or not timestamp or not signature_header:
        raise SignatureError("missing webhook-id, webhook-timestamp or webhook-signature")
    try:
        sent = int(timestamp)
    except ValueError as exc:
        raise SignatureError("webhook-timestamp is not an integer") from exc
    now = time.time() if now is None else now
    if abs(now - sent) > tolerance:
        raise SignatureError("webhook-timestamp outside the tolerance window")
    if not keys:
        raise SignatureError("no webhook public key known")
    signed = f"{message_id}.{timestamp}.".encode() + body
    for candidate in signature_header.split():
        version, _, value = candidate.partition(",")
        if version != "v1a":
            continue
        try:
            signature = _b64decode(value)
        except SignatureError:
            continue
        for key in keys:
            try:
                key.verify(signature, signed)
                return
            except InvalidSignature:
                continue
    raise SignatureError("no valid v1a signature")


class KeyStore:
    """The VTN's webhook public keys, fetched on first use and again (rate limited) on a failed check."""

    def __init__(self, fetch: Callable[[], Awaitable[Any]], min_refresh_seconds: float = 30.0) -> None:
        self._fetch = fetch
        self.keys: list[Ed25519PublicKey] = []
        self.available: bool | None = None  # None: not fetched yet; False: the VTN publishes none
        self._last_fetch = 0.0
        self.min_refresh_seconds = min_refresh_seconds

    async def refresh(self, force: bool = False) -> bool:
        if not force and time.monotonic() - self._last_fetch < self.min_refresh_seconds and self.available is not None:
            return False
        self._last_fetch = time.monotonic()
        try:
            document = await self._fetch()
        except Exception as exc:  # the VTN may be down; keep the keys we have
            log.warning("cannot fetch webhook keys", extra={"error": repr(exc)})
            return False
        if document is None:
            self.available = False
            return False
        self.keys = parse_public_keys(document)
        self.available = bool(self.keys)
        return True


NotificationHandler = Callable[[Notification, str], Awaitable[None]]


class WebhookReceiver:
    """Checks, de-duplicates and hands notifications to `on_notification(notification, webhook_id)`."""

    def __init__(self, bearer_token: str, on_notification: NotificationHandler, keys: KeyStore | None,
                 signatures: str = "require", path: str = "/openadr/notifications", tolerance: float = 300.0,
                 dedupe_size: int = 4096, convert: Callable[[Any], Any] | None = None) -> None:
        self.bearer_token = bearer_token
        self.convert = convert  # a 3.1.0 notification in the VEN's 3.0.1 terms (openadr3.wire)
        self.on_notification = on_notification
        self.keys = keys
        self.signatures = signatures
        self.tolerance = tolerance
        self.path = path
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._dedupe_size = dedupe_size
        self.rejected = 0
        self.duplicates = 0
        self.accepted = 0
        self.app = Starlette(routes=[Route(path, self.handle, methods=["POST"]),
                                     Route(path, self.echo, methods=["GET"]),
                                     Route("/health", self.health, methods=["GET"])])

    async def echo(self, request: Request) -> Response:
        """The 3.1.0 callback ownership check (Definition, webhook security): GET ?echo=<value> answers the value."""
        value = request.query_params.get("echo")
        if value is None:
            return JSONResponse({"error": "POST notifications here"}, status_code=405)
        return Response(value, media_type="text/plain")

    async def health(self, request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    def _reject(self, status: int, reason: str) -> Response:
        self.rejected += 1
        log.warning("notification rejected", extra={"status": status, "reason": reason})
        return JSONResponse({"error": reason}, status_code=status)

    async def _check_signature(self, request: Request, body: bytes) -> str | None:
        """None if acceptable, else the reason."""
        if self.signatures == "off" or self.keys is None:
            return None
        if self.keys.available is None:
            await self.keys.refresh(force=True)
        if not self.keys.available and self.signatures == "if-available":
            return None
        headers = request.headers
        args = (headers.get("webhook-id", ""), headers.get("webhook-timestamp", ""), body,
                headers.get("webhook-signature", ""), self.tolerance)
        try:
            verify_signature(self.keys.keys, *args)
            return None
        except SignatureError as first:
            if str(first).startswith(("missing", "webhook-timestamp")):
                return str(first)
            if await self.keys.refresh():  # the VTN may have rotated its key
                try:
                    verify_signature(self.keys.keys, *args)
                    return None
                except SignatureError as second:
                    return str(second)
            return str(first)

    async def handle(self, request: Request) -> Response:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), self.bearer_token.encode()):
            return self._reject(401, "wrong or missing bearer token")
        body = await request.body()
        reason = await self._check_signature(request, body)
        if reason:
            return self._reject(401, f"invalid signature: {reason}")
        message_id = request.headers.get("webhook-id", "")
        if message_id and message_id in self._seen:
            self.duplicates += 1
            return Response(status_code=204)
        try:
            data = json.loads(body)
            notification = Notification.model_validate(self.convert(data) if self.convert else data)
        except (ValueError, ValidationError) as exc:
            return self._reject(400, f"not an OpenADR notification: {exc}")
        if message_id:
            self._seen[message_id] = None
            while len(self._seen) > self._dedupe_size:
                self._seen.popitem(last=False)
        self.accepted += 1
        await self.on_notification(notification, message_id)
        return Response(status_code=204)
