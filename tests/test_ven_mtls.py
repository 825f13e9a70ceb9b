"""The reference VEN over mutual TLS against a real `vtn serve --tls-cert --tls-key --client-ca`:
a certificate-only client (RFC 8705 tls_client_auth, no secret) configured by ven.toml with a private CA
gets a certificate-bound token, follows events in pull mode, and its token is useless without its
certificate; VENs without a certificate, with one from another CA, or not trusting the private CA fail."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx2
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from joserfc import jws
from typer.testing import CliRunner

from openadr3.models import Event, Program
from tests.support.server import running_vtn, wait_https
from tests.support.waiting import wait_until
from ven_client import EventHandler, ScheduledInterval, VenAgent, VtnClient, cli, load_config, make_ssl_context
from ven_client.client import AuthenticationFailed, VtnUnavailable
from vtn.auth import service
from vtn.auth.devcerts import DevCA, Issued, make_dev_pki
from vtn.auth.tls import thumbprint
from vtn.core.database import Database
from vtn.core.security import Role

pytestmark = pytest.mark.slow


class Recorder(EventHandler):
    def __init__(self) -> None:
        self.new: list[Event] = []

    def on_event(self, event: Event, intervals: list[ScheduledInterval]) -> None:
        self.new.append(event)


def register(database_url: str, ven_cert: Issued) -> str:
    """A BL with a secret, and a certificate-only VEN client bound to the VEN certificate's subject DN."""

    async def main() -> str:
        db = Database(database_url)
        try:
            async with db.session() as session:
                bl = await service.add_client(session, "operator", Role.BL)
                await service.add_client(session, "ven-1", Role.VEN, ven_name="ven-1", cert_subject_dn=ven_cert.subject_dn,
                                         with_secret=False)
            assert bl.secret
            return bl.secret
        finally:
            await db.dispose()

    return asyncio.run(main())


def claims(token: str) -> dict[str, Any]:
    return json.loads(jws.extract_compact(token.encode()).payload)


def test_ven_over_mtls(tmp_path: Path) -> None:
    pki = tmp_path / "pki"
    ca, server, (ven_cert, bl_cert) = make_dev_pki(pki)
    rogue = DevCA(pki / "rogue").client("ven-1")  # same subject, another CA
    serve = ["--tls-cert", str(server.cert_path), "--tls-key", str(server.key_path), "--client-ca", str(ca.cert_path),
             "--client-cert", "optional"]
    # ven.toml as an FSP writes it: paths relative to the config file, no client secret
    config_path = tmp_path / "ven.toml"
    with running_vtn(tmp_path, scheme="https", extra_args=serve) as vtn:
        config_path.write_text(
            f'[vtn]\nurl = "{vtn.base_url}"\nclient_id = "ven-1"\nca_file = "pki/ca.pem"\n'
            f'client_cert = "pki/{ven_cert.cert_path.name}"\nclient_key = "pki/{ven_cert.key_path.name}"\n'
            '[ven]\nname = "ven-1"\npoll_interval = 0.2\n[[resources]]\nname = "battery-1"\n'
        )
        assert (tmp_path / "pki/ca.pem").exists()
        ca_only = make_ssl_context(ca.cert_path)
        wait_https(vtn.url, ca_only)
        bl_secret = register(vtn.database_url, ven_cert)
        config = load_config(config_path, environ={})
        config.check_credentials()  # a certificate replaces the secret
        assert config.vtn.client_secret == "" and config.vtn.client_cert == ven_cert.cert_path

        async def scenario() -> None:
            async with VtnClient(vtn.base_url, "operator", bl_secret, ssl_context=ca_only) as bl:
                program = await bl.create_program(Program(programName="mtls-program"))
                assert program.id
                start = datetime.now(UTC) + timedelta(hours=1)
                event = await bl.create_event(Event.model_validate({
                    "programID": program.id, "eventName": "mtls-dispatch",
                    "targets": [{"type": "VEN_NAME", "values": ["ven-1"]}],
                    "intervalPeriod": {"start": start.isoformat().replace("+00:00", "Z"), "duration": "PT30M"},
                    "intervals": [{"id": 0, "payloads": [{"type": "DISPATCH_SETPOINT", "values": [5.0]}]}],
                }))

                handler = Recorder()
                agent = VenAgent(config, handler)
                task = asyncio.create_task(agent.run())
                try:
                    await wait_until(lambda: [e for e in handler.new if e.id == event.id] or task.done(), what="event")
                    if task.done():
                        task.result()
                    assert agent.ven is not None and agent.ven.venName == "ven-1"
                    # the token is bound to the VEN's certificate (RFC 8705 cnf x5t#S256)
                    token = await agent.client.token()
                    der = x509.load_pem_x509_certificate(ven_cert.cert_path.read_bytes()).public_bytes(Encoding.DER)
                    assert claims(token)["cnf"] == {"x5t#S256": thumbprint(der)}
                    assert agent.client.token_fetches == 1
                    # ...so it is refused without that certificate, even with another valid one
                    auth = {"Authorization": f"Bearer {token}"}
                    for context in (ca_only, make_ssl_context(ca.cert_path, bl_cert.cert_path, bl_cert.key_path)):
                        replay = httpx2.get(vtn.base_url + "/events", headers=auth, verify=context)
                        assert replay.status_code == 401 and "invalid_token" in replay.headers["www-authenticate"]
                finally:
                    agent.stop()
                    await asyncio.wait_for(task, 10)
                    await agent.client.close()

            # no client certificate: the token endpoint refuses the certificate-only client
            async with VtnClient(vtn.base_url, "ven-1", None, ssl_context=ca_only, max_retries=0) as bare:
                with pytest.raises(AuthenticationFailed) as refused:
                    await bare.list_programs()
                assert refused.value.status == 401
            # a certificate (same subject) from another CA: the TLS handshake fails
            rogue_ctx = make_ssl_context(ca.cert_path, rogue.cert_path, rogue.key_path)
            async with VtnClient(vtn.base_url, "ven-1", None, ssl_context=rogue_ctx, max_retries=0) as impostor:
                with pytest.raises(VtnUnavailable):
                    await impostor.list_programs()
            # without the private CA the VEN does not trust the VTN
            system_ctx = make_ssl_context(None, ven_cert.cert_path, ven_cert.key_path)
            async with VtnClient(vtn.base_url, "ven-1", None, ssl_context=system_ctx, max_retries=0) as untrusting:
                with pytest.raises(VtnUnavailable):
                    await untrusting.list_programs()

        asyncio.run(scenario())

        # the `ven` command with the same config
        result = CliRunner().invoke(cli.app, ["events", "--config", str(config_path), "--json"])
        assert result.exit_code == 0, result.output
        assert [e["eventName"] for e in json.loads(result.output)] == ["mtls-dispatch"]
