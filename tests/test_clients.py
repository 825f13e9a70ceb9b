"""Every existing OpenADR 3 client, unmodified, against a real VTN process (docs/clients.md).

- oadr30-ven-ud (Universal Devices, 3.0.1, `requests`): in this process, from the dev extra.
- openadr3 (the entity library) and python-oa3-client: in their own virtualenv (.venv-clients, from
  tests/clients/requirements.txt; `.ci/run` makes it), because PyPI's `openadr3` has the same import name as
  this project's `openadr3` package. Each flow runs there as a subprocess (tests/clients/openadr3_flow.py).
- ElaadNL openadr3-client (3.0 and 3.1 models) needs Python >= 3.12 (PEP 695 syntax): its exchanges,
  written down from its source, are replayed (tests/clients/elaad_exchange.py).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx2
import pytest

from tests.clients import elaad_exchange as elaad
from tests.support.receiver import Receiver
from tests.support.server import VtnProcess, running_vtn
from tests.support.spec import assert_spec_response
from vtn.core.security import Role

ROOT = Path(__file__).resolve().parents[1]
CLIENTS_PYTHON = Path(os.environ.get("VTN_CLIENTS_PYTHON", ROOT / ".venv-clients" / "bin" / "python"))
REQUIRE_CLIENTS = os.environ.get("VTN_REQUIRE_CLIENTS") == "1"
V31 = "/openadr3/3.1.0"

pytestmark = pytest.mark.slow

VEN_CLIENTS = {  # client id -> bound venName
    "eisy-fsp": "eisy.client",  # oadr30-ven-ud always reports as clientName "eisy.client"
    "oa3lib-fsp": "oa3lib-ven",
    "oa3lib31-fsp": "oa3lib31-ven",
    "oa3-fsp": "oa3-ven",
    "elaad30-fsp": "elaad30-ven",
    "elaad31-fsp": "elaad31-ven",
}


@pytest.fixture(scope="module")
def vtn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VtnProcess]:
    """One VTN process (SQLite) for the whole module; every client gets its own ven and names. The rules these
    flows need are pinned on both databases in-process (tests/test_client_compat_rules.py)."""
    with running_vtn(tmp_path_factory.mktemp("clients")) as server:
        server.secrets = asyncio.run(_provision(server.database_url))  # type: ignore[attr-defined]
        yield server


async def _provision(database_url: str) -> dict[str, str]:
    """The BL client `op` and every VEN client, in one session (secrets by client id)."""
    from vtn.auth import service
    from vtn.core.database import Database

    db = Database(database_url)
    try:
        async with db.session() as session:
            secrets = {"op": (await service.add_client(session, "op", Role.BL)).secret}
            for client_id, ven_name in VEN_CLIENTS.items():
                secrets[client_id] = (await service.add_client(session, client_id, Role.VEN, ven_name=ven_name)).secret
        return {k: str(v) for k, v in secrets.items()}
    finally:
        await db.dispose()


@contextmanager
def _bl(vtn: VtnProcess) -> Iterator[httpx2.Client]:
    """The network operator's business logic (plain HTTP)."""
    with httpx2.Client(base_url=vtn.base_url, timeout=10.0) as http:
        token = http.post("/auth/token", auth=("op", vtn.secrets["op"]),  # type: ignore[attr-defined]
                          data={"grant_type": "client_credentials"})
        assert token.status_code == 200, token.text
        http.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
        yield http


def _next_half_hour() -> str:
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    start = now + timedelta(minutes=30 - now.minute % 30)
    return start.isoformat().replace("+00:00", "Z")


def _program_and_event(vtn: VtnProcess, name: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """What a network operator publishes: an untargeted program with one event every VEN reads."""
    with _bl(vtn) as bl:
        program = bl.post("/programs", json={"programName": name})
        assert program.status_code == 201, program.text
        event = bl.post("/events", json={
            "programID": program.json()["id"], "eventName": f"{name}-event",
            # within the window 3.1 clients poll (python-oa3-client: now - 1 day .. now + 4 days)
            "intervalPeriod": {"start": _next_half_hour(), "duration": "PT30M"},
            "intervals": [{"id": 0, "payloads": [{"type": "SIMPLE", "values": [1]}]}],
        })
        assert event.status_code == 201, event.text
        return program.json(), event.json()


def _reports(vtn: VtnProcess, event_id: str) -> list[dict[str, Any]]:
    with _bl(vtn) as bl:
        listed = bl.get("/reports", params={"eventID": event_id})
        assert listed.status_code == 200, listed.text
        return list(listed.json())


def _missing_31(vtn: VtnProcess, paths: tuple[str, ...] = ("/auth/server", "/programs", "/events", "/vens",
                                                             "/reports")) -> list[str]:
    """The 3.1.0 operations a 3.1 client's flow needs that the VTN does not serve yet (issue 17's second
    mount): a route that exists answers an anonymous GET with 200 or 401, never 404."""
    missing = []
    for path in paths:
        try:
            status = httpx2.get(vtn.url + V31 + path, timeout=5.0).status_code
        except httpx2.HTTPError:
            status = 404
        if status == 404:
            missing.append(V31 + path)
    return missing


def _clients_python() -> Path:
    if not CLIENTS_PYTHON.exists():
        message = f"no client virtualenv at {CLIENTS_PYTHON} (python3 -m venv .venv-clients && " \
                  ".venv-clients/bin/pip install -r tests/clients/requirements.txt)"
        if REQUIRE_CLIENTS:
            pytest.fail("VTN_REQUIRE_CLIENTS=1 but " + message)
        pytest.skip(message)
    return CLIENTS_PYTHON


def _run_flow(arguments: dict[str, Any]) -> dict[str, Any]:
    script = ROOT / "tests" / "clients" / "openadr3_flow.py"
    # -I: the clients' own `openadr3`, never this project's (same import name)
    done = subprocess.run([str(_clients_python()), "-I", str(script), json.dumps(arguments)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-4000:]
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


# --- oadr30-ven-ud (Universal Devices) -------------------------------------------------------------


def test_oadr30_ven_ud(vtn: VtnProcess, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Token with `scope=read_all` (form), create its ven with a resource, programs, events, report."""
    from oadr30.config import OADR3Config
    from oadr30.descriptors import ReportPayloadDescriptor
    from oadr30.vtn import VTNOps

    program, event = _program_and_event(vtn, "eisy-program")
    # where the client keeps its ven between runs (its configuration; by default ./ven.json)
    monkeypatch.setattr(OADR3Config, "ven_persistence_file", str(tmp_path / "ven.json"))
    ops = VTNOps(vtn.base_url, "eisy-fsp", vtn.secrets["eisy-fsp"])  # type: ignore[attr-defined]
    ven = ops.create_ven("eisy.client", resources=[{"resourceName": OADR3Config.default_system_resource_name}])
    assert ven, "oadr30-ven-ud could not create its ven"
    assert ops.token is not None and "write_reports" in ops.token["scope"].split()  # read_all did not narrow
    assert ops.get_ven(ven["id"])["venName"] == "eisy.client"
    assert ops.create_ven("eisy.client")["id"] == ven["id"]  # restored from its file, found on the VTN
    programs = ops.get_programs()
    assert programs is not None and program["id"] in [p.getId() for p in programs]
    assert ops.get_program(program["id"])["programName"] == "eisy-program"
    events = ops.get_events(program["id"])
    assert events is not None and [e.getId() for e in events] == [event["id"]]
    descriptor = ReportPayloadDescriptor({"payloadType": OADR3Config.default_system_resource_type})
    ops.send_report(event["id"], program["id"], ven, descriptor)  # returns nothing: the VTN is asked
    reports = _reports(vtn, event["id"])
    assert [(r["clientName"], r["resources"][0]["resourceName"]) for r in reports] == [
        ("eisy.client", "eisy.system")]
    assert reports[0]["resources"][0]["intervals"][0]["payloads"] == [{"type": "OPERATING_STATE", "values": ["NORMAL"]}]


# --- openadr3 (entity library) ---------------------------------------------------------------------


@pytest.mark.parametrize("version", ["3.0.1", "3.1.0"])
def test_openadr3_library(vtn: VtnProcess, version: str) -> None:
    """BL: program, find it by PROGRAM_NAME, event; VEN: find-or-create its ven by VEN_NAME, programs,
    events, report, subscription: every answer coerced into the library's models. On 3.0.1 the token URL is
    given (3.0.1 has no /auth/server); on 3.1.0 the library finds it at /auth/server."""
    if version == "3.1.0" and (missing := _missing_31(vtn, ("/auth/server", "/programs", "/events", "/vens",
                                                              "/reports", "/subscriptions"))):
        pytest.skip(f"the VTN does not serve {', '.join(missing)} yet (issue 17, helper v31)")
    base = vtn.base_url if version == "3.0.1" else vtn.url + V31
    tag = "oa3lib" if version == "3.0.1" else "oa3lib31"
    with Receiver() as receiver:  # answers 3.1.0's ownership check (GET ?echo=) of the webhook
        seen = _run_flow({
            "flow": "library", "version": version, "base_url": base,
            "token_url": vtn.base_url + "/auth/token" if version == "3.0.1" else None,
            "bl_id": "op", "bl_secret": vtn.secrets["op"],  # type: ignore[attr-defined]
            "ven_id": f"{tag}-fsp", "ven_secret": vtn.secrets[f"{tag}-fsp"],  # type: ignore[attr-defined]
            "ven_name": f"{tag}-ven", "program_name": f"{tag}-program", "callback_url": receiver.url("/oa3lib"),
        })
    why = json.dumps(seen)
    assert seen["program_status"] == 201 and seen["program_found"], why
    assert seen["event_status"] == 201, why
    assert seen["ven_before"] is False and seen["ven_status"] == 201 and seen["ven_found"], why
    assert seen["program_found"] in seen["programs"] and len(seen["events"]) == 1, why
    assert seen["report_status"] == 201 and seen["report"]["clientName"] == f"{tag}-ven", why
    assert seen["reports"] == [seen["report"]["id"]], why
    assert seen["subscription_status"] == 201 and len(seen["subscriptions"]) == 1, why
    assert [r["id"] for r in _reports(vtn, seen["events"][0])] == seen["reports"]


# --- python-oa3-client (3.1.0 only) ----------------------------------------------------------------


def test_python_oa3_client_on_3_1_0(vtn: VtnProcess) -> None:
    """VenClient: token via GET /auth/server, register (find by VEN_NAME, else create), resolve the program
    by PROGRAM_NAME, poll events with dateStart/dateEnd, post a report."""
    if missing := _missing_31(vtn):
        pytest.skip(f"the VTN does not serve {', '.join(missing)} yet (issue 17, helper v31): python-oa3-client "
                    "speaks 3.1.0 only")
    program, event = _program_and_event(vtn, "oa3-program")
    seen = _run_flow({
        "flow": "oa3-client", "base_url": vtn.url + V31, "ven_id": "oa3-fsp",
        "ven_secret": vtn.secrets["oa3-fsp"], "ven_name": "oa3-ven", "program_name": "oa3-program",  # type: ignore[attr-defined]
    })
    assert seen["ven_id"] and seen["ven_id_again"] == seen["ven_id"], seen
    assert seen["program_id"] == program["id"] and seen["events"] == [event["id"]], seen
    assert seen["report_status"] == 201, seen
    assert [r["clientName"] for r in _reports(vtn, event["id"])] == ["oa3-ven"]
    if not _missing_31(vtn, ("/notifiers",)):  # served by issue 17's notifier work (helper notify)
        assert seen["notifiers"] and seen["notifiers"].get("WEBHOOK") is True, seen
        assert seen["mqtt"] is bool(seen["notifiers"].get("MQTT")), seen


# --- ElaadNL openadr3-client (recorded exchanges: the package needs Python >= 3.12) --------------


def _fill(value: Any, ids: dict[str, str]) -> Any:
    if isinstance(value, str):
        for key, replacement in ids.items():
            value = value.replace("{" + key + "}", replacement)
        return value
    if isinstance(value, list):
        return [_fill(v, ids) for v in value]
    if isinstance(value, dict):
        return {k: _fill(v, ids) for k, v in value.items()}
    return value


def _elaad_token(token_url: str, client_id: str, secret: str, scopes: list[str] | None = None) -> dict[str, Any]:
    """What requests-oauthlib's fetch_token sends for BackendApplicationClient, and oauthlib's scope check."""
    import requests

    form = {"grant_type": "client_credentials", **({"scope": " ".join(scopes)} if scopes else {})}
    answer = requests.post(token_url, data=form, auth=(client_id, secret), timeout=10,
                           headers={"Accept": "application/json", "Content-Type": elaad.FORM})
    assert answer.status_code == 200, answer.text
    body = dict(answer.json())
    assert body["token_type"] == "Bearer" and body["access_token"] and body["expires_in"] > 0
    if scopes:  # oauthlib raises "Scope has changed" unless the answer names exactly what was asked
        assert set(body["scope"].split()) == set(scopes), body["scope"]
    return body


def _replay(version: str, base: str, token: str, steps: list[dict[str, Any]], ids: dict[str, str]) -> None:
    import requests

    keys = elaad.RESPONSE_KEYS[version]
    with requests.Session() as session:
        session.headers["Authorization"] = f"Bearer {token}"
        for raw in steps:
            step = _fill(raw, ids)
            response = session.request(step["method"], base + step["path"], params=step.get("query"),
                                        json=step.get("json"), timeout=10)
            where = f"{step['method']} {step['path']} {step.get('query') or ''}"
            assert response.status_code == step["status"], f"{where}: {response.status_code} {response.text}"
            if version == "3.0.1":
                assert_spec_response(step["method"], base + step["path"], response)
            body = response.json()
            if "object" in step:
                assert keys[step["object"]] <= set(body), f"{where}: {body}"
            if "list" in step:
                assert all(keys[step["list"]] <= set(item) for item in body), f"{where}: {body}"
                if "count" in step:
                    assert len(body) == step["count"], f"{where}: {body}"
                if "contains" in step:
                    assert step["contains"] in [item["id"] for item in body], f"{where}: {body}"


def test_elaad_openadr3_client_3_0_1(vtn: VtnProcess) -> None:
    """The package's 3.0.1 VEN client: Basic-auth token, find-or-create its ven by venName, programs (paged),
    events of a program, a report with explicit nulls, its reports, subscriptions."""
    program, event = _program_and_event(vtn, "elaad30-program")
    token_url = vtn.base_url + "/auth/token"
    secret = vtn.secrets["elaad30-fsp"]  # type: ignore[attr-defined]
    token = _elaad_token(token_url, "elaad30-fsp", secret)["access_token"]
    _elaad_token(token_url, "elaad30-fsp", secret, scopes=["read_all", "write_reports", "write_vens"])
    _replay("3.0.1", vtn.base_url, token, elaad.ven_flow("3.0.1", "elaad30-ven"),
            {"program": program["id"], "event": event["id"]})
    assert [r["clientName"] for r in _reports(vtn, event["id"])] == ["elaad30-ven"]


def test_elaad_openadr3_client_3_1_0(vtn: VtnProcess) -> None:
    """The package's 3.1.0 VEN client: token URL discovered at /auth/server, VEN_VEN_REQUEST, reports without
    programID, answers carrying clientID."""
    if missing := _missing_31(vtn):
        pytest.skip(f"the VTN does not serve {', '.join(missing)} yet (issue 17, helper v31): the 3.1.0 "
                    "exchange cannot run")
    import requests

    program, event = _program_and_event(vtn, "elaad31-program")
    base = vtn.url + V31
    server = requests.get(base + "/auth/server", timeout=10)
    assert server.status_code == 200, server.text
    token = _elaad_token(server.json()["tokenURL"], "elaad31-fsp", vtn.secrets["elaad31-fsp"])["access_token"]  # type: ignore[attr-defined]
    _replay("3.1.0", base, token, elaad.ven_flow("3.1.0", "elaad31-ven"),
            {"program": program["id"], "event": event["id"]})
    assert [r["clientName"] for r in _reports(vtn, event["id"])] == ["elaad31-ven"]
