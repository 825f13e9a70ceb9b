"""Async engine, sessions and the column types every table uses.

SQLite traps that lose data silently are handled here once (python-stack-notes §3):
- `UTCDateTime` stores aware UTC and refuses naive values (SQLite drops offsets);
- write transactions start with `BEGIN IMMEDIATE`, so read-modify-write across processes
  cannot lose updates; foreign keys and WAL are switched on per connection;
- a process's own write sessions queue on an in-memory lock before `BEGIN IMMEDIATE`: SQLite has one
  writer anyway, and without the queue concurrent writers poll its busy handler in sleeps.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import JSON, DateTime, MetaData, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.types import TypeDecorator
from sqlmodel import SQLModel, select
from sqlmodel.ext.asyncio.session import AsyncSession

from vtn.core.errors import NotFound

# Named constraints let Alembic's SQLite batch mode recreate them.
SQLModel.metadata.naming_convention = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
metadata: MetaData = SQLModel.metadata


class UTCDateTime(TypeDecorator[datetime]):
    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime refused: store instants with an offset")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class JSONDoc(TypeDecorator[Any]):
    """JSON on SQLite, JSONB on PostgreSQL."""

    impl = JSON
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> Any:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(JSONB())
        return dialect.type_descriptor(JSON())


def utcnow() -> datetime:
    return datetime.now(UTC)


RowT = TypeVar("RowT", bound=SQLModel)


async def get_or_404(session: AsyncSession, model: type[RowT], key: Any, what: str) -> RowT:
    """The row with this primary key, or `NotFound("<what> '<key>' not found")`."""
    row = await session.get(model, key)
    if row is None:
        raise NotFound(f"{what} {key!r} not found")
    return row


UPSERT_CHUNK = 500


async def upsert(
    session: AsyncSession, table: Any, rows: list[dict[str, Any]], key: list[str], update_columns: list[str]
) -> None:
    """INSERT … ON CONFLICT (key) DO UPDATE for many rows (SQLite and PostgreSQL), an executemany per UPSERT_CHUNK
    rows: binding the parameters is Python work on the event loop, and 10 000 VENs' heartbeats in one statement
    would hold every poll for tens of milliseconds; in chunks, polls are answered between them."""
    if not rows:
        return
    module = postgresql if session.bind.dialect.name == "postgresql" else sqlite
    statement = module.insert(table)
    statement = statement.on_conflict_do_update(
        index_elements=key, set_={name: statement.excluded[name] for name in update_columns}
    )
    for start in range(0, len(rows), UPSERT_CHUNK):
        await session.exec(statement, params=rows[start:start + UPSERT_CHUNK])  # type: ignore[call-overload]


async def all_rows(session: AsyncSession, model: type[RowT], order_by: Any) -> list[RowT]:
    """Every row of a small administrative table (clients, console users), in `order_by` order."""
    return list((await session.exec(select(model).order_by(order_by))).all())


def _configure_sqlite(engine: AsyncEngine, begin: str) -> None:
    sync_engine = engine.sync_engine

    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.close()

    @event.listens_for(sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql(begin)


def create_engine(url: str, pool_size: int = 10, *, read_only: bool = False) -> AsyncEngine:
    if url.startswith("sqlite"):
        engine = create_async_engine(url, connect_args={"timeout": 30})
        _configure_sqlite(engine, "BEGIN" if read_only else "BEGIN IMMEDIATE")
        return engine
    return create_async_engine(url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True)


# ids of the Databases whose write lock the current task (or the task that spawned it) holds: a write
# session opened inside another (a token-key refresh, an audit `record_apart`) must not wait for itself.
_holding_write_lock: ContextVar[frozenset[int]] = ContextVar("holding_write_lock", default=frozenset())


class Database:
    """The engine and session factory of one VTN process."""

    def __init__(self, url: str, pool_size: int = 10) -> None:
        self.url = url
        self.engine = create_engine(url, pool_size)
        # SQLite: reads use a deferred BEGIN on their own connections, so they never queue
        # behind the single writer; PostgreSQL needs no such split.
        self.read_engine = create_engine(url, pool_size, read_only=True) if url.startswith("sqlite") else self.engine
        # shared with every session's `info` (e.g. the process's in-memory change revisions)
        self.info: dict[str, Any] = {}
        self._sessions = async_sessionmaker(self.engine, class_=AsyncSession, expire_on_commit=False, info=self.info)
        self._read_sessions = async_sessionmaker(
            self.read_engine, class_=AsyncSession, expire_on_commit=False, info=self.info
        )
        self._queue_writers = url.startswith("sqlite")
        self._write_lock: asyncio.Lock | None = None
        self._write_lock_loop: asyncio.AbstractEventLoop | None = None

    @asynccontextmanager
    async def _writer_turn(self) -> AsyncIterator[None]:
        """SQLite: one write session of this process at a time, queued in memory (FIFO), re-entrant
        within a task; other processes still meet SQLite's own lock and busy handler."""
        held = _holding_write_lock.get()
        if not self._queue_writers or id(self) in held:
            yield
            return
        loop = asyncio.get_running_loop()
        if self._write_lock is None or self._write_lock_loop is not loop:  # an asyncio.Lock is bound to one loop
            self._write_lock, self._write_lock_loop = asyncio.Lock(), loop
        async with self._write_lock:
            token = _holding_write_lock.set(held | {id(self)})
            try:
                yield
            finally:
                try:
                    _holding_write_lock.reset(token)
                except ValueError:  # exited in another context (e.g. a dependency's teardown): nothing to undo there
                    pass

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @asynccontextmanager
    async def session(self, write: bool = True) -> AsyncIterator[AsyncSession]:
        """A session in one transaction, committed on success and rolled back on error.

        `write=False` marks a read-only transaction (SQLite then takes no write lock).
        """
        factory = self._sessions if write else self._read_sessions
        async with AsyncExitStack() as stack:
            if write:
                await stack.enter_async_context(self._writer_turn())
            session = await stack.enter_async_context(factory())
            try:
                yield session
                if write:
                    await session.commit()
                else:
                    session.expunge_all()  # keep loaded rows usable after the transaction
                    await session.rollback()
            except BaseException:
                await session.rollback()
                raise

    async def dispose(self) -> None:
        await self.engine.dispose()
        if self.read_engine is not self.engine:
            await self.read_engine.dispose()
