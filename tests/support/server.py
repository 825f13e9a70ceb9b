"""A real VTN process (`vtn serve` under uvicorn) on a loopback port, for integration tests."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx2

from vtn.core.security import Role


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class VtnProcess:
    database_url: str
    port: int
    env: dict[str, str]
    extra_args: list[str] = field(default_factory=list)
    scheme: str = "http"
    process: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return self.url + "/openadr3/3.0.1"

    def start(self, wait: float = 30.0) -> None:
        assert self.log_path is not None
        log = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "vtn.cli", "serve", "--port", str(self.port), *self.extra_args],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"vtn serve exited with {self.process.returncode}: {self.log_path.read_text()[-3000:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    pass
                if self.scheme == "http":
                    httpx2.get(self.url + "/health", timeout=1.0).raise_for_status()
                return
            except (OSError, httpx2.HTTPError):
                time.sleep(0.1)
        raise RuntimeError(f"vtn serve did not start: {self.log_path.read_text()[-3000:]}")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def kill(self) -> None:
        self.stop(signal.SIGKILL)

    def restart(self) -> None:
        self.stop()
        self.start()

    def provision(self, client_id: str, role: Role, ven_name: str | None = None, scopes: list[str] | None = None,
                  operator: str = "") -> str:
        """Register a client directly in the database; returns its secret."""
        return provision_client(self.database_url, client_id, role, ven_name=ven_name, scopes=scopes, operator=operator)


def provision_client(
    database_url: str, client_id: str, role: Role, ven_name: str | None = None, scopes: list[str] | None = None,
    operator: str = "",
) -> str:
    from vtn.auth import service
    from vtn.core.database import Database
    from vtn.core.migrate import upgrade

    async def main() -> str:
        db = Database(database_url)
        try:
            async with db.session() as session:
                created = await service.add_client(
                    session, client_id, role, ven_name=ven_name, scopes=scopes, operator=operator
                )
            assert created.secret
            return created.secret
        finally:
            await db.dispose()

    upgrade(database_url)
    return asyncio.run(main())


@contextmanager
def running_vtn(
    tmp_path: Path,
    database_url: str | None = None,
    env: dict[str, str] | None = None,
    extra_args: list[str] | None = None,
    scheme: str = "http",
    start_wait: float = 30.0,
) -> Iterator[VtnProcess]:
    """Start `vtn serve` on a free loopback port (ready within `start_wait` s); stopped (SIGTERM) on exit."""
    database_url = database_url or f"sqlite+aiosqlite:///{tmp_path / 'vtn-server.db'}"
    port = free_port()
    full_env = {
        **os.environ,
        "VTN_DATABASE_URL": database_url,
        "VTN_HOST": "127.0.0.1",
        "VTN_PORT": str(port),
        "VTN_PUBLIC_URL": f"{scheme}://127.0.0.1:{port}",
        "VTN_CALLBACK_ALLOW_HTTP": "true",
        "VTN_CALLBACK_ALLOWED_NETWORKS": '["127.0.0.0/8", "::1/128"]',
        "VTN_LOG_LEVEL": "warning",
        **(env or {}),
    }
    server = VtnProcess(database_url, port, full_env, extra_args or [], scheme, log_path=tmp_path / f"vtn-{port}.log")
    from vtn.core.migrate import upgrade

    upgrade(database_url)
    try:
        server.start(wait=start_wait)
        yield server
    finally:
        server.stop()  # also when it did not start in time: no process left behind


def wait_https(url: str, context: ssl.SSLContext, attempts: int = 100) -> None:
    """Wait until a TLS VTN at `url` answers /health (the certificate checked with `context`)."""
    for _ in range(attempts):
        try:
            httpx2.get(url + "/health", verify=context, timeout=1.0)
            return
        except httpx2.HTTPError:
            time.sleep(0.1)
    raise AssertionError(f"{url} did not answer over TLS")
