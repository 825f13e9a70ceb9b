"""The real MQTT broker of the tests: Mosquitto at 127.0.0.1:1883 (CI starts it), private brokers, subscribers."""

from __future__ import annotations

import asyncio
import getpass
import json
import os
import shutil
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiomqtt
import pytest

from tests.support.server import free_port

MQTT_HOST, MQTT_PORT = os.environ.get("VTN_TEST_MQTT_HOST", "127.0.0.1"), int(os.environ.get("VTN_TEST_MQTT_PORT", "1883"))
REQUIRE_MQTT = os.environ.get("VTN_REQUIRE_MQTT") == "1"
MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"


def broker_url() -> str:
    return f"mqtt://{MQTT_HOST}:{MQTT_PORT}"


def require_broker() -> None:
    """Skip (fail in CI, VTN_REQUIRE_MQTT=1) without the development broker."""
    try:
        with socket.create_connection((MQTT_HOST, MQTT_PORT), timeout=1):
            return
    except OSError:
        pass
    if REQUIRE_MQTT:
        pytest.fail(f"VTN_REQUIRE_MQTT=1 but no MQTT broker at {MQTT_HOST}:{MQTT_PORT}")
    pytest.skip(f"no MQTT broker at {MQTT_HOST}:{MQTT_PORT} (apt install mosquitto; .ci/run starts one)")


def unique_prefix() -> str:
    """A topic prefix of one test: tests running at once on one broker never see each other's messages."""
    return f"t{uuid.uuid4().hex[:12]}"


@contextmanager
def private_broker(directory: Path, config: str, port: int | None = None) -> Iterator[int]:
    """A Mosquitto of one test on a loopback port (a free one by default) with `config` (ACLs, passwords)."""
    if not Path(MOSQUITTO).exists():
        if REQUIRE_MQTT:
            pytest.fail("VTN_REQUIRE_MQTT=1 but mosquitto is not installed")
        pytest.skip("mosquitto is not installed (apt install mosquitto)")
    port = port or free_port()
    conf = directory / "mosquitto.conf"
    # run as the test's own user: as root, mosquitto would switch to `mosquitto`, which cannot read the 0600 files
    user = f"user {getpass.getuser()}\n" if os.geteuid() == 0 else ""
    conf.write_text(f"listener {port} 127.0.0.1\npersistence false\n{user}{config}\n")
    process = subprocess.Popen([MOSQUITTO, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError as exc:
                if process.poll() is not None or time.monotonic() > deadline:
                    error = process.stderr.read().decode() if process.stderr else ""
                    raise RuntimeError(f"mosquitto did not start: {error}") from exc
                time.sleep(0.05)
        yield port
    finally:
        process.terminate()
        process.wait(10)


@dataclass
class Message:
    topic: str
    payload: dict[str, Any]


class Subscriber:
    """A real MQTT client on its own thread, subscribed to `filters`, collecting what arrives."""

    def __init__(self, filters: list[str], host: str = MQTT_HOST, port: int = MQTT_PORT,
                 username: str | None = None, password: str | None = None) -> None:
        self.filters, self.host, self.port = filters, host, port
        self.username, self.password = username, password
        self.messages: list[Message] = []
        self.granted: list[int] = []
        self._lock = threading.Lock()
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        try:
            async with aiomqtt.Client(self.host, self.port, username=self.username, password=self.password,
                                      protocol=aiomqtt.ProtocolVersion.V5) as client:
                for topic in self.filters:
                    result = await client.subscribe(topic, qos=1)
                    self.granted += [int(getattr(code, "value", code)) for code in (result or ())]
                self._ready.set()
                reader = asyncio.create_task(self._read(client))
                await self._stop.wait()
                reader.cancel()
        except BaseException as exc:  # surfaced by __enter__ / wait_for
            self._error = exc
            self._ready.set()

    async def _read(self, client: aiomqtt.Client) -> None:
        async for message in client.messages:
            payload = json.loads(bytes(message.payload))  # type: ignore[arg-type]
            with self._lock:
                self.messages.append(Message(str(message.topic), payload))

    def __enter__(self) -> Subscriber:
        self._thread.start()
        assert self._ready.wait(10), "MQTT subscriber did not connect"
        if self._error is not None:
            raise self._error
        return self

    def __exit__(self, *exc: object) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)

    def received(self) -> list[Message]:
        with self._lock:
            return list(self.messages)

    def wait_for(self, predicate: Callable[[list[Message]], bool], timeout: float = 15.0) -> list[Message]:
        deadline = time.monotonic() + timeout
        while True:
            got = self.received()
            if predicate(got) or time.monotonic() > deadline:
                return got
            time.sleep(0.05)
