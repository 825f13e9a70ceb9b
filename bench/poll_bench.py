"""Polling benchmark: N VENs polling GET /events against a real `vtn serve` on loopback,
without and with If-None-Match. Reports req/s, p50 and p99 latency.

    python bench/poll_bench.py --vens 50 --seconds 10 [--database-url postgresql+asyncpg://...]
                               [--report-interval 0.5] [--workers 2] [--api 3.1.0]

`--api 3.1.0`: the VENs poll the OpenADR 3.1.0 mount (the same events, converted; docs/openadr-3.1.md).

`--report-interval S`: meanwhile one VEN posts a report every S seconds (VENs report all the
time in a real deployment; a report must not invalidate everybody's event ETags).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

import httpx2

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import fetch_token, latency_stats
from tests.support.server import running_vtn
from vtn.core.security import Role

EVENT_BODY = {"intervals": [{"id": 0, "payloads": [{"type": "PRICE", "values": [1.0]}]}]}


async def report_writer(client: httpx2.AsyncClient, access_token: str, report: dict, interval: float,  # type: ignore[type-arg]
                        deadline: float) -> int:
    written = 0
    while time.monotonic() < deadline:
        response = await client.post("/reports", json=report, headers={"Authorization": f"Bearer {access_token}"})
        response.raise_for_status()
        written += 1
        await asyncio.sleep(interval)
    return written


async def poll(base: str, tokens: list[str], seconds: float, conditional: bool,
               report: dict | None = None, interval: float = 0.0) -> dict[str, float]:  # type: ignore[type-arg]
    latencies: list[float] = []
    not_modified = 0
    deadline = time.monotonic() + seconds
    limits = httpx2.Limits(max_connections=len(tokens), max_keepalive_connections=len(tokens))
    async with httpx2.AsyncClient(base_url=base, limits=limits, timeout=30) as client:
        async def ven(access_token: str) -> None:
            nonlocal not_modified
            headers = {"Authorization": f"Bearer {access_token}"}
            etag: str | None = None
            while time.monotonic() < deadline:
                extra = {"If-None-Match": etag} if conditional and etag else {}
                started = time.perf_counter()
                response = await client.get("/events", headers={**headers, **extra})
                latencies.append(time.perf_counter() - started)
                if response.status_code == 304:
                    not_modified += 1
                else:
                    response.raise_for_status()
                    etag = response.headers.get("etag")

        started = time.monotonic()
        writer = (asyncio.create_task(report_writer(client, tokens[0], report, interval, deadline))
                  if report and interval > 0 else None)
        await asyncio.gather(*(ven(t) for t in tokens))
        elapsed = time.monotonic() - started
        reports = await writer if writer else 0
    return {**latency_stats(latencies, elapsed), "not_modified": not_modified, "reports": reports}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--vens", type=int, default=50)
    parser.add_argument("--events", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--database-url")
    parser.add_argument("--report-interval", type=float, default=0.0)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--api", choices=("3.0.1", "3.1.0"), default="3.0.1", help="the API version the VENs poll")
    args = parser.parse_args()
    env = {"VTN_LOG_LEVEL": "warning", "VTN_WORKERS": str(args.workers)}
    with tempfile.TemporaryDirectory() as tmp, running_vtn(Path(tmp), database_url=args.database_url, env=env) as vtn:
        base = vtn.base_url
        bl = {"Authorization": f"Bearer {fetch_token(base, 'op', vtn.provision('op', Role.BL))}"}
        program_id = httpx2.post(base + "/programs", json={"programName": "bench"}, headers=bl).json()["id"]
        event_ids = []
        for n in range(args.events):
            targets = [{"type": "VEN_NAME", "values": [f"ven{n % args.vens}"]}] if n % 2 else None
            body = {"programID": program_id, "eventName": f"e{n}", **EVENT_BODY, **({"targets": targets} if targets else {})}
            response = httpx2.post(base + "/events", json=body, headers=bl)
            response.raise_for_status()
            event_ids.append(response.json()["id"])
        report = {"programID": program_id, "eventID": event_ids[0], "clientName": "ven0", "resources": []}
        tokens = []
        for n in range(args.vens):
            name = f"ven{n}"
            tokens.append(fetch_token(base, name, vtn.provision(name, Role.VEN, ven_name=name)))
            httpx2.post(base + "/vens", json={"venName": name}, headers={"Authorization": f"Bearer {tokens[-1]}"})
        db = "PostgreSQL" if (args.database_url or "").startswith("postgres") else "SQLite"
        writes = f", a report every {args.report_interval:g}s" if args.report_interval > 0 else ""
        poll_base = base.replace("/openadr3/3.0.1", "/openadr3/3.1.0") if args.api == "3.1.0" else base
        print(f"OpenADR {args.api}: {args.vens} VENs, {args.events} events, {args.seconds:.0f}s per mode, {db}, "
              f"{args.workers} uvicorn worker(s){writes}")
        for conditional in (False, True):
            result = asyncio.run(poll(poll_base, tokens, args.seconds, conditional, report, args.report_interval))
            mode = "If-None-Match" if conditional else "plain GET    "
            print(f"{mode}: {result['rps']:7.0f} req/s  p50 {result['p50_ms']:6.1f} ms  p99 {result['p99_ms']:6.1f} ms"
                  f"  ({result['requests']} requests, {result['not_modified']} x 304, {result['reports']} reports)")


if __name__ == "__main__":
    main()
