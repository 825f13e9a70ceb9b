"""The webhook transport: one signed HTTP POST per outbox row to its callbackUrl, through the SSRF guard.

Headers: `Content-Type`, `User-Agent`, the Standard Webhooks signature (`signing.py`) and the subscription
entry's bearer token. A 2xx is delivered; anything else is a failed attempt with its status (the worker
decides retry or dead letter). Redirects are never followed; no cookies, no proxies from the environment.

The client is aiohttp (C-accelerated HTTP parsing): a delivery costs about a fifth of the CPU it cost with
httpx2 (0.2 against 0.9-1.0 ms per POST with the loopback receiver, docs/benchmarks.md), which is what bounds
a fan-out. The SSRF guard is its resolver (`callbacks.GuardedResolver`: every connection's addresses vetted,
the vetted IP connected to) plus `callbacks.check_literal` for IP-literal hosts, which aiohttp never resolves.
"""

from __future__ import annotations

import contextlib
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

import aiohttp

from vtn.core.database import utcnow
from vtn.core.settings import Settings
from vtn.notifications.callbacks import GuardedResolver, allowed_networks, check_literal
from vtn.notifications.models import OutboxRow
from vtn.notifications.signing import WebhookSigner
from vtn.notifications.transports import Attempt

USER_AGENT = "gb-openadr3-vtn/0.1 (webhooks)"
KEEPALIVE_SECONDS = 30.0


def retry_after_seconds(value: str | None) -> float | None:
    if not value:
        return None
    if value.strip().isdigit():
        return float(value.strip())
    with contextlib.suppress(TypeError, ValueError):
        return max(0.0, (parsedate_to_datetime(value) - utcnow()).total_seconds())
    return None


def make_session(settings: Settings) -> aiohttp.ClientSession:
    """The delivery worker's HTTP client: every connection through the SSRF guard, bounded in number."""
    connector = aiohttp.TCPConnector(
        resolver=GuardedResolver(settings.callback_allowed_networks),
        use_dns_cache=False,  # resolve and vet at every new connection: no rebinding window, no stale answer
        limit=max(1, settings.delivery_max_in_flight),
        keepalive_timeout=KEEPALIVE_SECONDS,
    )
    timeout = aiohttp.ClientTimeout(total=settings.delivery_timeout_seconds,
                                    sock_connect=min(5.0, settings.delivery_timeout_seconds))
    return aiohttp.ClientSession(connector=connector, timeout=timeout, cookie_jar=aiohttp.DummyCookieJar(),
                                 auto_decompress=False, trust_env=False, raise_for_status=False)


class WebhookTransport:
    name = "webhook"

    def __init__(self, settings: Settings, signer: WebhookSigner) -> None:
        self.settings = settings
        self.signer = signer
        self.allowed = allowed_networks(tuple(settings.callback_allowed_networks))
        self.session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        self.session = make_session(self.settings)

    async def stop(self) -> None:
        if self.session is not None:
            await self.session.close()
            self.session = None

    async def send(self, row: OutboxRow) -> Attempt:
        assert self.session is not None, "WebhookTransport.start() first"
        check_literal(urlsplit(row.callback_url).hostname or "", self.allowed)
        body = row.body.encode()
        headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT}
        headers.update(await self.signer.headers(row.message_id, body))
        if row.bearer_token:
            headers["Authorization"] = f"Bearer {row.bearer_token}"
        async with self.session.post(row.callback_url, data=body, headers=headers, allow_redirects=False) as response:
            await response.read()
            status = response.status
            retry_after = response.headers.get("retry-after")
        if 200 <= status < 300:
            return Attempt(status)
        error = f"HTTP {status}" + (" (redirects are not followed)" if 300 <= status < 400 else "")
        return Attempt(status, error, retry_after_seconds(retry_after))
