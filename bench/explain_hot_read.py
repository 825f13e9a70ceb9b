"""The plans of the poll's hot read at scale: the exact statements the VTN sends, explained by the database.

Seeds --events events in bulk (`bench/seed.py`: 100 per program, each VEN granted one of 10 groups),
then runs the services a VEN's poll runs (P1: `GET /events?programID=…`, P1b: `…?targetType=GROUP&…`,
P0: `GET /events` without a filter) and the grant lookup, records the SQL they send, and prints
`EXPLAIN QUERY PLAN` (SQLite) or `EXPLAIN (ANALYZE, BUFFERS)` (PostgreSQL) of each, with the
median execution time over --repeat runs.

    python bench/explain_hot_read.py --events 1000000
    python bench/explain_hot_read.py --events 1000000 --postgres postgresql+asyncpg://postgres@127.0.0.1:5432
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy import event, text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.seed import seed
from bench.vtn_vs_ceiling import postgres_database
from vtn.auth.privacy import resolve_viewer
from vtn.core.database import Database
from vtn.core.migrate import upgrade
from vtn.core.pagination import Page
from vtn.core.security import Principal, Role
from vtn.core.store import TargetFilter
from vtn.events import service


async def explain(url: str, repeat: int) -> None:
    db = Database(url)
    captured: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_a: Any) -> None:
        if statement.lstrip().upper().startswith(("SELECT", "WITH")):
            captured.append((statement, parameters))

    for engine in {db.engine, db.read_engine}:
        event.listen(engine.sync_engine, "before_cursor_execute", capture)
    principal = Principal("ven-3", Role.VEN, frozenset({"read_all"}), ven_name="ven-3")
    async with db.session(write=False) as session:
        program_id = (await session.exec(text("SELECT id FROM program ORDER BY created_at LIMIT 1"))).scalar_one()  # type: ignore[call-overload]
        captured.clear()
        viewer = await resolve_viewer(session, principal)
        grants = captured[-1]
        workloads = {}
        for label, args in (
            ("P1 programID", (program_id, None)),
            ("P1b targetType=GROUP", (None, TargetFilter("GROUP", ("g3",)))),
            ("P0 no filter", (None, None)),
        ):
            captured.clear()
            rows = await service.list_events(session, viewer, args[0], args[1], Page(0, 50))
            workloads[label] = (captured[-1], len(rows))
    for engine in {db.engine, db.read_engine}:
        event.remove(engine.sync_engine, "before_cursor_execute", capture)
    statements = {"grants of ven-3": (grants, len(viewer.granted)), **workloads}
    async with db.read_engine.connect() as connection:
        raw = await connection.get_raw_connection()
        driver: Any = raw.driver_connection
        for label, ((sql, parameters), count) in statements.items():
            print(f"\n### {label} ({count} rows)\n\n```sql\n{sql.strip()}\n```\n")
            timings = []
            for _ in range(repeat):
                began = time.perf_counter()
                if db.dialect == "postgresql":
                    await driver.fetch(sql, *parameters)
                else:
                    await driver.execute_fetchall(sql, parameters)
                timings.append((time.perf_counter() - began) * 1000)
            if db.dialect == "postgresql":
                plan = await driver.fetch("EXPLAIN (ANALYZE, BUFFERS) " + sql, *parameters)
                lines = [r[0] for r in plan]
            else:
                plan = await driver.execute_fetchall("EXPLAIN QUERY PLAN " + sql, parameters)
                lines = [f"{'  ' * (int(r[1]) > 0)}{r[3]}" for r in plan]
            print("```\n" + "\n".join(lines) + "\n```")
            print(f"median of {repeat} runs: {statistics.median(timings):.2f} ms")
    await db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--vens", type=int, default=1000)
    parser.add_argument("--postgres", help="PostgreSQL server URL; a fresh database is created and dropped")
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, postgres_database(args.postgres) as pg_url:
        url = pg_url or f"sqlite+aiosqlite:///{tmp}/explain.db"
        upgrade(url)
        began = time.perf_counter()
        asyncio.run(seed(url, args.events, args.vens))
        print(f"seeded {args.events:,} events, {args.vens:,} VENs in {time.perf_counter() - began:.0f} s")
        asyncio.run(explain(url, args.repeat))


if __name__ == "__main__":
    main()
