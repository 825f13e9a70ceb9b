"""The reference VEN against a real VTN process on loopback: pull mode, push mode, the receiver's checks."""

from __future__ import annotations

import asyncio
import base64
import json
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx2
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from typer.testing import CliRunner

from openadr3.models import Event, Program
from openadr3.schema import component_errors, spec_document
from tests.support.server import VtnProcess, free_port, running_vtn
from tests.support.waiting import wait_until
from ven_client import EventHandler, ScheduledInterval, VenAgent, VtnClient, cli, report_resource
from ven_client.config import PushSettings, ResourceConfig, VenConfig, VenSettings, VtnSettings
from ven_client.webhook import KeyStore, WebhookReceiver
from vtn.core.security import Role

pytestmark = pytest.mark.slow


class Recorder(EventHandler):
    def __init__(self) -> None:
        self.log: list[tuple[str, Any]] = []

    def on_event(self, event: Event, intervals: list[ScheduledInterval]) -> None:
        self.log.append(("new", event))

    def on_event_changed(self, event: Event, previous: Event, intervals: list[ScheduledInterval]) -> None:
        self.log.append(("changed", event))

    def on_event_cancelled(self, event: Event) -> None:
        self.log.append(("cancelled", event))

    async def on_interval_active(self, event: Event, interval: ScheduledInterval) -> None:
        self.log.append(("interval", (event.id, interval.id, interval.values())))

    def find(self, kind: str, predicate: Callable[[Any], bool] = lambda _: True) -> list[Any]:
        return [item for k, item in self.log if k == kind and predicate(item)]


def stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def dispatch(program_id: str, name: str, start: datetime, values: list[float], ven: str = "ven-a",
             duration: str = "PT1S") -> Event:
    return Event.model_validate({
        "programID": program_id, "eventName": name,
        "targets": [{"type": "VEN_NAME", "values": [ven]}],
        "intervalPeriod": {"start": stamp(start), "duration": duration},
        "payloadDescriptors": [{"payloadType": "DISPATCH_SETPOINT", "units": "KW"}],
        "reportDescriptors": [{"payloadType": "USAGE", "units": "KW"}],
        "intervals": [{"id": i, "payloads": [{"type": "DISPATCH_SETPOINT", "values": [v]}]} for i, v in enumerate(values)],
    })


def ven_config(base_url: str, secret: str, **ven: Any) -> VenConfig:
    return VenConfig(
        vtn=VtnSettings(url=base_url, client_id="ven-a-client", client_secret=secret, max_retries=8),
        ven=VenSettings(name="ven-a", **ven),
        resources=[ResourceConfig(name="battery-1", attributes={"GB_RESOURCE_ROLE": "DISPATCH_UNIT"})],
    )


class RecordingTransport(httpx2.AsyncHTTPTransport):
    """A real transport that remembers every request the VEN sends."""

    def __init__(self) -> None:
        super().__init__()
        self.requests: list[httpx2.Request] = []

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        self.requests.append(request)
        return await super().handle_async_request(request)


def outside_spec(requests: list[httpx2.Request], base_path: str) -> list[str]:
    """Requests that are not a 3.0.1 operation: unknown path or method, undeclared query parameter, invalid body."""
    spec = spec_document()
    problems = []
    for request in requests:
        path = request.url.path.removeprefix(base_path)
        found = None
        for template, item in spec["paths"].items():
            pattern = "^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)) + "$"
            if re.match(pattern, path) and request.method.lower() in item:
                found = item[request.method.lower()]
        if not request.url.path.startswith(base_path) or found is None:
            problems.append(f"{request.method} {request.url.path}")
            continue
        declared = {p["name"] for p in found.get("parameters", [])}
        if undeclared := set(request.url.params) - declared:
            problems.append(f"{request.method} {path}: query {sorted(undeclared)}")
        body = found.get("requestBody", {}).get("content", {}).get("application/json")
        if body and (errors := component_errors(body["schema"]["$ref"].rsplit("/", 1)[-1], json.loads(request.content))):
            problems.append(f"{request.method} {path}: {errors}")
    return problems


def test_pull_mode_against_a_real_vtn(tmp_path: Path) -> None:
    with running_vtn(tmp_path, env={"VTN_TOKEN_LIFETIME_SECONDS": "2"}) as vtn:
        bl_secret = vtn.provision("op", Role.BL)
        ven_secret = vtn.provision("ven-a-client", Role.VEN, ven_name="ven-a")
        asyncio.run(pull_scenario(vtn, bl_secret, ven_secret))
        check_cli(tmp_path, vtn, ven_secret, bl_secret)


def check_cli(tmp_path: Path, vtn: VtnProcess, ven_secret: str, bl_secret: str) -> None:
    """The `ven` command against the same VTN: events table/JSON, report (single and file upload)."""
    (tmp_path / "ven.secret").write_text(ven_secret)
    config = tmp_path / "ven.toml"
    config.write_text(f'[vtn]\nurl = "{vtn.base_url}"\nclient_id = "ven-a-client"\nclient_secret_file = "ven.secret"\n'
                      '[ven]\nname = "ven-a"\n[[resources]]\nname = "battery-1"\n')

    async def upcoming() -> str:
        async with VtnClient(vtn.base_url, "op", bl_secret) as bl:
            program = (await bl.list_programs())[0]
            assert program.id
            start = datetime.now(UTC) + timedelta(hours=1)
            event = await bl.create_event(dispatch(program.id, "NGED:3", start, [1.0, 2.0], duration="PT30M"))
            assert event.id
            return event.id

    event_id = asyncio.run(upcoming())
    runner = CliRunner()
    result = runner.invoke(cli.app, ["events", "--config", str(config), "--json"])
    assert result.exit_code == 0, result.output
    listed = {e["id"]: e for e in json.loads(result.output)}
    assert listed[event_id]["status"] == "upcoming"
    result = runner.invoke(cli.app, ["events", "--config", str(config)])
    assert "NGED:3" in result.output and "London" in result.output
    result = runner.invoke(cli.app, ["report", "--config", str(config), "--event", event_id, "--value", "0=1.5"])
    assert result.exit_code == 0 and "1 intervals" in result.output, result.output
    csv_file = tmp_path / "readings.csv"
    csv_file.write_text("event_id,resource,type,interval_id,value\n" + "".join(
        f"{event_id},battery-1,USAGE,{i},{i * 0.5}\n" for i in range(2)))
    result = runner.invoke(cli.app, ["report", "--config", str(config), "--file", str(csv_file)])
    assert result.exit_code == 0 and "2 intervals" in result.stdout, result.output
    assert "uploading reports" in result.stderr  # the progress bar
    result = runner.invoke(cli.app, ["unsubscribe", "--config", str(config)])
    assert result.exit_code == 0 and "no subscriptions" in result.output
    result = runner.invoke(cli.app, ["events", "--config", str(tmp_path / "missing.toml")])
    assert result.exit_code == 2


async def pull_scenario(vtn: VtnProcess, bl_secret: str, ven_secret: str) -> None:
    async with VtnClient(vtn.base_url, "op", bl_secret, backoff_base=0.1) as bl:
        program = await bl.create_program(Program(programName="NGED-SU"))
        assert program.id
        handler = Recorder()
        config = ven_config(vtn.base_url, ven_secret, poll_interval=0.2)
        wire = RecordingTransport()
        agent = VenAgent(config, handler, client=VtnClient.from_config(config, transport=wire))
        agent.client.backoff_base = 0.1
        task = asyncio.create_task(agent.run())
        try:
            await wait_until(lambda: agent.ven is not None and agent.stats.polls > 0, what="registration")
            assert agent.ven is not None and agent.ven.venName == "ven-a"
            assert list(agent.resources) == ["battery-1"]

            # A dispatch for us and one for another VEN.
            start = datetime.now(UTC) + timedelta(seconds=1)
            event = await bl.create_event(dispatch(program.id, "NGED:1", start, [10.0, -20.0]))
            await bl.create_event(dispatch(program.id, "NGED:other", start, [99.0], ven="ven-b"))
            await wait_until(lambda: handler.find("new"), what="new event")
            got = await wait_until(lambda: handler.find("interval", lambda i: i[0] == event.id and i[1] == 1), what="2nd")
            assert got[0][2] == {"DISPATCH_SETPOINT": [-20.0]}
            assert handler.find("interval", lambda i: i[0] == event.id and i[1] == 0)
            assert all(e.eventName != "NGED:other" for e in handler.find("new"))

            # The 2 s token has expired by now: refreshed without a failed poll.
            await wait_until(lambda: agent.client.token_fetches >= 2, what="token refresh")
            # A token the VTN refuses (401) is replaced transparently.
            agent.client._token, agent.client._token_expires = "not-a-token", time.monotonic() + 3600
            fetches = agent.client.token_fetches
            await wait_until(lambda: agent.client.token_fetches > fetches, what="401 re-fetch")
            assert agent.stats.poll_failures == 0
            assert agent.client.not_modified > 0  # polls are cheap: If-None-Match answered by 304

            # Reports: create, then update of the same report.
            first = await agent.submit_report(event, [report_resource("battery-1", "USAGE", {0: 9.5})])
            second = await agent.submit_report(event, [report_resource("battery-1", "USAGE", {0: 9.5, 1: -19.0})])
            assert first.id == second.id
            reports = await bl.list_reports(event_id=event.id)
            assert len(reports) == 1 and len(reports[0].resources[0].intervals) == 2

            # An update reaches on_event_changed, and re-fires the running interval with the new value.
            later = datetime.now(UTC) + timedelta(seconds=1)
            assert event.id
            await bl.update_event(event.id, dispatch(program.id, "NGED:1", later, [15.0], duration="PT30S"))
            await wait_until(lambda: handler.find("changed"), what="changed event")
            await wait_until(lambda: handler.find("interval", lambda i: i[2] == {"DISPATCH_SETPOINT": [15.0]}), what="value")

            # The VTN restarts under us.
            polls = agent.stats.polls
            await asyncio.to_thread(vtn.restart)
            second_event = await bl.create_event(dispatch(program.id, "NGED:2", datetime.now(UTC), [5.0], duration="PT1M"))
            await wait_until(lambda: handler.find("new", lambda e: e.id == second_event.id), within=20, what="after restart")
            assert agent.stats.polls > polls

            # Cancellation by update (0001-01-01 / PT0S) and by deletion.
            cancel = Event.model_validate({**second_event.content(), "intervalPeriod": {
                "start": "0001-01-01T00:00:00Z", "duration": "PT0S"}})
            assert second_event.id
            await bl.update_event(second_event.id, cancel)
            await wait_until(lambda: handler.find("cancelled", lambda e: e.id == second_event.id), what="cancel by update")
            await bl.delete_event(event.id)
            await wait_until(lambda: handler.find("cancelled", lambda e: e.id == event.id), what="cancel by delete")
            assert agent.stats.handler_errors == 0
            # Nothing outside OpenADR 3.0.1: every request is a spec operation with declared parameters and a valid body.
            methods = {r.method for r in wire.requests}
            assert {"GET", "POST", "PUT"} <= methods and len(wire.requests) > 20
            assert any("if-none-match" in r.headers for r in wire.requests)
            assert outside_spec(wire.requests, urlsplit(vtn.base_url).path) == []
        finally:
            agent.stop()
            await asyncio.wait_for(task, 15)
            await agent.client.close()


def test_push_mode_against_a_real_vtn(tmp_path: Path) -> None:
    with running_vtn(tmp_path, env={"VTN_TOKEN_LIFETIME_SECONDS": "2"}) as vtn:
        bl_secret = vtn.provision("op", Role.BL)
        ven_secret = vtn.provision("ven-a-client", Role.VEN, ven_name="ven-a")
        # Also creates the VTN's webhook signing key before the first delivery needs it.
        assert httpx2.get(vtn.url + "/.well-known/webhook-keys").status_code == 200
        asyncio.run(push_scenario(vtn, bl_secret, ven_secret))
        check_subscribe_cli(tmp_path, vtn, ven_secret, bl_secret)


def forged_notification(receiver_url: str, token: str, signer: Ed25519PrivateKey | None) -> int:
    """POST a well-formed notification to the VEN's receiver; its status code."""
    body = json.dumps({"objectType": "EVENT", "operation": "POST",
                       "object": {"id": "forged", "programID": "p", "eventName": "forged", "intervals": []}}).encode()
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    if signer is not None:
        now = int(time.time())
        signature = base64.b64encode(signer.sign(f"msg_forged.{now}.".encode() + body)).decode()
        headers |= {"webhook-id": "msg_forged", "webhook-timestamp": str(now), "webhook-signature": f"v1a,{signature}"}
    return httpx2.post(receiver_url, content=body, headers=headers).status_code


async def push_scenario(vtn: VtnProcess, bl_secret: str, ven_secret: str) -> None:
    async with VtnClient(vtn.base_url, "op", bl_secret, backoff_base=0.1) as bl:
        program = await bl.create_program(Program(programName="UKPN-SAOU"))
        assert program.id
        config = ven_config(vtn.base_url, ven_secret, mode="push")
        config.push = PushSettings(listen_port=free_port(), fallback_poll_interval=60)
        handler = Recorder()
        agent = VenAgent(config, handler)
        agent.client.backoff_base = 0.1
        task = asyncio.create_task(agent.run())
        try:
            await wait_until(lambda: agent.subscription_ids or task.done(), what="subscription")
            subscriptions = await bl.list_subscriptions(client_name="ven-a")
            assert [s.id for s in subscriptions] == list(agent.subscription_ids.values())

            event = await bl.create_event(dispatch(program.id, "UKPN:1", datetime.now(UTC), [7.0], duration="PT1M"))
            assert event.id
            await wait_until(lambda: handler.find("new", lambda e: e.id == event.id), what="pushed new event")
            await wait_until(lambda: handler.find("interval", lambda i: i[0] == event.id), what="interval active")
            await bl.update_event(event.id, dispatch(program.id, "UKPN:1", datetime.now(UTC), [8.0], duration="PT1M"))
            await wait_until(lambda: handler.find("changed", lambda e: e.id == event.id), what="pushed update")
            assert agent.receiver.accepted >= 2 and agent.receiver.rejected == 0

            # The real receiver (uvicorn, on loopback) refuses a wrong bearer token and a signature that is not
            # the VTN's (its key comes from the VTN's /.well-known/webhook-keys); the handler never sees them.
            url = config.push.effective_callback_url
            assert await asyncio.to_thread(forged_notification, url, "wrong-token", Ed25519PrivateKey.generate()) == 401
            assert await asyncio.to_thread(forged_notification, url, agent.bearer_token, Ed25519PrivateKey.generate()) == 401
            assert await asyncio.to_thread(forged_notification, url, agent.bearer_token, None) == 401
            assert agent.receiver.rejected == 3 and agent.receiver.keys.available
            assert not handler.find("new", lambda e: e.id == "forged")

            # The 2 s token has expired: the VEN's next call (a report) gets a new one without failing.
            fetches = agent.client.token_fetches
            await asyncio.sleep(2.2)
            await agent.submit_report(event, [report_resource("battery-1", "USAGE", {0: 7.5})])
            assert agent.client.token_fetches > fetches
            assert len(await bl.list_reports(event_id=event.id)) == 1

            # The VTN restarts; its subscriptions and signing key survive, and notifications keep coming.
            await asyncio.to_thread(vtn.restart)
            after = await bl.create_event(dispatch(program.id, "UKPN:3", datetime.now(UTC), [4.0], duration="PT1M"))
            await wait_until(lambda: handler.find("new", lambda e: e.id == after.id), within=20, what="pushed after restart")
            await bl.delete_event(event.id)
            await wait_until(lambda: handler.find("cancelled", lambda e: e.id == event.id), what="pushed delete")
            # two polls at start (before subscribing, and once the subscription is in place); everything else by webhook
            assert agent.stats.polls == 2 and agent.receiver.rejected == 3

            # A notification the receiver refuses (the VTN sends the old token) is dead-lettered at once by the
            # VTN (401) and caught by the slow poll.
            agent.receiver.bearer_token = "rotated-elsewhere"
            missed = await bl.create_event(dispatch(program.id, "UKPN:2", datetime.now(UTC), [3.0], duration="PT1M"))
            await wait_until(lambda: agent.receiver.rejected > 3, what="delivery refused")
            assert not handler.find("new", lambda e: e.id == missed.id)
            agent.request_poll()
            await wait_until(lambda: handler.find("new", lambda e: e.id == missed.id), what="fallback poll")
            assert agent.stats.polls == 3 and agent.stats.poll_failures == 0 and agent.stats.handler_errors == 0
        finally:
            agent.stop()
            await asyncio.wait_for(task, 15)
            await agent.client.close()
        # On shutdown the VEN removed its subscription.
        assert await bl.list_subscriptions(client_name="ven-a") == []


def check_subscribe_cli(tmp_path: Path, vtn: VtnProcess, ven_secret: str, bl_secret: str) -> None:
    """`ven subscribe` for a receiver of one's own, then `ven unsubscribe`."""
    config = tmp_path / "ven.toml"
    config.write_text(f'[vtn]\nurl = "{vtn.base_url}"\nclient_id = "ven-a-client"\nclient_secret = "{ven_secret}"\n'
                      '[ven]\nname = "ven-a"\n')
    callback = f"http://127.0.0.1:{free_port()}/my/receiver"
    runner = CliRunner()
    result = runner.invoke(cli.app, ["subscribe", "--config", str(config), "--callback-url", callback,
                                     "--bearer-token", "my-receiver-token"])
    assert result.exit_code == 0, result.output
    assert f"-> {callback}" in result.output and "bearer token: my-receiver-token" in result.output

    async def subscriptions() -> list[Any]:
        async with VtnClient(vtn.base_url, "op", bl_secret) as bl:
            return await bl.list_subscriptions(client_name="ven-a")

    [subscription] = asyncio.run(subscriptions())
    assert subscription.id and subscription.id in result.output
    [operation] = subscription.objectOperations
    assert operation.callbackUrl == callback and set(operation.objects) == {"EVENT", "PROGRAM"}
    result = runner.invoke(cli.app, ["unsubscribe", "--config", str(config)])
    assert result.exit_code == 0 and f"deleted subscription {subscription.id}" in result.output, result.output
    assert asyncio.run(subscriptions()) == []


def _local_key_document(key: Ed25519PrivateKey) -> dict[str, Any]:
    raw = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    x = base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
    return {"scheme": "v1a", "keys": [{"kty": "OKP", "crv": "Ed25519", "kid": "t", "x": x}]}


async def test_receiver_rejects_wrong_token_and_bad_signature() -> None:
    key = Ed25519PrivateKey.generate()
    received: list[str] = []

    async def fetch() -> dict[str, Any]:
        return _local_key_document(key)

    async def on_notification(notification: Any, webhook_id: str) -> None:
        received.append(webhook_id)

    receiver = WebhookReceiver("right-token", on_notification, KeyStore(fetch))
    body = json.dumps({"objectType": "EVENT", "operation": "POST", "object": {"programID": "p", "intervals": []}}).encode()

    def headers(msg_id: str, token: str = "right-token", signer: Ed25519PrivateKey = key, signed: bytes = body) -> dict[str, str]:
        now = int(time.time())
        signature = base64.b64encode(signer.sign(f"{msg_id}.{now}.".encode() + signed)).decode()
        return {"Authorization": f"Bearer {token}", "webhook-id": msg_id, "webhook-timestamp": str(now),
                "webhook-signature": f"v1a,{signature}", "Content-Type": "application/json"}

    transport = httpx2.ASGITransport(app=receiver.app)
    async with httpx2.AsyncClient(transport=transport, base_url="http://ven") as http:
        url = "/openadr/notifications"
        assert (await http.post(url, content=body, headers=headers("m1", token="wrong"))).status_code == 401
        no_auth = {k: v for k, v in headers("m2").items() if k != "Authorization"}
        assert (await http.post(url, content=body, headers=no_auth)).status_code == 401
        forged = headers("m3", signer=Ed25519PrivateKey.generate())
        assert (await http.post(url, content=body, headers=forged)).status_code == 401
        tampered = headers("m4", signed=body.replace(b"POST", b"PUT"))
        assert (await http.post(url, content=body, headers=tampered)).status_code == 401
        unsigned = {k: v for k, v in headers("m5").items() if k != "webhook-signature"}
        assert (await http.post(url, content=body, headers=unsigned)).status_code == 401
        assert received == []
        good = headers("m6")
        assert (await http.post(url, content=body, headers=good)).status_code == 204
        assert (await http.post(url, content=body, headers=good)).status_code == 204  # a redelivery
        assert received == ["m6"] and receiver.duplicates == 1 and receiver.rejected == 5
