"""`vtn gb baseline` and `vtn gb delivery` (docs/gb-profile.md §6.8) against a real `vtn serve`."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx2
import pytest
from typer.testing import CliRunner

from gb_profile import builders as b
from gb_profile import model as m
from gb_profile.examples import example_instruction, example_program
from gb_profile.operator import Operator
from tests.support.server import running_vtn
from ven_client import cli as ven_cli
from vtn.cli import app as vtn_app
from vtn.core.security import Role

pytestmark = pytest.mark.slow
DAY = datetime(2026, 11, 10, tzinfo=UTC)


def test_baseline_and_delivery_from_the_cli(tmp_path: Path) -> None:
    runner = CliRunner()
    with running_vtn(tmp_path, env={"VTN_GB_DELIVERY_WORKER_SECONDS": "3600"}) as vtn:
        secret = vtn.provision("op", Role.BL)
        env = {"GB_VTN_URL": vtn.base_url, "GB_CLIENT_ID": "op", "GB_CLIENT_SECRET": secret}

        def gb(*args: str, code: int = 0) -> str:
            result = runner.invoke(vtn_app, ["gb", *args], env=env)
            assert result.exit_code == code, result.output
            return result.output

        op = Operator(vtn.base_url, "op", secret)
        program_id = op._request("POST", "/programs", json=example_program("OU_2MIN").dump())["id"]
        start = DAY.replace(hour=16, minute=30)
        ins = replace(example_instruction("OU_2MIN"), instruction_time=start - timedelta(minutes=5),
                      service_start=start, service_end=start + timedelta(minutes=30), dispatch_unit="DU-7",
                      setpoints=(m.Setpoint(start, -100.0, m.ServiceUnits.KW, m.SetpointKind.DELTA, price=0.2),))
        event_id = op.issue_dispatch(ins, program_id)
        fsp_secret = vtn.provision("FSP-ACME", Role.VEN, ven_name="FSP-ACME")
        token = httpx2.post(vtn.base_url + "/auth/token", data={"grant_type": "client_credentials"},
                            auth=("FSP-ACME", fsp_secret)).json()
        headers = {"Authorization": f"Bearer {token['access_token']}"}
        ven_id = httpx2.post(vtn.base_url + "/vens", json={"venName": "FSP-ACME"}, headers=headers).json()["id"]
        httpx2.post(vtn.base_url + f"/vens/{ven_id}/resources", json={"resourceName": "DU-7"}, headers=headers)
        readings = tuple(m.MeterReading("DU-7", start + timedelta(minutes=i), m.ReadingKind.POWER_KW, 320.0)
                         for i in range(30))
        report = b.build_readings_report(m.MeterReadings("FSP-ACME", "NGED", readings), program_id, event_id).dump()
        assert httpx2.post(vtn.base_url + "/reports", json=report, headers=headers).status_code == 201

        assert "DU-7  STATIC  400.0" in gb("baseline", "DU-7", "--static", "400")
        gb("baseline", "DU-7", code=2)  # no method given
        weekly = tmp_path / "weekly.json"
        weekly.write_text(json.dumps({"mon": [1.0] * 48}))
        assert "WEEKLY baseline" in gb("baseline", "DU-7", "--weekly", str(weekly), code=1)  # refused by the VTN
        out = gb("delivery", event_id, "--issue", "--csv", str(tmp_path / "d.csv"), "--pdf", str(tmp_path / "d.pdf"))
        # 400 kW baseline, 320 kW metered: 40 kWh of 50 instructed = 80 %, 40 kWh x £200/MWh = £8.00, AMBER (>= 80)
        assert "issued" in out
        assert out.splitlines()[-1].split()[-5:] == ["50.0", "40.0", "80.0", "8.00", "AMBER"]
        assert (tmp_path / "d.csv").read_text().splitlines()[-1].endswith(",40.0,8.00")
        assert (tmp_path / "d.pdf").read_bytes().startswith(b"%PDF")
        gb("delivery", "--issue", code=2)

        # the FSP's side: `ven gb delivery-reports` lists its reports and exports one
        (tmp_path / "ven.secret").write_text(fsp_secret)
        config = tmp_path / "ven.toml"
        config.write_text(f'[vtn]\nurl = "{vtn.base_url}"\nclient_id = "FSP-ACME"\nclient_secret_file = "ven.secret"\n'
                          '[ven]\nname = "FSP-ACME"\n[gb]\noperator_id = "NGED"\n')
        result = runner.invoke(ven_cli.app, ["gb", "delivery-reports", "--config", str(config)])
        assert result.exit_code == 0, result.output
        report_id = result.output.split()[0]
        assert "delivered 40.0 kWh (80.0 %)  GBP 8.00  AMBER" in result.output
        result = runner.invoke(ven_cli.app, ["gb", "delivery-reports", "--config", str(config), "--report", report_id,
                                             "--pdf", str(tmp_path / "fsp.pdf")])
        assert result.exit_code == 0, result.output
        assert (tmp_path / "fsp.pdf").read_bytes().startswith(b"%PDF")
