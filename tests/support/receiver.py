"""A real webhook receiver on loopback: a minimal asyncio HTTP/1.1 server in its own thread."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import parse_qs, unquote, urlsplit


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    status: int = 200
    at: float = field(default_factory=time.monotonic)


class Receiver:
    """Records every request; answers `status(path)` (200 by default). Handles keep-alive."""

    def __init__(self, port: int = 0, status: Callable[[str], int] | None = None, delay: float = 0.0,
                 echo: bool = True) -> None:
        self.port = port
        self.echo = echo  # answer the 3.1.0 ownership challenge (GET ?echo=X → body X) as a VEN must
        self.delay = delay
        self.status = status or (lambda _path: 200)
        self.requests: list[Received] = []
        self.lock = threading.Lock()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.server: asyncio.AbstractServer | None = None
        self.thread: threading.Thread | None = None
        self.listeners: list[Callable[[Received], None]] = []
        self.handlers: set[asyncio.Task[None]] = set()

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.handlers.add(task)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, path, _version = lines[0].split(" ", 2)
                headers = {}
                for line in lines[1:]:
                    if ":" in line:
                        name, _, value = line.partition(":")
                        headers[name.strip().lower()] = value.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                if self.delay:
                    await asyncio.sleep(self.delay)
                status = self.status(path)
                received = Received(method, path, headers, body, status)
                with self.lock:
                    self.requests.append(received)
                for listener in self.listeners:
                    listener(received)
                answer = b""
                if self.echo and method == "GET" and "echo=" in path:
                    answer = unquote(parse_qs(urlsplit(path).query).get("echo", [""])[0]).encode()
                writer.write(f"HTTP/1.1 {status} X\r\nContent-Length: {len(answer)}\r\n\r\n".encode() + answer)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, ValueError, asyncio.CancelledError):
            pass
        finally:
            self.handlers.discard(task)
            writer.close()

    def start(self) -> Receiver:
        ready = threading.Event()

        def run() -> None:
            self.loop = asyncio.new_event_loop()

            async def serve() -> None:
                self.server = await asyncio.start_server(self._handle, "127.0.0.1", self.port, backlog=4096,
                                                         reuse_address=True)
                self.port = self.server.sockets[0].getsockname()[1]
                ready.set()

            self.loop.run_until_complete(serve())
            self.loop.run_forever()
            self.loop.close()

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()
        ready.wait(10)
        return self

    def stop(self) -> None:
        if self.loop and self.server:
            async def close() -> None:
                assert self.server is not None
                self.server.close()
                handlers = list(self.handlers)
                for handler in handlers:
                    handler.cancel()
                await asyncio.gather(*handlers, return_exceptions=True)

            asyncio.run_coroutine_threadsafe(close(), self.loop).result(5)
            self.loop.call_soon_threadsafe(self.loop.stop)
        if self.thread:
            self.thread.join(5)
        self.server = self.loop = self.thread = None

    def received(self, path: str | None = None, *, failed: bool = False) -> list[Received]:
        """Requests answered 2xx (with `failed`, every request)."""
        with self.lock:
            return [
                r for r in self.requests
                if (path is None or r.path == path) and (failed or 200 <= r.status < 300)
            ]

    def wait_for(self, predicate: Callable[[list[Received]], bool], timeout: float = 20.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = self.received()
            if predicate(got):
                return got
            time.sleep(0.05)
        raise AssertionError(f"receiver timed out; got {len(self.received())} requests")

    def __enter__(self) -> Receiver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
