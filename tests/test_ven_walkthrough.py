"""docs/ven.md followed as a newcomer would: `vtn clients add` for the credentials, a copy of examples/ven.toml
and examples/asset_controller.py, secrets from the environment, then the installed `ven run` command (a real
process) against `vtn serve`, in pull and in push mode; the operator's dispatch, its update and its deletion
reach the example controller's setpoint file, and the VEN reports back. SIGTERM stops it cleanly."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx2
import pytest

from tests.support.server import VtnProcess, free_port, running_vtn

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def clients_add(vtn: VtnProcess, *args: str) -> str:
    """`vtn clients add ...` as docs/ven.md section 0 runs it; the printed secret."""
    done = subprocess.run([str(BIN / "vtn"), "clients", "add", *args], capture_output=True, text=True, check=True,
                          env={**os.environ, "VTN_DATABASE_URL": vtn.database_url})
    found = re.search(r"client_secret:\s*(\S+)", done.stdout)
    assert found, done.stdout
    return found.group(1)


def wait(condition: Callable[[], Any], what: str, within: float = 20.0, process: subprocess.Popen[bytes] | None = None,
         log: Path | None = None) -> Any:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if result := condition():
            return result
        if process is not None and process.poll() is not None:
            tail = log.read_text()[-3000:] if log else ""
            raise AssertionError(f"ven exited ({process.returncode}) waiting for {what}: {tail}")
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}: {log.read_text()[-3000:] if log else ''}")


class Operator:
    """The network operator of section 4, with plain HTTP calls like the guide's curl lines."""

    def __init__(self, vtn: VtnProcess, secret: str) -> None:
        self.base = vtn.base_url
        token = httpx2.post(f"{self.base}/auth/token", auth=("operator", secret), data={"grant_type": "client_credentials"})
        self.headers = {"Authorization": f"Bearer {token.json()['access_token']}"}

    def call(self, method: str, path: str, body: Any = None) -> Any:
        response = httpx2.request(method, f"{self.base}/{path}", json=body, headers=self.headers)
        assert response.status_code < 300, response.text
        return response.json()

    def dispatch(self, program_id: str, name: str, values: list[float]) -> dict[str, Any]:
        start = (datetime.now(UTC) + timedelta(seconds=1)).isoformat().replace("+00:00", "Z")
        return {"programID": program_id, "eventName": name, "targets": [{"type": "VEN_NAME", "values": ["ven-a"]}],
                "intervalPeriod": {"start": start, "duration": "PT30M"},
                "payloadDescriptors": [{"payloadType": "DISPATCH_SETPOINT", "units": "KW"}],
                "reportDescriptors": [{"payloadType": "USAGE", "units": "KW"}],
                "intervals": [{"id": i, "payloads": [{"type": "DISPATCH_SETPOINT", "values": [v]}]}
                              for i, v in enumerate(values)]}


def setpoints(path: Path) -> list[str]:
    """The controller's printed setpoints, e.g. ['-25.0 DISPATCH_SETPOINT', '+0.0 CANCELLED']."""
    return [f"{m.group(1)} {m.group(2)}" for m in re.finditer(r"setpoint ([+-][\d.]+) kW \((\w+)\)", path.read_text())]


def follow_dispatches(tmp_path: Path, operator: Operator, program_id: str, mode: str, env: dict[str, str]) -> str:
    workdir = tmp_path / mode
    workdir.mkdir()
    shutil.copy(ROOT / "examples" / "ven.toml", workdir / "my-ven.toml")
    shutil.copy(ROOT / "examples" / "asset_controller.py", workdir / "asset_controller.py")
    out, err = workdir / "stdout.txt", workdir / "stderr.txt"
    with open(out, "wb") as stdout, open(err, "wb") as stderr:
        process = subprocess.Popen([str(BIN / "ven"), "run", "--config", "my-ven.toml"], cwd=workdir, stdout=stdout,
                                   stderr=stderr, env={**os.environ, **env, "VEN_MODE": mode, "PYTHONUNBUFFERED": "1"})
    try:
        ready = "subscribed" if mode == "push" else "resource"
        wait(lambda: ready in err.read_text(), f"{mode}: VEN ready", process=process, log=err)
        event = operator.call("POST", "events", operator.dispatch(program_id, f"NGED:{mode}", [-25.0]))
        wait(lambda: "-25.0 DISPATCH_SETPOINT" in setpoints(out), f"{mode}: setpoint", process=process, log=err)
        operator.call("PUT", f"events/{event['id']}", operator.dispatch(program_id, f"NGED:{mode}", [-40.0]))
        wait(lambda: "-40.0 DISPATCH_SETPOINT" in setpoints(out), f"{mode}: updated setpoint", process=process, log=err)
        # ...and reports what it delivered: one USAGE report for the event, updated to the new value
        [report] = wait(lambda: [r for r in operator.call("GET", f"reports?eventID={event['id']}")
                                 if r["resources"][0]["intervals"][0]["payloads"][0]["values"] == [-40.0]],
                        f"{mode}: report", process=process, log=err)
        assert report["clientName"] == "ven-a" and report["resources"][0]["resourceName"] == "battery-1"
        operator.call("DELETE", f"events/{event['id']}")
        wait(lambda: setpoints(out)[-1:] == ["+0.0 CANCELLED"], f"{mode}: back to baseline", process=process, log=err)
        assert setpoints(out) == ["-25.0 DISPATCH_SETPOINT", "-40.0 DISPATCH_SETPOINT", "+0.0 CANCELLED"]
        record = json.loads((workdir / "setpoint.json").read_text())
        assert record["setpoint_kw"] == 0.0 and record["event_id"] == event["id"]
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=20)
    assert process.returncode == 0, err.read_text()[-3000:]
    logs = [json.loads(line) for line in err.read_text().splitlines() if line.startswith("{")]
    assert logs and all({"ts", "level", "msg"} <= entry.keys() for entry in logs)
    return err.read_text()


def test_docs_walkthrough_pull_and_push(tmp_path: Path) -> None:
    with running_vtn(tmp_path) as vtn:
        ven_secret = clients_add(vtn, "ven-a", "--role", "VEN", "--ven-name", "ven-a")
        operator = Operator(vtn, clients_add(vtn, "operator", "--role", "BL"))
        program = operator.call("POST", "programs", {"programName": "NGED-SU"})
        env = {"VEN_VTN_URL": vtn.base_url, "VEN_VTN_CLIENT_SECRET": ven_secret, "VEN_POLL_INTERVAL": "0.5",
               "VEN_PUSH_LISTEN_PORT": str(free_port())}

        pulled = follow_dispatches(tmp_path, operator, program["id"], "pull", env)
        assert '"msg": "notification"' not in pulled

        pushed = follow_dispatches(tmp_path, operator, program["id"], "push", env)
        assert pushed.count('"msg": "notification"') >= 3  # create, update, delete came by webhook
        assert '"msg": "unsubscribed"' in pushed
        assert operator.call("GET", "subscriptions?clientName=ven-a") == []
