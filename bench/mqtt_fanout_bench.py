"""MQTT fan-out benchmark: time from creating an event until every ven's topic has it, on a real broker.

N vens (seeded, bench/seed.py) may all read an untargeted event of program 0, so `POST /events` writes one
outbox row with N + 1 topics (the BL topic and each ven's), and the delivery worker publishes them at QoS 1
to Mosquitto. One subscriber on `{prefix}/vens/+/programs/+/events/+` counts the distinct ven topics the
event arrived on.

    python bench/mqtt_fanout_bench.py --vens 10000 [--database-url ...] [--broker mqtt://127.0.0.1:1883]
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
import uuid
from pathlib import Path

import aiomqtt
import httpx2

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.seed import mint_tokens, seed
from tests.support.server import running_vtn

EVENT_BODY = {"intervals": [{"id": 0, "payloads": [{"type": "PRICE", "values": [1.0]}]}]}


class Counter:
    """A subscriber thread: the distinct topics each object id arrived on."""

    def __init__(self, broker: str, topic: str) -> None:
        self.host, _, port = broker.removeprefix("mqtt://").partition(":")
        self.port = int(port or 1883)
        self.topic = topic
        self.topics: dict[str, set[str]] = {}
        self.lock = threading.Lock()
        self.ready = threading.Event()
        self.target: tuple[str, int] | None = None
        self.done = threading.Event()
        self.last_at = 0.0
        threading.Thread(target=lambda: asyncio.run(self.main()), daemon=True).start()
        assert self.ready.wait(10)

    async def main(self) -> None:
        async with aiomqtt.Client(self.host, self.port, max_queued_incoming_messages=0) as client:
            await client.subscribe(self.topic, qos=1)
            self.ready.set()
            async for message in client.messages:
                object_id = json.loads(bytes(message.payload))["object"]["id"]  # type: ignore[arg-type]
                with self.lock:
                    seen = self.topics.setdefault(object_id, set())
                    seen.add(str(message.topic))
                    self.last_at = time.monotonic()
                    if self.target and self.target[0] == object_id and len(seen) >= self.target[1]:
                        self.done.set()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--vens", type=int, default=10_000)
    parser.add_argument("--events", type=int, default=3, help="events, one after the other (each timed)")
    parser.add_argument("--database-url")
    parser.add_argument("--broker", default="mqtt://127.0.0.1:1883")
    args = parser.parse_args()
    prefix = f"bench{uuid.uuid4().hex[:8]}"
    env = {"VTN_LOG_LEVEL": "warning", "VTN_MQTT_URL": args.broker, "VTN_MQTT_TOPIC_PREFIX": prefix}
    counter = Counter(args.broker, f"{prefix}/vens/+/programs/+/events/+")
    with tempfile.TemporaryDirectory() as tmp, running_vtn(Path(tmp), database_url=args.database_url, env=env) as vtn:
        seeded = asyncio.run(seed(vtn.database_url, events=0, vens=args.vens))
        token = asyncio.run(mint_tokens(vtn.database_url, vtn.url, ["bench-bl"]))["bench-bl"]
        headers = {"Authorization": f"Bearer {token}"}
        db = "PostgreSQL" if vtn.database_url.startswith("postgres") else "SQLite"
        print(f"MQTT fan-out on {db}, 1 uvicorn worker, Mosquitto {args.broker}, {args.vens} vens; "
              f"load average {os.getloadavg()[0]:.1f}")
        for n in range(args.events):
            counter.done.clear()
            started = time.monotonic()
            response = httpx2.post(vtn.base_url + "/events", json={"programID": seeded.program_ids[0], **EVENT_BODY},
                                   headers=headers, timeout=120)
            write = time.monotonic() - started
            response.raise_for_status()
            event_id = response.json()["id"]
            with counter.lock:
                counter.target = (event_id, args.vens)
                if len(counter.topics.get(event_id, ())) >= args.vens:
                    counter.done.set()
            finished = counter.done.wait(300)
            elapsed = (counter.last_at if finished else time.monotonic()) - started
            got = len(counter.topics.get(event_id, ()))
            print(f"event {n}: {got} ven topics in {elapsed:6.2f} s ({got / elapsed:7.0f} messages/s; "
                  f"POST /events took {write * 1000:.0f} ms){'' if finished else ' TIMEOUT'}")


if __name__ == "__main__":
    main()
