"""A real `vtn serve` is SIGKILLed in the middle of a fan-out and restarted: nothing is lost."""

from __future__ import annotations

import json
import time

import httpx2
import pytest

from tests.support.receiver import Receiver
from tests.support.server import running_vtn
from vtn.core.security import Role

SUBSCRIPTIONS = 50
EVENTS = 6
EVENT_BODY = {"intervals": [{"id": 0, "payloads": [{"type": "PRICE", "values": [1.0]}]}]}

pytestmark = pytest.mark.slow


def token(base_url: str, client_id: str, secret: str) -> dict[str, str]:
    response = httpx2.post(base_url + "/auth/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret))
    response.raise_for_status()
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def test_sigkill_mid_fanout_loses_nothing(tmp_path, database_url):  # type: ignore[no-untyped-def]
    # The kill lands right after the last POST /events answered 201. That once lost a whole event
    # (its 50 notifications) under load: the write session committed after the response was sent,
    # so the 201 could precede a commit the kill then prevented (fixed in vtn/core/deps.py; see
    # test_write_is_committed_before_the_response). Hence the existence check after the restart.
    env = {
        "VTN_DELIVERY_TIMEOUT_SECONDS": "2",
        "VTN_DELIVERY_LEASE_SECONDS": "3",
        "VTN_DELIVERY_POLL_SECONDS": "0.5",
        "VTN_DELIVERY_RETRY_BASE_SECONDS": "0.2",
        "VTN_DELIVERY_RETRY_MAX_SECONDS": "1",
        "VTN_DELIVERY_MAX_IN_FLIGHT": "16",
    }
    with Receiver(delay=0.02) as receiver, running_vtn(tmp_path, database_url=database_url, env=env) as vtn:
        headers = token(vtn.base_url, "op", vtn.provision("op", Role.BL))
        program_id = httpx2.post(vtn.base_url + "/programs", json={"programName": "p"}, headers=headers).json()["id"]
        for n in range(SUBSCRIPTIONS):
            entry = {"objects": ["EVENT"], "operations": ["CREATE"], "callbackUrl": receiver.url(f"/r{n}")}
            body = {"clientName": f"c{n}", "programID": program_id, "objectOperations": [entry]}
            assert httpx2.post(vtn.base_url + "/subscriptions", json=body, headers=headers).status_code == 201
        event_ids = []
        for _ in range(EVENTS):
            response = httpx2.post(vtn.base_url + "/events", json={"programID": program_id, **EVENT_BODY}, headers=headers)
            assert response.status_code == 201
            event_ids.append(response.json()["id"])
        expected = {(f"/r{n}", e) for n in range(SUBSCRIPTIONS) for e in event_ids}

        receiver.wait_for(lambda r: len(r) >= 40, timeout=30)
        vtn.kill()  # SIGKILL in the middle of the fan-out
        at_kill = {(r.path, json.loads(r.body)["object"]["id"]) for r in receiver.received()}
        assert at_kill < expected, "the fan-out finished before the kill; nothing was tested"
        vtn.start()
        for event_id in event_ids:  # every event the VTN answered 201 for survived the kill
            assert httpx2.get(vtn.base_url + f"/events/{event_id}", headers=headers).status_code == 200

        # 300 notifications need ~1 s here; the deadline covers the 3 s lease of the rows the killed
        # process had in flight plus retries (≤ 1 s apart) on a machine loaded by the full suite.
        deadline = time.monotonic() + 60
        got: set[tuple[str, str]] = set()
        while time.monotonic() < deadline:
            got = {(r.path, json.loads(r.body)["object"]["id"]) for r in receiver.received()}
            if got >= expected:
                break
            time.sleep(0.2)
        assert expected - got == set(), f"{len(expected - got)} notifications lost"
        duplicates = len(receiver.received()) - len(got)
        # at-least-once: duplicates allowed (the in-flight ones), each with the same webhook-id
        by_key: dict[tuple[str, str], set[str]] = {}
        for r in receiver.received():
            by_key.setdefault((r.path, json.loads(r.body)["object"]["id"]), set()).add(r.headers["webhook-id"])
        assert all(len(ids) == 1 for ids in by_key.values())
        print(f"delivered {len(got)} notifications, {duplicates} duplicates after SIGKILL")
