"""Does a VEN's filtered GET /events cost the same with 1 000 000 stored events as with 1 000?

Seeds N events (each targeted at one of --vens VENs) straight into the database, starts a real
`vtn serve` on loopback, then runs a closed-loop load generator: --concurrency clients, each
polling GET /events as a VEN client (privacy filter) or as BL with a targetType/targetValues
filter, for --seconds. Prints requests/s, p50 and p99.

    python bench/events_list_bench.py --events 1000 1000000 --seconds 15
    python bench/events_list_bench.py --database-url postgresql+asyncpg://postgres@127.0.0.1/bench --events 1000000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx2
from sqlalchemy import text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import fetch_token, latency_stats
from tests.support.server import running_vtn
from vtn.core.database import Database
from vtn.core.migrate import upgrade
from vtn.core.security import Role

BATCH = 10_000


async def seed(database_url: str, events: int, vens: int) -> None:
    db = Database(database_url)
    now = datetime.now(UTC)
    async with db.engine.begin() as connection:
        program_id = str(uuid.uuid4())
        stamp = now.isoformat()
        await connection.execute(
            text(
                "INSERT INTO program (id, created_at, modified_at, document, targeted, program_name) "
                "VALUES (:id, :c, :c, :doc, false, 'bench')"
            ),
            {
                "id": program_id,
                "c": now.replace(tzinfo=None) if db.dialect == "sqlite" else now,
                "doc": json.dumps(
                    {
                        "id": program_id,
                        "objectType": "PROGRAM",
                        "programName": "bench",
                        "createdDateTime": stamp,
                        "modificationDateTime": stamp,
                    }
                ),
            },
        )
        for start in range(0, events, BATCH):
            rows, targets = [], []
            for i in range(start, min(start + BATCH, events)):
                event_id = str(uuid.uuid4())
                created = now + timedelta(microseconds=i)
                ven = f"ven-{i % vens}"
                document = {
                    "id": event_id,
                    "createdDateTime": created.isoformat(),
                    "modificationDateTime": created.isoformat(),
                    "objectType": "EVENT",
                    "programID": program_id,
                    "eventName": f"dispatch {i}",
                    "targets": [{"type": "VEN_NAME", "values": [ven]}],
                    "intervalPeriod": {"start": created.isoformat(), "duration": "PT30M"},
                    "intervals": [{"id": 0, "payloads": [{"type": "DISPATCH_SETPOINT", "values": [-250.0]}]}],
                }
                rows.append(
                    {
                        "id": event_id,
                        "c": created.replace(tzinfo=None) if db.dialect == "sqlite" else created,
                        "doc": json.dumps(document),
                        "p": program_id,
                    }
                )
                targets.append({"oid": event_id, "v": ven, "c": rows[-1]["c"]})
            await connection.execute(
                text(
                    "INSERT INTO event (id, created_at, modified_at, document, targeted, program_id) "
                    "VALUES (:id, :c, :c, :doc, true, :p)"
                ),
                rows,
            )
            await connection.execute(
                text("INSERT INTO object_target (object_type, object_id, type, value, created_at) "
                     "VALUES ('EVENT', :oid, 'VEN_NAME', :v, :c)"),
                targets,
            )
    if db.dialect == "postgresql":
        async with db.engine.connect() as connection:
            await connection.execute(text("ANALYZE"))
            await connection.commit()
    await db.dispose()


async def load(base_url: str, token: str, params: dict[str, str], seconds: float, concurrency: int) -> dict[str, float]:
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds
    headers = {"Authorization": f"Bearer {token}"}
    limits = httpx2.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx2.AsyncClient(base_url=base_url, headers=headers, limits=limits, timeout=30) as client:

        async def worker() -> None:
            while time.perf_counter() < deadline:
                began = time.perf_counter()
                response = await client.get("/events", params=params)
                response.raise_for_status()
                latencies.append(time.perf_counter() - began)

        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - began
    return latency_stats(latencies, elapsed)


def run(database_url: str | None, events: int, vens: int, seconds: float, concurrency: int, workers: int) -> list[str]:
    with tempfile.TemporaryDirectory() as tmp:
        url = database_url or f"sqlite+aiosqlite:///{tmp}/bench.db"
        upgrade(url)
        began = time.perf_counter()
        asyncio.run(seed(url, events, vens))
        seeded = time.perf_counter() - began
        with running_vtn(Path(tmp), database_url=url, env={"VTN_WORKERS": str(workers)}) as vtn:
            bl_secret = vtn.provision("bench-bl", Role.BL)
            ven_secret = vtn.provision("bench-ven", Role.VEN, ven_name="ven-7")
            bl = fetch_token(vtn.base_url, "bench-bl", bl_secret)
            ven = fetch_token(vtn.base_url, "bench-ven", ven_secret)
            # The VEN needs its ven object for privacy; create it as BL.
            httpx2.post(vtn.base_url + "/vens", json={"venName": "ven-7"}, headers={"Authorization": f"Bearer {bl}"})
            lines = []
            for label, token, params in (
                ("VEN client, privacy filter", ven, {"limit": "10"}),
                ("BL, targetType=VEN_NAME filter", bl, {"targetType": "VEN_NAME", "targetValues": "ven-7", "limit": "10"}),
            ):
                result = asyncio.run(load(vtn.base_url, token, params, seconds, concurrency))
                lines.append(f"| {events:,} | {label} | {result['rps']:.0f} | {result['p50_ms']:.1f} | {result['p99_ms']:.1f} |")
                print(lines[-1], flush=True)
            print(f"(seeded {events:,} events in {seeded:.1f} s)", flush=True)
        if database_url:
            asyncio.run(_drop_events(database_url))
        return lines


async def _drop_events(database_url: str) -> None:
    db = Database(database_url)
    async with db.engine.begin() as connection:
        for table in ("object_target", "report", "subscription", "event", "program", "resource", "ven", "auth_client"):
            await connection.execute(text(f"DELETE FROM {table}"))
    await db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL"))
    parser.add_argument("--events", type=int, nargs="+", default=[1000, 100_000, 1_000_000])
    parser.add_argument(
        "--events-per-ven",
        type=int,
        default=100,
        help="events targeted at each VEN: the VEN's own result set stays the same size as N grows",
    )
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    print("| stored events | caller | req/s | p50 ms | p99 ms |\n|---|---|---|---|---|")
    for events in args.events:
        vens = max(10, events // args.events_per_ven)
        run(args.database_url, events, vens, args.seconds, args.concurrency, args.workers)


if __name__ == "__main__":
    main()
