"""Refused credentials and re-subscription: a 401/403 dead-letters at once with its reason; a PUT of the
subscription sends its queued (and auth-refused) notifications with its current URL and bearer token;
a DELETE takes its queued notifications with it. Real loopback receivers, both databases."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from tests.conftest import vtn_test_settings
from tests.support.receiver import Receiver
from tests.support.server import free_port
from tests.test_notifications_delivery import EVENT_BODY, assert_outbox_drains
from vtn.core.settings import Settings


@pytest.fixture
def settings(database_url: str) -> Settings:
    # A failed attempt waits a minute: only the re-addressing at PUT can deliver within the test.
    return vtn_test_settings(database_url, delivery_enabled=True, delivery_poll_seconds=0.5, delivery_retry_base_seconds=60,
                         delivery_retry_max_seconds=120, delivery_max_attempts=50, delivery_timeout_seconds=3)


def subscribe(bl: Any, program_id: str, url: str, token: str) -> dict[str, Any]:
    body = {"clientName": "ven-x", "programID": program_id, "objectOperations": [
        {"objects": ["EVENT"], "operations": ["CREATE", "UPDATE"], "callbackUrl": url, "bearerToken": token}]}
    response = bl.post("/subscriptions", json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


def resubscribe(bl: Any, subscription: dict[str, Any], url: str, token: str) -> None:
    body = {**subscription, "objectOperations": [{**subscription["objectOperations"][0], "callbackUrl": url,
                                                  "bearerToken": token}]}
    response = bl.put(f"/subscriptions/{subscription['id']}", json=body)
    assert response.status_code == 200, response.text


def wait_deliveries(bl: Any, status: str, within: float = 10.0) -> list[dict[str, Any]]:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if found := bl.get("/admin/deliveries", params={"status": status}).json():
            return list(found)
        time.sleep(0.05)
    raise AssertionError(f"no {status} delivery within {within} s")


@pytest.mark.parametrize("refusal", [401, 403])
def test_refused_credentials_dead_letter_at_once_then_put_redelivers(clients, refusal: int) -> None:  # type: ignore[no-untyped-def]
    bl = clients.bl()
    accepted = {"token": "old-token"}

    with Receiver(status=lambda _path: 200 if accepted["token"] == "new-token" else refusal) as receiver:
        program_id = bl.post("/programs", json={"programName": "p"}).json()["id"]
        subscription = subscribe(bl, program_id, receiver.url("/hook"), "old-token")
        bl.post("/events", json={"programID": program_id, **EVENT_BODY})
        [dead] = wait_deliveries(bl, "dead")
        assert dead["attempts"] == 1 and dead["lastStatus"] == refusal  # not retried for days
        assert f"HTTP {refusal}" in dead["lastError"] and "refused the subscription's credentials" in dead["lastError"]
        time.sleep(1.0)
        assert len(receiver.received(failed=True)) == 1

        # A PUT with the same URL and token leaves it dead (the receiver refused exactly those) ...
        resubscribe(bl, subscription, receiver.url("/hook"), "old-token")
        assert bl.get("/admin/deliveries", params={"status": "dead"}).json()[0]["id"] == dead["id"]
        # ... a PUT with a new token queues it again, sent with the new token.
        accepted["token"] = "new-token"
        resubscribe(bl, subscription, receiver.url("/hook"), "new-token")
        [got] = receiver.wait_for(lambda r: len(r) >= 1)
    assert got.headers["authorization"] == "Bearer new-token"
    assert json.loads(got.body)["operation"] == "POST"
    assert_outbox_drains(bl)


def test_put_sends_pending_notifications_with_the_current_url_and_token(clients) -> None:  # type: ignore[no-untyped-def]
    """The subscriber was down (connection refused, next try in a minute); it comes back on a new port with a new
    token and updates its subscription: the queued notifications go there at once, in order, with the new token."""
    bl = clients.bl()
    program_id = bl.post("/programs", json={"programName": "p"}).json()["id"]
    subscription = subscribe(bl, program_id, f"http://127.0.0.1:{free_port()}/gone-away", "old-token")
    first = bl.post("/events", json={"programID": program_id, **EVENT_BODY}).json()
    bl.put(f"/events/{first['id']}", json={"programID": program_id, "eventName": "revised", **EVENT_BODY})
    failing = wait_deliveries(bl, "failing")
    assert failing[0]["lastError"] and failing[0]["nextAttemptDateTime"]
    with Receiver() as receiver:
        resubscribe(bl, subscription, receiver.url("/back"), "new-token")
        got = receiver.wait_for(lambda r: len(r) >= 2, timeout=10)
    # Both, at once. Their attempts start in outbox order, but the first may have been in flight to the old
    # address when the PUT re-addressed it (up to VTN_DELIVERY_CONCURRENCY_PER_CALLBACK attempts run at once),
    # so arrival order is not guaranteed; receivers order by the objects' modificationDateTime.
    assert sorted(json.loads(r.body)["operation"] for r in got) == ["POST", "PUT"]
    assert {r.headers["authorization"] for r in got} == {"Bearer new-token"} and {r.path for r in got} == {"/back"}
    assert_outbox_drains(bl)


def test_put_drops_notifications_the_subscription_no_longer_wants(clients) -> None:  # type: ignore[no-untyped-def]
    bl = clients.bl()
    program_id = bl.post("/programs", json={"programName": "p"}).json()["id"]
    subscription = subscribe(bl, program_id, f"http://127.0.0.1:{free_port()}/down", "t")
    bl.post("/events", json={"programID": program_id, **EVENT_BODY})  # a CREATE, queued
    wait_deliveries(bl, "failing")
    entry = {**subscription["objectOperations"][0], "operations": ["DELETE"]}
    assert bl.put(f"/subscriptions/{subscription['id']}", json={**subscription, "objectOperations": [entry]}).status_code == 200
    assert bl.get("/admin/deliveries").json() == []


def test_delete_takes_queued_notifications_with_it(clients) -> None:  # type: ignore[no-untyped-def]
    bl = clients.bl()
    program_id = bl.post("/programs", json={"programName": "p"}).json()["id"]
    stale = subscribe(bl, program_id, f"http://127.0.0.1:{free_port()}/old", "t1")
    with Receiver() as receiver:
        kept = subscribe(bl, program_id, receiver.url("/other"), "t2")
        # The other subscriber is told about the delete of a subscription only if it asks for SUBSCRIPTION objects.
        bl.post("/events", json={"programID": program_id, **EVENT_BODY})
        receiver.wait_for(lambda r: len(r) >= 1)
        wait_deliveries(bl, "failing")
        assert bl.delete(f"/subscriptions/{stale['id']}").status_code == 200
        assert bl.get("/admin/deliveries").json() == []
    assert kept["id"] != stale["id"]
