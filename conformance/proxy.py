"""A fault-injecting HTTP proxy between the conformance suite and a correct VTN.

It forwards every request to the upstream VTN and applies the transforms of the one active fault to
the request, the response, or the webhook notifications. Notifications go VTN → receiver directly,
so the proxy rewrites each subscription callbackUrl to one of its own endpoints
(`/_faults/notify/<base64url of the original>`), forwards the (possibly altered) body to the
original URL, and rewrites the URLs back in every JSON body it returns, so the suite sees its own
callback URLs and the proxy stays invisible on a clean run.
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx2

NOTIFY = "/_faults/notify/"
HOP = {"host", "content-length", "transfer-encoding", "connection", "keep-alive", "accept-encoding"}


@dataclass
class Request:
    method: str
    path: str  # relative to the VTN base path, e.g. /programs/abc
    query: list[tuple[str, str]]
    headers: dict[str, str]  # lower-case names
    body: Any  # parsed JSON, or None
    raw: bytes = b""

    @property
    def collection(self) -> str:
        """The list endpoint this path belongs to: /programs, /events, …, /resources (under a ven)."""
        parts = [p for p in self.path.split("/") if p]
        if len(parts) >= 3 and parts[0] == "vens" and parts[2] == "resources":
            return "/resources"
        return "/" + parts[0] if parts else "/"

    @property
    def by_id(self) -> bool:
        parts = [p for p in self.path.split("/") if p]
        return len(parts) in (2, 4) and parts[0] != "auth"

    def param(self, name: str) -> str | None:
        return next((v for k, v in self.query if k == name), None)


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: Any  # parsed JSON, or None when `text` holds a non-JSON body
    text: str = ""

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


@dataclass
class Notification:
    headers: dict[str, str]
    body: Any
    deliver: bool = True


@dataclass
class Context:
    """What a transform may use besides the exchange: the upstream VTN and per-fault memory."""

    fetch: Callable[[Request], Response]
    memory: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Fault:
    id: str
    title: str
    source: str  # the spec (or RFC) text the fault violates
    checks: tuple[str, ...]  # the checks run against it (ids or areas, globs allowed)
    request: Callable[[Request, Context], None] | None = None
    response: Callable[[Request, Response, Context], None] | None = None
    notification: Callable[[Notification, Context], None] | None = None


def _b64(url: str) -> str:
    return base64.urlsafe_b64encode(url.encode()).decode().rstrip("=")


def _unb64(token: str) -> str:
    return base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()


class FaultProxy:
    """A threaded loopback proxy. `fault` may be switched between suite runs; None forwards unchanged."""

    def __init__(self, upstream: str, host: str = "127.0.0.1", port: int = 0, timeout: float = 30.0) -> None:
        split = urlsplit(upstream.rstrip("/"))
        self.origin = f"{split.scheme}://{split.netloc}"
        self.base_path = split.path  # e.g. /openadr3/3.0.1
        self.http = httpx2.Client(timeout=timeout, follow_redirects=False)
        self.fault: Fault | None = None
        self.context = Context(self._fetch)
        self.lock = threading.Lock()
        self.applied = 0  # how many exchanges the active fault changed something in (best effort: calls)
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # headers and body go out in two writes: with Nagle on, the body waits for the client's delayed ACK
            # (~40 ms on Linux), on every response of a keep-alive connection
            disable_nagle_algorithm = True

            def _handle(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length) if length else b""
                headers = {k.lower(): v for k, v in self.headers.items()}
                if self.path.startswith(NOTIFY):
                    status, out_headers, data = outer._notify(self.path[len(NOTIFY) :], headers, raw, self.command)
                else:
                    status, out_headers, data = outer._proxy(self.command, self.path, headers, raw)
                self.send_response(status)
                for k, v in out_headers.items():
                    if k.lower() not in HOP:
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD" and status not in (204, 304):
                    self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _handle

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer((host, port), Handler)
        self.server.daemon_threads = True
        bound_host, bound_port = self.server.server_address[:2]
        self.url = f"http://{bound_host}:{bound_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, name="fault-proxy", daemon=True)
        self.thread.start()

    @property
    def base_url(self) -> str:
        return self.url + self.base_path

    def use(self, fault: Fault | None) -> None:
        with self.lock:
            self.fault = fault
            self.context = Context(self._fetch)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.http.close()

    # ---- callback URL rewriting ---------------------------------------------------------------
    def _to_proxy(self, body: Any) -> Any:
        if isinstance(body, dict):
            for entry in body.get("objectOperations") or []:
                url = entry.get("callbackUrl") if isinstance(entry, dict) else None
                # only absolute http(s) URLs: an invalid one must reach the VTN as sent
                if isinstance(url, str) and url.startswith(("http://", "https://")):
                    entry["callbackUrl"] = self.url + NOTIFY + _b64(entry["callbackUrl"])
        return body

    def _from_proxy(self, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: self._from_proxy(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self._from_proxy(v) for v in value]
        if isinstance(value, str) and value.startswith(self.url + NOTIFY):
            try:
                return _unb64(value[len(self.url + NOTIFY) :])
            except ValueError:
                return value
        return value

    # ---- upstream -------------------------------------------------------------------------------
    def _fetch(self, req: Request) -> Response:
        headers = {k: v for k, v in req.headers.items() if k not in HOP}
        content = json.dumps(req.body).encode() if req.body is not None else (req.raw or None)
        if req.body is not None:
            headers["content-type"] = "application/json"
        url = self.origin + self.base_path + req.path + ("?" + urlencode(req.query) if req.query else "")
        r = self.http.request(req.method, url, headers=headers, content=content)
        out_headers = {k.lower(): v for k, v in r.headers.items() if k.lower() not in HOP}
        body: Any = None
        if r.headers.get("content-type", "").split(";")[0].strip().endswith("json") and r.content:
            try:
                body = json.loads(r.content)
            except ValueError:
                body = None
        return Response(r.status_code, out_headers, body, r.text)

    def _proxy(self, method: str, target: str, headers: dict[str, str], raw: bytes) -> tuple[int, dict[str, str], bytes]:
        split = urlsplit(target)
        if not split.path.startswith(self.base_path):
            r = self.http.request(method, self.origin + target, headers={k: v for k, v in headers.items() if k not in HOP},
                                  content=raw or None)
            return r.status_code, {k: v for k, v in r.headers.items() if k.lower() not in HOP}, r.content
        body: Any = None
        if raw and headers.get("content-type", "").split(";")[0].strip() == "application/json":
            try:
                body = json.loads(raw)
            except ValueError:
                body = None
        req = Request(method, split.path[len(self.base_path) :] or "/", parse_qsl(split.query, keep_blank_values=True),
                      headers, body, raw)
        if body is not None and req.collection == "/subscriptions" and method in ("POST", "PUT"):
            req.body = self._to_proxy(body)
        with self.lock:
            fault, ctx = self.fault, self.context
        if fault and fault.request:
            fault.request(req, ctx)
        resp = self._fetch(req)
        if resp.body is not None:
            resp.body = self._from_proxy(resp.body)
        if fault and fault.response:
            fault.response(req, resp, ctx)
        if resp.body is not None:
            data = json.dumps(resp.body).encode()
        else:
            data = resp.text.encode()
        return resp.status, resp.headers, data

    def _notify(self, token: str, headers: dict[str, str], raw: bytes,
                method: str = "POST") -> tuple[int, dict[str, str], bytes]:
        token, _, query = token.partition("?")
        try:
            target = _unb64(token)
        except ValueError:
            return 404, {"content-type": "text/plain"}, b"unknown callback"
        if method == "GET":  # the 3.1.0 callback ownership check (GET ?echo=): the receiver answers it
            try:
                r = self.http.get(target + ("?" + query if query else ""))
            except httpx2.HTTPError:
                return 502, {"content-type": "text/plain"}, b"receiver unreachable"
            return r.status_code, {"content-type": r.headers.get("content-type", "text/plain")}, r.content
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = None
        note = Notification({k: v for k, v in headers.items() if k not in HOP}, self._from_proxy(body))
        with self.lock:
            fault, ctx = self.fault, self.context
        if fault and fault.notification:
            fault.notification(note, ctx)
        if not note.deliver:
            return 200, {"content-type": "text/plain"}, b"ok"
        content = json.dumps(note.body).encode() if note.body is not None else raw
        try:
            r = self.http.post(target, headers=note.headers, content=content)
        except httpx2.HTTPError:
            return 502, {"content-type": "text/plain"}, b"receiver unreachable"
        return r.status_code, {"content-type": r.headers.get("content-type", "text/plain")}, r.content
