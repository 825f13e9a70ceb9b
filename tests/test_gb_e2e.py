"""End to end through a real VTN process: a network operator (gb_profile.operator) dispatches every
catalogued product, an FSP's VEN (plain httpx2 + gb_profile builders) reads and acknowledges each
revision, and the operator matches acknowledgements to revisions and finds silent VENs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx2
import pytest
from typer.testing import CliRunner

from gb_profile import builders as b
from gb_profile import model as m
from gb_profile.operator import Operator
from gb_profile.products import PRODUCTS, SetpointKind
from gb_profile.settlement import LONDON
from tests.support.server import running_vtn
from vtn.cli import app as vtn_app
from vtn.core.security import Role

OPERATOR = "NGED"


@pytest.fixture(scope="module")
def vtn(tmp_path_factory):  # type: ignore[no-untyped-def]
    with running_vtn(tmp_path_factory.mktemp("gb-e2e")) as server:
        server.secrets = {
            "op": server.provision("op", Role.BL),
            "fsp-1": server.provision("fsp-1", Role.VEN, ven_name="fsp-1"),
            "fsp-2": server.provision("fsp-2", Role.VEN, ven_name="fsp-2"),
            "fsp-cli": server.provision("fsp-cli", Role.VEN, ven_name="fsp-cli"),
        }
        yield server


class VenClient:
    """The FSP side: polls its events and posts acknowledgements, with nothing but httpx2 and builders."""

    def __init__(self, base_url: str, name: str, secret: str) -> None:
        self.name = name
        self.http = httpx2.Client(base_url=base_url, timeout=10.0)
        token = self.http.post("/auth/token", auth=(name, secret), data={"grant_type": "client_credentials"})
        assert token.status_code == 200, token.text
        self.http.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
        created = self.http.post("/vens", json={"venName": name})
        assert created.status_code in (201, 409), created.text
        self.seen: dict[str, int] = {}  # event id -> last acknowledged revision

    def events(self) -> list[dict]:
        items: list[dict] = []
        while True:
            page = self.http.get("/events", params={"skip": len(items), "limit": 50})
            assert page.status_code == 200, page.text
            items.extend(page.json())
            if len(page.json()) < 50:
                return items

    def poll_and_acknowledge(self) -> list[m.DispatchInstruction]:
        """Acknowledge every revision not yet acknowledged; returns the instructions read."""
        read = []
        for event in self.events():
            if b.is_anchor_event(event):
                continue
            ins = b.parse_event(event)
            assert ins.fsp_id == self.name
            if self.seen.get(event["id"]) == ins.revision:
                continue
            ack = b.acknowledge(event, datetime.now(UTC))
            report = b.build_ack_report(ack, event["programID"], event["id"])
            posted = self.http.post("/reports", json=report.dump())
            assert posted.status_code == 201, posted.text
            self.seen[event["id"]] = ins.revision
            read.append(ins)
        return read

    def close(self) -> None:
        self.http.close()


def _instruction(code, ref: str, fsp: str, unit: str, start: datetime, now: datetime) -> m.DispatchInstruction:  # type: ignore[no-untyped-def]
    prod = PRODUCTS[code]
    kind = SetpointKind.DELTA if SetpointKind.DELTA in prod.setpoint_kinds else SetpointKind.ABSOLUTE
    return m.DispatchInstruction(
        operator_id=OPERATOR,
        dispatch_ref=ref,
        revision=1,
        status=m.DispatchStatus.PRE_NOTIFY,
        instruction_time=now,
        fsp_id=fsp,
        dispatch_unit=unit,
        contract_id=f"C-{code.value}",
        service_start=start,
        service_end=start + timedelta(hours=2),
        setpoints=(
            m.Setpoint(start, -200.0, m.ServiceUnits.KW, kind, price=0.3),
            m.Setpoint(start + timedelta(hours=1), -150.0, m.ServiceUnits.KW, kind, price=0.3),
        ),
    )


def test_every_product_dispatch_lifecycle(vtn):  # type: ignore[no-untyped-def]
    now = datetime.now(UTC).replace(microsecond=0)
    start = (now + timedelta(days=15)).replace(minute=0, second=0)
    fsp1 = VenClient(vtn.base_url, "fsp-1", vtn.secrets["fsp-1"])
    fsp2 = VenClient(vtn.base_url, "fsp-2", vtn.secrets["fsp-2"])
    try:
        created: list[str] = []
        with Operator(vtn.base_url, "op", vtn.secrets["op"]) as op:
            for code in PRODUCTS:
                contract = m.Contract(OPERATOR, f"C-{code.value}", "fsp-1", code, dispatch_units=("DU-1",))
                program = op.ensure_program(code, contract)
                assert program["programType"] == f"GB_FLEX:{code.value}"
                assert op.ensure_program(code, contract)["id"] == program["id"]  # found, not duplicated

                ins = _instruction(code, f"D-{code.value}", "fsp-1", "DU-1", start, now)
                event_id = op.issue_dispatch(ins, program["id"])
                other = op.issue_dispatch(_instruction(code, f"D-{code.value}-B", "fsp-2", "DU-2", start, now), program["id"])

                assert fsp1.poll_and_acknowledge() == [ins]  # pre-notify, revision 1
                run = op.revise(event_id, status=m.DispatchStatus.RUN)
                assert [(i.revision, i.status) for i in fsp1.poll_and_acknowledge()] == [(2, m.DispatchStatus.RUN)]
                lower = tuple(m.Setpoint(s.timestamp, -100.0, s.units, s.kind, s.price) for s in run.setpoints)
                revised = op.revise(event_id, setpoints=lower)
                assert fsp1.poll_and_acknowledge() == [revised]
                assert revised.revision == 3 and [s.volume for s in revised.setpoints] == [-100.0, -100.0]
                stopped = op.stop(event_id, at=start + timedelta(minutes=30))
                (read,) = fsp1.poll_and_acknowledge()
                assert read == stopped and read.revision == 4 and read.status == m.DispatchStatus.STOP
                assert read.service_end == start + timedelta(minutes=30) and len(read.setpoints) == 1
                assert fsp1.poll_and_acknowledge() == []  # nothing new

                acks = op.acknowledgements(event_id)
                assert [(a.revision, a.status, a.fsp_id, a.dispatch_ref) for a in acks] == [
                    (1, m.DispatchStatus.PRE_NOTIFY, "fsp-1", f"D-{code.value}"),
                    (2, m.DispatchStatus.RUN, "fsp-1", f"D-{code.value}"),
                    (3, m.DispatchStatus.RUN, "fsp-1", f"D-{code.value}"),
                    (4, m.DispatchStatus.STOP, "fsp-1", f"D-{code.value}"),
                ]
                assert op.acknowledgements(other) == []
                silent = op.silent_vens(program_id=program["id"])
                assert [(s.fsp_id, s.event_id, s.revision, s.acknowledged_revision) for s in silent] == [
                    ("fsp-2", other, 1, None)
                ]
                # a new revision fsp-2 has not read back: still silent, on the latest revision
                assert op.cancel(other).status == m.DispatchStatus.CANCELLED
                assert [(s.revision, s.acknowledged_revision) for s in op.silent_vens([other])] == [(2, None)]
                created += [event_id, other]
            # fsp-2 never acknowledged anything; fsp-1 only ever saw its own dispatches
            silent = [s for s in op.silent_vens() if s.event_id in created]
            assert {s.fsp_id for s in silent} == {"fsp-2"} and len(silent) == len(PRODUCTS)
            assert not any(e["eventName"].endswith("-B") for e in fsp1.events())
    finally:
        fsp1.close()
        fsp2.close()


def test_cli_dispatch_and_status(vtn):  # type: ignore[no-untyped-def]
    """`vtn gb dispatch|revise|stop|cancel|status`: a control room issues, revises and stops, and sees
    the acknowledgements per revision and which VENs are silent."""
    runner = CliRunner()
    local_start = (datetime.now(LONDON) + timedelta(days=15)).replace(hour=17, minute=0, second=0, microsecond=0, tzinfo=None)
    env = {"GB_VTN_URL": vtn.base_url, "GB_CLIENT_ID": "op", "GB_CLIENT_SECRET": vtn.secrets["op"]}
    fsp = VenClient(vtn.base_url, "fsp-cli", vtn.secrets["fsp-cli"])

    def gb(*args: str):  # type: ignore[no-untyped-def]
        result = runner.invoke(vtn_app, ["gb", *args], env=env)
        assert result.exit_code == 0, result.output
        return result.output

    def status_rows(event_id: str) -> tuple[list[list[str]], list[list[str]]]:
        """(acknowledgement rows, silent rows) of `vtn gb status`, split into columns."""
        output = gb("status", event_id)
        acks, _, silent = output.partition("Silent VENs")
        rows = [line.split() for line in acks.splitlines()[1:] if line.strip()]
        return rows, [line.split() for line in silent.splitlines()[1:] if line.startswith("fsp-")]

    try:
        output = gb(
            *"dispatch --product SU --operator NGED --fsp fsp-cli --unit DU-CLI --contract C-CLI --ref D-CLI-1".split(),
            *("--start", local_start.isoformat(), "--end", (local_start + timedelta(hours=1)).isoformat()),
            *("--kw", "-75", "--delta"),
        )
        event_id = output.strip().splitlines()[-1]
        with Operator(vtn.base_url, "op", vtn.secrets["op"]) as op:
            ins = op.instruction(event_id)
        assert ins.service_start == local_start.replace(tzinfo=LONDON).astimezone(UTC)
        assert [(s.volume, s.kind) for s in ins.setpoints] == [(-75.0, SetpointKind.DELTA)]

        # not yet read back: revision 1 has no acknowledgement and the VEN is silent
        acks, silent = status_rows(event_id)
        assert [(r[1], r[2], r[3], r[4:]) for r in acks] == [("NGED:D-CLI-1", "1", "fsp-cli", ["-"])]
        assert [r[:4] for r in silent] == [["fsp-cli", event_id, "NGED:D-CLI-1", "1"]] and silent[0][4] == "-"

        assert [i.revision for i in fsp.poll_and_acknowledge()] == [1]
        acks, silent = status_rows(event_id)
        assert [r[2:6] for r in acks] == [["1", "fsp-cli", "ACCEPTED", "RUN"]] and silent == []
        assert "Silent VENs: none" in gb("status", event_id)

        assert "revision 2  RUN" in gb("revise", event_id, "--kw", "-50")
        gb("stop", event_id, "--at", (local_start + timedelta(minutes=30)).isoformat())
        with Operator(vtn.base_url, "op", vtn.secrets["op"]) as op:
            final = op.instruction(event_id)
        assert (final.revision, final.status, final.setpoints[0].volume) == (3, m.DispatchStatus.STOP, -50.0)
        assert final.service_end == ins.service_start + timedelta(minutes=30)
        # revisions 2 and 3 not read back yet: silent on revision 3, last acknowledged 1
        acks, silent = status_rows(event_id)
        assert [(r[2], r[4]) for r in acks] == [("1", "ACCEPTED"), ("2", "-"), ("3", "-")]
        assert [r[3:] for r in silent] == [["3", "1"]]
        fsp.poll_and_acknowledge()
        acks, silent = status_rows(event_id)
        assert [r[2:6] for r in acks][-1] == ["3", "fsp-cli", "ACCEPTED", "STOP"] and silent == []

        refused = runner.invoke(vtn_app, ["gb", "revise", event_id, "--kw", "-10"], env=env)
        assert refused.exit_code == 1 and "cannot be revised" in refused.output

        # pre-notify, then withdraw before it starts
        output = gb(
            *"dispatch --product SU --operator NGED --fsp fsp-cli --unit DU-CLI --contract C-CLI --ref D-CLI-2".split(),
            *("--start", local_start.isoformat(), "--end", (local_start + timedelta(hours=1)).isoformat()),
            *("--kw", "-75", "--pre-notify"),
        )
        second = output.strip().splitlines()[-1]
        assert "revision 1  PRE_NOTIFY" in output
        assert "revision 2  CANCELLED" in gb("cancel", second)
        fsp.poll_and_acknowledge()
        acks, silent = status_rows(second)
        assert [r[2:6] for r in acks] == [["1", "fsp-cli", "-"], ["2", "fsp-cli", "ACCEPTED", "CANCELLED"]] and silent == []
    finally:
        fsp.close()


def test_cli_status_latest_ack_wins_every_ack_listed_and_misread_flagged(vtn):  # type: ignore[no-untyped-def]
    """`vtn gb status`: REJECTED then ACCEPTED for one revision lists both, the later one counting (the earlier is
    marked superseded, as on the console board); a read-back with another status is shown as not matching."""
    runner = CliRunner()
    env = {"GB_VTN_URL": vtn.base_url, "GB_CLIENT_ID": "op", "GB_CLIENT_SECRET": vtn.secrets["op"]}
    local_start = (datetime.now(LONDON) + timedelta(days=16)).replace(hour=17, minute=0, second=0, microsecond=0, tzinfo=None)
    fsp = VenClient(vtn.base_url, "fsp-cli", vtn.secrets["fsp-cli"])

    def gb(*args: str) -> str:
        result = runner.invoke(vtn_app, ["gb", *args], env=env)
        assert result.exit_code == 0, result.output
        return result.output

    def post_ack(event: dict, **kw) -> None:  # type: ignore[no-untyped-def]
        report = b.build_ack_report(b.acknowledge(event, datetime.now(UTC), **kw), event["programID"], event["id"])
        posted = fsp.http.post("/reports", json=report.dump())
        assert posted.status_code == 201, posted.text

    try:
        output = gb(
            *"dispatch --product SU --operator NGED --fsp fsp-cli --unit DU-CLI --contract C-CLI --ref D-CLI-TWICE".split(),
            *("--start", local_start.isoformat(), "--end", (local_start + timedelta(hours=1)).isoformat()),
            *("--kw", "-75", "--delta"),
        )
        event_id = output.strip().splitlines()[-1]
        event = fsp.http.get(f"/events/{event_id}").json()
        post_ack(event, result=m.AckResult.REJECTED, reason="busy")
        post_ack(event)
        rows = [line.split() for line in gb("status", event_id).partition("Silent VENs")[0].splitlines()[1:] if line.strip()]
        assert [r[2:6] for r in rows] == [["1", "fsp-cli", "REJECTED", "RUN"], ["1", "fsp-cli", "ACCEPTED", "RUN"]]
        assert rows[0][-1] == "(superseded)" and "(superseded)" not in rows[1]

        post_ack(event, status=m.DispatchStatus.STOP)
        text = gb("status", event_id)
        last = [line for line in text.splitlines() if line.startswith(event_id)][-1]
        assert "ACCEPTED STOP" in last and "does not match (issued RUN)" in last
        assert "Silent VENs: none" in text
    finally:
        fsp.close()
