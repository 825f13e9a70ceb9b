"""The token endpoint (RFC 6749 §4.4 / §5.2), the registry life cycle, JWKS, metadata and key rotation."""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from urllib.parse import quote_plus

from joserfc import jws
from sqlalchemy import update

from tests.conftest import BASE
from vtn.auth import authenticator as authenticator_module
from vtn.auth import service
from vtn.auth.models import SigningKeyRow
from vtn.auth.tokens import list_keys, rotate_keys
from vtn.core.database import utcnow
from vtn.core.security import Role

TOKEN = BASE + "/auth/token"
GRANT = {"grant_type": "client_credentials"}


def _run(http, factory):  # type: ignore[no-untyped-def]
    return http.portal.call(factory)


def _add(http, client_id: str, role: Role = Role.BL, **kw) -> str:  # type: ignore[no-untyped-def]
    db = http.app.state.db

    async def add() -> str:
        async with db.session() as session:
            created = await service.add_client(session, client_id, role, **kw)
        assert created.secret
        return created.secret

    return _run(http, add)


def _session_call(http, work):  # type: ignore[no-untyped-def]
    db = http.app.state.db

    async def call():  # type: ignore[no-untyped-def]
        async with db.session() as session:
            return await work(session)

    return _run(http, call)


def _kid(token: str) -> str:
    return str(jws.extract_compact(token.encode()).headers()["kid"])


def _claims(token: str) -> dict:  # type: ignore[type-arg]
    return json.loads(jws.extract_compact(token.encode()).payload)


def _assert_error(response, status: int, error: str) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.text
    assert response.json()["error"] == error, response.text
    assert response.headers["cache-control"] == "no-store"
    if status == 401:
        assert response.headers["www-authenticate"].startswith("Basic")


def test_token_errors(http) -> None:  # type: ignore[no-untyped-def]
    secret = _add(http, "operator")
    good = http.post(TOKEN, data=GRANT, auth=("operator", secret))
    assert good.status_code == 200
    body = good.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] > 0 and "refresh_token" not in body
    assert good.headers["cache-control"] == "no-store" and good.headers["pragma"] == "no-cache"
    post = http.post(TOKEN, data={**GRANT, "client_id": "operator", "client_secret": secret})
    assert post.status_code == 200

    _assert_error(http.post(TOKEN, data=GRANT, auth=("operator", "wrong")), 401, "invalid_client")
    _assert_error(http.post(TOKEN, data=GRANT, auth=("nobody", secret)), 401, "invalid_client")
    _assert_error(http.post(TOKEN, data={**GRANT, "client_id": "operator"}), 401, "invalid_client")
    _assert_error(http.post(TOKEN, data={"grant_type": "password"}, auth=("operator", secret)), 400, "unsupported_grant_type")
    _assert_error(http.post(TOKEN, data={**GRANT, "scope": "read_all write_reports"}, auth=("operator", secret)),
                  400, "invalid_scope")
    _assert_error(http.post(TOKEN, data={"scope": "read_all"}, auth=("operator", secret)), 400, "invalid_request")
    _assert_error(http.post(TOKEN, content="grant_type=client_credentials&grant_type=client_credentials",
                            headers={"content-type": "application/x-www-form-urlencoded"}, auth=("operator", secret)),
                  400, "invalid_request")
    _assert_error(http.post(TOKEN, json={**GRANT, "client_id": "operator", "client_secret": secret}), 400, "invalid_request")
    _assert_error(http.post(TOKEN, data={**GRANT, "client_secret": secret}, auth=("operator", secret)), 400, "invalid_request")
    _assert_error(http.post(TOKEN, data={**GRANT, "client_id": "other"}, auth=("operator", secret)), 400, "invalid_request")
    _assert_error(http.post(TOKEN, data={**GRANT, "client_secret": secret}), 400, "invalid_request")  # no client_id
    bad_basic = http.post(TOKEN, data=GRANT, headers={"Authorization": "Basic !!!"})
    _assert_error(bad_basic, 401, "invalid_client")
    # U+0000 in a client id: an unknown client on every database (PostgreSQL refuses it in a query).
    _assert_error(http.post(TOKEN, data=GRANT, auth=("oper\x00ator", secret)), 401, "invalid_client")
    _assert_error(http.post(TOKEN, data={**GRANT, "client_id": "\x00", "client_secret": secret}), 401, "invalid_client")


def test_scope_narrowing(http) -> None:  # type: ignore[no-untyped-def]
    """A `scope` naming a write scope narrows the token to exactly what it names (RFC 6749 §3.3)."""
    secret = _add(http, "operator")
    narrowed = http.post(TOKEN, data={**GRANT, "scope": "read_all write_events"}, auth=("operator", secret))
    assert narrowed.status_code == 200 and narrowed.json()["scope"] == "read_all write_events"
    token = narrowed.json()["access_token"]
    assert _claims(token)["scope"] == "read_all write_events"
    auth = {"Authorization": f"Bearer {token}"}
    assert http.get(BASE + "/programs", headers=auth).status_code == 200
    denied = http.post(BASE + "/programs", json={"programName": "p"}, headers=auth)
    assert denied.status_code == 403 and denied.headers["content-type"].startswith("application/problem+json")
    full = http.post(TOKEN, data=GRANT, auth=("operator", secret)).json()
    assert set(full["scope"].split()) == {"read_all", "write_programs", "write_events", "write_subscriptions", "write_vens"}


def test_read_only_scope_request_gets_the_whole_grant(http) -> None:  # type: ignore[no-untyped-def]
    """`scope=read_all` (oadr30-ven-ud asks so, then posts reports) is no narrowing: the client's grant, said in
    the answer's `scope`; a read-only token is a read-only client (`--scopes read_all`), never a wider one."""
    secret = _add(http, "fsp", Role.VEN, ven_name="ven-a")
    answer = http.post(TOKEN, data={**GRANT, "scope": "read_all"}, auth=("fsp", secret))
    assert answer.status_code == 200
    granted = {"read_all", "write_reports", "write_subscriptions", "write_vens"}
    assert set(answer.json()["scope"].split()) == granted == set(_claims(answer.json()["access_token"])["scope"].split())
    created = http.post(BASE + "/vens", json={"venName": "ven-a"},
                        headers={"Authorization": f"Bearer {answer.json()['access_token']}"})
    assert created.status_code == 201
    reader = _add(http, "reader", Role.VEN, ven_name="ven-b", scopes=["read_all"])
    only = http.post(TOKEN, data={**GRANT, "scope": "read_all"}, auth=("reader", reader)).json()
    assert only["scope"] == "read_all"
    token = only["access_token"]
    assert http.post(BASE + "/vens", json={"venName": "ven-b"},
                     headers={"Authorization": f"Bearer {token}"}).status_code == 403
    _assert_error(http.post(TOKEN, data={**GRANT, "scope": "read_all write_vens"}, auth=("reader", reader)),
                  400, "invalid_scope")


def test_issued_scopes_rule() -> None:
    granted = ["read_all", "write_reports", "write_vens"]
    assert service.issued_scopes(granted, None) == granted
    assert service.issued_scopes(granted, "  ") == granted
    assert service.issued_scopes(granted, "read_all") == granted
    assert service.issued_scopes(granted, "write_reports") == ["write_reports"]
    assert service.issued_scopes(granted, "write_vens read_all") == ["read_all", "write_vens"]
    implied = {*granted, "read_targets", "read_ven_objects"}  # vtn.core.security.grantable: 3.1.0 names of read_all
    assert service.issued_scopes(granted, "read_targets read_ven_objects", implied) == [
        *granted, "read_targets", "read_ven_objects"]
    assert service.issued_scopes(granted, "read_targets write_reports", implied) == ["write_reports", "read_targets"]
    for asked in ("write_programs", "read_all write_events", "openid", "read_bl"):
        try:
            service.issued_scopes(granted, asked)
        except service.ScopeRefused as exc:
            assert exc.refused and all(s not in granted for s in exc.refused)
        else:
            raise AssertionError(f"{asked!r} should be refused")


def test_basic_credentials_are_form_urlencoded(http) -> None:  # type: ignore[no-untyped-def]
    client_id = "fsp:north east+1 é"
    secret = _add(http, client_id, Role.VEN, ven_name="ven-ne")
    encoded = base64.b64encode(f"{quote_plus(client_id)}:{quote_plus(secret)}".encode()).decode()
    response = http.post(TOKEN, data=GRANT, headers={"Authorization": f"Basic {encoded}"})
    assert response.status_code == 200, response.text
    assert _claims(response.json()["access_token"])["sub"] == client_id


def test_secret_rotation_and_disable(http, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(authenticator_module, "CLIENT_CACHE_SECONDS", 0.0)
    old = _add(http, "operator")
    token = http.post(TOKEN, data=GRANT, auth=("operator", old)).json()["access_token"]
    new = _session_call(http, lambda s: service.rotate_secret(s, "operator"))
    _assert_error(http.post(TOKEN, data=GRANT, auth=("operator", old)), 401, "invalid_client")
    assert http.post(TOKEN, data=GRANT, auth=("operator", new)).status_code == 200
    auth = {"Authorization": f"Bearer {token}"}
    assert http.get(BASE + "/programs", headers=auth).status_code == 200  # tokens outlive a secret rotation

    _session_call(http, lambda s: service.set_enabled(s, "operator", False))
    _assert_error(http.post(TOKEN, data=GRANT, auth=("operator", new)), 401, "invalid_client")
    stopped = http.get(BASE + "/programs", headers=auth)
    assert stopped.status_code == 401 and stopped.headers["www-authenticate"].startswith("Bearer")
    _session_call(http, lambda s: service.set_enabled(s, "operator", True))
    assert http.get(BASE + "/programs", headers=auth).status_code == 200


def test_jwks_and_metadata(http) -> None:  # type: ignore[no-untyped-def]
    secret = _add(http, "operator")
    token = http.post(TOKEN, data=GRANT, auth=("operator", secret)).json()["access_token"]
    header = jws.extract_compact(token.encode()).headers()
    assert header["alg"] == "ES256" and header["typ"] == "at+jwt"
    claims = _claims(token)
    assert {"iss", "sub", "aud", "exp", "iat", "jti", "scope", "client_id"} <= set(claims)
    jwks = http.get("/.well-known/jwks.json").json()
    assert header["kid"] in {k["kid"] for k in jwks["keys"]}
    for key in jwks["keys"]:
        assert key["kty"] == "EC" and key["crv"] == "P-256" and key["use"] == "sig" and key["alg"] == "ES256"
        assert "d" not in key  # never private material
    meta = http.get("/.well-known/oauth-authorization-server").json()
    assert meta["issuer"] == claims["iss"]
    assert meta["token_endpoint"].endswith(TOKEN) and meta["jwks_uri"].endswith("/.well-known/jwks.json")
    assert meta["grant_types_supported"] == ["client_credentials"]
    assert set(meta["token_endpoint_auth_methods_supported"]) == {"client_secret_basic", "client_secret_post", "tls_client_auth"}
    assert meta["tls_client_certificate_bound_access_tokens"] is True


def test_key_rotation(http) -> None:  # type: ignore[no-untyped-def]
    tokens = http.app.state.tokens
    secret = _add(http, "operator")

    def fetch() -> str:
        return str(http.post(TOKEN, data=GRANT, auth=("operator", secret)).json()["access_token"])

    def works(token: str) -> bool:
        return bool(http.get(BASE + "/programs", headers={"Authorization": f"Bearer {token}"}).status_code == 200)

    def published() -> set[str]:
        return {k["kid"] for k in http.get("/.well-known/jwks.json").json()["keys"]}

    before = fetch()
    old_kid = _kid(before)
    lifetime = timedelta(seconds=tokens.lifetime_seconds)
    # a delayed rotation: the new key is published at once, but the old one keeps signing
    later, _, _ = _session_call(http, lambda s: rotate_keys(s, timedelta(minutes=10), lifetime))
    _run(http, lambda: tokens.keys(refresh=True))
    assert {old_kid, later.kid} <= published()
    assert _kid(fetch()) == old_kid
    # an immediate rotation: the newest key signs; tokens of the old ones still verify
    now_key, retiring, _ = _session_call(http, lambda s: rotate_keys(s, timedelta(0), lifetime))
    assert {r.kid for r in retiring} >= {old_kid, later.kid}
    _run(http, lambda: tokens.keys(refresh=True))
    after = fetch()
    assert _kid(after) == now_key.kid
    assert works(before) and works(after)
    assert {old_kid, now_key.kid} <= published()
    # once retired longer than a token lifetime (+ skew) the old keys are no longer accepted or published
    long_ago = utcnow() - lifetime - timedelta(minutes=10)

    async def age(session):  # type: ignore[no-untyped-def]
        await session.exec(update(SigningKeyRow).where(SigningKeyRow.kid != now_key.kid).values(retired_at=long_ago))

    _session_call(http, age)
    _run(http, lambda: tokens.keys(refresh=True))
    assert not works(before) and works(after)
    assert old_kid not in published() and now_key.kid in published()
    # ...and the next rotation deletes them
    _, _, removed = _session_call(http, lambda s: rotate_keys(s, timedelta(0), lifetime))
    assert old_kid in removed
    assert old_kid not in {row.kid for row in _session_call(http, list_keys)}


def test_keys_cli(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from typer.testing import CliRunner

    from vtn.cli import app as cli
    from vtn.core.settings import get_settings

    monkeypatch.setenv("VTN_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}")
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        first = runner.invoke(cli, ["keys", "rotate", "--activate-in", "0"])
        assert first.exit_code == 0, first.output
        second = runner.invoke(cli, ["keys", "rotate", "--activate-in", "600"])
        assert second.exit_code == 0 and "retiring" in second.output, second.output
        listed = runner.invoke(cli, ["keys", "list"])
        assert listed.exit_code == 0
        assert "signing until" in listed.output and "published, signs from" in listed.output
        certs = runner.invoke(cli, ["certs", "dev", "--out", str(tmp_path / "pki"), "--ven", "ven-7"])
        assert certs.exit_code == 0, certs.output
        assert (tmp_path / "pki" / "client-ven-7.pem").exists() and (tmp_path / "pki" / "server.pem").exists()
    finally:
        get_settings.cache_clear()
