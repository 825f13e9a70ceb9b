"""Delivery to real loopback receivers: signatures, bearer tokens, retries, dead letters, re-drive."""

from __future__ import annotations

import json
import time

import httpx2
import pytest

from tests.support.receiver import Receiver
from tests.support.server import free_port
from vtn.core.settings import Settings
from vtn.subscriptions.signing import public_key_from, verify

EVENT_BODY = {"intervals": [{"id": 0, "payloads": [{"type": "PRICE", "values": [1.0]}]}]}


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(
        database_url=database_url,
        callback_allow_http=True,
        callback_allowed_networks=["127.0.0.0/8", "::1/128"],
        delivery_enabled=True,
        delivery_poll_seconds=0.5,
        delivery_retry_base_seconds=0.2,
        delivery_retry_max_seconds=0.5,
        delivery_max_attempts=3,
        delivery_timeout_seconds=3,
        console_enabled=False,
    )


def setup_program(bl, url: str, token: str | None = "tok123", operations=("CREATE", "UPDATE", "DELETE")) -> str:  # type: ignore[no-untyped-def]
    program_id = bl.post("/programs", json={"programName": "p"}).json()["id"]
    entry = {"objects": ["EVENT"], "operations": list(operations), "callbackUrl": url}
    if token:
        entry["bearerToken"] = token
    response = bl.post("/subscriptions", json={"clientName": "c", "programID": program_id, "objectOperations": [entry]})
    assert response.status_code == 201, response.text
    return program_id


def test_signed_notifications_with_bearer_token(http, clients):  # type: ignore[no-untyped-def]
    keys = http.get("/.well-known/webhook-keys").json()
    assert keys["scheme"] == "v1a" and keys["keys"][0]["whpk"].startswith("whpk_")
    public = public_key_from(keys["keys"][0])
    assert public_key_from(keys["keys"][0]["whpk"]).public_bytes_raw() == public.public_bytes_raw()
    bl = clients.bl()
    with Receiver() as receiver:
        program_id = setup_program(bl, receiver.url("/e"))
        event = bl.post("/events", json={"programID": program_id, **EVENT_BODY}).json()
        assert bl.put(f"/events/{event['id']}", json={"programID": program_id, "eventName": "x", **EVENT_BODY}).status_code == 200
        assert bl.delete(f"/events/{event['id']}").status_code == 200
        got = receiver.wait_for(lambda r: len(r) >= 3)
    assert [json.loads(r.body)["operation"] for r in got] == ["POST", "PUT", "DELETE"]  # in order, 3.0.1 verbs
    ids = set()
    for request in got:
        body = json.loads(request.body)
        assert request.method == "POST" and request.path == "/e"
        assert request.headers["content-type"] == "application/json"
        assert request.headers["authorization"] == "Bearer tok123"
        assert body["objectType"] == "EVENT" and body["object"]["id"] == event["id"]
        assert request.headers["webhook-signature"].startswith("v1a,")
        assert verify(public, request.headers, request.body)
        assert not verify(public, request.headers, request.body + b" ")
        ids.add(request.headers["webhook-id"])
    assert len(ids) == 3


def test_receiver_down_then_up(app, clients):  # type: ignore[no-untyped-def]
    app.state.settings.delivery_max_attempts = 100
    bl = clients.bl()
    port = free_port()
    receiver = Receiver(port=port)
    program_id = setup_program(bl, receiver.url("/late"), token=None)
    bl.post("/events", json={"programID": program_id, **EVENT_BODY})
    deadline = time.monotonic() + 10
    failing = []
    while time.monotonic() < deadline and not failing:
        failing = bl.get("/admin/deliveries", params={"status": "failing"}).json()
        time.sleep(0.1)
    assert failing and failing[0]["lastError"] and "bearerToken" not in failing[0]
    with receiver:
        got = receiver.wait_for(lambda r: len(r) >= 1)
    assert "authorization" not in got[0].headers
    assert json.loads(got[0].body)["operation"] == "POST"
    assert bl.get("/admin/deliveries").json() == []


def test_retry_keeps_webhook_id(clients):  # type: ignore[no-untyped-def]
    attempts = {"n": 0}

    def status(_path: str) -> int:
        attempts["n"] += 1
        return 503 if attempts["n"] <= 2 else 200

    bl = clients.bl()
    with Receiver(status=status) as receiver:
        program_id = setup_program(bl, receiver.url("/flaky"))
        bl.post("/events", json={"programID": program_id, **EVENT_BODY})
        receiver.wait_for(lambda r: len(r) >= 1)
        every = receiver.received(failed=True)
    assert [r.status for r in every] == [503, 503, 200]
    assert len({r.headers["webhook-id"] for r in every}) == 1


def test_dead_letter_then_redrive(clients):  # type: ignore[no-untyped-def]
    healthy = {"on": False}
    bl = clients.bl()
    ven = clients.ven("v1")
    with Receiver(status=lambda path: 200 if healthy["on"] else (410 if path == "/gone" else 500)) as receiver:
        program_id = setup_program(bl, receiver.url("/bad"))
        entry = {"objects": ["EVENT"], "operations": ["CREATE"], "callbackUrl": receiver.url("/gone")}
        bl.post("/subscriptions", json={"clientName": "c", "programID": program_id, "objectOperations": [entry]})
        bl.post("/events", json={"programID": program_id, **EVENT_BODY})
        deadline = time.monotonic() + 15
        dead = []
        while time.monotonic() < deadline and len(dead) < 2:
            dead = bl.get("/admin/deliveries", params={"status": "dead"}).json()
            time.sleep(0.1)
        by_path = {d["callbackUrl"].rsplit("/", 1)[1]: d for d in dead}
        assert by_path["bad"]["attempts"] == 3 and by_path["bad"]["lastStatus"] == 500
        assert by_path["gone"]["attempts"] == 1 and by_path["gone"]["lastStatus"] == 410  # 410: dead at once
        assert len(receiver.received("/bad", failed=True)) == 3

        # operator API: BL only, problem+json errors
        assert ven.get("/admin/deliveries").status_code == 403
        bad = bl.get("/admin/deliveries", params={"status": "bogus"})
        assert bad.status_code == 400 and bad.headers["content-type"].startswith("application/problem+json")
        assert bl.post("/admin/deliveries/999999/redrive").status_code == 404
        assert bl.get("/admin/deliveries", params={"status": "dead", "limit": 1}).json()[0]["id"] == dead[0]["id"]

        healthy["on"] = True
        redriven = bl.post(f"/admin/deliveries/{by_path['bad']['id']}/redrive")
        assert redriven.status_code == 200 and redriven.json()["attempts"] == 0
        receiver.wait_for(lambda r: any(x.path == "/bad" for x in r))
        assert bl.post("/admin/deliveries/redrive-dead").json() == {"redriven": 1}
        receiver.wait_for(lambda r: any(x.path == "/gone" for x in r))
    assert bl.get("/admin/deliveries").json() == []


def test_redirects_are_not_followed(clients):  # type: ignore[no-untyped-def]
    bl = clients.bl()
    with Receiver(status=lambda path: 302 if path == "/redirect" else 200) as receiver:
        program_id = setup_program(bl, receiver.url("/redirect"))
        bl.post("/events", json={"programID": program_id, **EVENT_BODY})
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not bl.get("/admin/deliveries", params={"status": "dead"}).json():
            time.sleep(0.1)
        assert len(receiver.received("/redirect", failed=True)) == 3
        assert receiver.received() == []


def test_well_known_keys_shared_by_processes(app, http):  # type: ignore[no-untyped-def]
    from vtn.subscriptions.signing import WebhookSigner

    first = http.get("/.well-known/webhook-keys").json()["keys"]
    other = WebhookSigner(app.state.db)  # another process: same database, same key
    assert http.portal.call(other.public_keys) == first
    assert isinstance(httpx2.Headers, type)
