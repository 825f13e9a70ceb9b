"""mTLS: a real `vtn serve` over HTTPS, RFC 8705 tls_client_auth and certificate-bound tokens,
and the trusted-proxy certificate header (in-process)."""

from __future__ import annotations

import asyncio
import base64
import json
import ssl
from pathlib import Path
from urllib.parse import quote

import httpx2
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from joserfc import jws
from starlette.testclient import TestClient

from tests.conftest import BASE
from tests.support.server import running_vtn, wait_https
from vtn.app import create_app
from vtn.auth import service
from vtn.auth.devcerts import DevCA, make_dev_pki
from vtn.auth.tls import thumbprint
from vtn.core.database import Database
from vtn.core.security import Role

VEN_DN = "CN=ven-1,O=OpenADR VTN development"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    out = tmp_path_factory.mktemp("pki")
    ca, server, (ven, bl) = make_dev_pki(out)
    other = ca.client("ven-2")
    rogue = DevCA(out / "rogue").client("ven-1")  # same subject, another CA
    return {"ca": ca, "server": server, "ven": ven, "bl": bl, "other": other, "rogue": rogue}


def _client_ctx(pki, who: str | None) -> ssl.SSLContext:  # type: ignore[no-untyped-def]
    ctx = ssl.create_default_context(cafile=str(pki["ca"].cert_path))
    if who:
        ctx.load_cert_chain(str(pki[who].cert_path), str(pki[who].key_path))
    return ctx


def _der(pki, who: str) -> bytes:  # type: ignore[no-untyped-def]
    return x509.load_pem_x509_certificate(pki[who].cert_path.read_bytes()).public_bytes(Encoding.DER)


def _claims(token: str) -> dict:  # type: ignore[type-arg]
    return json.loads(jws.extract_compact(token.encode()).payload)


def _serve_args(pki, mode: str) -> list[str]:  # type: ignore[no-untyped-def]
    return ["--tls-cert", str(pki["server"].cert_path), "--tls-key", str(pki["server"].key_path),
            "--client-ca", str(pki["ca"].cert_path), "--client-cert", mode]


def _register(database_url: str) -> str:
    """A BL with a secret and a certificate-only VEN bound to ven-1's subject DN; returns the BL secret."""

    async def main() -> str:
        db = Database(database_url)
        try:
            async with db.session() as session:
                bl = await service.add_client(session, "operator", Role.BL)
                await service.add_client(session, "ven-1", Role.VEN, ven_name="ven-1", cert_subject_dn=VEN_DN,
                                         with_secret=False)
                await service.add_client(session, "ven-san", Role.VEN, ven_name="ven-1", cert_san="DNS:ven-1")
            assert bl.secret
            return bl.secret
        finally:
            await db.dispose()

    return asyncio.run(main())


def _secret_of(database_url: str, client_id: str) -> str:
    async def main() -> str:
        db = Database(database_url)
        try:
            async with db.session() as session:
                return await service.rotate_secret(session, client_id)
        finally:
            await db.dispose()

    return asyncio.run(main())


def test_client_certificate_required(tmp_path: Path, pki) -> None:  # type: ignore[no-untyped-def]
    with running_vtn(tmp_path, scheme="https", extra_args=_serve_args(pki, "required")) as vtn:
        wait_https(vtn.url, _client_ctx(pki, "ven"))
        ok = httpx2.get(vtn.url + "/health", verify=_client_ctx(pki, "ven"))
        assert ok.status_code == 200
        with pytest.raises(httpx2.HTTPError):  # the handshake fails without a certificate
            httpx2.get(vtn.url + "/health", verify=_client_ctx(pki, None))
        with pytest.raises(httpx2.HTTPError):  # ...and with one from another CA
            httpx2.get(vtn.url + "/health", verify=_client_ctx(pki, "rogue"))
        tls12 = _client_ctx(pki, "ven")
        tls12.maximum_version = ssl.TLSVersion.TLSv1_2  # the minimum the server accepts
        assert httpx2.get(vtn.url + "/health", verify=tls12).status_code == 200


def test_mtls_token_binding(tmp_path: Path, pki) -> None:  # type: ignore[no-untyped-def]
    with running_vtn(tmp_path, scheme="https", extra_args=_serve_args(pki, "optional")) as vtn:
        secret = _register(vtn.database_url)
        ven, bl, other, anon = (httpx2.Client(verify=_client_ctx(pki, w), base_url=vtn.base_url)
                                for w in ("ven", "bl", "other", None))
        wait_https(vtn.url, _client_ctx(pki, None))
        try:
            # RFC 8705 tls_client_auth: client_id + certificate, no secret
            issued = ven.post("/auth/token", data={"grant_type": "client_credentials", "client_id": "ven-1"})
            assert issued.status_code == 200, issued.text
            token = issued.json()["access_token"]
            assert _claims(token)["cnf"] == {"x5t#S256": thumbprint(_der(pki, "ven"))}
            headers = {"Authorization": f"Bearer {token}"}
            assert ven.get("/programs", headers=headers).status_code == 200
            # replayed without the certificate, or with another (valid) certificate: 401 invalid_token
            for stranger in (anon, other, bl):
                replay = stranger.get("/programs", headers=headers)
                assert replay.status_code == 401, replay.text
                assert "invalid_token" in replay.headers["www-authenticate"]
            # the certificate of another client does not authenticate as ven-1
            wrong = other.post("/auth/token", data={"grant_type": "client_credentials", "client_id": "ven-1"})
            assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_client"
            missing = anon.post("/auth/token", data={"grant_type": "client_credentials", "client_id": "ven-1"})
            assert missing.status_code == 401 and missing.json()["error"] == "invalid_client"
            # a certificate-bound client with a secret still needs its certificate (SAN binding here)
            by_san = ven.post("/auth/token", data={"grant_type": "client_credentials", "client_id": "ven-san"})
            assert by_san.status_code == 200, by_san.text
            assert "cnf" in _claims(by_san.json()["access_token"])
            san_secret = _secret_of(vtn.database_url, "ven-san")
            no_cert = anon.post("/auth/token", data={"grant_type": "client_credentials"}, auth=("ven-san", san_secret))
            assert no_cert.status_code == 401 and no_cert.json()["error"] == "invalid_client"
            with_cert = ven.post("/auth/token", data={"grant_type": "client_credentials"}, auth=("ven-san", san_secret))
            assert with_cert.status_code == 200 and "cnf" in _claims(with_cert.json()["access_token"])
            # a client without binding: a plain token over plain TLS works without a certificate
            plain = anon.post("/auth/token", data={"grant_type": "client_credentials"}, auth=("operator", secret))
            assert plain.status_code == 200
            plain_token = plain.json()["access_token"]
            assert "cnf" not in _claims(plain_token)
            assert anon.get("/programs", headers={"Authorization": f"Bearer {plain_token}"}).status_code == 200
            assert ven.get("/programs", headers={"Authorization": f"Bearer {plain_token}"}).status_code == 200
            # the same client over mTLS gets a token bound to the certificate it used
            bound = bl.post("/auth/token", data={"grant_type": "client_credentials"}, auth=("operator", secret))
            bound_token = bound.json()["access_token"]
            assert _claims(bound_token)["cnf"] == {"x5t#S256": thumbprint(_der(pki, "bl"))}
            assert bl.get("/programs", headers={"Authorization": f"Bearer {bound_token}"}).status_code == 200
            assert anon.get("/programs", headers={"Authorization": f"Bearer {bound_token}"}).status_code == 401
            meta = anon.get(vtn.url + "/.well-known/oauth-authorization-server").json()
            assert meta["tls_client_certificate_bound_access_tokens"] is True
            assert "tls_client_auth" in meta["token_endpoint_auth_methods_supported"]
        finally:
            for c in (ven, bl, other, anon):
                c.close()


# -- the trusted proxy header, in-process ------------------------------------------------------


def _pem(pki, who: str) -> str:  # type: ignore[no-untyped-def]
    return pki[who].cert_path.read_text()


def test_trusted_proxy_header(settings, pki) -> None:  # type: ignore[no-untyped-def]
    proxied = settings.model_copy(update={"trusted_proxy_cert_header": "X-Client-Cert", "trusted_proxies": ["127.0.0.2/32"]})
    app = create_app(proxied)
    nginx_style = quote(_pem(pki, "ven"), safe="")
    rfc9440 = ":" + base64.b64encode(_der(pki, "ven")).decode() + ":"
    form = {"grant_type": "client_credentials", "client_id": "ven-1"}
    with TestClient(app, client=("127.0.0.2", 40000), raise_server_exceptions=False) as proxy, \
            TestClient(create_app(proxied), client=("127.0.0.1", 40001), raise_server_exceptions=False) as direct:
        # `direct` is a second app on the same database: two lifespans of one app would share (and
        # overwrite) app.state across two event loops, and asyncpg connections must not cross loops.

        async def register() -> None:
            async with app.state.db.session() as session:
                await service.add_client(session, "ven-1", Role.VEN, ven_name="ven-1", cert_subject_dn=VEN_DN,
                                         with_secret=False)

        assert proxy.portal is not None
        proxy.portal.call(register)
        for header in (nginx_style, rfc9440):
            issued = proxy.post(BASE + "/auth/token", data=form, headers={"X-Client-Cert": header})
            assert issued.status_code == 200, issued.text
            token = issued.json()["access_token"]
            assert _claims(token)["cnf"] == {"x5t#S256": thumbprint(_der(pki, "ven"))}
            auth = {"Authorization": f"Bearer {token}"}
            assert proxy.get(BASE + "/programs", headers={**auth, "X-Client-Cert": header}).status_code == 200
            # the proxy forwards no certificate: the bound token is refused
            assert proxy.get(BASE + "/programs", headers=auth).status_code == 401
            # the same header from an untrusted peer is stripped and ignored
            spoofed = direct.get(BASE + "/programs", headers={**auth, "X-Client-Cert": header})
            assert spoofed.status_code == 401
            refused = direct.post(BASE + "/auth/token", data=form, headers={"X-Client-Cert": header})
            assert refused.status_code == 401 and refused.json()["error"] == "invalid_client"
        # a malformed header from the proxy is a 400 problem, not a 500
        for bad in ("not a certificate", ":!!notbase64:", quote("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----")):
            malformed = proxy.get(BASE + "/programs", headers={"X-Client-Cert": bad})
            assert malformed.status_code == 400, malformed.text
            assert malformed.headers["content-type"].startswith("application/problem+json")
        # an empty header (nginx without a client certificate) means: no certificate
        empty = proxy.post(BASE + "/auth/token", data=form, headers={"X-Client-Cert": ""})
        assert empty.status_code == 401
