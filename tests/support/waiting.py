"""Polling for a condition in async integration tests."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any


async def wait_until(condition: Callable[[], Any], within: float = 10.0, what: str = "condition") -> Any:
    """The first truthy value of `condition()`, polled every 50 ms; AssertionError after `within` seconds."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if result := condition():
            return result
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")
