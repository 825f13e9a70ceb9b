"""Emergency stops from the command line against a real `vtn serve`:

- `vtn gb emergency-stop --dispatch | --program | --cmz | --all` (asks first unless --yes) sends one EMERGENCY_STOP
  revision with priority 0 (GB-E-019) per open dispatch of GB programs it covers;
- `ven gb emergency-stop` (the FSP's) raises the alarm in `vtn gb status`, `vtn gb dispatch` to that unit warns,
  and `ven gb emergency-stop --clear` ends both.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gb_profile import builders as b
from gb_profile import model as m
from gb_profile.operator import Operator
from gb_profile.products import ProductCode, SetpointKind
from tests.support.server import running_vtn
from ven_client import cli as ven_cli
from vtn.cli import app as vtn_app
from vtn.core.security import Role

pytestmark = pytest.mark.slow


def instruction(ref: str, unit: str, start: datetime, cmz: str | None = None) -> m.DispatchInstruction:
    return m.DispatchInstruction(
        operator_id="NGED", dispatch_ref=ref, revision=1, status=m.DispatchStatus.RUN,
        instruction_time=datetime.now(UTC).replace(microsecond=0), fsp_id="fsp-1", dispatch_unit=unit, contract_id="C-1",
        service_start=start, service_end=start + timedelta(hours=1),
        setpoints=(m.Setpoint(start, -40.0, m.ServiceUnits.KW, SetpointKind.DELTA),), cmz=cmz)


def test_operator_and_fsp_emergency_stops_from_the_cli(tmp_path: Path) -> None:
    runner = CliRunner()
    with running_vtn(tmp_path) as vtn:
        secret = vtn.provision("op", Role.BL)
        fsp_secret = vtn.provision("fsp-1", Role.VEN, ven_name="fsp-1")
        env = {"GB_VTN_URL": vtn.base_url, "GB_CLIENT_ID": "op", "GB_CLIENT_SECRET": secret}

        def gb(*args: str, code: int = 0, answer: str | None = None) -> str:
            result = runner.invoke(vtn_app, ["gb", *args], env=env, input=answer)
            assert result.exit_code == code, result.output
            return result.output

        op = Operator(vtn.base_url, "op", secret)
        start = (datetime.now(UTC) + timedelta(days=15)).replace(minute=0, second=0, microsecond=0)
        su = op.ensure_program(ProductCode.SU, m.Contract("NGED", "C-1", "fsp-1", ProductCode.SU))["id"]
        restore = op.ensure_program(ProductCode.RESTORE, m.Contract("NGED", "C-1", "fsp-1", ProductCode.RESTORE))["id"]
        op._request("POST", "/events", json=b.build_anchor_event(su, "NGED", start - timedelta(days=30)).dump())
        ids = {
            "A": op.issue_dispatch(instruction("A", "DU-1", start), su),
            "B": op.issue_dispatch(instruction("B", "DU-2", start, cmz="Z1"), su),
            "C": op.issue_dispatch(instruction("C", "DU-3", start, cmz="Z1"), restore),
            "D": op.issue_dispatch(instruction("D", "DU-4", start), restore),
            "E": op.issue_dispatch(instruction("E", "DU-5", start), su),
        }
        plain = op._request("POST", "/programs", json={"programName": "not-gb"})["id"]
        plain_event = op._request("POST", "/events", json={"programID": plain, "eventName": "plain", "intervals": []})

        def status(ref: str) -> tuple[int, m.DispatchStatus, int | None]:
            event = op.event(ids[ref])
            ins = b.parse_event(event)
            return ins.revision, ins.status, event.get("priority")

        ESTOP, RUN = m.DispatchStatus.EMERGENCY_STOP, m.DispatchStatus.RUN

        # exactly one scope; a zone is NO:ZONE
        assert "say what to stop" in gb("emergency-stop", code=2)
        assert "say what to stop" in gb("emergency-stop", "--all", "--program", su, code=2)
        assert "GB_CMZ" in gb("emergency-stop", "--cmz", "Z1", code=2)

        # one dispatch: listed, then asked; "no" sends nothing
        refused = gb("emergency-stop", "--dispatch", ids["A"], code=1, answer="n\n")
        assert "NGED:A" in refused and "Send EMERGENCY_STOP to 1 dispatch(es)?" in refused and "nothing sent" in refused
        assert status("A") == (1, RUN, None)
        assert "revision 2  EMERGENCY_STOP" in gb("emergency-stop", "--dispatch", ids["A"], answer="y\n")
        assert status("A") == (2, ESTOP, 0)

        # a constraint zone, across programs
        out = gb("emergency-stop", "--cmz", "NGED:Z1", "--yes")
        assert "2 dispatch(es)" in out and "NGED:B" in out and "NGED:C" in out
        assert [status(r) for r in "BCDE"] == [(2, ESTOP, 0), (2, ESTOP, 0), (1, RUN, None), (1, RUN, None)]

        # a program: only its open dispatches (C is already stopped)
        out = gb("emergency-stop", "--program", restore, "--yes")
        assert "1 dispatch(es)" in out and "NGED:D" in out
        assert status("D") == (2, ESTOP, 0) and status("C") == (2, ESTOP, 0)
        assert "not a GB program" in gb("emergency-stop", "--program", plain, "--yes", code=1)

        # everything: what is left (E); then nothing
        out = gb("emergency-stop", "--all", "--yes")
        assert "1 dispatch(es)" in out and "NGED:E" in out and status("E") == (2, ESTOP, 0)
        assert "Nothing to stop" in gb("emergency-stop", "--all", "--yes")
        assert op._request("GET", f"/events/{plain_event['id']}") == plain_event

        # the FSP's own emergency stop of DU-1: alarm in the status, warning on a new dispatch, until cleared
        (tmp_path / "ven.toml").write_text(
            f'[vtn]\nurl = "{vtn.base_url}"\nclient_id = "fsp-1"\nclient_secret = "{fsp_secret}"\n'
            '[ven]\nname = "fsp-1"\n[gb]\noperator_id = "NGED"\n')
        ven_config = ["--config", str(tmp_path / "ven.toml")]
        result = runner.invoke(ven_cli.app, ["register", *ven_config])
        assert result.exit_code == 0, result.output
        result = runner.invoke(ven_cli.app, ["gb", "emergency-stop", *ven_config, "--unit", "DU-1"])
        assert result.exit_code == 2 and "--reason" in result.output  # a stop says why
        result = runner.invoke(ven_cli.app, ["gb", "emergency-stop", *ven_config, "--unit", "DU-1",
                                             "--reason", "site evacuation"])
        assert result.exit_code == 0, result.output
        shown = gb("status", ids["A"])
        assert shown.startswith("ALARM: FSP emergency stops not cleared:")
        assert [line.split()[:3] for line in shown.splitlines()[2:3]] == [["fsp-1", "DU-1", "NGED"]]
        assert "site evacuation" in shown.splitlines()[2]

        local = (start + timedelta(days=1)).replace(tzinfo=None).isoformat() + "+00:00"
        end = (start + timedelta(days=1, hours=1)).replace(tzinfo=None).isoformat() + "+00:00"
        dispatch = ["dispatch", "--product", "SU", "--operator", "NGED", "--fsp", "fsp-1", "--contract", "C-1",
                    "--start", local, "--end", end, "--kw", "-10"]
        warned = runner.invoke(vtn_app, ["gb", *dispatch, "--unit", "DU-1"], env=env)
        assert warned.exit_code == 0 and "warning: FSP fsp-1 reported an emergency stop of DU-1" in warned.output
        quiet = runner.invoke(vtn_app, ["gb", *dispatch, "--unit", "DU-2"], env=env)
        assert quiet.exit_code == 0 and "warning" not in quiet.output

        result = runner.invoke(ven_cli.app, ["gb", "emergency-stop", *ven_config, "--unit", "DU-1", "--clear"])
        assert result.exit_code == 0 and "emergency stop clearance" in result.output, result.output
        shown = gb("status", ids["A"])
        assert "ALARM" not in shown and "FSP emergency stops: none" in shown
        again = runner.invoke(vtn_app, ["gb", *dispatch, "--unit", "DU-1"], env=env)
        assert again.exit_code == 0 and "warning" not in again.output
        op.close()
