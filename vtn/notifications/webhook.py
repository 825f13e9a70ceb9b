"""The webhook transport: one signed HTTP POST per outbox row to its callbackUrl, through the SSRF guard.

Headers: `Content-Type`, `User-Agent`, the Standard Webhooks signature (`signing.py`) and the subscription
entry's bearer token. A 2xx is delivered; anything else is a failed attempt with its status (the worker
decides retry or dead letter). Redirects are never followed.
"""

from __future__ import annotations

import contextlib
from email.utils import parsedate_to_datetime

import httpx2

from vtn.core.database import utcnow
from vtn.core.settings import Settings
from vtn.notifications.callbacks import GuardedBackend
from vtn.notifications.models import OutboxRow
from vtn.notifications.signing import WebhookSigner
from vtn.notifications.transports import Attempt

USER_AGENT = "gb-openadr3-vtn/0.1 (webhooks)"
KEEPALIVE_PER_CLIENT = 8


def retry_after_seconds(value: str | None) -> float | None:
    if not value:
        return None
    if value.strip().isdigit():
        return float(value.strip())
    with contextlib.suppress(TypeError, ValueError):
        return max(0.0, (parsedate_to_datetime(value) - utcnow()).total_seconds())
    return None


def make_http_transport(settings: Settings, keepalive: int = 20) -> httpx2.AsyncHTTPTransport:
    """A connection pool whose every connection goes through the SSRF guard."""
    in_flight = max(1, settings.delivery_max_in_flight)
    transport = httpx2.AsyncHTTPTransport(
        limits=httpx2.Limits(max_connections=max(100, in_flight), max_keepalive_connections=keepalive, keepalive_expiry=30)
    )
    # httpx2 exposes no network_backend option: install the SSRF guard on the pool (python-stack-notes §4).
    transport._pool._network_backend = GuardedBackend(settings.callback_allowed_networks)
    return transport


def make_timeout(settings: Settings) -> httpx2.Timeout:
    return httpx2.Timeout(settings.delivery_timeout_seconds, connect=min(5.0, settings.delivery_timeout_seconds))


def make_http_client(settings: Settings, keepalive: int = 20) -> httpx2.AsyncClient:
    return httpx2.AsyncClient(transport=make_http_transport(settings, keepalive), timeout=make_timeout(settings),
                              follow_redirects=False)


def make_http_clients(settings: Settings) -> list[httpx2.AsyncClient]:
    """Clients sharing the attempts by callback, each keeping at most KEEPALIVE_PER_CLIENT idle
    connections.

    One pool is a poor fit for 64 concurrent attempts: with 20 idle connections kept, most
    attempts to a busy receiver opened a new TCP connection; with 64 kept, the pool checks every
    connection's socket on each request (O(connections) system calls per request), which then
    cost more than the HTTP exchange. Small pools keep both costs low. Each client may still open
    `delivery_max_in_flight` connections, so no attempt ever waits for a pool slot.
    """
    count = -(-max(1, settings.delivery_max_in_flight) // KEEPALIVE_PER_CLIENT)
    return [make_http_client(settings, KEEPALIVE_PER_CLIENT) for _ in range(count)]


class WebhookTransport:
    """Sends straight through guarded connection pools: the client layer of httpx2 (cookies, auth, redirect and
    event hooks, URL merging) cost a third of the CPU of a delivery, and a webhook needs none of it."""

    name = "webhook"

    def __init__(self, settings: Settings, signer: WebhookSigner) -> None:
        self.settings = settings
        self.signer = signer
        self.pools: list[httpx2.AsyncHTTPTransport] = []
        self.timeout = make_timeout(settings).as_dict()

    async def start(self) -> None:
        # pools sharing the attempts by callback (see make_http_clients for why several small ones)
        count = -(-max(1, self.settings.delivery_max_in_flight) // KEEPALIVE_PER_CLIENT)
        self.pools = [make_http_transport(self.settings, KEEPALIVE_PER_CLIENT) for _ in range(count)]

    async def stop(self) -> None:
        for pool in self.pools:
            await pool.aclose()
        self.pools = []

    async def send(self, row: OutboxRow) -> Attempt:
        # a callback always uses the same pool, so its connections are reused
        pool = self.pools[int(row.callback_key[:8], 16) % len(self.pools)]
        body = row.body.encode()
        headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT}
        headers.update(await self.signer.headers(row.message_id, body))
        if row.bearer_token:
            headers["Authorization"] = f"Bearer {row.bearer_token}"
        request = httpx2.Request("POST", row.callback_url, content=body, headers=headers,
                                 extensions={"timeout": self.timeout})
        response = await pool.handle_async_request(request)  # never follows redirects
        try:
            await response.aread()
        finally:
            await response.aclose()
        status = response.status_code
        if 200 <= status < 300:
            return Attempt(status)
        error = f"HTTP {status}" + (" (redirects are not followed)" if 300 <= status < 400 else "")
        return Attempt(status, error, retry_after_seconds(response.headers.get("retry-after")))
