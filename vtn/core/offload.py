"""CPU-heavy request work off the event loop: a small process pool.

A VTN process answers every VEN's poll on one event loop, so a request that computes for tens of milliseconds
(parsing and checking a chunk of a month of meter readings) holds up every poll that arrives meanwhile. Such work
runs here instead: in `processes` worker processes (a thread would not help, the work holds the GIL), at most
`concurrency` jobs of this VTN process at a time, so bulk uploads queue among themselves, not in front of polls.

Functions given to `run` must be importable module-level functions with picklable arguments and results; an
error they want answered as problem+json travels back as a `Problem`, not as an exception (an `ApiError` does not
survive pickling with its details). With `processes=0` the work runs in the request's process (tests, debugging).
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import Any, TypeVar

from vtn.core.errors import ApiError

log = logging.getLogger("vtn")

ResultT = TypeVar("ResultT")


@dataclass(frozen=True)
class Problem:
    """An `ApiError` computed in a worker process: raised again in the request's process by `CpuPool.run`."""

    status: int
    detail: str
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, error: ApiError) -> Problem:
        return cls(error.status, error.detail, error.extra)

    def error(self) -> ApiError:
        return ApiError(self.detail, status=self.status, extra=self.extra)


class CpuPool:
    """Worker processes for CPU-heavy request work, started on first use (an app that never needs them, e.g. in
    most tests, never starts them) and stopped by `close`."""

    def __init__(self, processes: int, concurrency: int) -> None:
        self.processes = processes
        self.concurrency = max(1, concurrency)
        self._executor: ProcessPoolExecutor | None = None
        self._slots: asyncio.Semaphore | None = None
        self._slots_loop: asyncio.AbstractEventLoop | None = None

    def _slots_of(self, loop: asyncio.AbstractEventLoop) -> asyncio.Semaphore:
        if self._slots is None or self._slots_loop is not loop:  # an asyncio primitive is bound to one loop
            self._slots, self._slots_loop = asyncio.Semaphore(self.concurrency), loop
        return self._slots

    def _pool(self) -> ProcessPoolExecutor:
        if self._executor is None:
            # spawn: the VTN process has threads (database drivers), which a fork would copy mid-state
            self._executor = ProcessPoolExecutor(self.processes, mp_context=multiprocessing.get_context("spawn"))
        return self._executor

    async def run(self, fn: Callable[..., ResultT], /, *args: Any) -> ResultT:
        """`fn(*args)` in a worker process (in this one with `processes=0`); a returned `Problem` is raised."""
        loop = asyncio.get_running_loop()
        async with self._slots_of(loop):
            if self.processes <= 0:
                result = fn(*args)
            else:
                try:
                    result = await loop.run_in_executor(self._pool(), fn, *args)
                except BrokenProcessPool:  # a worker died (killed, out of memory): a new pool, and this job here
                    log.warning("CPU worker pool broken; restarting it")
                    self._executor = None
                    result = fn(*args)
        if isinstance(result, Problem):
            raise result.error()
        return result

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None
