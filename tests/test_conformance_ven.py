"""The VEN-side suite against the real reference VEN (pull and push: every applicable check passes) and against
deliberately broken variants of it (each caught by the check it breaks)."""

from __future__ import annotations

import dataclasses
import json
import threading
import types
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from datetime import UTC, datetime, timedelta
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest

from conformance import report
from conformance.core import Outcome, Run
from conformance.ven_suite import VEN_CHECKS, VenSuiteConfig, run_ven_suite, seed_program
from conformance.ven_vtn import ScriptedVtn
from gb_profile import builders as b
from gb_profile import model as m
from gb_profile.signing import generate_key, public_jwk
from tests.support.gb_ven import running_gb_ven
from ven_client.agent import VenAgent
from ven_client.config import GbSettings, OperatorKeyConfig
from ven_client.gb import GbAdapter
from vtn.signoff import service as signoff

NAME, SECRET = "FSP-SUITE", "suite-secret"


@dataclasses.dataclass
class Target:
    base_url: str


@pytest.fixture(scope="module")
def operator(tmp_path_factory: pytest.TempPathFactory) -> tuple[object, Path, Path]:
    """The operator's signing key (the suite signs dispatches), its public JWK file (the VEN verifies) and the
    FSP's private key file (the VEN signs its acknowledgements of signed dispatches, GB-R-009)."""
    folder = tmp_path_factory.mktemp("keys")
    key = generate_key("NGED-suite-1")
    (folder / "nged.jwk").write_text(json.dumps(public_jwk(key)))
    (folder / "fsp.jwk").write_text(json.dumps(generate_key("fsp-suite-1").as_dict(private=True)))
    return key, folder / "nged.jwk", folder / "fsp.jwk"


def _send_reports(vtn: ScriptedVtn, ven: object, done: threading.Event) -> None:
    """While the suite runs: once the anchor event exists, send readings, an availability declaration, two
    heartbeats, and an emergency stop and its clearance."""
    anchor = None
    while anchor is None and not done.wait(0.05):
        anchor = next((e for e in vtn.objects("events") if b.is_anchor_event(e)), None)
    if anchor is None:
        return
    start = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=5)
    readings = [m.MeterReading("DU-1", start + timedelta(minutes=i), m.ReadingKind.POWER_KW, 10.0 + i) for i in range(3)]
    ven.call(ven.adapter.reporter.send_readings(readings, event_id=anchor["id"]))  # type: ignore[attr-defined]
    half_hour = start.replace(minute=start.minute - start.minute % 30)
    windows = {"DU-1": (m.AvailabilityWindow(half_hour + timedelta(hours=3), timedelta(minutes=30), turn_down_kw=50.0),)}
    declaration = m.AvailabilityDeclaration(fsp_id=NAME, operator_id="NGED", contract_id="C-SUITE", windows=windows)
    body = b.build_availability_report(declaration, anchor["programID"], anchor["id"])
    ven.call(ven.adapter.reporter.submit(body))  # type: ignore[attr-defined]
    for _ in range(2):
        ven.call(ven.adapter.reporter.send_heartbeat())  # type: ignore[attr-defined]
    ven.call(ven.adapter.reporter.send_emergency_stop(["DU-1"], "inverter trip"))  # type: ignore[attr-defined]
    ven.call(ven.adapter.reporter.send_emergency_stop(["DU-1"], "inverter reset", cleared=True))  # type: ignore[attr-defined]


def run_against_reference(operator: tuple[object, Path, Path], *, mode: str = "pull", only: list[str] | None = None,
                          prepare: Callable[[VenAgent], None] | None = None, reports: bool = False,
                          ack_period: float = 5.0, tls: dict[str, str] | None = None,
                          vtn_options: dict[str, object] | None = None, version: str = "3.0.1") -> Run:
    """The suite (`only` checks) against the reference VEN; `tls` (tls_cert, tls_key, client_ca) makes the suite's
    VTN speak HTTPS, `vtn_options` are the VEN's extra `[vtn]` settings."""
    key, public, fsp_key = operator
    config = VenSuiteConfig(ven_client=(NAME, SECRET), ven_name=NAME, mode=mode, operator_key=key,  # type: ignore[arg-type]
                            token_lifetime=4.0, ack_period=ack_period, start_timeout=20.0, settle=1.5, poll_wait=3.0,
                            report_wait=5.0 if reports else 0.0, only=only or [], **(tls or {}))
    vtn = ScriptedVtn(NAME, SECRET, token_lifetime=config.token_lifetime, api_version=version, **(tls or {}))
    if version != "3.0.1":
        vtn_options = {**(vtn_options or {}), "api_version": version}
    vtn.start()
    seed_program(config, vtn)
    gb = GbSettings(fsp_id=NAME, operator_id="NGED", require_signature=True, signing_key=fsp_key,
                    operator_keys=[OperatorKeyConfig(operator="NGED", file=public)])
    result: Future[Run] = Future()
    done = threading.Event()
    try:
        with running_gb_ven(Target(vtn.url), NAME, SECRET, mode=mode, gb=gb, prepare=prepare,
                            vtn_options=vtn_options) as ven:  # type: ignore[arg-type]
            ven.agent.config.push.fallback_poll_interval = 30.0  # push: acknowledgements must come from notifications
            suite = threading.Thread(target=lambda: result.set_result(run_ven_suite(config, vtn)), daemon=True)
            suite.start()
            if reports:
                _send_reports(vtn, ven, done)
            suite.join(120)
    finally:
        done.set()
        vtn.stop()
    return result.result(0)


def outcomes(run: Run) -> dict[str, str]:
    return {r.check.id: r.outcome.value for r in run.results}


def failures(run: Run) -> str:
    return report.terminal(run)


@pytest.mark.parametrize("mode,version", [("pull", "3.0.1"), ("push", "3.0.1"), ("pull", "3.1.0"), ("push", "3.1.0")])
def test_reference_ven_passes(operator: tuple[object, Path, Path], mode: str, version: str, tmp_path: Path) -> None:
    """Both versions (issue 17): the suite's VTN speaks 3.1.0 to the reference VEN run with --api-version 3.1.0."""
    run = run_against_reference(operator, mode=mode, reports=True, version=version)
    got = outcomes(run)
    assert set(got) == set(VEN_CHECKS)
    # V021 (mTLS) needs the suite's VTN on HTTPS: test_mtls_ven_passes_and_one_without_certificate_is_caught
    not_applicable = {"pull": {"V003", "V012", "V013", "V021"}, "push": {"V004", "V018", "V021"}}[mode]
    assert {k for k, v in got.items() if v != "pass"} == not_applicable, failures(run)
    assert all(got[k] == "skip" for k in not_applicable)
    # the acknowledgement period is the one the program's contract terms state (GB profile §2.1, §6.1.1)
    v005 = next(r for r in run.results if r.check.id == "V005")
    assert "period 5 s, from the program's contract terms (http://" in v005.message, v005.message
    # the same report formats as the VTN suite
    data = json.loads(report.to_json(run))
    assert data["side"] == "VEN" and data["counts"]["fail"] == 0 and NAME in data["subject"]
    signoff.check_report(data, NAME)  # what a VTN's sandbox sign-off accepts (vtn.signoff): the real report passes
    suite = ET.fromstring(report.to_junit(run))
    assert suite.get("name") == "oadr-conformance-ven" and suite.get("failures") == "0"
    assert f"# OpenADR {version} VEN conformance report" in report.to_markdown(run)
    assert "VEN conformance" in report.terminal(run)


class _NoCache(dict):  # type: ignore[type-arg]
    def __setitem__(self, key: object, value: object) -> None:  # never remembers an ETag
        return None


def _caught(run: Run, check_id: str) -> str:
    result = next(r for r in run.results if r.check.id == check_id)
    assert result.outcome == Outcome.FAIL, failures(run)
    return result.message


def test_ven_without_if_none_match_is_caught(operator: tuple[object, Path, Path]) -> None:
    def prepare(agent: VenAgent) -> None:
        agent.client._etags = _NoCache()

    message = _caught(run_against_reference(operator, only=["V004"], prepare=prepare), "V004")
    assert "If-None-Match" in message


def _adapter(agent: VenAgent) -> GbAdapter:
    assert isinstance(agent.handler, GbAdapter)
    return agent.handler


def test_ven_ignoring_cancelled_is_caught(operator: tuple[object, Path, Path]) -> None:
    def prepare(agent: VenAgent) -> None:
        adapter = _adapter(agent)
        original = adapter._revision

        async def revision(event: object) -> None:
            if b.parse_event(event).status != m.DispatchStatus.CANCELLED:  # type: ignore[arg-type]
                await original(event)  # type: ignore[arg-type]

        adapter._revision = revision  # type: ignore[method-assign]

    message = _caught(run_against_reference(operator, only=["V007"], prepare=prepare, ack_period=2.0), "V007")
    assert "cancellation" in message


def test_ven_accepting_tampered_signature_is_caught(operator: tuple[object, Path, Path]) -> None:
    def prepare(agent: VenAgent) -> None:
        _adapter(agent).verify = lambda event, instruction: None  # type: ignore[method-assign]

    message = _caught(run_against_reference(operator, only=["V010"], prepare=prepare), "V010")
    assert "accepted a dispatch whose signature" in message


def test_ven_acknowledging_wrong_revision_is_caught(operator: tuple[object, Path, Path]) -> None:
    def prepare(agent: VenAgent) -> None:
        reporter = _adapter(agent).reporter
        original = reporter.build_ack

        def build_ack(event: object, **kw: object) -> tuple[m.Acknowledgement, object]:
            ack, _ = original(event, **kw)  # type: ignore[arg-type]
            ack = dataclasses.replace(ack, revision=max(1, ack.revision - 1))
            return ack, b.build_ack_report(ack, event.programID, event.id)  # type: ignore[attr-defined]

        reporter.build_ack = build_ack  # type: ignore[method-assign]

    message = _caught(run_against_reference(operator, only=["V006"], prepare=prepare), "V006")
    assert "revision 1 (expected 2)" in message


def test_ven_ignoring_retry_after_is_caught(operator: tuple[object, Path, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    import ven_client.client

    monkeypatch.setattr(ven_client.client, "retry_after_seconds", lambda value: None)
    message = _caught(run_against_reference(operator, only=["V011"]), "V011")
    assert "Retry-After" in message


def test_push_ven_without_bearer_check_is_caught(operator: tuple[object, Path, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    import ven_client.webhook

    monkeypatch.setattr(ven_client.webhook, "hmac", types.SimpleNamespace(compare_digest=lambda a, b: True))
    message = _caught(run_against_reference(operator, mode="push", only=["V012"]), "V012")
    assert "wrong bearer token" in message


def test_push_ven_without_signature_check_is_caught(operator: tuple[object, Path, Path],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    import ven_client.webhook

    monkeypatch.setattr(ven_client.webhook, "verify_signature", lambda *args, **kw: None)
    message = _caught(run_against_reference(operator, mode="push", only=["V013"]), "V013")
    assert "signature of other content" in message


def test_ven_reading_only_the_first_page_is_caught(operator: tuple[object, Path, Path],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from ven_client.client import MAX_LIST_LIMIT, VtnClient

    async def first_page(self: VtnClient, path: str, model: type, params: dict | None = None,
                         cache: dict | None = None) -> tuple[list, bool]:
        body, changed = await self.get_json(path, {**(params or {}), "skip": 0, "limit": MAX_LIST_LIMIT}, cache)
        return [model.model_validate(item) for item in body], changed

    monkeypatch.setattr(VtnClient, "list_all", first_page)
    message = _caught(run_against_reference(operator, only=["V018"], ack_period=2.0), "V018")
    assert "position 56 of /events" in message and "timed out" in message


def test_ven_whose_heartbeats_grow_is_caught(operator: tuple[object, Path, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    from ven_client.gb import GbReporter

    async def growing(self: GbReporter, operating_states: object = (), *, operator_id: str | None = None,
                      event_id: str | None = None) -> object:  # a new report each time, never the PUT of §6.2
        event, operator_ = await self._target(event_id, operator_id)
        beat = m.Heartbeat(fsp_id=self.fsp_id, operator_id=operator_, time=self.clock(), operating_states=())
        return await self.client.create_report(self.sign(b.build_heartbeat_report(beat, event.programID, event.id)))

    monkeypatch.setattr(GbReporter, "send_heartbeat", growing)
    message = _caught(run_against_reference(operator, only=["V019"], reports=True), "V019")
    assert "2 heartbeat reports created by POST" in message


def test_ven_emergency_stop_without_operator_is_caught(operator: tuple[object, Path, Path],
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    import ven_client.gb
    from openadr3.models import Report

    original = b.build_emergency_stop_report

    def without_operator(*args: object, **kw: object) -> Report:  # GB-R-040: each unit names its network operator
        body = original(*args, **kw).content()  # type: ignore[arg-type]
        for resource in body["resources"]:
            for interval in resource["intervals"]:
                interval["payloads"] = [p for p in interval["payloads"] if p["type"] != m.P_OPERATOR]
        return Report.model_validate(body)

    monkeypatch.setattr(ven_client.gb.b, "build_emergency_stop_report", without_operator)
    message = _caught(run_against_reference(operator, only=["V020"], reports=True), "V020")
    assert "GB-R-040" in message


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, str], dict[str, object]]:
    """A private CA, a server certificate for the suite's VTN, and a client certificate for the VEN."""
    from vtn.auth.devcerts import make_dev_pki

    ca, server, (ven_cert, _) = make_dev_pki(tmp_path_factory.mktemp("pki"), ven=NAME)
    tls = {"tls_cert": str(server.cert_path), "tls_key": str(server.key_path), "client_ca": str(ca.cert_path)}
    return tls, {"ca_file": ca.cert_path, "client_cert": ven_cert.cert_path, "client_key": ven_cert.key_path}


def test_mtls_ven_passes_and_one_without_certificate_is_caught(
        operator: tuple[object, Path, Path], pki: tuple[dict[str, str], dict[str, object]]) -> None:
    tls, ven_tls = pki
    run = run_against_reference(operator, only=["V001", "V002", "V005", "V021"], tls=tls, vtn_options=ven_tls)
    assert set(outcomes(run).values()) == {"pass"}, failures(run)
    assert run.config.vtn_url.startswith("https://")
    # the same VEN trusting the CA but configured without its certificate: V021 fails, naming the first request
    no_cert = {"ca_file": ven_tls["ca_file"]}
    message = _caught(run_against_reference(operator, only=["V021"], tls=tls, vtn_options=no_cert), "V021")
    assert "presented no client certificate" in message and "/auth/token" in message


@pytest.fixture(autouse=True)
def _no_leaks() -> Iterator[None]:
    before = threading.active_count()
    yield
    assert threading.active_count() <= before + 2  # the VTN and VEN threads are joined


def test_cli_certifies_the_reference_ven_with_one_command(operator: tuple[object, Path], tmp_path: Path) -> None:
    """`oadr-conformance ven` as a vendor runs it: the suite listens, the VEN is pointed at it, reports written."""
    import socket

    from typer.testing import CliRunner

    from conformance.cli import app
    from tests.support.server import free_port

    key, public, fsp_key = operator
    private = tmp_path / "operator.jwk"
    private.write_text(json.dumps(key.as_dict(private=True)))  # type: ignore[attr-defined]
    port = free_port()
    args = ["ven", "--listen", f"127.0.0.1:{port}", "--ven-client", f"{NAME}:{SECRET}", "--ven-name", NAME,
            "--operator-key", str(private), "--only", "V001,V002,V005,V010", "--token-lifetime", "30",
            "--ack-deadline", "5", "--settle", "1", "--start-timeout", "20", "--quiet",
            "--json", str(tmp_path / "ven.json"), "--junit-xml", str(tmp_path / "ven.xml"),
            "--markdown", str(tmp_path / "ven.md")]
    outcome: Future[object] = Future()
    cli = threading.Thread(target=lambda: outcome.set_result(CliRunner().invoke(app, args)), daemon=True)
    cli.start()
    for _ in range(200):  # until the suite's VTN listens
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                break
        threading.Event().wait(0.05)
    gb = GbSettings(fsp_id=NAME, operator_id="NGED", require_signature=True, signing_key=fsp_key,
                    operator_keys=[OperatorKeyConfig(operator="NGED", file=public)])
    with running_gb_ven(Target(f"http://127.0.0.1:{port}/openadr3/3.0.1"), NAME, SECRET, gb=gb):
        cli.join(60)
    result = outcome.result(0)
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    data = json.loads((tmp_path / "ven.json").read_text())
    assert [(r["id"], r["outcome"]) for r in data["results"]] == [
        ("V001", "pass"), ("V002", "pass"), ("V005", "pass"), ("V010", "pass")]
    assert "from --ack-deadline" in data["results"][2]["message"]  # the override, not the program's 60 s
    assert ET.parse(tmp_path / "ven.xml").getroot().get("tests") == "4"
    assert "| V010 |" in (tmp_path / "ven.md").read_text()


def test_program_states_the_ack_period_in_its_contract_terms() -> None:
    """The suite's program links its contract terms (programDescriptions[].URL, GB profile §1, §2.1); the checks take
    the acknowledgement period from there, unless --ack-deadline overrides it."""
    import httpx2

    from conformance.ven_suite import VenSession

    config = VenSuiteConfig(ven_client=(NAME, SECRET), ven_name=NAME, ack_period=7.0)
    vtn = ScriptedVtn(NAME, SECRET)
    vtn.start()
    try:
        program, _ = seed_program(config, vtn)
        link = program["programDescriptions"][0]["URL"]
        terms = httpx2.get(link).json()  # what a VEN reading the link gets
        assert terms["ackPeriodSeconds"] == 7.0 and terms["contractID"] == "C-SUITE" and terms["venName"] == NAME
        session = VenSession(config, vtn)
        session.program = program
        assert session._ack_period() == (7.0, f"the program's contract terms ({link})")
        session.config = dataclasses.replace(config, ack_deadline=3.0)
        assert session._ack_period() == (3.0, "--ack-deadline")
        session.config, session.program = config, {**program, "programDescriptions": None}
        with pytest.raises(Exception, match="links no contract terms"):
            session._ack_period()
    finally:
        vtn.stop()


def test_cli_without_a_ven_fails_registration(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from conformance.cli import app
    from tests.support.server import free_port

    result = CliRunner().invoke(app, ["ven", "--listen", f"127.0.0.1:{free_port()}", "--ven-client", "a:b",
                                      "--ven-name", "a", "--start-timeout", "0.3", "--quiet"])
    assert result.exit_code == 1
    assert "FAIL V001" in result.output and "timed out" in result.output


def test_docs_list_every_ven_check() -> None:
    text = (Path(__file__).resolve().parent.parent / "docs" / "conformance.md").read_text()
    section = text[text.index("## VEN-side suite"):]
    documented = [line.split("|")[1].strip() for line in section.splitlines() if line.startswith("| V0")]
    assert documented == list(VEN_CHECKS)
