"""Webhook fan-out benchmark: time from creating an event until N receivers on loopback have it.

One asyncio HTTP server on 127.0.0.1 plays N receivers (N distinct paths, one subscription
each) against a real `vtn serve`.

    python bench/webhook_fanout_bench.py --sizes 100 1000 10000 [--database-url ...]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx2

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.support.receiver import Receiver
from tests.support.server import running_vtn
from vtn.core.security import Role

EVENT_BODY = {"intervals": [{"id": 0, "payloads": [{"type": "PRICE", "values": [1.0]}]}]}


async def subscribe(base: str, headers: dict[str, str], program_id: str, receiver: Receiver, start: int, stop: int) -> None:
    async with httpx2.AsyncClient(base_url=base, headers=headers, timeout=60) as client:
        queue = list(range(start, stop))

        async def worker() -> None:
            while queue:
                n = queue.pop()
                entry = {"objects": ["EVENT"], "operations": ["CREATE"], "callbackUrl": receiver.url(f"/r{n}")}
                body = {"clientName": f"c{n}", "programID": program_id, "objectOperations": [entry]}
                (await client.post("/subscriptions", json=body)).raise_for_status()

        await asyncio.gather(*(worker() for _ in range(8)))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1000, 10000])
    parser.add_argument("--database-url")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn workers (PostgreSQL: each one delivers)")
    args = parser.parse_args()
    event_id: dict[str, str] = {}
    hits: dict[str, int] = {}
    done = threading.Event()
    target = {"n": 0}
    lock = threading.Lock()

    def on_request(request) -> None:  # type: ignore[no-untyped-def]
        object_id = json.loads(request.body)["object"]["id"]
        with lock:
            hits[object_id] = hits.get(object_id, 0) + 1
            if object_id == event_id.get("id") and hits[object_id] >= target["n"]:
                done.set()

    env = {"VTN_LOG_LEVEL": "warning", "VTN_WORKERS": str(args.workers)}
    with tempfile.TemporaryDirectory() as tmp, Receiver() as receiver, \
            running_vtn(Path(tmp), database_url=args.database_url, env=env) as vtn:
        receiver.listeners.append(on_request)
        base = vtn.base_url
        access = httpx2.post(base + "/auth/token", data={"grant_type": "client_credentials"},
                             auth=("op", vtn.provision("op", Role.BL))).json()["access_token"]
        headers = {"Authorization": f"Bearer {access}"}
        program_id = httpx2.post(base + "/programs", json={"programName": "fanout"}, headers=headers).json()["id"]
        db = "PostgreSQL" if (args.database_url or "").startswith("postgres") else "SQLite"
        print(f"fan-out on {db}, {args.workers} uvicorn worker(s), one loopback receiver process-thread; "
              f"load average {os.getloadavg()[0]:.1f}")
        have = 0
        for size in args.sizes:
            started = time.monotonic()
            asyncio.run(subscribe(base, headers, program_id, receiver, have, size))
            have = size
            setup = time.monotonic() - started
            done.clear()
            target["n"] = size
            started = time.monotonic()
            response = httpx2.post(base + "/events", json={"programID": program_id, **EVENT_BODY}, headers=headers,
                                   timeout=120)
            write = time.monotonic() - started
            event_id["id"] = response.json()["id"]
            with lock:
                if hits.get(event_id["id"], 0) >= size:
                    done.set()
            finished = done.wait(120)
            elapsed = time.monotonic() - started
            got = hits.get(event_id["id"], 0)
            print(f"N={size:6d}: all delivered in {elapsed:7.2f} s ({got / elapsed:7.0f} notifications/s; "
                  f"POST /events took {write * 1000:.0f} ms; {got} received{'' if finished else ' TIMEOUT'}; "
                  f"subscription setup {setup:.1f} s)")


if __name__ == "__main__":
    main()
