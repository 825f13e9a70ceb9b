"""The delivery worker: an asyncio task in every VTN process draining the outbox.

- At-least-once: a row is deleted only after a 2xx answer; a crash leaves it `in_flight` until
  its lease expires, and the reaper then makes it `pending` again.
- Claiming: PostgreSQL `FOR UPDATE SKIP LOCKED` + lease (several processes never claim the same
  attempt); SQLite: one process, claim inside `BEGIN IMMEDIATE`.
- Order per callback (subscription + callbackUrl): attempts start in outbox order; at most
  `delivery_concurrency_per_callback` are in flight, and while the oldest pending one waits for
  its retry the callback is paused (later ones never overtake it).
- Retries: exponential backoff with equal jitter, `Retry-After` honoured; dead-letter after
  `delivery_max_attempts` or `delivery_max_age_seconds`, and at once on 410 Gone.
- Wake-ups: after a commit in this process (in-process event), LISTEN/NOTIFY from other
  processes (PostgreSQL, a dedicated asyncpg connection), and polling as a safety net.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

import httpx2
from sqlalchemy import and_, case, delete, func, or_, update
from sqlalchemy.engine import make_url
from sqlmodel import col, select

from vtn.core.database import Database, utcnow
from vtn.core.settings import Settings
from vtn.subscriptions import notifications
from vtn.subscriptions.callbacks import GuardedBackend
from vtn.subscriptions.notification_models import OutboxRow, OutboxStatus
from vtn.subscriptions.signing import WebhookSigner

log = logging.getLogger("vtn.delivery")
USER_AGENT = "gb-openadr3-vtn/0.1 (webhooks)"
T = OutboxRow


def backoff_seconds(attempts: int, settings: Settings, retry_after: float | None = None) -> float:
    """Delay before attempt `attempts + 1`: base·2^(n-1) capped, times uniform(0.5, 1) (equal jitter)."""
    cap = settings.delivery_retry_max_seconds
    delay = min(cap, settings.delivery_retry_base_seconds * 2 ** max(0, attempts - 1)) * random.uniform(0.5, 1.0)
    if retry_after is not None:
        delay = max(delay, min(cap, retry_after))
    return delay


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    if value.strip().isdigit():
        return float(value.strip())
    with contextlib.suppress(TypeError, ValueError):
        return max(0.0, (parsedate_to_datetime(value) - utcnow()).total_seconds())
    return None


def make_http_client(settings: Settings) -> httpx2.AsyncClient:
    transport = httpx2.AsyncHTTPTransport(
        limits=httpx2.Limits(max_connections=100, max_keepalive_connections=20, keepalive_expiry=30)
    )
    # httpx2 exposes no network_backend option: install the SSRF guard on the pool (python-stack-notes §4).
    transport._pool._network_backend = GuardedBackend(settings.callback_allowed_networks)
    timeout = httpx2.Timeout(settings.delivery_timeout_seconds, connect=min(5.0, settings.delivery_timeout_seconds))
    return httpx2.AsyncClient(transport=transport, timeout=timeout, follow_redirects=False)


class DeliveryWorker:
    def __init__(self, db: Database, settings: Settings, signer: WebhookSigner) -> None:
        self.db = db
        self.settings = settings
        self.signer = signer
        self.wake = asyncio.Event()
        self.client: httpx2.AsyncClient | None = None
        self.tasks: set[asyncio.Task[None]] = set()
        self.main: asyncio.Task[None] | None = None
        self.listener: asyncio.Task[None] | None = None
        self.stopping = False
        self.lease = settings.delivery_lease_seconds or settings.delivery_timeout_seconds + 30
        self.delivered = 0

    @property
    def is_postgres(self) -> bool:
        return self.db.dialect == "postgresql"

    # --- lifecycle ---------------------------------------------------------------------------
    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._waker = lambda: loop.call_soon_threadsafe(self.wake.set)
        notifications.add_waker(self._waker)
        self.client = make_http_client(self.settings)
        if not self.is_postgres:
            await self._release_all_leases()  # SQLite runs one process: anything in flight was ours
        if self.is_postgres:
            self.listener = asyncio.create_task(self._listen(), name="vtn-outbox-listen")
        self.main = asyncio.create_task(self._run(), name="vtn-delivery")

    async def stop(self) -> None:
        self.stopping = True
        notifications.remove_waker(self._waker)
        for task in (self.main, self.listener):
            if task:
                task.cancel()
        for task in (self.main, self.listener, *self.tasks):
            if task:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await asyncio.wait_for(task, 5) if task in self.tasks else await task
        if self.client:
            await self.client.aclose()

    # --- wake-ups ----------------------------------------------------------------------------
    async def _listen(self) -> None:
        import asyncpg

        dsn = make_url(self.db.url).set(drivername="postgresql").render_as_string(hide_password=False)
        while not self.stopping:
            connection = None
            try:
                connection = await asyncpg.connect(dsn)
                await connection.add_listener(notifications.PG_CHANNEL, lambda *_a: self.wake.set())
                closed = asyncio.Event()
                connection.add_termination_listener(lambda *_a, closed=closed: closed.set())
                self.wake.set()  # (re)connected: notifications may have been missed, resync
                await closed.wait()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("outbox listener connection failed (%s); polling meanwhile", exc)
            finally:
                if connection is not None:
                    with contextlib.suppress(Exception):
                        await connection.close()
            await asyncio.sleep(min(5.0, self.settings.delivery_poll_seconds))

    # --- the loop ----------------------------------------------------------------------------
    async def _run(self) -> None:
        capacity = self.settings.delivery_max_in_flight
        while not self.stopping:
            try:
                self.wake.clear()
                await self._reap()
                free = capacity - len(self.tasks)
                claimed = await self._claim(free) if free > 0 else []
                for row in claimed:
                    task = asyncio.create_task(self._deliver(row))
                    self.tasks.add(task)
                    task.add_done_callback(self.tasks.discard)
                if claimed and len(claimed) == free:
                    continue
                timeout = await self._idle_timeout()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("delivery loop error; retrying")
                timeout = self.settings.delivery_poll_seconds
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), timeout)

    async def _idle_timeout(self) -> float:
        poll = self.settings.delivery_poll_seconds
        async with self.db.session(write=False) as session:
            due = (await session.exec(select(func.min(T.next_attempt_at)).where(T.status == OutboxStatus.PENDING))).first()
        if due is None:
            return poll
        return min(poll, max(0.05, (due - utcnow()).total_seconds()))

    async def _release_all_leases(self) -> None:
        async with self.db.session() as session:
            await session.exec(  # type: ignore[call-overload]
                update(T).where(col(T.status) == OutboxStatus.IN_FLIGHT)
                .values(status=OutboxStatus.PENDING, lease_until=None)
            )

    async def _reap(self) -> None:
        """Leases past their expiry (a crashed or stuck process) go back to pending."""
        now = utcnow()
        async with self.db.session(write=False) as session:
            expired = (await session.exec(
                select(T.id).where(T.status == OutboxStatus.IN_FLIGHT, col(T.lease_until) < now).limit(1)
            )).first()
        if expired is None:
            return
        async with self.db.session() as session:
            await session.exec(  # type: ignore[call-overload]
                update(T).where(col(T.status) == OutboxStatus.IN_FLIGHT, col(T.lease_until) < now)
                .values(status=OutboxStatus.PENDING, lease_until=None, next_attempt_at=now)
            )

    def _eligible(self, now: datetime, limit: int) -> Any:
        k = max(1, self.settings.delivery_concurrency_per_callback)
        active = (
            select(
                T.id, T.status, T.next_attempt_at,
                func.row_number().over(partition_by=T.callback_key, order_by=T.id).label("rn"),
                func.min(case((and_(T.status == OutboxStatus.PENDING, col(T.next_attempt_at) > now), T.id))).over(
                    partition_by=T.callback_key
                ).label("blocked"),
            )
            .where(col(T.status).in_([OutboxStatus.PENDING, OutboxStatus.IN_FLIGHT]))
            .subquery()
        )
        return (
            select(active.c.id)
            .where(
                active.c.rn <= k, active.c.status == OutboxStatus.PENDING, active.c.next_attempt_at <= now,
                or_(active.c.blocked.is_(None), active.c.id < active.c.blocked),
            )
            .order_by(active.c.id)
            .limit(limit)
        )

    async def _claim(self, limit: int) -> list[OutboxRow]:
        now = utcnow()
        async with self.db.session() as session:
            eligible = self._eligible(now, limit)
            if self.is_postgres:
                ids = list((await session.exec(
                    select(T.id).where(col(T.id).in_(eligible), T.status == OutboxStatus.PENDING)
                    .with_for_update(skip_locked=True)
                )).all())
            else:
                ids = list((await session.exec(eligible)).all())  # type: ignore[call-overload]
            if not ids:
                return []
            result = await session.exec(  # type: ignore[call-overload]
                update(T).where(col(T.id).in_(ids), col(T.status) == OutboxStatus.PENDING)
                .values(
                    status=OutboxStatus.IN_FLIGHT, attempts=T.attempts + 1, last_attempt_at=now,
                    lease_until=now + timedelta(seconds=self.lease),
                )
                .returning(*T.__table__.c)  # type: ignore[attr-defined]
            )
            rows = [OutboxRow.model_validate(dict(r._mapping)) for r in result.all()]
        rows.sort(key=lambda r: r.id or 0)
        return rows

    # --- one attempt -------------------------------------------------------------------------
    async def _deliver(self, row: OutboxRow) -> None:
        status: int | None = None
        error: str | None = None
        retry_after: float | None = None
        try:
            assert self.client is not None
            body = row.body.encode()
            headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT}
            headers.update(await self.signer.headers(row.message_id, body))
            if row.bearer_token:
                headers["Authorization"] = f"Bearer {row.bearer_token}"
            response = await self.client.post(row.callback_url, content=body, headers=headers)
            status = response.status_code
            await response.aclose()
            if not 200 <= status < 300:
                error = f"HTTP {status}" + (" (redirects are not followed)" if 300 <= status < 400 else "")
                retry_after = _retry_after(response.headers.get("retry-after"))
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"[:1000]
        try:
            await self._complete(row, status, error, retry_after)
        except Exception:
            log.exception("could not record the outcome of notification %s; its lease will expire", row.id)
        self.wake.set()

    async def _complete(self, row: OutboxRow, status: int | None, error: str | None, retry_after: float | None) -> None:
        mine = and_(col(T.id) == row.id, col(T.status) == OutboxStatus.IN_FLIGHT, col(T.attempts) == row.attempts)
        now = utcnow()
        async with self.db.session() as session:
            if error is None:
                await session.exec(delete(T).where(mine))  # type: ignore[call-overload]
                self.delivered += 1
                return
            too_old = (now - row.created_at).total_seconds() >= self.settings.delivery_max_age_seconds
            if status == 410 or row.attempts >= self.settings.delivery_max_attempts or too_old:
                values: dict[str, Any] = {"status": OutboxStatus.DEAD, "lease_until": None}
                log.warning("notification %s to %s dead-lettered after %d attempts: %s",
                            row.message_id, row.callback_url, row.attempts, error)
            else:
                delay = backoff_seconds(row.attempts, self.settings, retry_after)
                values = {"status": OutboxStatus.PENDING, "lease_until": None,
                          "next_attempt_at": now + timedelta(seconds=delay)}
            await session.exec(  # type: ignore[call-overload]
                update(T).where(mine).values(last_status=status, last_error=error, **values)
            )
