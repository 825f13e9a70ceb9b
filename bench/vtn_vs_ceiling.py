"""The VEN's poll against the same-run ceiling: one command, each workload printed as a ratio.

Seeds a database in bulk (`bench/seed.py`: 1 000 VENs, each its own client and token, 10 000 events,
100 per program, each VEN granted one of 10 groups), starts a real `vtn serve`, and drives it with
`wrk` (1 thread, --connections, --seconds per workload; `bench/rotate.lua` sends every request as
the next of the 1 000 VEN identities). Then it starts the ceiling (`bench/ceiling.py`: a bare
FastAPI app under the same uvicorn, answering the bodies the VTN just returned, from memory) and
runs the same read workloads against it. Workloads:

- P1  `GET /events?programID=<program 0>&limit=50` as each VEN (10 of its 100 events visible);
- P2  the same with the VEN's current ETag in `If-None-Match` (304);
- P1b `GET /events?targetType=GROUP&targetValues=<its group>&limit=50` as each VEN (a page of 50);
- P3  `POST /events` as the BL (each creates one event in program 1; no ceiling).

- paced (`--only paced`): every VEN's poll once per --vens/--rate seconds (default 1 000 requests/s; with
  --vens 10000 that is 10 000 VENs polling every 10 s), 9 in 10 with its current ETag, paced by wrk's
  `delay()` (no ceiling).

    python bench/vtn_vs_ceiling.py [--seconds 10] [--connections 32] [--vens 1000] [--events 10000]
        [--postgres postgresql+asyncpg://postgres@127.0.0.1:5432] [--workers 2] [--profile DIR]
        [--warmup SECONDS] [--only P1 P2 P1b P3 paced] [--rate 1000]

`--warmup S`: each read workload first runs S seconds unmeasured, so with several workers every worker's
token, grant and body caches are warm (the steady state); without it a short run measures mostly the
first pass over the identities.

`--postgres URL`: a server URL; a fresh database is created there and dropped afterwards.
`--profile DIR`: also record a py-spy profile (speedscope JSON) of the VTN during each workload (py-spy
must be installed; on Linux it needs ptrace rights, i.e. root or CAP_SYS_PTRACE).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx2

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import cpu_seconds, memory, py_spy  # noqa: E402
from bench.seed import GROUPS, event_body, mint_tokens, seed  # noqa: E402
from tests.support.server import free_port, running_vtn  # noqa: E402
from vtn.core.migrate import upgrade  # noqa: E402

BASE = "/openadr3/3.0.1"
UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0}


def parse_wrk(output: str) -> dict[str, float]:
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", output)
    p50 = re.search(r"50%\s+([\d.]+)(us|ms|s)", output)
    errors = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    socket_errors = re.search(r"Socket errors: (.*)", output)
    return {
        "rps": rps,
        "p50_ms": float(p50.group(1)) * UNITS[p50.group(2)] if p50 else float("nan"),
        "p99_ms": float(p99.group(1)) * UNITS[p99.group(2)] if p99 else float("nan"),
        "errors": int(errors.group(1)) if errors else 0,
        "socket_errors": socket_errors.group(1) if socket_errors else "",  # type: ignore[dict-item]
    }


def wrk(
    url: str, lines: list[str], seconds: float, connections: int, tmp: Path, body: str | None = None,
    delay_ms: float | None = None,
) -> dict[str, Any]:
    requests = tmp / "requests.tsv"
    requests.write_text("\n".join(lines) + "\n")
    args = [str(requests)]
    if body is not None:
        (tmp / "body.json").write_text(body)
        args.append(str(tmp / "body.json"))
    command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds:g}s", "--latency", "--timeout", "10s",
               "-s", str(ROOT / "bench" / "rotate.lua"), url, "--", *args]
    env = {**os.environ, **({"BENCH_DELAY_MS": f"{delay_ms:g}"} if delay_ms else {})}
    output = subprocess.run(command, capture_output=True, text=True, check=True, env=env).stdout
    return parse_wrk(output)


async def fetch_all(base: str, items: list[tuple[str, str]], concurrency: int = 16) -> list[httpx2.Response]:
    """GET each (path, token) once; returns the responses in order."""
    semaphore = asyncio.Semaphore(concurrency)
    async with httpx2.AsyncClient(base_url=base, timeout=60) as client:
        async def one(path: str, token: str) -> httpx2.Response:
            async with semaphore:
                return await client.get(path, headers={"Authorization": f"Bearer {token}"})
        return list(await asyncio.gather(*(one(p, t) for p, t in items)))


@contextmanager
def vtn_cpu(pid: int | None) -> Iterator[Callable[[dict[str, Any]], dict[str, Any]]]:
    """Adds to a workload's result the VTN's CPU time per request (ms) and its share of one core."""
    began, cpu_began = time.perf_counter(), cpu_seconds(pid)

    def add(result: dict[str, Any]) -> dict[str, Any]:
        used, wall = cpu_seconds(pid) - cpu_began, time.perf_counter() - began
        requests = result.get("rps", 0) * wall
        return {**result, "vtn_cpu_ms_per_request": round(1000 * used / requests, 2) if requests else None,
                "vtn_cores": round(used / wall, 2)}

    yield add


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


@contextmanager
def postgres_database(server_url: str | None) -> Iterator[str | None]:
    if not server_url:
        yield None
        return
    import asyncpg

    name = f"vtn_bench_{uuid.uuid4().hex[:8]}"
    admin = server_url.replace("+asyncpg", "").rstrip("/") + "/postgres"

    async def execute(statement: str) -> None:
        connection = await asyncpg.connect(admin)
        try:
            await connection.execute(statement)
        finally:
            await connection.close()

    asyncio.run(execute(f'CREATE DATABASE "{name}"'))
    try:
        yield server_url.rstrip("/") + "/" + name
    finally:
        asyncio.run(execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--vens", type=int, default=1000)
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--postgres", help="PostgreSQL server URL (postgresql+asyncpg://user@host:port)")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--profile", type=Path, help="directory for py-spy profiles of each workload")
    parser.add_argument("--only", nargs="+", choices=["P1", "P2", "P1b", "P3", "paced"], default=["P1", "P2", "P1b", "P3"])
    parser.add_argument("--warmup", type=float, default=0,
                        help="seconds of each read workload run unmeasured first (every worker's caches warm)")
    parser.add_argument("--rate", type=float, default=1000,
                        help="paced: requests/s offered (every VEN polls once per --vens/--rate seconds), 90 %% "
                             "with its ETag (304), 10 %% plain")
    parser.add_argument("--env", nargs="*", default=[], metavar="VTN_X=value",
                        help="settings for the VTN, e.g. VTN_POLL_CACHE_ENTRIES=0 (every poll runs its query)")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is needed (apt-get install wrk)")
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)
    results: dict[tuple[str, str], dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as name, postgres_database(args.postgres) as pg_url:
        tmp = Path(name)
        url = pg_url or f"sqlite+aiosqlite:///{tmp}/bench.db"
        upgrade(url)
        began = time.perf_counter()
        seeded = asyncio.run(seed(url, args.events, args.vens))
        print(f"seeded {args.events:,} events, {args.vens:,} VENs in {time.perf_counter() - began:.1f} s", flush=True)
        env = {"VTN_WORKERS": str(args.workers), "VTN_LOG_LEVEL": "warning", "VTN_DELIVERY_ENABLED": "false",
               "VTN_CONSOLE_ENABLED": "false", **dict(item.split("=", 1) for item in args.env)}
        program0, program1 = seeded.program_ids[0], seeded.program_ids[min(1, len(seeded.program_ids) - 1)]
        with running_vtn(tmp, database_url=url, env=env, start_wait=180) as vtn:  # workers import slowly on a loaded machine
            tokens = asyncio.run(mint_tokens(url, vtn.url, ["bench-bl", *seeded.ven_names]))
            p1 = f"{BASE}/events?programID={program0}&limit=50"

            def p1b(j: int) -> str:
                return f"{BASE}/events?targetType=GROUP&targetValues=g{j % GROUPS}&limit=50"

            first = asyncio.run(fetch_all(vtn.url, [(p1, tokens[n]) for n in seeded.ven_names]))
            assert all(r.status_code == 200 for r in first), first[0].text
            assert len(first[0].json()) == 10, len(first[0].json())
            bodies = {"programID": first[0].text}
            etags = [r.headers["etag"] for r in first]
            check = httpx2.get(vtn.url + p1, headers={"Authorization": f"Bearer {tokens['ven-0']}", "If-None-Match": etags[0]})
            assert check.status_code == 304, check.status_code
            sample = httpx2.get(vtn.url + p1b(0), headers={"Authorization": f"Bearer {tokens['ven-0']}"})
            assert sample.status_code == 200 and len(sample.json()) == 50, sample.text[:200]
            bodies["targetType"] = sample.text
            workloads = {
                "P1": [f"GET\t{p1}\t{tokens[n]}\t" for n in seeded.ven_names],
                "P2": [f"GET\t{p1}\t{tokens[n]}\t{etag}" for n, etag in zip(seeded.ven_names, etags, strict=True)],
                "P1b": [f"GET\t{p1b(j)}\t{tokens[n]}\t" for j, n in enumerate(seeded.ven_names)],
            }
            pid = vtn.process.pid if vtn.process else None
            for label in ("P1", "P2", "P1b"):
                if label in args.only:
                    if args.warmup:
                        wrk(vtn.url, workloads[label], args.warmup, args.connections, tmp)
                    profile = args.profile / f"{label}.speedscope.json" if args.profile else None
                    with py_spy(pid, profile, args.seconds), vtn_cpu(pid) as cpu:
                        results[("vtn", label)] = cpu(wrk(vtn.url, workloads[label], args.seconds, args.connections, tmp))
                    print(f"VTN {label}: {results[('vtn', label)]}  (load {load_average()}; {memory(pid)})", flush=True)
            if "paced" in args.only:
                # 10 000 VENs polling every 10 s is 1 000 requests/s: wrk's delay() paces each connection; every
                # tenth request of a VEN is plain, the others carry its ETag (unchanged: 304)
                paced = [workloads["P1" if n % 10 == 9 else "P2"][j] for n in range(10) for j in range(len(etags))]
                connections = max(args.connections, 64)
                if args.warmup:
                    wrk(vtn.url, paced, args.warmup, connections, tmp, delay_ms=1000 * connections / args.rate)
                profile = args.profile / "paced.speedscope.json" if args.profile else None
                with py_spy(pid, profile, args.seconds), vtn_cpu(pid) as cpu:
                    results[("vtn", "paced")] = cpu(wrk(vtn.url, paced, args.seconds, connections, tmp,
                                                        delay_ms=1000 * connections / args.rate))
                print(f"VTN paced ({args.rate:g}/s offered, {connections} connections): {results[('vtn', 'paced')]}  "
                      f"(load {load_average()}; {memory(pid)})", flush=True)
            if "P3" in args.only:
                profile = args.profile / "P3.speedscope.json" if args.profile else None
                with py_spy(pid, profile, args.seconds), vtn_cpu(pid) as cpu:
                    results[("vtn", "P3")] = cpu(wrk(vtn.url, [f"POST\t{BASE}/events\t{tokens['bench-bl']}\t"],
                                                     args.seconds, args.connections, tmp, body=event_body(program1, 1)))
                print(f"VTN P3: {results[('vtn', 'P3')]}  (load {load_average()}; {memory(pid)})", flush=True)
        (tmp / "bodies.json").write_text(json.dumps(bodies))
        port = free_port()
        ceiling = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "bench.ceiling:app", "--host", "127.0.0.1", "--port", str(port),
             "--no-access-log", "--log-level", "warning"],
            cwd=ROOT, env={**os.environ, "BENCH_CEILING_BODIES": str(tmp / "bodies.json")})
        try:
            for _ in range(100):
                try:
                    httpx2.get(f"http://127.0.0.1:{port}{p1}", timeout=1)
                    break
                except httpx2.HTTPError:
                    time.sleep(0.1)
            ceiling_url = f"http://127.0.0.1:{port}"
            for label in ("P1", "P2", "P1b"):
                if label in args.only:
                    results[("ceiling", label)] = wrk(ceiling_url, workloads[label], args.seconds, args.connections, tmp)
                    print(f"ceiling {label}: {results[('ceiling', label)]}  (load {load_average()})", flush=True)
        finally:
            ceiling.terminate()
            ceiling.wait(timeout=15)
    database = f"PostgreSQL, {args.workers} worker(s)" if args.postgres else f"SQLite, {args.workers} worker(s)"
    print(f"\n{database}; {args.vens} VEN identities; {args.events:,} events; wrk -t1 -c{args.connections} "
          f"-d{args.seconds:g}s; {' '.join(args.env)}; load average at the end {load_average()}")
    print("| workload | VTN req/s | VTN p50 ms | VTN p99 ms | ceiling req/s | VTN / ceiling |\n|---|---|---|---|---|---|")
    for label in ("P1", "P2", "P1b", "P3", "paced"):
        if ("vtn", label) not in results:
            continue
        mine, top = results[("vtn", label)], results.get(("ceiling", label))
        ratio = f"{100 * mine['rps'] / top['rps']:.1f} %" if top else "—"
        errors = f" ({mine['errors']} non-2xx/3xx)" if mine["errors"] else ""
        print(f"| {label} | {mine['rps']:.0f}{errors} | {mine['p50_ms']:.1f} | {mine['p99_ms']:.1f} | "
              f"{top['rps'] if top else float('nan'):.0f} | {ratio} |")


if __name__ == "__main__":
    main()
