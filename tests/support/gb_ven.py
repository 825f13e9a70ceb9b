"""A GB reference VEN (ven_client agent + GbAdapter) running in a background thread against a real VTN.

Synchronous tests (Playwright's sync API, plain pytest) drive the browser on the main thread while the
VEN polls, acknowledges and reports on its own event loop:

    with running_gb_ven(vtn, "fsp-1", secret, resources=["DU-1"]) as ven:
        ...                                   # dispatch from the console
        ven.wait_for(lambda: ven.controller.dispatched, what="the dispatch")
        ven.call(ven.adapter.reporter.send_readings(readings, event_id=event_id))

The VEN registers its ven object and resources (`resources`, role DISPATCH_UNIT) at start-up, so the
operator sees them. `RecordingController` records every controller call (thread-safe reads of lists).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

from gb_profile import model as m
from tests.support.server import VtnProcess, free_port
from ven_client.agent import VenAgent
from ven_client.config import GbSettings, PushSettings, ResourceConfig, VenConfig, VenSettings, VtnSettings
from ven_client.gb import GbAdapter, GbController

T = TypeVar("T")


class RecordingController(GbController):
    """Accepts everything and records the calls: `dispatched` and `stopped` hold the instructions."""

    def __init__(self) -> None:
        self.dispatched: list[m.DispatchInstruction] = []
        self.stopped: list[m.DispatchInstruction] = []
        self.refused: list[tuple[str | None, str]] = []
        self.stop_seen = threading.Event()

    def on_dispatch(self, instruction: m.DispatchInstruction, previous: m.DispatchInstruction | None) -> None:
        self.dispatched.append(instruction)

    def on_stop(self, instruction: m.DispatchInstruction, previous: m.DispatchInstruction | None) -> None:
        self.stopped.append(instruction)
        self.stop_seen.set()

    def on_refused(self, event: Any, instruction: m.DispatchInstruction | None, reason: str) -> None:
        self.refused.append((getattr(event, "eventName", None), reason))


@dataclass
class GbVen:
    """Handle on the running VEN: its agent, adapter and controller, and its event loop for extra calls."""

    agent: VenAgent
    adapter: GbAdapter
    controller: GbController
    loop: asyncio.AbstractEventLoop
    thread: threading.Thread
    task: asyncio.Task[None] | None = None
    failure: list[BaseException] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.agent.name

    def call(self, coroutine: Awaitable[T], timeout: float = 30.0) -> T:
        """Run a coroutine on the VEN's loop (e.g. `ven.adapter.reporter.send_readings(...)`) and wait for it."""
        async def wrapped() -> T:
            return await coroutine

        return asyncio.run_coroutine_threadsafe(wrapped(), self.loop).result(timeout)

    def acknowledged(self, event_name: str, revision: int | None = None) -> list[m.Acknowledgement]:
        return [a for a in list(self.adapter.acknowledgements)
                if a.event_name == event_name and (revision is None or a.revision == revision)]

    def wait_for(self, condition: Callable[[], T], within: float = 30.0, what: str = "condition") -> T:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if self.failure:
                raise AssertionError(f"the VEN stopped: {self.failure[0]!r}")
            result = condition()
            if result:
                return result
            time.sleep(0.05)
        raise AssertionError(f"timed out after {within} s waiting for {what}")


def gb_ven_config(vtn: VtnProcess, name: str, secret: str, *, mode: str = "pull", resources: Iterable[str] = ("DU-1",),
                  poll_interval: float = 0.2, gb: GbSettings | None = None, listen_port: int | None = None,
                  vtn_options: dict[str, Any] | None = None) -> VenConfig:
    """A reference-VEN config for `name` against `vtn`, with dispatch-unit resources (push: `listen_port`, default
    a free one); `vtn_options` adds or overrides `[vtn]` settings (e.g. `ca_file`, `client_cert`, `client_key`;
    `url` and `api_version` for the 3.1.0 API)."""
    return VenConfig(
        vtn=VtnSettings(**{"url": vtn.base_url, "client_id": name, "client_secret": secret, **(vtn_options or {})}),
        ven=VenSettings(name=name, mode=mode, poll_interval=poll_interval),  # type: ignore[arg-type]
        push=PushSettings(listen_port=listen_port or free_port(), fallback_poll_interval=30),
        resources=[ResourceConfig(name=r, attributes={m.A_ROLE: m.ResourceRole.DISPATCH_UNIT.value}) for r in resources],
        gb=gb or GbSettings(fsp_id=name),
    )


@contextmanager
def running_gb_ven(vtn: VtnProcess, name: str, secret: str, *, controller: GbController | None = None,
                   mode: str = "pull", resources: Iterable[str] = ("DU-1",), poll_interval: float = 0.2,
                   gb: GbSettings | None = None, start_timeout: float = 30.0,
                   listen_port: int | None = None, vtn_options: dict[str, Any] | None = None,
                   prepare: Callable[[VenAgent], None] | None = None) -> Iterator[GbVen]:
    """Start the agent in a thread; yields once it has registered and polled once; stopped on exit.
    `prepare` may alter the agent before it starts (the VEN suite's deliberately broken variants)."""
    config = gb_ven_config(vtn, name, secret, mode=mode, resources=resources, poll_interval=poll_interval, gb=gb,
                           listen_port=listen_port, vtn_options=vtn_options)
    controller = controller or RecordingController()
    adapter = GbAdapter(controller)
    agent = VenAgent(config, adapter)
    agent.client.backoff_base = 0.1
    if prepare is not None:
        prepare(agent)
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    ven = GbVen(agent, adapter, controller, loop, threading.Thread(target=lambda: None))

    def run() -> None:
        asyncio.set_event_loop(loop)

        async def main() -> None:
            ven.task = asyncio.create_task(agent.run())
            ready.set()
            try:
                await ven.task
            except BaseException as exc:  # reported to the waiting test instead of dying silently
                ven.failure.append(exc)
            finally:
                await agent.client.close()

        try:
            loop.run_until_complete(main())
        finally:
            loop.close()

    ven.thread = threading.Thread(target=run, name=f"gb-ven-{name}", daemon=True)
    ven.thread.start()
    ready.wait(10)
    try:
        ven.wait_for(lambda: agent.stats.polls > 0, within=start_timeout, what=f"{name}: first poll")
        yield ven
    finally:
        if loop.is_running():
            loop.call_soon_threadsafe(agent.stop)
        ven.thread.join(15)


__all__ = ["GbVen", "RecordingController", "gb_ven_config", "running_gb_ven"]
