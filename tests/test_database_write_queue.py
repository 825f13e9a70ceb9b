"""SQLite: a process's write sessions queue in memory (one at a time), and a nested one does not wait for itself."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

from sqlalchemy import text

from vtn.core.database import Database


async def test_sqlite_writers_queue_and_nest(sqlite_template: Path, tmp_path: Path) -> None:
    path = tmp_path / "vtn.db"
    shutil.copy(sqlite_template, path)
    db = Database(f"sqlite+aiosqlite:///{path}")
    inside, most = 0, 0

    async def writer(n: int) -> None:
        nonlocal inside, most
        async with db.session() as session:
            inside += 1
            most = max(most, inside)
            await asyncio.sleep(0.01)  # a writer that yields before its first statement
            # e.g. a token-key refresh inside a write request: must not wait for the lock its task holds
            async with db.session() as nested:
                await nested.exec(text("INSERT INTO heartbeat_probe (n) VALUES (:n)"), params={"n": -n})  # type: ignore[call-overload]
            await session.exec(text("INSERT INTO heartbeat_probe (n) VALUES (:n)"), params={"n": n})  # type: ignore[call-overload]
            inside -= 1

    try:
        async with db.engine.begin() as connection:
            await connection.execute(text("CREATE TABLE heartbeat_probe (n INTEGER)"))
        await asyncio.wait_for(asyncio.gather(*(writer(n) for n in range(20))), timeout=20)
        assert most == 1
        async with db.session(write=False) as session:
            assert (await session.exec(text("SELECT count(*) FROM heartbeat_probe"))).scalar_one() == 40  # type: ignore[call-overload]
    finally:
        await db.dispose()
