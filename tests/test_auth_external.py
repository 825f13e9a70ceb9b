"""External authorisation-server mode: tokens from another issuer, keys from a JWKS file or URL."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey
from starlette.testclient import TestClient

from tests.conftest import BASE
from vtn.app import create_app
from vtn.auth import authenticator as authenticator_module
from vtn.auth import service
from vtn.core.security import Role

ISSUER = "https://as.example"
AUDIENCE = "https://vtn.example"


def _jwks(*keys: Any) -> dict[str, Any]:
    return {"keys": [k.as_dict(private=False) for k in keys]}


def _token(key: Any, alg: str = "ES256", **claims: Any) -> str:
    now = int(time.time())
    body = {"iss": ISSUER, "aud": AUDIENCE, "sub": "svc", "iat": now, "exp": now + 300, **claims}
    return jwt.encode({"alg": alg, "kid": key.kid, "typ": "at+jwt"}, body, key)


def _get(http: TestClient, token: str, path: str = "/programs"):  # type: ignore[no-untyped-def]
    return http.get(BASE + path, headers={"Authorization": f"Bearer {token}"})


def _post_program(http: TestClient, token: str, name: str):  # type: ignore[no-untyped-def]
    return http.post(BASE + "/programs", json={"programName": name}, headers={"Authorization": f"Bearer {token}"})


@pytest.fixture
def ec_key() -> ECKey:
    return ECKey.generate_key("P-256", auto_kid=True)


def _external(settings, **extra):  # type: ignore[no-untyped-def]
    return settings.model_copy(update={"auth_mode": "external", "external_issuer": ISSUER, "token_audience": AUDIENCE, **extra})


def test_external_jwks_file(settings, tmp_path, ec_key, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(authenticator_module, "CLIENT_CACHE_SECONDS", 0.0)
    rsa = RSAKey.generate_key(2048, auto_kid=True)
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps(_jwks(ec_key, rsa)))
    app = create_app(_external(settings, external_jwks_file=str(path)))
    with TestClient(app, raise_server_exceptions=False) as http:
        # the built-in authorisation server is not there
        assert http.post(BASE + "/auth/token", data={"grant_type": "client_credentials"}).status_code == 404
        assert http.get("/.well-known/oauth-authorization-server").status_code == 404
        assert http.get("/.well-known/jwks.json").status_code == 404

        # 1. the registry decides role and scopes (matched by client_id, else azp, else sub)
        async def register() -> None:
            async with app.state.db.session() as session:
                await service.add_client(session, "operator", Role.BL, with_secret=False)
                await service.add_client(session, "fsp-1", Role.VEN, ven_name="ven-1", with_secret=False)

        assert http.portal is not None
        http.portal.call(register)
        bl_scopes = "read_all write_programs write_events write_reports"
        bl = _token(ec_key, client_id="operator", scope=bl_scopes)
        assert _post_program(http, bl, "p1").status_code == 201
        assert _post_program(http, _token(rsa, alg="RS256", azp="operator", scope=bl_scopes), "p2").status_code == 201
        # write_reports is in the token but not granted by the registry: narrowed away
        report = http.post(BASE + "/reports", json={}, headers={"Authorization": f"Bearer {bl}"})
        assert report.status_code == 403
        ven = _token(ec_key, sub="fsp-1", scope="read_all write_programs write_vens")
        assert _get(http, ven).status_code == 200
        assert _post_program(http, ven, "p3").status_code == 403  # a VEN never writes programs
        http.portal.call(lambda: _disable(app, "operator"))
        assert _get(http, bl).status_code == 401

        # 2. an unregistered client: role and ven from the claims
        claims_ven = _token(ec_key, sub="fsp-9", openadr_role="VEN", ven_name="ven-9", scope="read_all write_vens")
        assert _get(http, claims_ven).status_code == 200
        created = http.post(BASE + "/vens", json={"venName": "ven-9"}, headers={"Authorization": f"Bearer {claims_ven}"})
        assert created.status_code == 201, created.text
        other = http.post(BASE + "/vens", json={"venName": "ven-10"}, headers={"Authorization": f"Bearer {claims_ven}"})
        assert other.status_code == 403
        claims_bl = _token(ec_key, sub="ops", openadr_role="BL", scope=["read_all", "write_programs"])  # list form
        assert _post_program(http, claims_bl, "p4").status_code == 201
        assert _get(http, _token(ec_key, sub="who", scope="read_all")).status_code == 403  # no role
        assert _get(http, _token(ec_key, sub="who", openadr_role="VEN", scope="read_all")).status_code == 403  # no ven
        # the `operator` claim puts an unregistered client in that operator's tenancy
        ukpn_bl = _token(ec_key, sub="ops-ukpn", openadr_role="BL", operator="UKPN", scope=["read_all", "write_programs"])
        assert _post_program(http, ukpn_bl, "p4").status_code == 201  # names are per operator
        assert [p["programName"] for p in _get(http, ukpn_bl).json()] == ["p4"]
        assert "p4" in [p["programName"] for p in _get(http, claims_bl).json()]
        assert _get(http, _token(ec_key, sub="x", openadr_role="BL", operator=7, scope="read_all")).status_code == 403

        # 3. token problems: 401 with a Bearer challenge
        stranger = ECKey.generate_key("P-256", auto_kid=True)
        now = int(time.time())
        for bad in (
            _token(stranger, sub="ops", openadr_role="BL", scope="read_all"),
            _token(ec_key, sub="ops", openadr_role="BL", scope="read_all", iss="https://evil.example"),
            _token(ec_key, sub="ops", openadr_role="BL", scope="read_all", aud="https://other.example"),
            _token(ec_key, sub="ops", openadr_role="BL", scope="read_all", iat=now - 900, exp=now - 600),
            "not.a.token",
        ):
            denied = _get(http, bad)
            assert denied.status_code == 401, denied.text
            assert denied.headers["www-authenticate"].startswith("Bearer")

        # the file is reread when it changes: a new AS key is picked up
        newer = ECKey.generate_key("P-256", auto_kid=True)
        path.write_text(json.dumps(_jwks(ec_key, newer)))
        time.sleep(1.1)
        assert _get(http, _token(newer, sub="ops", openadr_role="BL", scope="read_all")).status_code == 200


async def _disable(app, client_id: str) -> None:  # type: ignore[no-untyped-def]
    async with app.state.db.session() as session:
        await service.set_enabled(session, client_id, False)


class _JwksServer:
    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        self.hits = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.hits += 1
                body = json.dumps(outer.document).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/jwks"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)


@pytest.fixture
def jwks_server(ec_key) -> Iterator[_JwksServer]:  # type: ignore[no-untyped-def]
    server = _JwksServer(_jwks(ec_key))
    server.thread.start()
    yield server
    server.server.shutdown()
    server.server.server_close()


def test_external_jwks_url(settings, ec_key, jwks_server) -> None:  # type: ignore[no-untyped-def]
    app = create_app(_external(settings, external_jwks_url=jwks_server.url))
    with TestClient(app, raise_server_exceptions=False) as http:
        token = _token(ec_key, sub="ops", openadr_role="BL", scope="read_all")
        for _ in range(5):
            assert _get(http, token).status_code == 200
        assert jwks_server.hits == 1  # cached
        # the AS rotates: an unknown kid triggers one refetch, but not more often than the back-off
        rotated = ECKey.generate_key("P-256", auto_kid=True)
        jwks_server.document = _jwks(ec_key, rotated)
        new_token = _token(rotated, sub="ops", openadr_role="BL", scope="read_all")
        assert _get(http, new_token).status_code == 401  # within the back-off: not refetched yet
        assert jwks_server.hits == 1
        app.state.authenticator.jwks.min_refetch_seconds = 0.0
        assert _get(http, new_token).status_code == 200
        assert jwks_server.hits == 2
        app.state.authenticator.jwks.min_refetch_seconds = 60.0
        unknown = _token(ECKey.generate_key("P-256", auto_kid=True), sub="ops", openadr_role="BL", scope="read_all")
        for _ in range(5):
            assert _get(http, unknown).status_code == 401
        assert jwks_server.hits == 2  # a flood of unknown kids does not hammer the AS
        # the AS goes away: cached keys keep working
        jwks_server.server.shutdown()
        jwks_server.server.server_close()
        app.state.authenticator.jwks.cache_seconds = 0.0
        assert _get(http, token).status_code == 200
