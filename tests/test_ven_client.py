"""The VEN's HTTP client on its own (httpx2 MockTransport, fake sleep and clock): retries with backoff on
network errors, 5xx and 429 (Retry-After), token caching and refresh before expiry, If-None-Match; the
structured log format; and that the library and the `ven` command need none of the server's packages."""

from __future__ import annotations

import asyncio
import json
import logging
import subprocess
import sys
import textwrap
import tomllib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import httpx2
import pytest
from packaging.requirements import Requirement

from openadr3.models import Event
from ven_client import client as client_module
from ven_client.client import VtnClient, VtnError, VtnUnavailable, retry_after_seconds
from ven_client.logs import JsonFormatter

ROOT = Path(__file__).resolve().parent.parent
BASE = "http://vtn.test/openadr3/3.0.1"
SERVER_ONLY = ("fastapi", "sqlmodel", "sqlalchemy", "aiosqlite", "asyncpg", "alembic", "pydantic_settings", "multipart",
               "python_multipart",
               "argon2", "prometheus_client", "jinja2", "vtn")


class FakeVtn:
    """Answers the token endpoint and replays `script` (status codes, responses or exceptions) for API calls."""

    def __init__(self, script: list[Any] | None = None, expires_in: int = 3600) -> None:
        self.script = list(script or [])
        self.expires_in = expires_in
        self.calls: list[httpx2.Request] = []
        self.tokens = 0

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        if request.url.path.endswith("/auth/token"):
            self.tokens += 1
            assert request.headers["authorization"].startswith("Basic ")
            return httpx2.Response(200, json={"access_token": f"tok-{self.tokens}", "token_type": "Bearer",
                                              "expires_in": self.expires_in})
        self.calls.append(request)
        step = self.script.pop(0) if self.script else 200
        if isinstance(step, Exception):
            raise step
        if isinstance(step, httpx2.Response):
            return step
        return httpx2.Response(step, json=[] if step < 400 else {"title": "x", "status": step})


def make_client(fake: FakeVtn, **kwargs: Any) -> tuple[VtnClient, list[float]]:
    sleeps: list[float] = []

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)

    client = VtnClient(BASE, "ven-a", "secret", transport=httpx2.MockTransport(fake), sleep=sleep, **kwargs)
    return client, sleeps


async def test_network_errors_and_5xx_are_retried_with_growing_backoff() -> None:
    fake = FakeVtn([httpx2.ConnectError("refused"), httpx2.ReadTimeout("slow"), 502, 500, 200])
    client, sleeps = make_client(fake, backoff_base=1.0)
    async with client:
        assert await client.list_events() == []
    assert len(fake.calls) == 5 and len(sleeps) == 4
    # exponential (1, 2, 4, 8 s) with jitter in [50 %, 100 %]
    for attempt, delay in enumerate(sleeps):
        assert 2**attempt * 0.5 <= delay <= 2**attempt


async def test_429_and_503_honour_retry_after() -> None:
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=40), usegmt=True)
    fake = FakeVtn([httpx2.Response(429, headers={"Retry-After": "7"}), httpx2.Response(503, headers={"Retry-After": later}),
                    200])
    client, sleeps = make_client(fake)
    async with client:
        await client.list_programs()
    assert sleeps[0] == 7.0 and 35 <= sleeps[1] <= 40
    assert retry_after_seconds("soon") is None and retry_after_seconds(None) is None


async def test_retries_give_up_and_unsafe_posts_are_not_repeated() -> None:
    fake = FakeVtn([httpx2.ConnectError("refused")] * 3)
    client, sleeps = make_client(fake, max_retries=2)
    async with client:
        with pytest.raises(VtnUnavailable):
            await client.list_events()
        assert len(fake.calls) == 3 and len(sleeps) == 2
        # A POST that may have reached the VTN (timeout, 500) is not sent twice: it could create two reports.
        fake.script = [httpx2.ReadTimeout("slow")]
        with pytest.raises(VtnUnavailable):
            await client.request("POST", "reports", json={})
        fake.script = [500]
        assert (await client.request("POST", "reports", json={})).status_code == 500
        assert len(fake.calls) == 5
        # ...but one the VTN refused before doing anything (connection refused, 429, 503) is.
        fake.script = [httpx2.ConnectError("refused"), 429, 201]
        assert (await client.request("POST", "reports", json={})).status_code == 201
        fake.script = [503, 201]
        assert (await client.request("POST", "reports", json={})).status_code == 201
        assert len(fake.calls) == 10
        fake.script = [503, 503, 503]
        with pytest.raises(VtnError) as failed:
            await client.list_events()
        assert failed.value.status == 503


async def test_token_is_cached_and_refreshed_before_it_expires(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1000.0]
    monkeypatch.setattr(client_module.time, "monotonic", lambda: now[0])
    fake = FakeVtn(expires_in=300)
    client, _ = make_client(fake)
    async with client:
        await asyncio.gather(*(client.list_events() for _ in range(5)))  # concurrent callers share one fetch
        assert fake.tokens == 1
        now[0] += 269  # 300 s lifetime, refreshed 30 s early
        await client.list_events()
        assert fake.tokens == 1
        now[0] += 2
        await client.list_events()
        assert fake.tokens == 2 and fake.calls[-1].headers["authorization"] == "Bearer tok-2"
        # A token the VTN no longer accepts (401) is replaced at once and the request repeated.
        fake.script = [401, 200]
        await client.list_events()
        assert fake.tokens == 3 and [c.headers["authorization"] for c in fake.calls[-2:]] == ["Bearer tok-2", "Bearer tok-3"]
        assert all(c.headers["authorization"].startswith("Bearer ") for c in fake.calls)


async def test_if_none_match_and_304() -> None:
    body = [{"id": "e1", "programID": "p1", "intervals": []}]
    fake = FakeVtn([httpx2.Response(200, json=body, headers={"ETag": '"v1"'}), httpx2.Response(304),
                    httpx2.Response(200, json=[], headers={"ETag": '"v2"'})])
    client, _ = make_client(fake)
    async with client:
        assert await client.get_json("events") == (body, True)
        assert await client.get_json("events") == (body, False)
        assert await client.get_json("events") == ([], True)
    assert "if-none-match" not in fake.calls[0].headers
    assert [c.headers.get("if-none-match") for c in fake.calls[1:]] == ['"v1"', '"v1"']
    assert client.not_modified == 1


async def test_a_lookup_between_polls_does_not_hide_a_change_from_the_poller() -> None:
    """The poller's ETags are its own: a list_events (an anchor look-up for a heartbeat) that fetches the changed
    list must not turn the poller's next GET into a 304, or the change would never be applied (found by the VEN
    suite's V004 with heartbeats sent during the run)."""
    old = [{"id": "e1", "programID": "p1", "intervals": []}]
    new = [*old, {"id": "e2", "programID": "p1", "intervals": []}]
    fake = FakeVtn([httpx2.Response(200, json=old, headers={"ETag": '"v1"'}),   # poll
                    httpx2.Response(200, json=new, headers={"ETag": '"v2"'}),   # look-up
                    httpx2.Response(200, json=new, headers={"ETag": '"v2"'})])  # poll: v1 is stale, so 200
    client, _ = make_client(fake)
    async with client:
        assert (await client.list_all("events", Event))[1]
        assert [e.id for e in await client.list_events()] == ["e1", "e2"]
        events, changed = await client.list_all("events", Event)
    assert changed and [e.id for e in events] == ["e1", "e2"]
    assert [c.headers.get("if-none-match") for c in fake.calls] == [None, None, '"v1"']


def test_logs_are_one_json_object_per_line() -> None:
    record = logging.makeLogRecord({"name": "ven_client.agent", "levelno": logging.INFO, "levelname": "INFO",
                                    "msg": "event new", "event_id": "e1", "attempt": 2})
    line = JsonFormatter().format(record)
    entry = json.loads(line)
    assert "\n" not in line
    assert entry["msg"] == "event new" and entry["level"] == "info" and entry["event_id"] == "e1" and entry["attempt"] == 2
    assert entry["ts"].endswith("Z")


def test_base_install_covers_every_package_the_ven_imports() -> None:
    """With the server's packages made unimportable, the library, the `ven` command and the push receiver work;
    every third-party module they load belongs to a base dependency (or one of its dependencies)."""
    script = textwrap.dedent(f"""
        import asyncio, importlib.abc, json, socket, sys
        BLOCKED = {SERVER_ONLY!r}

        class Block(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in BLOCKED:
                    raise ModuleNotFoundError("not installed: " + name, name=name)

        sys.meta_path.insert(0, Block())
        import httpx2
        import ven_client, ven_client.agent, ven_client.cli, ven_client.gb, ven_client.webhook
        from typer.testing import CliRunner
        from ven_client.config import VenConfig, PushSettings, VtnSettings

        for args in (["--help"], ["run", "--help"], ["events", "--help"], ["report", "--help"], ["subscribe", "--help"],
                     ["unsubscribe", "--help"], ["register", "--help"], ["gb", "readings", "--help"]):
            result = CliRunner().invoke(ven_client.cli.app, args)
            assert result.exit_code == 0, (args, result.output)

        async def receiver():
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]
            config = VenConfig(vtn=VtnSettings(client_id="x", client_secret="y"), push=PushSettings(listen_port=port))
            agent = ven_client.VenAgent(config)
            await agent.start_receiver()
            try:
                async with httpx2.AsyncClient() as http:
                    assert (await http.get(f"http://127.0.0.1:{{port}}/health")).status_code == 200
            finally:
                await agent.stop_receiver()
                await agent.client.close()

        asyncio.run(receiver())
        print(json.dumps(sorted({{m.split(".")[0] for m in sys.modules}})))
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert done.returncode == 0, done.stderr[-3000:]
    loaded = set(json.loads(done.stdout.strip().splitlines()[-1]))
    bare = "import json, sys; print(json.dumps(sorted(sys.modules)))"  # e.g. .pth hooks of the environment
    loaded -= set(json.loads(subprocess.run([sys.executable, "-c", bare], capture_output=True, text=True, check=True).stdout))
    assert not loaded & set(SERVER_ONLY)

    allowed = base_closure()
    owners = metadata.packages_distributions()
    ours = {"openadr3", "gb_profile", "ven_client", "vtn", "conformance"}
    stdlib = set(sys.stdlib_module_names) | set(sys.builtin_module_names)
    outside = {}
    for module in loaded - stdlib - ours:
        dists = {_norm(d) for d in owners.get(module, [])}
        if dists and not dists & allowed:
            outside[module] = sorted(dists)
    assert outside == {}, f"imported by the VEN but not in the base dependencies: {outside}"


def _norm(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def base_closure() -> set[str]:
    """Distributions installed by `pip install gb-openadr3` (no extras): base dependencies, transitively."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pending = [Requirement(r) for r in project["dependencies"]]
    seen: set[str] = set()
    while pending:
        requirement = pending.pop()
        name = _norm(requirement.name)
        if name in seen:
            continue
        seen.add(name)
        try:
            requires = metadata.requires(requirement.name) or []
        except metadata.PackageNotFoundError:
            continue
        for text in requires:
            child = Requirement(text)
            wanted: Callable[[str], bool] = lambda extra: child.marker is None or child.marker.evaluate({"extra": extra})  # noqa: E731, B023
            if wanted("") or any(wanted(extra) for extra in requirement.extras):
                pending.append(child)
    return seen


async def test_a_retry_after_that_outlives_the_token_retries_with_a_fresh_one(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1000.0]
    monkeypatch.setattr(client_module.time, "monotonic", lambda: now[0])
    fake = FakeVtn([httpx2.Response(503, headers={"Retry-After": "120"}), 201], expires_in=100)

    async def sleep(seconds: float) -> None:
        now[0] += seconds  # the wait passes the token's expiry (refresh due at 90 s)

    client = VtnClient(BASE, "ven-a", "secret", transport=httpx2.MockTransport(fake), sleep=sleep)
    async with client:
        assert (await client.request("POST", "reports", json={})).status_code == 201
    assert [c.headers["authorization"] for c in fake.calls] == ["Bearer tok-1", "Bearer tok-2"]
