"""SSRF policy: forbidden address classes refused at subscribe time and at connect time."""

from __future__ import annotations

import asyncio
from ipaddress import ip_address

import aiohttp
import pytest

from tests.support.receiver import Receiver
from vtn.core.errors import BadRequest
from vtn.core.settings import Settings
from vtn.notifications import callbacks
from vtn.notifications.callbacks import BlockedAddress, check_callback_url, forbidden_reason

FORBIDDEN = {
    "127.0.0.1": "loopback",
    "::1": "loopback",
    "0.0.0.0": "unspecified",
    "::": "unspecified",
    "10.0.0.5": "private",
    "172.16.3.4": "private",
    "192.168.1.1": "private",
    "fd00::1": "private",
    "169.254.169.254": "link-local",  # cloud metadata
    "fe80::1": "link-local",
    "224.0.0.1": "multicast",
    "ff02::1": "multicast",
    "240.0.0.1": "reserved",
    "100.64.0.1": "non-global",  # shared address space (CGNAT)
    "192.0.2.1": "private",  # documentation
    "::ffff:127.0.0.1": "loopback",  # IPv4-mapped IPv6 is unwrapped
    "::ffff:169.254.169.254": "link-local",
}


def strict() -> Settings:
    return Settings(database_url="sqlite+aiosqlite:///:memory:", callback_allowed_networks=[])


@pytest.mark.parametrize(("address", "reason"), sorted(FORBIDDEN.items()))
def test_forbidden_classes(address: str, reason: str) -> None:
    assert forbidden_reason(ip_address(address)) == reason
    host = f"[{address}]" if ":" in address else address
    with pytest.raises(BadRequest, match=reason):
        check_callback_url(f"https://{host}/cb", strict())


@pytest.mark.parametrize("address", ["93.184.215.14", "2606:4700::1111", "8.8.8.8"])
def test_public_addresses_allowed(address: str) -> None:
    assert forbidden_reason(ip_address(address)) is None
    host = f"[{address}]" if ":" in address else address
    check_callback_url(f"https://{host}/cb", strict())


def test_scheme_and_credentials() -> None:
    with pytest.raises(BadRequest, match="https"):
        check_callback_url("http://8.8.8.8/cb", strict())
    with pytest.raises(BadRequest, match="credentials"):
        check_callback_url("https://u:p@8.8.8.8/cb", strict())
    with pytest.raises(BadRequest, match="https"):
        check_callback_url("file:///etc/passwd", strict())
    check_callback_url("http://8.8.8.8/cb", Settings(database_url="sqlite://", callback_allow_http=True))


@pytest.mark.parametrize("resolved", [["10.1.2.3"], ["8.8.8.8", "127.0.0.1"], ["::ffff:10.0.0.1"], ["169.254.169.254"]])
def test_names_resolving_to_forbidden_addresses(monkeypatch: pytest.MonkeyPatch, resolved: list[str]) -> None:
    monkeypatch.setattr(callbacks, "resolve_host", lambda host, port: resolved)
    with pytest.raises(BadRequest, match="resolves to"):
        check_callback_url("https://hooks.example.com/cb", strict())


def test_names_resolving_to_public_or_unresolvable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(callbacks, "resolve_host", lambda host, port: ["8.8.4.4"])
    check_callback_url("https://hooks.example.com/cb", strict())

    def fail(host: str, port: int) -> list[str]:
        raise OSError("no DNS")

    monkeypatch.setattr(callbacks, "resolve_host", fail)
    check_callback_url("https://hooks.example.com/cb", strict())  # re-vetted at every delivery


def test_allow_list(monkeypatch: pytest.MonkeyPatch) -> None:
    allowed = Settings(database_url="sqlite://", callback_allowed_networks=["10.20.0.0/16", "::1/128"])
    check_callback_url("https://10.20.3.4/cb", allowed)
    check_callback_url("https://[::1]/cb", allowed)
    check_callback_url("https://[::ffff:10.20.0.9]/cb", allowed)
    with pytest.raises(BadRequest):
        check_callback_url("https://10.21.0.1/cb", allowed)
    monkeypatch.setattr(callbacks, "resolve_host", lambda host, port: ["10.20.9.9"])
    check_callback_url("https://internal.example/cb", allowed)


def test_subscription_api_refuses(http, clients) -> None:  # type: ignore[no-untyped-def]
    http.app.state.settings.callback_allowed_networks = []
    bl = clients.bl()
    program_id = bl.post("/programs", json={"programName": "p"}).json()["id"]
    for url in ("http://127.0.0.1:9/cb", "https://169.254.169.254/latest", "https://[::ffff:10.0.0.1]/x", "https://localhost/x"):
        body = {"clientName": "c", "programID": program_id,
                "objectOperations": [{"objects": ["EVENT"], "operations": ["CREATE"], "callbackUrl": url}]}
        response = bl.post("/subscriptions", json=body)
        assert response.status_code == 400, (url, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
    # an update is checked too, and a refused one leaves the stored subscription as it was
    good = {"clientName": "c", "programID": program_id,
            "objectOperations": [{"objects": ["EVENT"], "operations": ["CREATE"], "callbackUrl": "https://8.8.8.8/cb"}]}
    created = bl.post("/subscriptions", json=good)
    assert created.status_code == 201, created.text
    bad = {**good, "objectOperations": [{**good["objectOperations"][0], "callbackUrl": "https://10.0.0.1/cb"}]}
    refused = bl.put(f"/subscriptions/{created.json()['id']}", json=bad)
    assert refused.status_code == 400 and "private" in refused.text
    stored = bl.get(f"/subscriptions/{created.json()['id']}").json()
    assert stored["objectOperations"][0]["callbackUrl"] == "https://8.8.8.8/cb"


def test_connect_time_guard_blocks_and_connects_to_vetted_ip(monkeypatch: pytest.MonkeyPatch) -> None:
    from vtn.notifications.webhook import make_session

    strict = Settings(database_url="sqlite://", callback_allow_http=True, callback_allowed_networks=[])
    answers = {"n": 0}

    def rebinding(host: str, port: int) -> list[str]:  # a DNS name answering a loopback address
        answers["n"] += 1
        return ["127.0.0.1"]

    async def main(receiver: Receiver) -> None:
        monkeypatch.setattr(callbacks, "resolve_host", rebinding)
        async with make_session(strict) as session:
            with pytest.raises(aiohttp.ClientConnectorError, match=r"blocked: hooks\.test resolves to loopback"):
                await session.post(f"http://hooks.test:{receiver.port}/named", data=b"{}")
        assert receiver.received() == []
        # allow-listed: the vetted IP is connected to, the name stays the Host
        allowed = strict.model_copy(update={"callback_allowed_networks": ["127.0.0.0/8"]})
        async with make_session(allowed) as session, \
                session.post(f"http://hooks.test:{receiver.port}/named", data=b"{}") as response:
            assert response.status == 200
        assert answers["n"] == 2
        got = receiver.received("/named")
        assert got and got[0].headers["host"] == f"hooks.test:{receiver.port}"
        with pytest.raises(BlockedAddress):
            await callbacks.vetted_addresses("hooks.test", 443, ())

    with Receiver() as receiver:
        asyncio.run(main(receiver))


@pytest.mark.parametrize("host", ["localhost", "127.1", "2130706433", "0x7f000001", "0177.0.0.1", "169.254.43518"])
def test_real_resolver_spellings_of_forbidden_addresses(host: str) -> None:
    """Names and legacy numeric spellings the system resolver turns into loopback/metadata addresses."""
    with pytest.raises(BadRequest, match="resolves to"):
        check_callback_url(f"https://{host}/cb", strict())


def test_delivery_worker_client_is_guarded() -> None:
    """The transport the delivery worker really uses refuses a forbidden address at connect time (here: a
    loopback receiver, not on the allow-list, by IP literal and by name), and delivers once it is allow-listed."""
    from vtn.notifications.models import OutboxRow
    from vtn.notifications.webhook import WebhookTransport

    class NoSignature:
        async def headers(self, message_id: str, body: bytes) -> dict[str, str]:
            return {}

    async def send(settings: Settings, url: str) -> int | None:
        transport = WebhookTransport(settings, NoSignature())  # type: ignore[arg-type]
        await transport.start()
        try:
            row = OutboxRow.model_construct(callback_url=url, body="{}", message_id="msg_1", bearer_token=None)
            return (await transport.send(row)).status
        finally:
            await transport.stop()

    with Receiver() as receiver:
        refused = Settings(database_url="sqlite://", callback_allow_http=True, callback_allowed_networks=[])
        with pytest.raises(BlockedAddress, match=r"blocked: 127.0.0.1 is a loopback"):
            asyncio.run(send(refused, receiver.url("/guarded")))
        with pytest.raises(aiohttp.ClientConnectorError, match=r"blocked: localhost resolves to loopback"):
            asyncio.run(send(refused, f"http://localhost:{receiver.port}/guarded"))
        assert receiver.received() == []
        allowed = refused.model_copy(update={"callback_allowed_networks": ["127.0.0.0/8", "::1/128"]})
        assert asyncio.run(send(allowed, receiver.url("/guarded"))) == 200
        assert asyncio.run(send(allowed, f"http://localhost:{receiver.port}/guarded")) == 200
