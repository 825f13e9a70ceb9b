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


def assert_outbox_drains(bl, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    """The row goes once the 2xx is recorded, which (batched) follows the receiver's answer."""
    deadline = time.monotonic() + timeout
    while (left := bl.get("/admin/deliveries").json()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert left == []


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
    assert_outbox_drains(bl)


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
    assert_outbox_drains(bl)


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


def test_write_is_committed_before_the_response(app, clients):  # type: ignore[no-untyped-def]
    """When a write's response starts, its change is committed (visible to any other connection).

    Regression: the write session used to commit after the response had been sent, so a VTN
    killed in between had answered 201 for an event that, with its notifications, never existed.
    """
    from sqlmodel import select

    from vtn.events.models import EventRow

    bl = clients.bl()
    program_id = setup_program(bl, "http://127.0.0.1:9/unused")
    seen: list[tuple[int, list[str | None]]] = []
    inner = app.middleware_stack

    async def spy(scope, receive, send):  # type: ignore[no-untyped-def]
        async def spy_send(message):  # type: ignore[no-untyped-def]
            if message["type"] == "http.response.start" and "/events" in scope["path"]:
                async with app.state.db.session(write=False) as session:  # another connection
                    names = [r.document.get("eventName") for r in (await session.exec(select(EventRow))).all()]
                seen.append((message["status"], names))
            await send(message)

        await inner(scope, receive, spy_send)

    app.middleware_stack = spy
    try:
        created = bl.post("/events", json={"programID": program_id, "eventName": "a", **EVENT_BODY})
        event_id = created.json()["id"]
        bl.put(f"/events/{event_id}", json={"programID": program_id, "eventName": "b", **EVENT_BODY})
        bl.delete(f"/events/{event_id}")
    finally:
        app.middleware_stack = inner
    assert seen == [(201, ["a"]), (200, ["b"]), (200, [])]


def _outbox_row(key: str, status: str, due_in: float = 0.0, attempts: int = 0) -> dict:  # type: ignore[type-arg]
    from datetime import timedelta

    from vtn.core.database import utcnow

    now = utcnow()
    return {"message_id": f"msg_{key}_{status}", "subscription_id": "s", "callback_key": key,
            "callback_url": "http://127.0.0.1:9/x", "object_type": "EVENT", "operation": "POST", "body": "{}",
            "status": status, "attempts": attempts, "created_at": now, "next_attempt_at": now + timedelta(seconds=due_in),
            "lease_until": now + timedelta(seconds=60) if status == "in_flight" else None}


def test_claim_keeps_per_callback_order_and_limit(settings):  # type: ignore[no-untyped-def]
    """The index-backed claim applies the same rules as before: k live rows per callback, a waiting
    oldest row pauses its callback, in-flight rows count, dead rows do not."""
    import asyncio

    from sqlalchemy import insert

    from vtn.core.database import Database
    from vtn.core.migrate import upgrade
    from vtn.subscriptions.delivery import DeliveryWorker
    from vtn.subscriptions.notification_models import OutboxRow, OutboxStatus

    upgrade(settings.database_url)
    settings.delivery_concurrency_per_callback = 2
    P, F, D = OutboxStatus.PENDING, OutboxStatus.IN_FLIGHT, OutboxStatus.DEAD
    layout = [
        ("a", P, 0), ("a", P, 0), ("a", P, 0),    # k=2: the first two
        ("b", P, 60), ("b", P, 0),                # b's oldest waits for its retry: b paused
        ("c", F, 0), ("c", P, 0), ("c", P, 0),    # one in flight: one more may start
        ("d", D, 0), ("d", P, 0),                 # dead rows do not block
        ("e", P, 0), ("e", P, 60), ("e", P, 0),   # e1 may start; e3 is behind the waiting e2
        ("f", F, 0), ("f", F, 0), ("f", P, 0),    # two in flight: f full
    ]

    async def main() -> list[str]:
        db = Database(settings.database_url)
        try:
            async with db.session() as session:
                for n, (key, status, due_in) in enumerate(layout):
                    row = _outbox_row(key, status, due_in)
                    row["message_id"] = f"m{n}"
                    await session.exec(insert(OutboxRow.__table__).values(**row))  # type: ignore[attr-defined]
            worker = DeliveryWorker(db, settings, signer=None)  # type: ignore[arg-type]
            claimed = await worker._claim(100)
            again = await worker._claim(100)  # the claimed ones are in flight now: nothing more may start
            assert again == []
            assert all(r.status == F and r.attempts == 1 and r.lease_until for r in claimed)
            return [r.message_id for r in claimed]
        finally:
            await db.dispose()

    assert asyncio.run(main()) == ["m0", "m1", "m6", "m9", "m10"]


def test_batched_outcomes_only_touch_the_attempt_made(settings):  # type: ignore[no-untyped-def]
    """Outcomes are written in one transaction per batch; a stale outcome (the lease expired and a
    newer attempt owns the row) neither deletes nor reschedules the row."""
    import asyncio

    from sqlalchemy import insert
    from sqlmodel import select

    from vtn.core.database import Database
    from vtn.core.migrate import upgrade
    from vtn.subscriptions.delivery import DeliveryWorker, Outcome
    from vtn.subscriptions.notification_models import OutboxRow, OutboxStatus

    upgrade(settings.database_url)

    async def main() -> dict[str, tuple[str, int]]:
        db = Database(settings.database_url)
        try:
            async with db.session() as session:
                for key in ("ok", "fail", "stale"):
                    row = _outbox_row(key, OutboxStatus.IN_FLIGHT, attempts=2)
                    await session.exec(insert(OutboxRow.__table__).values(**row))  # type: ignore[attr-defined]
            async with db.session(write=False) as session:
                rows = {r.callback_key: r for r in (await session.exec(select(OutboxRow))).all()}
            stale = rows["stale"].model_copy(update={"attempts": 1})  # an older attempt's late answer
            worker = DeliveryWorker(db, settings, signer=None)  # type: ignore[arg-type]
            worker.outcomes = [Outcome(rows["ok"], 200, None, None), Outcome(rows["fail"], 503, "HTTP 503", None),
                               Outcome(stale, 200, None, None)]
            await worker._flush()
            assert worker.outcomes == []
            async with db.session(write=False) as session:
                return {r.callback_key: (r.status, r.attempts) for r in (await session.exec(select(OutboxRow))).all()}
        finally:
            await db.dispose()

    left = asyncio.run(main())
    assert left == {"fail": (OutboxStatus.PENDING, 2), "stale": (OutboxStatus.IN_FLIGHT, 2)}
