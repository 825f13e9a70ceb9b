"""The suite's own webhook receiver: records every callback the VTN sends."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Delivery:
    method: str
    path: str
    headers: dict[str, str]
    body: str
    received: float
    convert: Callable[[Any], Any] | None = None  # the version adapter's view (conformance.versions)

    @property
    def json(self) -> Any:
        try:
            data = json.loads(self.body)
        except ValueError:
            return None
        return self.convert(data) if self.convert else data

    def summary(self) -> str:
        auth = self.headers.get("authorization", "")
        content_type = self.headers.get("content-type")
        return f"{self.method} {self.path} (Authorization: {auth[:40]!r}, Content-Type: {content_type}) {self.body[:400]}"


class Receiver:
    def __init__(self, host: str = "127.0.0.1", port: int = 0, public_url: str | None = None,
                 convert: Callable[[Any], Any] | None = None) -> None:
        self.deliveries: list[Delivery] = []
        self.lock = threading.Condition()
        self.status_for: dict[str, int] = {}  # path prefix → status to answer
        outer = self

        class Handler(BaseHTTPRequestHandler):
            disable_nagle_algorithm = True  # headers and body are two writes: no delayed-ACK wait between them

            def _handle(self) -> None:
                echo = parse_qs(urlsplit(self.path).query).get("echo") if self.command == "GET" else None
                if echo:
                    # 3.1.0 callback ownership check (Definition, webhook security): answer the value back
                    answer = echo[0].encode()
                    self.send_response(200)
                    self.send_header("Content-Type", "text/plain")
                    self.send_header("Content-Length", str(len(answer)))
                    self.end_headers()
                    self.wfile.write(answer)
                    return
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length).decode("utf-8", "replace") if length else ""
                delivery = Delivery(
                    self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body, time.monotonic(),
                    convert,
                )
                with outer.lock:
                    outer.deliveries.append(delivery)
                    outer.lock.notify_all()
                status = next((s for p, s in outer.status_for.items() if self.path.startswith(p)), 200)
                self.send_response(status)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            do_POST = do_PUT = do_GET = _handle

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer((host, port), Handler)
        self.server.daemon_threads = True
        bound_host, bound_port = self.server.server_address[:2]
        self.url = (public_url or f"http://{bound_host}:{bound_port}").rstrip("/")
        # a short poll: stop() (shutdown) waits for it, once per suite run (~80 runs in the fault campaign)
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), name="conformance-receiver",
                                       daemon=True)
        self.thread.start()

    def matching(self, predicate: Callable[[Delivery], bool]) -> list[Delivery]:
        with self.lock:
            return [d for d in self.deliveries if predicate(d)]

    def wait_for(self, predicate: Callable[[Delivery], bool], timeout: float) -> Delivery | None:
        deadline = time.monotonic() + timeout
        with self.lock:
            while True:
                for d in self.deliveries:
                    if predicate(d):
                        return d
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                self.lock.wait(remaining)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
