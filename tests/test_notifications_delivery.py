"""Delivery to real loopback receivers: signatures, bearer tokens, retries, dead letters, re-drive."""

from __future__ import annotations

import json
import time

import httpx2
import pytest

from tests.conftest import vtn_test_settings
from tests.support.receiver import Receiver
from tests.support.server import free_port
from vtn.core.settings import Settings
from vtn.notifications.signing import public_key_from, verify

EVENT_BODY = {"intervals": [{"id": 0, "payloads": [{"type": "PRICE", "values": [1.0]}]}]}


@pytest.fixture
def settings(database_url: str) -> Settings:
    return vtn_test_settings(database_url, delivery_enabled=True, delivery_poll_seconds=0.5, delivery_retry_base_seconds=0.2,
                         delivery_retry_max_seconds=0.5, delivery_max_attempts=3, delivery_timeout_seconds=3)


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
    from vtn.notifications.signing import WebhookSigner

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
    from vtn.notifications.models import OutboxRow, OutboxStatus
    from vtn.notifications.worker import DeliveryWorker

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
    from vtn.notifications.models import OutboxRow, OutboxStatus
    from vtn.notifications.worker import DeliveryWorker, Outcome

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


def test_backoff_is_exponential_capped_and_jittered() -> None:
    from vtn.notifications.worker import _retry_after, backoff_seconds

    s = Settings(database_url="sqlite://", delivery_retry_base_seconds=5, delivery_retry_max_seconds=60)
    for attempts, full in ((1, 5), (2, 10), (3, 20), (4, 40), (5, 60), (9, 60)):
        samples = [backoff_seconds(attempts, s) for _ in range(300)]
        assert all(full * 0.5 <= x <= full for x in samples), (attempts, min(samples), max(samples))
        assert len(set(samples)) > 250  # jittered: retries of many receivers do not line up
        assert min(samples) < full * 0.6 and max(samples) > full * 0.9  # spread over [full/2, full]
    assert backoff_seconds(1, s, retry_after=30) == 30  # Retry-After honoured …
    assert backoff_seconds(1, s, retry_after=10_000) == 60  # … but never beyond the cap
    assert _retry_after("120") == 120.0 and _retry_after("soon") is None and _retry_after(None) is None
    assert 3000 < (_retry_after("Wed, 21 Oct 2099 07:28:00 GMT") or 0)


def test_dead_letter_by_age(app, clients):  # type: ignore[no-untyped-def]
    app.state.settings.delivery_max_attempts = 1000
    # old enough after a few retries (0.1–0.5 s apart), with room for a slow first attempt on a loaded machine
    app.state.settings.delivery_max_age_seconds = 3.0
    bl = clients.bl()
    with Receiver(status=lambda _path: 500) as receiver:
        program_id = setup_program(bl, receiver.url("/old"))
        bl.post("/events", json={"programID": program_id, **EVENT_BODY})
        deadline = time.monotonic() + 15
        dead: list[dict] = []  # type: ignore[type-arg]
        while time.monotonic() < deadline and not dead:
            dead = bl.get("/admin/deliveries", params={"status": "dead"}).json()
            time.sleep(0.1)
        assert len(dead) == 1
        assert 2 <= dead[0]["attempts"] < 1000 and dead[0]["lastStatus"] == 500  # retried, then too old
        tried = len(receiver.received(failed=True))
        time.sleep(1.0)
        assert len(receiver.received(failed=True)) == tried  # dead: no more attempts


def test_order_kept_while_the_oldest_waits_for_its_retry(app, clients):  # type: ignore[no-untyped-def]
    """Concurrency 1: the first notification fails once; the later ones wait behind it."""
    app.state.settings.delivery_concurrency_per_callback = 1
    answers = {"n": 0}

    def status(_path: str) -> int:
        answers["n"] += 1
        return 503 if answers["n"] == 1 else 200

    bl = clients.bl()
    with Receiver(status=status) as receiver:
        program_id = setup_program(bl, receiver.url("/ordered"), operations=("CREATE",))
        created = [bl.post("/events", json={"programID": program_id, "eventName": f"e{n}", **EVENT_BODY}).json()["id"]
                   for n in range(5)]
        receiver.wait_for(lambda r: len(r) >= 5)
        every = receiver.received(failed=True)
    assert [r.status for r in every] == [503, 200, 200, 200, 200, 200]
    assert [json.loads(r.body)["object"]["id"] for r in every] == [created[0], *created]


def test_per_callback_concurrency_limit(app, clients):  # type: ignore[no-untyped-def]
    """k = 2: an attempt starts only after the one two places before it has been answered."""
    app.state.settings.delivery_concurrency_per_callback = 2
    delay = 0.3
    bl = clients.bl()
    with Receiver(delay=delay) as receiver, Receiver() as other:
        program_id = setup_program(bl, receiver.url("/slow"), operations=("CREATE",))
        entry = {"objects": ["EVENT"], "operations": ["CREATE"], "callbackUrl": other.url("/fast")}
        bl.post("/subscriptions", json={"clientName": "c", "programID": program_id, "objectOperations": [entry]})
        for _ in range(6):
            bl.post("/events", json={"programID": program_id, **EVENT_BODY})
        fast = other.wait_for(lambda r: len(r) >= 6)
        slow = receiver.wait_for(lambda r: len(r) >= 6, timeout=30)
    at = [r.at for r in slow]
    assert all(at[i + 2] - at[i] >= delay - 0.01 for i in range(len(at) - 2)), at
    # another callback is not held up by the slow one
    assert fast[-1].at < at[-1]


def test_cli_lists_and_redrives_dead_letters(app, clients, database_url, monkeypatch):  # type: ignore[no-untyped-def]
    from typer.testing import CliRunner

    from vtn.cli import app as cli
    from vtn.core.settings import get_settings

    healthy = {"on": False}
    bl = clients.bl()
    with Receiver(status=lambda _path: 200 if healthy["on"] else 500) as receiver:
        program_id = setup_program(bl, receiver.url("/cli"), operations=("CREATE",))
        for _ in range(2):
            bl.post("/events", json={"programID": program_id, **EVENT_BODY})
        deadline = time.monotonic() + 15
        dead: list[dict] = []  # type: ignore[type-arg]
        while time.monotonic() < deadline and len(dead) < 2:
            dead = bl.get("/admin/deliveries", params={"status": "dead"}).json()
            time.sleep(0.1)
        assert len(dead) == 2

        monkeypatch.setenv("VTN_DATABASE_URL", database_url)
        get_settings.cache_clear()
        runner = CliRunner()
        try:
            listed = runner.invoke(cli, ["deliveries", "list", "--status", "dead"])
            assert listed.exit_code == 0, listed.output
            lines = listed.output.strip().splitlines()
            assert [line.split("\t")[:3] for line in lines] == [[str(d["id"]), "dead", "attempts=3"] for d in dead]
            assert receiver.url("/cli") in lines[0] and "HTTP 500" in lines[0] and "tok123" not in listed.output
            assert runner.invoke(cli, ["deliveries", "list", "--status", "bogus"]).exit_code != 0
            assert runner.invoke(cli, ["deliveries", "redrive"]).exit_code != 0  # an id or --all-dead
            missing = runner.invoke(cli, ["deliveries", "redrive", "999999"])
            assert missing.exit_code == 1 and "not found" in missing.output

            healthy["on"] = True
            one = runner.invoke(cli, ["deliveries", "redrive", str(dead[0]["id"])])
            assert one.exit_code == 0 and one.output.strip() == f"re-driven: {dead[0]['id']}"
            receiver.wait_for(lambda r: len(r) >= 1)
            rest = runner.invoke(cli, ["deliveries", "redrive", "--all-dead"])
            assert rest.exit_code == 0 and rest.output.strip() == "re-driven: 1"
            got = receiver.wait_for(lambda r: len(r) >= 2)
            assert {r.headers["webhook-id"] for r in got} == {d["webhookId"] for d in dead}
            assert_outbox_drains(bl)
            assert runner.invoke(cli, ["deliveries", "list"]).output.strip() == ""  # delivered rows are gone
        finally:
            get_settings.cache_clear()


def test_two_processes_never_claim_the_same_attempt(settings):  # type: ignore[no-untyped-def]
    """Two workers on one database (two VTN processes) claiming at the same time: every attempt
    is claimed once, and the per-callback limit holds across both."""
    import asyncio
    from collections import Counter

    from sqlalchemy import insert
    from sqlmodel import select

    from vtn.core.database import Database
    from vtn.core.migrate import upgrade
    from vtn.notifications.models import OutboxRow, OutboxStatus
    from vtn.notifications.worker import DeliveryWorker

    upgrade(settings.database_url)
    settings.delivery_concurrency_per_callback = 2
    callbacks, per_callback = 12, 5

    async def main() -> tuple[list[OutboxRow], list[OutboxRow]]:
        dbs = [Database(settings.database_url) for _ in range(2)]
        try:
            async with dbs[0].session() as session:
                for n in range(callbacks * per_callback):
                    row = _outbox_row(f"cb{n % callbacks}", OutboxStatus.PENDING)
                    row["message_id"] = f"m{n}"
                    await session.exec(insert(OutboxRow.__table__).values(**row))  # type: ignore[attr-defined]
            workers = [DeliveryWorker(db, settings, signer=None) for db in dbs]  # type: ignore[arg-type]
            claimed: list[OutboxRow] = []
            for _ in range(10):
                rounds = await asyncio.gather(*(w._claim(5) for w in workers for _ in range(2)))
                claimed += [row for batch in rounds for row in batch]
            async with dbs[1].session(write=False) as session:
                stored = list((await session.exec(select(OutboxRow).where(OutboxRow.status == OutboxStatus.IN_FLIGHT))).all())
            return claimed, stored
        finally:
            for db in dbs:
                await db.dispose()

    claimed, stored = asyncio.run(main())
    ids = [r.id for r in claimed]
    assert len(ids) == len(set(ids)), "an attempt was claimed twice"
    per = Counter(r.callback_key for r in claimed)
    assert per == dict.fromkeys((f"cb{n}" for n in range(callbacks)), 2)  # k per callback, across both workers
    assert sorted(ids) == sorted(r.id for r in stored) and all(r.attempts == 1 for r in stored)


def test_sqlite_one_process_delivers(settings, tmp_path):  # type: ignore[no-untyped-def]
    """On SQLite a second VTN process (e.g. `--workers 2`) does not deliver, and it does not
    release the first one's leases; when the first stops (or dies) it takes over."""
    import asyncio

    from sqlalchemy import insert
    from sqlmodel import select

    from vtn.core.database import Database
    from vtn.core.migrate import upgrade
    from vtn.notifications.models import OutboxRow, OutboxStatus
    from vtn.notifications.worker import DeliveryWorker

    if not settings.database_url.startswith("sqlite"):
        pytest.skip("PostgreSQL: every process delivers (SKIP LOCKED)")
    upgrade(settings.database_url)
    settings.delivery_poll_seconds = 0.1

    async def status(db: Database) -> str:
        async with db.session(write=False) as session:
            return (await session.exec(select(OutboxRow.status))).one()

    async def main() -> None:
        first_db, second_db = Database(settings.database_url), Database(settings.database_url)
        first = DeliveryWorker(first_db, settings, signer=None)  # type: ignore[arg-type]
        second = DeliveryWorker(second_db, settings, signer=None)  # type: ignore[arg-type]
        try:
            await first.start()
            async with first_db.session() as session:  # the first process's attempt in flight
                await session.exec(insert(OutboxRow.__table__).values(**_outbox_row("k", OutboxStatus.IN_FLIGHT)))  # type: ignore[attr-defined]
            await second.start()
            assert first.delivers and not second.delivers
            await asyncio.sleep(0.5)
            assert await status(second_db) == OutboxStatus.IN_FLIGHT  # not taken from the live deliverer
            await first.stop()
            for _ in range(100):  # its loop retries the lock every delivery_poll_seconds
                if second.delivers:
                    break
                await asyncio.sleep(0.05)
            assert second.delivers
        finally:
            await second.stop()
            await first_db.dispose()
            await second_db.dispose()

    asyncio.run(main())


def test_last_delivery_per_ven(clients):  # type: ignore[no-untyped-def]
    """A 2xx answer is remembered per subscription (the outbox row itself is deleted): the operator
    sees when each push VEN last accepted a webhook; failures and other VENs' deliveries don't count."""
    bl = clients.bl()
    good, bad = clients.ven("good"), clients.ven("bad")
    good_ven = good.post("/vens", json={"venName": "good"}).json()
    bad.post("/vens", json={"venName": "bad"})
    bl.post("/vens", json={"venName": "quiet"})
    program_id = bl.post("/programs", json={"programName": "p"}).json()["id"]
    with Receiver(status=lambda path: 200 if path == "/good" else 500) as receiver:
        for caller, path in ((good, "/good"), (bad, "/bad")):
            entry = {"objects": ["EVENT"], "operations": ["CREATE"], "callbackUrl": receiver.url(path)}
            response = caller.post("/subscriptions", json={"clientName": path[1:], "programID": program_id,
                                                           "objectOperations": [entry]})
            assert response.status_code == 201, response.text
        before = {item["venName"]: item for item in bl.get("/admin/vens/last-seen").json()}
        assert all(item["lastDelivery"] is None for item in before.values())
        bl.post("/events", json={"programID": program_id, **EVENT_BODY})
        receiver.wait_for(lambda r: any(x.path == "/good" for x in r))
        deadline = time.monotonic() + 10
        listed: dict = {}
        while time.monotonic() < deadline and not (listed.get("good") or {}).get("lastDelivery"):
            listed = {item["venName"]: item for item in bl.get("/admin/vens/last-seen").json()}
            time.sleep(0.05)
        assert len(receiver.received("/bad", failed=True)) >= 1
    assert listed["good"]["venID"] == good_ven["id"] and listed["good"]["lastDelivery"]
    assert listed["bad"]["lastDelivery"] is None and listed["quiet"]["lastDelivery"] is None
    assert listed["good"]["lastDelivery"] >= before["good"]["lastSeen"]
