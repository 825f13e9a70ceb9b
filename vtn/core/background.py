"""Background rounds every VTN process runs (GB delivery reports, statements, acknowledgement deadlines).

Written once: the loop (first round one interval after start, a failed round logged and retried next time),
stopping a task at shutdown, and the PostgreSQL try-lock that lets one process of several run a round.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import text


async def every(interval: float, run_round: Callable[[], Awaitable[Any]], log: logging.Logger, what: str) -> None:
    """Run `run_round` every `interval` seconds until cancelled; the first round one interval after start, so a
    starting process (or a test's app) does no work at once."""
    while True:
        await asyncio.sleep(interval)
        try:
            await run_round()
        except asyncio.CancelledError:
            raise
        except Exception:  # a failed round must not end the loop: the next one retries
            log.exception("%s failed; retrying next round", what)


def start(interval: float, run_round: Callable[[], Awaitable[Any]], log: logging.Logger, what: str,
          enabled: bool = True) -> asyncio.Task[None] | None:
    return asyncio.create_task(every(interval, run_round, log, what), name=f"vtn {what}") if enabled else None


async def cancel(task: asyncio.Task[Any] | None) -> None:
    """Stop a background task and wait for it (whatever it raised on the way out is over)."""
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task


async def try_round_lock(session: Any, key: int) -> bool:
    """Whether this process runs the round in `session`'s transaction: on PostgreSQL whoever takes the transaction
    advisory lock `key` (the others skip the round); on SQLite always (its single writer serialises rounds)."""
    if session.bind.dialect.name != "postgresql":
        return True
    taken = (await session.exec(text("SELECT pg_try_advisory_xact_lock(:key)").bindparams(key=key))).first()
    return bool(taken and taken[0])
