"""A real `vtn serve` publishing to MQTT is SIGKILLed and restarted: what was committed is published, and
nothing is published that was not committed."""

from __future__ import annotations

import time

import httpx2
import pytest

from tests.support.mqtt import Subscriber, private_broker, unique_prefix
from tests.support.server import free_port, running_vtn
from tests.test_notifications_crash import EVENT_BODY, token
from vtn.core.security import Role

pytestmark = pytest.mark.slow
VENS = 20  # each event goes to 21 topics: the BL topic and every ven's


def test_sigkill_before_and_during_publishing_loses_nothing(tmp_path, database_url):  # type: ignore[no-untyped-def]
    prefix, port = unique_prefix(), free_port()
    env = {
        "VTN_MQTT_URL": f"mqtt://127.0.0.1:{port}", "VTN_MQTT_TOPIC_PREFIX": prefix,
        "VTN_DELIVERY_TIMEOUT_SECONDS": "1", "VTN_DELIVERY_LEASE_SECONDS": "3", "VTN_DELIVERY_POLL_SECONDS": "0.5",
        "VTN_DELIVERY_RETRY_BASE_SECONDS": "0.2", "VTN_DELIVERY_RETRY_MAX_SECONDS": "1",
    }
    with running_vtn(tmp_path, database_url=database_url, env=env) as vtn:
        headers = token(vtn.base_url, "op", vtn.provision("op", Role.BL))
        program = httpx2.post(vtn.base_url + "/programs", json={"programName": "p"}, headers=headers).json()["id"]
        for n in range(VENS):
            assert httpx2.post(vtn.base_url + "/vens", json={"venName": f"v{n}"}, headers=headers).status_code == 201

        def post_events(count: int) -> list[str]:
            ids = []
            for _ in range(count):
                response = httpx2.post(vtn.base_url + "/events", json={"programID": program, **EVENT_BODY}, headers=headers)
                assert response.status_code == 201
                ids.append(response.json()["id"])
            return ids

        # 1. the broker is down: committed events wait in the outbox, and the process dies with them there
        first = post_events(5)
        vtn.kill()
        with private_broker(tmp_path, "allow_anonymous true", port=port), \
                Subscriber([f"{prefix}/programs/{program}/events/+", f"{prefix}/vens/+/programs/+/events/+"],
                           port=port) as subscriber:
            vtn.start()
            # 2. killed again right after the last 201, while publishing
            second = post_events(5)
            vtn.kill()
            vtn.start()
            expected = set(first + second)
            topic = f"{prefix}/programs/{program}/events/create"

            def published(messages) -> dict[str, set[str]]:  # type: ignore[no-untyped-def]
                topics: dict[str, set[str]] = {}
                for m in messages:
                    topics.setdefault(m.payload["object"]["id"], set()).add(m.topic)
                return topics

            got = subscriber.wait_for(lambda m: len([e for e, t in published(m).items() if len(t) == VENS + 1]) >= 10, 60)
            stored = {e["id"] for e in httpx2.get(vtn.base_url + f"/events?programID={program}&limit=50",
                                                  headers=headers).json()}
            time.sleep(0.5)
        by_event = published(subscriber.received())
        assert stored == expected  # every 201 survived both kills
        assert set(by_event) == expected  # published ⇔ committed
        assert all(len(topics) == VENS + 1 and topic in topics for topics in by_event.values())
        print(f"{len(got)} messages for {len(expected) * (VENS + 1)} (event, topic) pairs: "
              f"{len(got) - len(expected) * (VENS + 1)} duplicates after SIGKILL")
