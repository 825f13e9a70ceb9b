"""Signatures end to end against a real `vtn serve` and a real reference VEN that requires signatures (issue 14):
a console-signed dispatch revised and stopped from `vtn gb` stays signed and the VEN accepts every revision; the
CLI refuses an unsigned revision of it; `vtn gb dispatch|cancel|emergency-stop` sign too; the FSP's key registered
with `vtn gb fsp-key add` verifies its acknowledgements; `vtn gb evidence` exports the bundle."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx2
import pytest
from typer.testing import CliRunner

from gb_profile import builders as b
from gb_profile import model as m
from gb_profile.signing import KeyRing, generate_key, public_jwk, verify_event
from tests.support.browser import add_console_user
from tests.support.gb_ven import running_gb_ven
from tests.support.server import running_vtn
from tests.test_console_auth import signin
from tests.test_console_operator import dispatch, make_program, tomorrow_at
from ven_client.config import GbSettings, OperatorKeyConfig
from vtn.cli import app as vtn_app
from vtn.core.security import Role

pytestmark = pytest.mark.slow

OPERATOR_KID, FSP_KID = "nged-e2e-1", "fsp-1-e2e"


def test_console_signed_dispatch_revised_by_the_cli_stays_signed_and_a_strict_ven_accepts_it(tmp_path: Path) -> None:
    key, fsp_key = generate_key(OPERATOR_KID), generate_key(FSP_KID)
    (tmp_path / "op.pem").write_bytes(key.as_pem(private=True))
    (tmp_path / "op-public.jwk").write_text(json.dumps({"keys": [public_jwk(key)]}))
    (tmp_path / "fsp.pem").write_bytes(fsp_key.as_pem(private=True))
    (tmp_path / "fsp-public.jwk").write_text(json.dumps(public_jwk(fsp_key)))  # what the FSP hands over at onboarding
    signing = {"VTN_GB_SIGNING_KEY_FILE": str(tmp_path / "op.pem"), "VTN_GB_SIGNING_KID": OPERATOR_KID,
               "VTN_CONSOLE_REQUIRE_MFA": "false"}
    ring = KeyRing()
    ring.add("NGED", public_jwk(key))
    runner = CliRunner()

    with running_vtn(tmp_path, env=signing) as vtn:
        add_console_user(vtn.env, "olive", "operator")
        op_secret = vtn.provision("op", Role.BL)
        fsp_secret = vtn.provision("fsp-1", Role.VEN, ven_name="fsp-1")
        # the operator registers the FSP's public key with the real command, on the VTN's database
        done = subprocess.run([sys.executable, "-m", "vtn.cli", "gb", "fsp-key", "add", "fsp-1", "--key",
                               str(tmp_path / "fsp-public.jwk")], env=vtn.env, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0 and f"registered {FSP_KID} for fsp-1" in done.stdout, done.stdout + done.stderr
        cli_env = {"GB_VTN_URL": vtn.base_url, "GB_CLIENT_ID": "op", "GB_CLIENT_SECRET": op_secret,
                   "VTN_GB_SIGNING_KEY_FILE": None, "VTN_GB_SIGNING_KID": None}

        def gb(*args: str, code: int = 0, **env: str) -> str:
            result = runner.invoke(vtn_app, ["gb", *args], env={**cli_env, **env})
            assert result.exit_code == code, result.output
            return result.output

        gb_settings = GbSettings(fsp_id="fsp-1", require_signature=True, signing_key=tmp_path / "fsp.pem",
                                 signing_kid=FSP_KID,
                                 operator_keys=[OperatorKeyConfig(operator="NGED", file=tmp_path / "op-public.jwk")])
        with running_gb_ven(vtn, "fsp-1", fsp_secret, gb=gb_settings) as ven, \
                httpx2.Client(base_url=vtn.url, timeout=30) as console, \
                httpx2.Client(base_url=vtn.base_url, timeout=30) as api:
            token = api.post("/auth/token", auth=("op", op_secret), data={"grant_type": "client_credentials"}).json()
            api.headers["Authorization"] = f"Bearer {token['access_token']}"

            def event(event_id: str) -> dict:  # type: ignore[type-arg]
                return api.get(f"/events/{event_id}").json()

            def accepted(name: str, revision: int) -> bool:
                acks = ven.acknowledged(name, revision)
                return bool(acks) and all(a.result == m.AckResult.ACCEPTED for a in acks)

            # 1. the console dispatches, signed with the VTN's operator key
            assert signin(console, "olive").status_code == 303
            program_id = make_program(console)
            dispatch(console, program_id, ref="E2E-SIG")
            console_id = next(e["id"] for e in api.get("/events").json() if e["eventName"] == "NGED:E2E-SIG")
            assert verify_event(event(console_id), ring) == OPERATOR_KID
            ven.wait_for(lambda: accepted("NGED:E2E-SIG", 1), what="ack of the console's dispatch")

            # 2. the CLI without the key refuses to revise it: it would drop the signature
            refused = gb("revise", console_id, "--kw", "50", code=1)
            assert "is signed (key 'nged-e2e-1'): its revisions must be signed too" in refused
            assert b.parse_event(event(console_id)).revision == 1

            # 3. with the console's key (the same variable): signed, and the strict VEN accepts it
            gb("revise", console_id, "--kw", "50", VTN_GB_SIGNING_KEY_FILE=str(tmp_path / "op.pem"),
               VTN_GB_SIGNING_KID=OPERATOR_KID)
            revised = event(console_id)
            assert b.parse_event(revised).revision == 2 and verify_event(revised, ring) == OPERATOR_KID
            ven.wait_for(lambda: accepted("NGED:E2E-SIG", 2), what="the VEN accepting the CLI's revision")
            gb("stop", console_id, "--signing-key", str(tmp_path / "op.pem"), "--signing-kid", OPERATOR_KID)
            assert verify_event(event(console_id), ring) == OPERATOR_KID
            ven.wait_for(lambda: accepted("NGED:E2E-SIG", 3), what="the VEN accepting the CLI's stop")

            # 4. dispatch, cancel and emergency stop from the CLI, each signed and accepted
            keyed = ("--signing-key", str(tmp_path / "op.pem"), "--signing-kid", OPERATOR_KID)
            start = tomorrow_at(11)
            window = ("--start", start.isoformat(), "--end", start.replace(minute=30).isoformat())
            common = ("--product", "RESTORE", "--operator", "NGED", "--fsp", "fsp-1", "--unit", "DU-1", "--kw", "-20",
                      "--contract", "C-1", *window)
            first = gb("dispatch", *common, "--ref", "E2E-CLI-1", *keyed).strip().splitlines()[-1]
            second = gb("dispatch", *common, "--ref", "E2E-CLI-2", *keyed).strip().splitlines()[-1]
            gb("cancel", first, *keyed)
            gb("emergency-stop", "--dispatch", second, "--yes", *keyed)
            for event_id, name, status in ((first, "NGED:E2E-CLI-1", m.DispatchStatus.CANCELLED),
                                           (second, "NGED:E2E-CLI-2", m.DispatchStatus.EMERGENCY_STOP)):
                current = event(event_id)
                assert b.parse_event(current).status == status and verify_event(current, ring) == OPERATOR_KID
                ven.wait_for(lambda name=name: accepted(name, 2), what=f"the VEN accepting {status} of {name}")
            assert not ven.controller.refused  # type: ignore[attr-defined]

            # 5. the evidence bundle: every signature verified by the VTN, the FSP's acks against its registered key
            ven.wait_for(lambda: len(api.get("/reports", params={"eventID": console_id}).json()) >= 3, what="3 acks stored")
            out = tmp_path / "evidence.json"
            assert "3 acknowledgement(s)" in gb("evidence", console_id, "-o", str(out))
            bundle = json.loads(out.read_text())
            assert bundle["event"]["signature"] == {"state": "verified", "kid": OPERATOR_KID, "detail": None}
            assert [a["signature"]["state"] for a in bundle["acknowledgements"]] == ["verified"] * 3
            assert {a["signature"]["kid"] for a in bundle["acknowledgements"]} == {FSP_KID}
            assert [k["kid"] for k in bundle["keys"]["operator"]] == [OPERATOR_KID]
            assert [k["kid"] for k in bundle["keys"]["fsp"]] == [FSP_KID]
            actions = [line["action"] for line in bundle["audit"]]
            assert actions[:3] == ["gb.dispatch", "gb.revise", "gb.stop"]
            assert {line["actor"] for line in bundle["audit"]} == {"console:olive", "op"}
