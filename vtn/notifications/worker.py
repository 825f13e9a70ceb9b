"""The delivery worker: an asyncio task in every VTN process draining the outbox.

- At-least-once: a row is deleted only after a 2xx answer; a crash leaves it `in_flight` until
  its lease expires, and the reaper then makes it `pending` again.
- Outcomes are recorded in batches (group commit): finished attempts queue their result and one
  recorder task writes everything queued in one transaction, so a fan-out to N receivers costs
  a few dozen write transactions, not N. A crash before the write only causes a re-delivery.
- Claiming: PostgreSQL `FOR UPDATE SKIP LOCKED` + lease (several processes never claim the same
  attempt); SQLite: one process delivers — the holder of an exclusive lock on
  `<database>.delivery.lock` (other processes, e.g. `--workers 2`, wait to take over) — and
  claims inside `BEGIN IMMEDIATE`. The claim walks pending rows
  in id order (index on status, id) and checks the per-callback rules with one index probe
  (the first k live rows of the candidate's callback), so its cost does not grow with the
  size of the outbox.
- Order per callback (subscription + callbackUrl): attempts start in outbox order; at most
  `delivery_concurrency_per_callback` are in flight, and while the oldest pending one waits for
  its retry the callback is paused (later ones never overtake it).
- Retries: exponential backoff with equal jitter, `Retry-After` honoured; dead-letter after
  `delivery_max_attempts` or `delivery_max_age_seconds`, and at once on 410 Gone and on 401/403
  (the receiver refuses the subscription's credentials: retrying the same token cannot succeed;
  a PUT of the subscription re-addresses and re-queues them, `outbox.readdress_outbox`).
- Wake-ups: after a commit in this process (in-process event), LISTEN/NOTIFY from other
  processes (PostgreSQL, a dedicated asyncpg connection), and polling as a safety net.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import random
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, bindparam, delete, func, or_, text, tuple_, update
from sqlalchemy.engine import make_url
from sqlmodel import col, select

from vtn.core.database import Database, UTCDateTime, upsert, utcnow
from vtn.core.settings import Settings
from vtn.notifications import outbox
from vtn.notifications.models import BigId, DeliveredRow, OutboxRow, OutboxStatus
from vtn.notifications.signing import WebhookSigner
from vtn.notifications.transports import Transport, build_transports
from vtn.notifications.webhook import retry_after_seconds

log = logging.getLogger("vtn.delivery")
T = OutboxRow
# Hot-path statements use the Core table: ORM-enabled UPDATE/DELETE … RETURNING spent ~30 ms per
# claim in session synchronisation and ORM loading, for rows this worker never keeps in a session.
TABLE = OutboxRow.__table__  # type: ignore[attr-defined]
C = TABLE.c
# PostgreSQL: the worker's own transactions (claims, outcomes) commit without waiting for the WAL flush. A crash
# can then forget the last few hundred milliseconds of them: a forgotten claim leaves its row pending (claimed
# again), a forgotten outcome re-sends a delivered notification (at least once, as after any crash). The outbox
# rows themselves are written by the API's write transactions, which keep synchronous commits. A fan-out commits
# two transactions per claimed batch, and waiting for each flush left the process idle most of the time.
ASYNC_COMMIT = "SELECT set_config('synchronous_commit', 'off', true)"
BATCH = 500  # outcomes per statement (SQLite allows 32766 bound parameters; two per row)
GONE = 410
REFUSED = frozenset({401, 403})  # the receiver refuses our credentials: never retried with the same ones


def dead_reason(status: int | None, error: str | None) -> str | None:
    """Why an answer dead-letters its notification at once, or None when it may be retried."""
    if status == GONE:
        return f"{error}: the receiver says the callback is gone"
    if status in REFUSED:
        return (f"{error}: the receiver refused the subscription's credentials (bearer token); not retried until "
                "the subscription is updated")
    return None


@dataclass
class Outcome:
    row: OutboxRow
    status: int | None
    error: str | None
    retry_after: float | None
    at: datetime = field(default_factory=utcnow)  # when the answer (or the failure) came


def backoff_seconds(attempts: int, settings: Settings, retry_after: float | None = None) -> float:
    """Delay before attempt `attempts + 1`: base·2^(n-1) capped, times uniform(0.5, 1) (equal jitter)."""
    cap = settings.delivery_retry_max_seconds
    delay = min(cap, settings.delivery_retry_base_seconds * 2 ** max(0, attempts - 1)) * random.uniform(0.5, 1.0)
    if retry_after is not None:
        delay = max(delay, min(cap, retry_after))
    return delay


_retry_after = retry_after_seconds  # the name the tests and older callers know


class DeliveryWorker:
    def __init__(self, db: Database, settings: Settings, signer: WebhookSigner) -> None:
        self.db = db
        self.settings = settings
        self.signer = signer
        self.wake = asyncio.Event()
        self.transports: dict[str, Transport] = {}
        self.tasks: set[asyncio.Task[None]] = set()
        self.main: asyncio.Task[None] | None = None
        self.listener: asyncio.Task[None] | None = None
        self.stopping = False
        self.lease = settings.delivery_lease_seconds or settings.delivery_timeout_seconds + 30
        self.delivered = 0
        self.outcomes: list[Outcome] = []
        self.outcome_ready = asyncio.Event()
        self.recorder: asyncio.Task[None] | None = None
        # Claim and outcome writes of this process never interleave: a claim then always sees the
        # latest state of this process's rows (a failed oldest row pauses its callback at once).
        self.db_lock = asyncio.Lock()
        self.reaped_at = 0.0
        self.lock_file: Any = None  # SQLite: the open lock file while this process is the deliverer

    @property
    def delivers(self) -> bool:
        """Whether this process may claim (always on PostgreSQL; on SQLite, the lock holder)."""
        return self.is_postgres or self.lock_file is not None or self._lock_path() is None

    def _lock_path(self) -> str | None:
        database = make_url(self.db.url).database
        return None if not database or database == ":memory:" else database + ".delivery.lock"

    def _try_lock(self) -> bool:
        """SQLite: become the one delivering process if no other live process is (flock is
        released by the kernel when its holder dies, so a crashed deliverer is replaced)."""
        path = self._lock_path()
        if self.is_postgres or path is None or self.lock_file is not None:
            return True
        handle = open(path, "a")  # kept open while this process delivers
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            return False
        self.lock_file = handle
        return True

    @property
    def is_postgres(self) -> bool:
        return self.db.dialect == "postgresql"

    # --- lifecycle ---------------------------------------------------------------------------
    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._waker = lambda: loop.call_soon_threadsafe(self.wake.set)
        outbox.add_waker(self._waker)
        self.transports = build_transports(self.settings, self.signer)
        for transport in self.transports.values():
            await transport.start()
        if not self.is_postgres and self._try_lock():
            await self._release_all_leases()  # the only deliverer: anything in flight was a dead one's
        if self.is_postgres:
            self.listener = asyncio.create_task(self._listen(), name="vtn-outbox-listen")
        self.recorder = asyncio.create_task(self._record(), name="vtn-delivery-outcomes")
        self.main = asyncio.create_task(self._run(), name="vtn-delivery")

    async def stop(self) -> None:
        self.stopping = True
        outbox.remove_waker(self._waker)
        for task in (self.main, self.listener):
            if task:
                task.cancel()
        for task in (self.main, self.listener, *list(self.tasks)):
            if task:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await asyncio.wait_for(task, 5) if task in self.tasks else await task
        if self.recorder:
            async with self.db_lock:  # not in the middle of writing a batch
                self.recorder.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.recorder
        with contextlib.suppress(Exception):  # what is left is re-sent after its lease expires
            await self._flush()
        for transport in self.transports.values():
            await transport.stop()
        if self.lock_file is not None:
            self.lock_file.close()  # releases the flock: another process takes over
            self.lock_file = None

    # --- wake-ups ----------------------------------------------------------------------------
    async def _listen(self) -> None:
        import asyncpg

        dsn = make_url(self.db.url).set(drivername="postgresql").render_as_string(hide_password=False)
        while not self.stopping:
            connection = None
            try:
                connection = await asyncpg.connect(dsn)
                await connection.add_listener(outbox.PG_CHANNEL, lambda *_a: self.wake.set())
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
                if not self.delivers:
                    if self._try_lock():
                        await self._release_all_leases()
                    else:
                        with contextlib.suppress(TimeoutError):
                            await asyncio.wait_for(self.wake.wait(), self.settings.delivery_poll_seconds)
                        continue
                if time.monotonic() - self.reaped_at >= min(1.0, self.lease / 4):
                    await self._reap()
                    self.reaped_at = time.monotonic()
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
        """Pending rows due now that the per-callback rules allow, oldest first.

        Row R may start when, among the first k live (pending or in-flight) rows of its callback,
        (1) R is one of them and (2) none older than R is pending with a later retry time (the
        oldest waiting one pauses its callback; later ones never overtake it). Both read the same
        k rows: `R.id = min(id of those rows that are R or wait)`. The outer walk follows
        (status, id) and the probe (callback_key, id, …) alone, so a claim costs O(limit · k) index reads
        whatever the outbox size; SQLite is told the indexes (its planner, without statistics,
        would sort every pending row by id on each claim).
        """
        sqlite_hint = not self.is_postgres
        walk = " INDEXED BY ix_notification_outbox_claim" if sqlite_hint else ""
        probe = " INDEXED BY ix_notification_outbox_callback_live" if sqlite_hint else ""
        lock = " FOR UPDATE OF o SKIP LOCKED" if self.is_postgres else ""
        sql = (
            f"SELECT o.id FROM notification_outbox AS o{walk}"
            " WHERE o.status = :pending AND o.next_attempt_at <= :now AND o.id = ("
            "  SELECT min(f.id) FROM ("
            f"   SELECT l.id, l.status, l.next_attempt_at FROM notification_outbox AS l{probe}"
            "    WHERE l.callback_key = o.callback_key AND l.status IN (:pending, :in_flight)"
            "    ORDER BY l.id LIMIT :k"
            "  ) AS f WHERE f.id = o.id OR (f.status = :pending AND f.next_attempt_at > :now))"
            f" ORDER BY o.id LIMIT :limit{lock}"
        )
        return text(sql).bindparams(
            bindparam("now", now, type_=UTCDateTime()),
            pending=OutboxStatus.PENDING, in_flight=OutboxStatus.IN_FLIGHT,
            k=max(1, self.settings.delivery_concurrency_per_callback), limit=limit,
        ).columns(id=BigId)

    async def _claim(self, limit: int) -> list[OutboxRow]:
        now = utcnow()
        async with self.db_lock, self.db.session() as session:
            if self.is_postgres:
                # The planner estimates rows per callback from the average (about one), so for a
                # callback with a backlog it picks bitmap scan + sort over all that callback's rows
                # for every probe instead of reading k rows in index order; JIT would only add
                # compile time to a sub-millisecond query; asynchronous commit: see ASYNC_COMMIT. For this
                # transaction only.
                await session.exec(text(  # type: ignore[call-overload]
                    "SELECT set_config('enable_bitmapscan', 'off', true), set_config('jit', 'off', true),"
                    " set_config('synchronous_commit', 'off', true)"
                ))
            ids = list((await session.exec(self._eligible(now, limit))).scalars().all())  # type: ignore[call-overload]
            if not ids:
                return []
            result = await session.exec(  # type: ignore[call-overload]
                update(TABLE).where(C.id.in_(ids), C.status == OutboxStatus.PENDING)
                .values(
                    status=OutboxStatus.IN_FLIGHT, attempts=C.attempts + 1, last_attempt_at=now,
                    lease_until=now + timedelta(seconds=self.lease),
                )
                .returning(*C)
            )
            # values typed by the columns already: no validation pass (it cost 0.4 ms per row)
            rows = [OutboxRow.model_construct(**r._mapping) for r in result.all()]
        rows.sort(key=lambda r: r.id or 0)
        return rows

    # --- one attempt -------------------------------------------------------------------------
    async def _deliver(self, row: OutboxRow) -> None:
        status: int | None = None
        error: str | None = None
        retry_after: float | None = None
        try:
            transport = self.transports.get(row.transport)
            if transport is None:  # e.g. an MQTT row in a process started without VTN_MQTT_URL
                error = f"no {row.transport!r} transport configured in this process"
            else:
                attempt = await transport.send(row)
                status, error, retry_after = attempt.status, attempt.error, attempt.retry_after
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"[:1000]
        self.outcomes.append(Outcome(row, status, error, retry_after))
        self.outcome_ready.set()

    # --- recording outcomes ------------------------------------------------------------------
    async def _record(self) -> None:
        """Write queued outcomes; whatever finishes during one write goes into the next one."""
        while True:
            await self.outcome_ready.wait()
            self.outcome_ready.clear()
            try:
                await self._flush()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("could not record delivery outcomes; their leases will expire and they are re-sent")
            self.wake.set()

    async def _flush(self) -> None:
        while self.outcomes:
            async with self.db_lock:  # taken before the batch leaves the queue: see stop()
                batch, self.outcomes = self.outcomes[:BATCH], self.outcomes[BATCH:]
                await self._complete(batch)

    async def _complete(self, batch: list[Outcome]) -> None:
        """Delete delivered rows and reschedule or dead-letter failed ones, in one transaction.

        Each statement only touches the attempt that was made (id, attempts, still in flight): if
        the lease expired meanwhile and another attempt started, that attempt owns the row.
        """
        now = utcnow()
        delivered = [(o.row.id, o.row.attempts) for o in batch if o.error is None]
        failed = [o for o in batch if o.error is not None]
        async with self.db.session() as session:
            if self.is_postgres:
                await session.exec(text(ASYNC_COMMIT))  # type: ignore[call-overload]
            if delivered:
                await session.exec(delete(TABLE).where(  # type: ignore[call-overload]
                    C.status == OutboxStatus.IN_FLIGHT, tuple_(C.id, C.attempts).in_(delivered)
                ))
                latest: dict[str, datetime] = {}  # newest 2xx per subscription in this batch
                for o in batch:
                    if o.error is None and o.row.subscription_id:  # webhook rows (MQTT ones have no subscription)
                        latest[o.row.subscription_id] = max(o.at, latest.get(o.row.subscription_id, o.at))
                await upsert(session, DeliveredRow.__table__, [  # type: ignore[attr-defined]
                    {"subscription_id": sid, "last_delivered_at": at} for sid, at in sorted(latest.items())
                ], key=["subscription_id"], update_columns=["last_delivered_at"])
            for outcome in failed:
                row = outcome.row
                mine = and_(C.id == row.id, C.status == OutboxStatus.IN_FLIGHT, C.attempts == row.attempts)
                too_old = (now - row.created_at).total_seconds() >= self.settings.delivery_max_age_seconds
                error = dead_reason(outcome.status, outcome.error)
                if error is not None and outcome.status in REFUSED:
                    # Refused credentials dead-letter only if they are still the row's: a subscription
                    # PUT during the attempt re-addressed it, and the new address or token gets a try now.
                    same = and_(C.callback_url == row.callback_url,
                                C.bearer_token.is_(None) if row.bearer_token is None else C.bearer_token == row.bearer_token)
                    result = await session.exec(update(TABLE).where(mine, same).values(  # type: ignore[call-overload]
                        last_status=outcome.status, last_error=error, status=OutboxStatus.DEAD, lease_until=None))
                    if result.rowcount:
                        log.warning("notification %s to %s dead-lettered: %s", row.message_id, row.callback_url, error)
                    error = None  # below: the re-addressed case (still in flight), retried at once
                    values: dict[str, Any] = {"status": OutboxStatus.PENDING, "lease_until": None, "next_attempt_at": now}
                elif error is not None or row.attempts >= self.settings.delivery_max_attempts or too_old:
                    values = {"status": OutboxStatus.DEAD, "lease_until": None}
                    log.warning("notification %s to %s dead-lettered after %d attempts: %s",
                                row.message_id, row.callback_url, row.attempts, error or outcome.error)
                else:
                    # Re-addressed by a subscription PUT during the attempt: the subscriber just came back, so
                    # the new address gets its try now, not after the backoff of the old one's failure.
                    moved = or_(C.callback_url != row.callback_url,
                                C.bearer_token.is_not(None) if row.bearer_token is None else C.bearer_token != row.bearer_token)
                    await session.exec(update(TABLE).where(mine, moved).values(  # type: ignore[call-overload]
                        status=OutboxStatus.PENDING, lease_until=None, next_attempt_at=now,
                        last_status=outcome.status, last_error=outcome.error))
                    delay = backoff_seconds(row.attempts, self.settings, outcome.retry_after)
                    values = {"status": OutboxStatus.PENDING, "lease_until": None,
                              "next_attempt_at": now + timedelta(seconds=delay)}
                await session.exec(  # type: ignore[call-overload]
                    update(TABLE).where(mine).values(last_status=outcome.status, last_error=error or outcome.error, **values)
                )
        self.delivered += len(delivered)
