"""Meter data at aggregator scale: per-minute readings for many units uploaded in chunks (as `ven gb readings
--csv` sends them) while other VENs keep polling, against a real `vtn serve` on loopback.

    python bench/readings_bench.py [--units 200] [--days 31] [--fsps 10] [--uploaders 4] [--chunk 720]
                                   [--pollers 20] [--poll-interval 1.0] [--baseline-seconds 20]
                                   [--database-url postgresql+asyncpg://...] [--workers 1]

Each FSP (a VEN) owns `units / fsps` meterable units and uploads every unit's `days` of per-minute readings as
GB_READINGS reports of `chunk` readings against the program's anchor event; `uploaders` FSPs upload at a time,
each one chunk after another (a CLI does). Meanwhile `pollers` other VENs each GET /events every
`poll-interval` seconds. Printed: POST latency p50/p99/max and readings/s; poll p50/p99 alone (before the upload)
and during it, and their ratio; the machine's load average. Bodies are generated as JSON text, not through the
profile's builders, so the load generator costs little CPU on the cores the VTN shares.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx2

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import cpu_seconds, fetch_token, latency_stats, memory, py_spy
from gb_profile import builders as b
from gb_profile.examples import example_program
from tests.support.server import running_vtn
from vtn.core.security import Role

OPERATOR = "NGED"
START = datetime(2026, 10, 1, tzinfo=UTC)  # October 2026: 31 days, includes the autumn clock change


def chunk_body(program_id: str, event_id: str, fsp: str, unit: str, first_minute: int, count: int) -> bytes:
    """One GB_READINGS report of `count` per-minute readings of `unit` from minute `first_minute` of the month."""
    intervals = []
    for i in range(count):
        minute = first_minute + i
        start = (START + timedelta(minutes=minute)).strftime("%Y-%m-%dT%H:%M:%SZ")
        payloads = [{"type": "DEMAND", "values": [round(100 + (minute % 60) * 0.5, 1)]}]
        if i == 0:
            payloads.append({"type": "GB_NETWORK_OPERATOR", "values": [OPERATOR]})
        intervals.append({"id": i, "intervalPeriod": {"start": start, "duration": "PT1M"}, "payloads": payloads})
    return json.dumps({
        "programID": program_id, "eventID": event_id, "clientName": fsp, "reportName": "GB_READINGS",
        "payloadDescriptors": [{"payloadType": "DEMAND", "readingType": "MEAN", "units": "KW"}],
        "resources": [{"resourceName": unit, "intervals": intervals}],
    }, separators=(",", ":")).encode()


async def poller(client: httpx2.AsyncClient, token: str, interval: float, stop: Any, latencies: list[float],
                 errors: list[str]) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    while not stop.is_set():
        began = time.perf_counter()
        try:
            response = await client.get("/events", headers=headers)
            response.raise_for_status()
            latencies.append(time.perf_counter() - began)
        except httpx2.HTTPError as exc:  # counted and shown, not fatal: a reused connection the server had closed
            errors.append(f"{exc.__class__.__name__}: {exc}")
        await asyncio.sleep(max(0.0, interval - (time.perf_counter() - began)))


def _polling_process(base: str, tokens: list[str], interval: float, stop: Any, out: Any) -> None:
    """The polling VENs, in a process of their own: their latencies are not delayed by the uploaders' body
    generation, which would otherwise share their event loop."""

    async def main() -> tuple[list[float], list[str]]:
        latencies: list[float] = []
        errors: list[str] = []
        async with httpx2.AsyncClient(base_url=base, limits=httpx2.Limits(max_connections=len(tokens) + 2),
                                      timeout=120) as client:
            await asyncio.gather(*(poller(client, t, interval, stop, latencies, errors) for t in tokens))
        return latencies, errors

    out.put(asyncio.run(main()))


class Polling:
    """Polling VENs in a separate process from `start()` until `stop()`, which returns their latencies."""

    def __init__(self, base: str, tokens: list[str], interval: float) -> None:
        context = multiprocessing.get_context("spawn")
        self._stop, self._out = context.Event(), context.Queue()
        self._process = context.Process(target=_polling_process, args=(base, tokens, interval, self._stop, self._out))

    def start(self) -> Polling:
        self._process.start()
        return self

    def stop(self) -> list[float]:
        self._stop.set()
        latencies, errors = self._out.get(timeout=120)
        self._process.join(timeout=30)
        if errors:
            print(f"  polls that failed: {len(errors)} (first: {errors[0]})")
        return list(latencies)


async def uploader(client: httpx2.AsyncClient, token: str, jobs: asyncio.Queue[tuple[str, str, int, int]],
                   program_id: str, event_id: str, latencies: list[float], progress: list[int]) -> None:
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    while True:
        try:
            fsp, unit, first, count = jobs.get_nowait()
        except asyncio.QueueEmpty:
            return
        body = chunk_body(program_id, event_id, fsp, unit, first, count)
        began = time.perf_counter()
        response = await client.post("/reports", content=body, headers=headers)
        latencies.append(time.perf_counter() - began)
        if response.status_code != 201:
            raise RuntimeError(f"POST /reports {response.status_code}: {response.text[:300]}")
        progress[0] += count


async def run(pid: int, base: str, args: argparse.Namespace, program_id: str, event_id: str, fsp_tokens: dict[str, str],
              units: dict[str, list[str]], poll_tokens: list[str]) -> None:
    limits = httpx2.Limits(max_connections=args.uploaders + 4)
    async with httpx2.AsyncClient(base_url=base, limits=limits, timeout=120) as client:
        polling = Polling(base, poll_tokens, args.poll_interval).start()
        await asyncio.sleep(args.baseline_seconds)
        alone = polling.stop()
        before = latency_stats(alone, args.baseline_seconds)
        load_before = os.getloadavg()

        minutes = args.days * 24 * 60
        # per FSP, its units one after another, each unit's month in chunks; FSPs interleaved across uploaders
        queues: dict[str, asyncio.Queue[tuple[str, str, int, int]]] = {}
        for fsp, names in units.items():
            queue: asyncio.Queue[tuple[str, str, int, int]] = asyncio.Queue()
            for unit in names:
                for first in range(0, minutes, args.chunk):
                    queue.put_nowait((fsp, unit, first, min(args.chunk, minutes - first)))
            queues[fsp] = queue
        posts: list[float] = []
        progress = [0]
        polling = Polling(base, poll_tokens, args.poll_interval).start()
        await asyncio.sleep(2)  # the polling process started and polling
        began = time.monotonic()
        cpu_began = cpu_seconds(pid)
        pending = list(queues)

        async def lane() -> None:
            while pending:
                fsp = pending.pop(0)
                await uploader(client, fsp_tokens[fsp], queues[fsp], program_id, event_id, posts, progress)

        with py_spy(pid, args.profile, args.profile_seconds):
            await asyncio.gather(*(lane() for _ in range(args.uploaders)))
        elapsed = time.monotonic() - began
        cpu = cpu_seconds(pid) - cpu_began
        during = polling.stop()
        load_during = os.getloadavg()
        uploads = latency_stats(posts, elapsed)
        after = latency_stats(during, elapsed)
        print(f"upload: {progress[0]} readings ({args.units} units x {args.days} days x 1440) in {len(posts)} POSTs "
              f"of <= {args.chunk}, {elapsed:.0f} s = {progress[0] / elapsed:,.0f} readings/s")
        print(f"  POST /reports p50 {uploads['p50_ms']:.0f} ms  p99 {uploads['p99_ms']:.0f} ms  "
              f"max {max(posts) * 1000:.0f} ms")
        print(f"  VTN CPU {cpu:.1f} s for the upload and the polls = {cpu * 1000 / len(posts):.0f} ms CPU per POST "
              f"({cpu * 1e6 / progress[0]:.0f} us per reading), {cpu / elapsed:.2f} cores on average")
        print(f"poll (GET /events, {args.pollers} VENs every {args.poll_interval:g}s): alone p50 {before['p50_ms']:.1f} ms "
              f"p99 {before['p99_ms']:.1f} ms ({before['requests']} polls); during the upload p50 {after['p50_ms']:.1f} ms "
              f"p99 {after['p99_ms']:.1f} ms ({after['requests']} polls)")
        print(f"  ratio during/alone: p50 x{after['p50_ms'] / before['p50_ms']:.2f}  "
              f"p99 x{after['p99_ms'] / before['p99_ms']:.2f}")
        print(f"VTN resident memory after the upload: {memory(pid)}")
        print(f"load average (1, 5, 15 min): before the upload {load_before[0]:.1f} {load_before[1]:.1f} "
              f"{load_before[2]:.1f}; after it {load_during[0]:.1f} {load_during[1]:.1f} {load_during[2]:.1f}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--units", type=int, default=200)
    parser.add_argument("--days", type=int, default=31)
    parser.add_argument("--fsps", type=int, default=10)
    parser.add_argument("--uploaders", type=int, default=4)
    parser.add_argument("--chunk", type=int, default=720)
    parser.add_argument("--pollers", type=int, default=20)
    parser.add_argument("--poll-interval", type=float, default=1.0)
    parser.add_argument("--baseline-seconds", type=float, default=20.0)
    parser.add_argument("--database-url")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--profile", type=Path, help="a py-spy profile (speedscope JSON) of the VTN during the upload")
    parser.add_argument("--profile-seconds", type=float, default=10.0)
    parser.add_argument("--env", nargs="*", default=[], metavar="VTN_X=value",
                        help="settings for the VTN, e.g. VTN_OFFLOAD_PROCESSES=0 (uploads parsed on the event loop)")
    args = parser.parse_args()
    env = {"VTN_LOG_LEVEL": "warning", "VTN_WORKERS": str(args.workers), "VTN_GB_DELIVERY_REPORTS": "false",
           **dict(item.split("=", 1) for item in args.env)}
    with tempfile.TemporaryDirectory() as tmp, running_vtn(Path(tmp), database_url=args.database_url, env=env) as vtn:
        base = vtn.base_url
        bl = {"Authorization": f"Bearer {fetch_token(base, 'op', vtn.provision('op', Role.BL))}"}
        program = httpx2.post(base + "/programs", json=example_program("OU_2MIN").dump(), headers=bl)
        program.raise_for_status()
        program_id = program.json()["id"]
        anchor = b.build_anchor_event(program_id, OPERATOR, START - timedelta(days=1)).dump()
        event = httpx2.post(base + "/events", json=anchor, headers=bl)
        event.raise_for_status()
        event_id = event.json()["id"]
        fsp_tokens: dict[str, str] = {}
        units: dict[str, list[str]] = {}
        per_fsp = max(1, args.units // args.fsps)
        for n in range(args.fsps):
            fsp = f"FSP-{n:02d}"
            token = fetch_token(base, fsp, vtn.provision(fsp, Role.VEN, ven_name=fsp))
            headers = {"Authorization": f"Bearer {token}"}
            ven_id = httpx2.post(base + "/vens", json={"venName": fsp}, headers=headers).json()["id"]
            units[fsp] = [f"MU-{n:02d}-{u:03d}" for u in range(per_fsp)]
            for unit in units[fsp]:  # readings name the FSP's own resources (GB-R-012)
                httpx2.post(base + f"/vens/{ven_id}/resources", json={"resourceName": unit}, headers=headers) \
                    .raise_for_status()
            fsp_tokens[fsp] = token
        poll_tokens = []
        for n in range(args.pollers):
            name = f"poller-{n}"
            poll_tokens.append(fetch_token(base, name, vtn.provision(name, Role.VEN, ven_name=name)))
        db = "PostgreSQL" if (args.database_url or "").startswith("postgres") else "SQLite"
        print(f"{db}, {args.workers} uvicorn worker(s), {os.cpu_count()} CPUs; {args.fsps} FSPs x {per_fsp} units, "
              f"{args.uploaders} uploading at a time; {args.pollers} polling VENs")
        assert vtn.process is not None
        asyncio.run(run(vtn.process.pid, base, args, program_id, event_id, fsp_tokens, units, poll_tokens))


if __name__ == "__main__":
    main()
