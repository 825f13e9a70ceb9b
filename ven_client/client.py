"""An async OpenADR 3.0.1 client: OAuth2 client credentials, retries, typed objects, conditional GETs.

    async with VtnClient("https://vtn.example/openadr3/3.0.1", "ven-a", secret) as vtn:
        for event in await vtn.list_events():
            ...

- Tokens are cached, fetched again shortly before they expire, and at once when the VTN answers 401.
- Network errors, 5xx and 429 are retried with exponential backoff (with jitter), honouring
  `Retry-After`. A POST is retried only when it cannot have reached the VTN (connection refused) or the
  VTN says so (429, 503).
- GETs remember the `ETag` of each URL and send `If-None-Match`; a 304 reuses the cached body.
- A client certificate (mTLS) and a private CA go into one `ssl.SSLContext`.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import random
import ssl
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import httpx2

from openadr3.models import (
    MAX_LIST_LIMIT,
    ClientCredentialResponse,
    Event,
    OpenADRObject,
    Program,
    Report,
    Resource,
    Subscription,
    Ven,
)
from openadr3.wire import adapter as wire_adapter

log = logging.getLogger("ven_client.client")
T = TypeVar("T", bound=OpenADRObject)
RETRY_STATUSES = {429, 500, 502, 503, 504}
POST_RETRY_STATUSES = {429, 503}


class VtnError(Exception):
    """The VTN answered with an error status (after retries)."""

    def __init__(self, status: int, detail: str, body: Any = None) -> None:
        super().__init__(f"VTN answered {status}: {detail}")
        self.status, self.detail, self.body = status, detail, body


class VtnUnavailable(Exception):
    """The VTN could not be reached (after retries)."""


class AuthenticationFailed(VtnError):
    pass


def make_ssl_context(ca_file: str | Path | None = None, client_cert: str | Path | None = None,
                     client_key: str | Path | None = None, key_password: str | None = None) -> ssl.SSLContext:
    """TLS context trusting `ca_file` (default: the system store), presenting `client_cert` if given."""
    context = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
    if client_cert:
        context.load_cert_chain(str(client_cert), str(client_key) if client_key else None, key_password)
    return context


def retry_after_seconds(value: str | None) -> float | None:
    """`Retry-After` as seconds (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (moment - datetime.now(UTC)).total_seconds())


@dataclass
class _CachedGet:
    etag: str
    body: Any


class VtnClient:
    def __init__(
        self,
        base_url: str,
        client_id: str,
        client_secret: str | None,
        *,
        token_url: str | None = None,
        token_auth: str = "basic",
        scope: str | None = None,
        ssl_context: ssl.SSLContext | None = None,
        timeout: float = 10.0,
        max_retries: int = 5,
        backoff_base: float = 0.25,
        backoff_max: float = 30.0,
        transport: httpx2.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Any] = asyncio.sleep,
        api_version: str = "3.0.1",
    ) -> None:
        self.base_url = base_url.rstrip("/")
        # the VEN works in 3.0.1 terms; against a 3.1.0 API each request and answer passes through this adapter
        self.wire = wire_adapter(api_version)
        self.api_version = self.wire.version
        self.client_id, self.client_secret = client_id, client_secret
        self.token_url = token_url or f"{self.base_url}/auth/token"
        self.token_auth, self.scope = token_auth, scope
        self.max_retries, self.backoff_base, self.backoff_max = max_retries, backoff_base, backoff_max
        self._sleep = sleep
        self._http = httpx2.AsyncClient(
            verify=ssl_context if ssl_context is not None else True, timeout=timeout, transport=transport,
            headers={"User-Agent": "gb-openadr3-ven/0.1"},
        )
        self._token: str | None = None
        self._token_expires = 0.0  # monotonic
        self._token_lock = asyncio.Lock()
        self._etags: dict[str, _CachedGet] = {}  # the poller's (VenAgent.poll): its `changed` is since its last poll
        # every other list GET (anchor look-ups, re-subscription, …): if these shared the poller's ETags, a list
        # fetched here would turn the poller's next GET into a 304 and the change it carried would never be applied
        self._lookup_etags: dict[str, _CachedGet] = {}
        self.token_fetches = 0
        self.not_modified = 0

    @classmethod
    def from_config(cls, config: Any, **kwargs: Any) -> VtnClient:
        """From a `ven_client.config.VenConfig`."""
        vtn = config.vtn
        context = None
        if vtn.ca_file or vtn.client_cert:
            context = make_ssl_context(vtn.ca_file, vtn.client_cert, vtn.client_key)
        return cls(
            vtn.url, vtn.client_id, vtn.client_secret or None, token_url=vtn.token_url, token_auth=vtn.token_auth,
            scope=vtn.scope, ssl_context=context, timeout=vtn.timeout, max_retries=vtn.max_retries,
            api_version=vtn.api_version, **kwargs,
        )

    async def __aenter__(self) -> VtnClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self._http.aclose()

    # --- transport -------------------------------------------------------------------------

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, self.backoff_max * 4)
        delay = min(self.backoff_max, self.backoff_base * (2**attempt))
        return delay * random.uniform(0.5, 1.0)

    async def _send(self, method: str, url: str, **kwargs: Any) -> httpx2.Response:
        """One request with retries on network errors and retryable statuses."""
        attempt = 0
        while True:
            try:
                response = await self._http.request(method, url, **kwargs)
            except httpx2.TransportError as exc:
                safe = method != "POST" or isinstance(exc, httpx2.ConnectError)
                if not safe or attempt >= self.max_retries:
                    raise VtnUnavailable(f"{method} {url}: {exc!r}") from exc
                delay = self._backoff(attempt, None)
                log.warning("vtn unreachable, retrying", extra={"method": method, "url": url, "error": repr(exc),
                                                                "attempt": attempt + 1, "delay": round(delay, 2)})
            else:
                retryable = POST_RETRY_STATUSES if method == "POST" else RETRY_STATUSES
                if response.status_code not in retryable or attempt >= self.max_retries:
                    return response
                delay = self._backoff(attempt, retry_after_seconds(response.headers.get("retry-after")))
                log.warning("vtn busy or failing, retrying", extra={"method": method, "url": url, "attempt": attempt + 1,
                                                                    "status": response.status_code, "delay": round(delay, 2)})
            attempt += 1
            await self._sleep(delay)
            headers = kwargs.get("headers")
            if headers and str(headers.get("Authorization", "")).startswith("Bearer "):
                # a Retry-After can outlive the token: retry with a current one, never an expired one
                headers["Authorization"] = f"Bearer {await self.token()}"

    async def _fetch_token(self) -> str:
        form = {"grant_type": "client_credentials"}
        if self.scope:
            form["scope"] = self.scope
        auth = None
        if self.client_secret is not None:
            if self.token_auth == "post":
                form |= {"client_id": self.client_id, "client_secret": self.client_secret}
            else:
                auth = httpx2.BasicAuth(self.client_id, self.client_secret)
        else:  # mTLS-only client (RFC 8705): the certificate authenticates
            form["client_id"] = self.client_id
        started = time.monotonic()
        response = await self._send("POST", self.token_url, data=form, auth=auth)
        if response.status_code != 200:
            body = _json_or_text(response)
            detail = body.get("error_description") or body.get("error") if isinstance(body, dict) else str(body)
            raise AuthenticationFailed(response.status_code, f"token request refused: {detail}", body)
        token = ClientCredentialResponse.model_validate(response.json())
        lifetime = float(token.expires_in or 3600)
        # Refresh ahead of expiry: 10% of the lifetime, at most 60 s.
        self._token_expires = started + lifetime - min(60.0, lifetime * 0.1)
        self._token = token.access_token
        self.token_fetches += 1
        log.info("token obtained", extra={"client_id": self.client_id, "expires_in": token.expires_in})
        return token.access_token

    async def token(self, force: bool = False, stale: str | None = None) -> str:
        async with self._token_lock:
            if force and self._token is not None and self._token != stale:
                return self._token  # another task already refreshed it
            if force or self._token is None or time.monotonic() >= self._token_expires:
                return await self._fetch_token()
            return self._token

    async def request(self, method: str, path: str, *, json: Any = None, params: Any = None,
                      headers: dict[str, str] | None = None) -> httpx2.Response:
        """An authenticated request; a 401 fetches a fresh token and tries once more."""
        url = path if path.startswith(("http://", "https://")) else f"{self.base_url}/{path.lstrip('/')}"
        token = await self.token()
        for retry in (False, True):
            response = await self._send(method, url, json=json, params=params,
                                        headers={**(headers or {}), "Authorization": f"Bearer {token}"})
            if response.status_code != 401 or retry:
                return response
            log.info("token refused, fetching a new one", extra={"url": url})
            token = await self.token(force=True, stale=token)
        raise AssertionError("unreachable")

    async def _call(self, method: str, path: str, *, json: Any = None, params: Any = None) -> Any:
        if not path.startswith(("http://", "https://")):  # an absolute URL (e.g. the 3.1.0 /notifiers) goes as it is
            path, params, json = self.wire.outgoing(method, "/" + path.lstrip("/"), params, json, as_bl=False)
        response = await self.request(method, path, json=json, params=params)
        return self.wire.incoming(method, path, _checked(response))

    async def get_json(self, path: str, params: dict[str, Any] | None = None,
                       cache: dict[str, Any] | None = None) -> tuple[Any, bool]:
        """GET with If-None-Match; returns (body, changed). `changed` is False on a 304, i.e. unchanged since the
        last GET that used the same `cache` (default: the poller's)."""
        etags = self._etags if cache is None else cache
        path, params, _ = self.wire.outgoing("GET", "/" + path.lstrip("/"), _clean(params), None, as_bl=False)
        request = self._http.build_request("GET", f"{self.base_url}/{path.lstrip('/')}", params=params)
        key = str(request.url)
        cached = etags.get(key)
        headers = {"If-None-Match": cached.etag} if cached else {}
        response = await self.request("GET", key, headers=headers)
        if response.status_code == 304 and cached is not None:
            self.not_modified += 1
            return cached.body, False
        body = self.wire.incoming("GET", path, _checked(response))
        etag = response.headers.get("etag")
        if etag:
            etags[key] = _CachedGet(etag, body)
        else:
            etags.pop(key, None)
        return body, True

    async def list_all(self, path: str, model: type[T], params: dict[str, Any] | None = None,
                       cache: dict[str, Any] | None = None) -> tuple[list[T], bool]:
        """Every page of a list endpoint; (items, changed) where changed is False if every page was a 304."""
        items: list[T] = []
        changed = False
        skip = 0
        while True:
            body, page_changed = await self.get_json(path, {**(params or {}), "skip": skip, "limit": MAX_LIST_LIMIT},
                                                     cache)
            changed = changed or page_changed
            page = [model.model_validate(item) for item in body]
            items.extend(page)
            if len(page) < MAX_LIST_LIMIT:
                return items, changed
            skip += len(page)

    async def _lookup(self, path: str, model: type[T], params: dict[str, Any] | None = None) -> list[T]:
        return (await self.list_all(path, model, params, self._lookup_etags))[0]

    # --- typed operations ------------------------------------------------------------------

    async def list_programs(self, target_type: str | None = None, target_values: Iterable[str] | None = None) -> list[Program]:
        return await self._lookup("programs", Program, _targets(target_type, target_values))

    async def get_program(self, program_id: str) -> Program:
        return Program.model_validate(await self._call("GET", f"programs/{program_id}"))

    async def create_program(self, program: Program) -> Program:
        return Program.model_validate(await self._call("POST", "programs", json=program.content()))

    async def update_program(self, program_id: str, program: Program) -> Program:
        return Program.model_validate(await self._call("PUT", f"programs/{program_id}", json=program.content()))

    async def delete_program(self, program_id: str) -> Program:
        return Program.model_validate(await self._call("DELETE", f"programs/{program_id}"))

    async def list_events(self, program_id: str | None = None, target_type: str | None = None,
                          target_values: Iterable[str] | None = None) -> list[Event]:
        params = {"programID": program_id, **_targets(target_type, target_values)}
        return await self._lookup("events", Event, params)

    async def get_event(self, event_id: str) -> Event:
        return Event.model_validate(await self._call("GET", f"events/{event_id}"))

    async def create_event(self, event: Event) -> Event:
        return Event.model_validate(await self._call("POST", "events", json=event.content()))

    async def update_event(self, event_id: str, event: Event) -> Event:
        return Event.model_validate(await self._call("PUT", f"events/{event_id}", json=event.content()))

    async def delete_event(self, event_id: str) -> Event:
        return Event.model_validate(await self._call("DELETE", f"events/{event_id}"))

    async def list_reports(self, program_id: str | None = None, event_id: str | None = None,
                           client_name: str | None = None) -> list[Report]:
        params = {"programID": program_id, "eventID": event_id, "clientName": client_name}
        return await self._lookup("reports", Report, params)

    async def get_report(self, report_id: str) -> Report:
        return Report.model_validate(await self._call("GET", f"reports/{report_id}"))

    async def create_report(self, report: Report) -> Report:
        return Report.model_validate(await self._call("POST", "reports", json=report.content()))

    async def update_report(self, report_id: str, report: Report) -> Report:
        return Report.model_validate(await self._call("PUT", f"reports/{report_id}", json=report.content()))

    async def delete_report(self, report_id: str) -> Report:
        return Report.model_validate(await self._call("DELETE", f"reports/{report_id}"))

    async def list_subscriptions(self, program_id: str | None = None, client_name: str | None = None) -> list[Subscription]:
        params = {"programID": program_id, "clientName": client_name}
        return await self._lookup("subscriptions", Subscription, params)

    async def create_subscription(self, subscription: Subscription) -> Subscription:
        return Subscription.model_validate(await self._call("POST", "subscriptions", json=subscription.content()))

    async def update_subscription(self, subscription_id: str, subscription: Subscription) -> Subscription:
        body = subscription.content()
        return Subscription.model_validate(await self._call("PUT", f"subscriptions/{subscription_id}", json=body))

    async def delete_subscription(self, subscription_id: str) -> Subscription:
        return Subscription.model_validate(await self._call("DELETE", f"subscriptions/{subscription_id}"))

    async def list_vens(self, ven_name: str | None = None) -> list[Ven]:
        return await self._lookup("vens", Ven, {"venName": ven_name})

    async def get_ven(self, ven_id: str) -> Ven:
        return Ven.model_validate(await self._call("GET", f"vens/{ven_id}"))

    async def create_ven(self, ven: Ven) -> Ven:
        return Ven.model_validate(await self._call("POST", "vens", json=ven.content()))

    async def update_ven(self, ven_id: str, ven: Ven) -> Ven:
        return Ven.model_validate(await self._call("PUT", f"vens/{ven_id}", json=ven.content()))

    async def delete_ven(self, ven_id: str) -> Ven:
        return Ven.model_validate(await self._call("DELETE", f"vens/{ven_id}"))

    async def list_resources(self, ven_id: str, resource_name: str | None = None) -> list[Resource]:
        return await self._lookup(f"vens/{ven_id}/resources", Resource, {"resourceName": resource_name})

    async def create_resource(self, ven_id: str, resource: Resource) -> Resource:
        return Resource.model_validate(await self._call("POST", f"vens/{ven_id}/resources", json=resource.content()))

    async def update_resource(self, ven_id: str, resource_id: str, resource: Resource) -> Resource:
        body = resource.content()
        return Resource.model_validate(await self._call("PUT", f"vens/{ven_id}/resources/{resource_id}", json=body))

    async def delete_resource(self, ven_id: str, resource_id: str) -> Resource:
        return Resource.model_validate(await self._call("DELETE", f"vens/{ven_id}/resources/{resource_id}"))

    async def fetch_public(self, url: str) -> httpx2.Response:
        """An unauthenticated GET (well-known documents), with retries."""
        return await self._send("GET", url)


def _json_or_text(response: httpx2.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return response.text


def _checked(response: httpx2.Response) -> Any:
    if response.status_code >= 400:
        body = _json_or_text(response)
        detail = body.get("detail") or body.get("title") or str(body) if isinstance(body, dict) else str(body)[:300]
        raise VtnError(response.status_code, detail, body)
    return response.json() if response.content else None


def _clean(params: dict[str, Any] | None) -> dict[str, Any]:
    return {k: v for k, v in (params or {}).items() if v is not None}


def _targets(target_type: str | None, target_values: Iterable[str] | None) -> dict[str, Any]:
    if target_type and target_values:
        return {"targetType": target_type, "targetValues": list(target_values)}
    return {}


