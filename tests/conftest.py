"""Fixtures: the real app on SQLite and on PostgreSQL, and clients holding real tokens."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from tests.support.spec import assert_spec_response
from vtn.app import create_app
from vtn.core.migrate import upgrade
from vtn.core.security import Role, Stage
from vtn.core.settings import Settings

PG_HOST, PG_PORT = os.environ.get("VTN_TEST_PG_HOST", "127.0.0.1"), int(os.environ.get("VTN_TEST_PG_PORT", "5432"))
PG_ADMIN_URL = f"postgresql://postgres@{PG_HOST}:{PG_PORT}/postgres"
REQUIRE_POSTGRES = os.environ.get("VTN_REQUIRE_POSTGRES") == "1"
BASE = "/openadr3/3.0.1"


def postgres_available() -> bool:
    try:
        with socket.create_connection((PG_HOST, PG_PORT), timeout=1):
            return True
    except OSError:
        return False


def skip_without_postgres() -> None:
    if not postgres_available():
        if REQUIRE_POSTGRES:
            pytest.fail(f"VTN_REQUIRE_POSTGRES=1 but no PostgreSQL at {PG_HOST}:{PG_PORT}")
        pytest.skip(f"no PostgreSQL at {PG_HOST}:{PG_PORT} (set VTN_TEST_PG_HOST/PORT; CI starts one)")


async def _pg_admin(*statements: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(PG_ADMIN_URL)
    try:
        for statement in statements:
            await connection.execute(statement)
    finally:
        await connection.close()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "vtn.db"
    upgrade(f"sqlite+aiosqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def postgres_template() -> Iterator[str]:
    skip_without_postgres()
    name = f"vtn_test_{uuid.uuid4().hex[:10]}"
    asyncio.run(_pg_admin(f'CREATE DATABASE "{name}"'))
    url = f"postgresql+asyncpg://postgres@{PG_HOST}:{PG_PORT}/{name}"
    upgrade(url)
    yield url
    asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


TRUNCATE_TABLES = (
    "object_target, report, subscription, event, program, resource, ven, auth_client"
)


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        path = tmp_path / "vtn.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite+aiosqlite:///{path}"
    url: str = request.getfixturevalue("postgres_template")
    plain = url.replace("+asyncpg", "")
    async def truncate() -> None:
        import asyncpg

        connection = await asyncpg.connect(plain)
        try:
            tables = await connection.fetch(
                "SELECT tablename FROM pg_tables WHERE schemaname='public' AND tablename NOT IN "
                "('alembic_version', 'auth_signing_key')"
            )
            if tables:
                names = ", ".join(f'"{t["tablename"]}"' for t in tables)
                # audit_log refuses TRUNCATE (migration 0010); the superuser's replica role skips its triggers
                async with connection.transaction():
                    await connection.execute("SET LOCAL session_replication_role = replica")
                    await connection.execute(f"TRUNCATE {names} CASCADE")
        finally:
            await connection.close()
    asyncio.run(truncate())
    return url


def vtn_test_settings(database_url: str, **overrides: object) -> Settings:
    """The tests' VTN settings: webhooks to loopback allowed, no delivery worker and no console unless asked."""
    values: dict[str, object] = {
        "callback_allow_http": True, "callback_allowed_networks": ["127.0.0.0/8", "::1/128"],
        "delivery_enabled": False, "console_enabled": False, "gb_ack_check_seconds": 0, **overrides,
    }
    return Settings(database_url=database_url, **values)  # type: ignore[arg-type]


@pytest.fixture
def settings(database_url: str) -> Settings:
    return vtn_test_settings(database_url)


@pytest.fixture
def app(settings: Settings):  # type: ignore[no-untyped-def]
    return create_app(settings)


@dataclass
class Caller:
    """A TestClient with a real access token of one client."""

    http: TestClient
    token: str
    client_id: str
    ven_name: str | None = None  # the venName a VEN client speaks as (its clientName)

    def _headers(self, headers: dict[str, str] | None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", **(headers or {})}

    def get(self, path: str, **kw):  # type: ignore[no-untyped-def]
        return self.request("GET", path, **kw)

    def post(self, path: str, **kw):  # type: ignore[no-untyped-def]
        return self.request("POST", path, **kw)

    def put(self, path: str, **kw):  # type: ignore[no-untyped-def]
        return self.request("PUT", path, **kw)

    def delete(self, path: str, **kw):  # type: ignore[no-untyped-def]
        return self.request("DELETE", path, **kw)

    def request(self, method: str, path: str, **kw):  # type: ignore[no-untyped-def]
        """Send with this caller's token; the response is checked against openadr3.yaml."""
        response = self.http.request(method, BASE + path, headers=self._headers(kw.pop("headers", None)), **kw)
        assert_spec_response(method, BASE + path, response)
        return response


class Clients:
    """Creates registry clients and real tokens for them."""

    def __init__(self, http: TestClient) -> None:
        self.http = http
        self.app = http.app

    def _portal_run(self, coro_factory):  # type: ignore[no-untyped-def]
        assert self.http.portal is not None
        return self.http.portal.call(coro_factory)

    def make(self, role: Role, *, ven_name: str | None = None, scopes: list[str] | None = None,
             client_id: str | None = None, operator: str = "", stage: str = "live") -> Caller:
        from vtn.auth import service

        client_id = client_id or f"{role.value.lower()}-{uuid.uuid4().hex[:8]}"
        db = self.app.state.db  # type: ignore[attr-defined]
        tokens = self.app.state.tokens  # type: ignore[attr-defined]

        async def create() -> str:
            async with db.session() as session:
                created = await service.add_client(
                    session, client_id, role, ven_name=ven_name, scopes=scopes, with_secret=False, operator=operator,
                    stage=Stage(stage),
                )
                granted = created.client.scopes.split()
            return await tokens.issue(client_id, granted)

        token = self._portal_run(create)
        return Caller(self.http, token, client_id, ven_name)

    def bl(self, **kw) -> Caller:  # type: ignore[no-untyped-def]
        return self.make(Role.BL, **kw)

    def ven(self, ven_name: str, **kw) -> Caller:  # type: ignore[no-untyped-def]
        return self.make(Role.VEN, ven_name=ven_name, **kw)


@pytest.fixture
def http(app) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


@pytest.fixture
def clients(http: TestClient) -> Clients:
    return Clients(http)


@pytest.fixture
def bl(clients: Clients) -> Caller:
    return clients.bl()
