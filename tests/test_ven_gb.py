"""The reference VEN's GB profile adapter (ven_client.gb) against a real VTN process: a network operator
(gb_profile.operator) dispatches every catalogued product; the ven_client agent, in pull and in push
mode, turns each revision into a typed instruction for the controller and acknowledges it; the operator
matches acknowledgements to revisions. Also: operator signature verification, declined dispatches,
readings / emergency-stop reports (library and `ven gb` CLI) parsed back on the operator side."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx2
import pytest
from typer.testing import CliRunner

from gb_profile import builders as b
from gb_profile import model as m
from gb_profile.operator import Operator
from gb_profile.products import PRODUCTS, ProductCode, SetpointKind
from gb_profile.readings_csv import to_readings_csv
from gb_profile.signing import KeyRing, generate_key, public_jwk, sign_event, verify_report
from tests.support.server import VtnProcess, free_port, running_vtn
from tests.support.waiting import wait_until
from ven_client import cli
from ven_client.agent import EventHandler, VenAgent
from ven_client.config import GbSettings, OperatorKeyConfig, PushSettings, ResourceConfig, VenConfig, VenSettings, VtnSettings
from ven_client.gb import (
    DispatchRejected,
    GbAdapter,
    GbController,
    GbReporter,
    Reject,
    load_operator_keys,
    load_public_keys,
    load_signing_key,
)
from vtn.core.security import Role

pytestmark = pytest.mark.slow

OPERATOR = "NGED"
VENS = ("fsp-pull", "fsp-push", "fsp-sig")


@pytest.fixture(scope="module")
def vtn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VtnProcess]:
    with running_vtn(tmp_path_factory.mktemp("ven-gb")) as server:
        server.secrets = {"op": server.provision("op", Role.BL)}  # type: ignore[attr-defined]
        for name in VENS:
            server.secrets[name] = server.provision(name, Role.VEN, ven_name=name)  # type: ignore[attr-defined]
        # Create the VTN's webhook signing key now: when the push test's first 17 deliveries race to create it,
        # WebhookSigner.key() (no lock) can make two keys and sign with one the VEN has not fetched yet.
        assert httpx2.get(server.url + "/.well-known/webhook-keys", timeout=10).status_code == 200
        yield server


@pytest.fixture(scope="module")
def programs(vtn: VtnProcess) -> dict[ProductCode, str]:
    """One program per product, and the SU program's anchor event (for readings and emergency stops)."""
    with Operator(vtn.base_url, "op", vtn.secrets["op"]) as op:  # type: ignore[attr-defined]
        found = {}
        for code in PRODUCTS:
            found[code] = op.ensure_program(code, m.Contract(OPERATOR, f"C-{code.value}", "fsp-pull", code))["id"]
        anchor = b.build_anchor_event(found[ProductCode.SU], OPERATOR, datetime.now(UTC) - timedelta(days=1))
        op._request("POST", "/events", json=anchor.dump())
    return found


class Recorder(GbController):
    """Records every call; declines dispatches whose ref ends in -DECLINE, fails on -BOOM."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, m.DispatchInstruction, m.DispatchInstruction | None]] = []
        self.refused: list[tuple[str | None, str]] = []

    async def on_dispatch(self, instruction: m.DispatchInstruction, previous: m.DispatchInstruction | None) -> Any:
        self.calls.append(("dispatch", instruction, previous))
        if instruction.dispatch_ref.endswith("-DECLINE"):
            return Reject("unit on maintenance")
        if instruction.dispatch_ref.endswith("-RAISE"):
            raise DispatchRejected("no headroom")
        if instruction.dispatch_ref.endswith("-BOOM"):
            raise RuntimeError("asset offline")
        return None

    def on_stop(self, instruction: m.DispatchInstruction, previous: m.DispatchInstruction | None) -> None:
        self.calls.append(("stop", instruction, previous))

    def on_refused(self, event: Any, instruction: m.DispatchInstruction | None, reason: str) -> None:
        self.refused.append((event.eventName, reason))

    def by_ref(self, ref: str) -> list[tuple[str, int, m.DispatchStatus, int | None]]:
        return [(kind, ins.revision, ins.status, prev.revision if prev else None)
                for kind, ins, prev in self.calls if ins.dispatch_ref == ref]


def instruction(code: ProductCode, ref: str, fsp: str, start: datetime, now: datetime) -> m.DispatchInstruction:
    kind = SetpointKind.DELTA if SetpointKind.DELTA in PRODUCTS[code].setpoint_kinds else SetpointKind.ABSOLUTE
    return m.DispatchInstruction(
        operator_id=OPERATOR, dispatch_ref=ref, revision=1, status=m.DispatchStatus.PRE_NOTIFY, instruction_time=now,
        fsp_id=fsp, dispatch_unit="DU-1", contract_id=f"C-{code.value}", service_start=start,
        service_end=start + timedelta(hours=2),
        setpoints=(m.Setpoint(start, -200.0, m.ServiceUnits.KW, kind, price=0.3),
                   m.Setpoint(start + timedelta(hours=1), -150.0, m.ServiceUnits.KW, kind, price=0.3)),
    )


def ven_config(vtn: VtnProcess, name: str, mode: str, gb: GbSettings | None = None) -> VenConfig:
    return VenConfig(
        vtn=VtnSettings(url=vtn.base_url, client_id=name, client_secret=vtn.secrets[name]),  # type: ignore[attr-defined]
        ven=VenSettings(name=name, mode=mode, poll_interval=0.2),  # type: ignore[arg-type]
        push=PushSettings(listen_port=free_port(), fallback_poll_interval=30),
        resources=[ResourceConfig(name="DU-1", attributes={"GB_RESOURCE_ROLE": "DISPATCH_UNIT"})],
        gb=gb or GbSettings(fsp_id=name),
    )


async def wait_for(condition: Callable[[], Any], within: float = 20.0, what: str = "condition") -> Any:
    return await wait_until(condition, within, what)


@dataclass
class Running:
    agent: VenAgent
    adapter: GbAdapter
    task: asyncio.Task[None]

    async def stop(self) -> None:
        self.agent.stop()
        await asyncio.wait_for(self.task, 10)
        await self.agent.client.close()


async def start_ven(config: VenConfig, controller: GbController) -> Running:
    adapter = GbAdapter(controller)
    agent = VenAgent(config, adapter)
    agent.client.backoff_base = 0.1
    task = asyncio.create_task(agent.run())
    await wait_for(lambda: agent.stats.polls > 0 or task.done(), what="first poll")
    if config.ven.mode == "push":
        await wait_for(lambda: len(agent.subscription_ids) >= len(PRODUCTS) or task.done(), what="subscriptions")
    if task.done():
        task.result()
    return Running(agent, adapter, task)


def acked(adapter: GbAdapter, refs: dict[str, str], revision: int) -> bool:
    got = {(a.event_name, a.revision) for a in adapter.acknowledgements}
    return all((f"{OPERATOR}:{ref}", revision) in got for ref in refs.values())


# --- every product x pre-notify -> run -> revise -> stop, pull and push --------------------------


@pytest.mark.parametrize("mode", ["pull", "push"])
def test_every_product_lifecycle_through_the_reference_ven(vtn: VtnProcess, programs: dict[ProductCode, str], mode: str) -> None:
    fsp = f"fsp-{mode}"
    op = Operator(vtn.base_url, "op", vtn.secrets["op"])  # type: ignore[attr-defined]
    controller = Recorder()

    async def scenario() -> None:
        ven = await start_ven(ven_config(vtn, fsp, mode), controller)
        try:
            now = datetime.now(UTC).replace(microsecond=0)
            start = (now + timedelta(days=15)).replace(minute=0, second=0)
            sent: dict[ProductCode, list[m.DispatchInstruction]] = {}

            def issue() -> dict[str, str]:
                ids = {}
                for code, program_id in programs.items():
                    ins = instruction(code, f"{mode}-{code.value}", fsp, start, now)
                    ids[op.issue_dispatch(ins, program_id)] = ins.dispatch_ref
                    sent[code] = [ins]
                return ids

            refs = await asyncio.to_thread(issue)
            codes = {event_id: ProductCode(ref.split("-", 1)[1]) for event_id, ref in refs.items()}
            await wait_for(lambda: acked(ven.adapter, refs, 1), what=f"{mode}: acks of revision 1")

            steps: list[Callable[[str, m.DispatchInstruction], m.DispatchInstruction]] = [
                lambda event_id, _: op.revise(event_id, status=m.DispatchStatus.RUN),
                lambda event_id, last: op.revise(event_id, setpoints=tuple(replace(s, volume=-100.0) for s in last.setpoints)),
                lambda event_id, _: op.stop(event_id, at=start + timedelta(minutes=30)),
            ]
            for revision, step in enumerate(steps, start=2):
                def apply(step: Callable[[str, m.DispatchInstruction], m.DispatchInstruction] = step) -> None:
                    for event_id, code in codes.items():
                        sent[code].append(step(event_id, sent[code][-1]))

                await asyncio.to_thread(apply)
                await wait_for(lambda revision=revision: acked(ven.adapter, refs, revision),  # type: ignore[misc]
                               what=f"{mode}: acks of revision {revision}")

            # The controller saw each revision once, typed, with the revision before it.
            for code, revisions in sent.items():
                ref = revisions[0].dispatch_ref
                assert controller.by_ref(ref) == [
                    ("dispatch", 1, m.DispatchStatus.PRE_NOTIFY, None),
                    ("dispatch", 2, m.DispatchStatus.RUN, 1),
                    ("dispatch", 3, m.DispatchStatus.RUN, 2),
                    ("stop", 4, m.DispatchStatus.STOP, 3),
                ], code
                assert [ins for _, ins, _ in controller.calls if ins.dispatch_ref == ref] == revisions
            assert not ven.adapter.errors and not ven.adapter.refusals

            # The operator sees one acknowledgement per revision, matching it, and no silent VEN.
            def check_operator_side() -> None:
                for event_id, code in codes.items():
                    acks = op.acknowledgements(event_id)
                    assert [(a.revision, a.status, a.result, a.fsp_id, a.dispatch_unit) for a in acks] == [
                        (1, m.DispatchStatus.PRE_NOTIFY, m.AckResult.ACCEPTED, fsp, "DU-1"),
                        (2, m.DispatchStatus.RUN, m.AckResult.ACCEPTED, fsp, "DU-1"),
                        (3, m.DispatchStatus.RUN, m.AckResult.ACCEPTED, fsp, "DU-1"),
                        (4, m.DispatchStatus.STOP, m.AckResult.ACCEPTED, fsp, "DU-1"),
                    ], code
                    assert all(a.dispatch_ref == f"{mode}-{code.value}" for a in acks)
                assert op.silent_vens(list(codes)) == []

            await asyncio.to_thread(check_operator_side)
            if mode == "push":
                assert ven.agent.stats.notifications >= 4 * len(PRODUCTS)
        finally:
            await ven.stop()

    try:
        asyncio.run(scenario())
    finally:
        op.close()


# --- signatures, declines, controller failures ---------------------------------------------------


def test_signature_verification_and_rejections(vtn: VtnProcess, programs: dict[ProductCode, str], tmp_path: Path) -> None:
    operator_key, fsp_key = generate_key("nged-dispatch-1"), generate_key("fsp-sig-1")
    (tmp_path / "nged.jwk").write_text(json.dumps({"keys": [public_jwk(operator_key)]}))
    (tmp_path / "fsp.pem").write_bytes(fsp_key.as_pem(private=True))
    assert load_signing_key(tmp_path / "fsp.pem", "fsp-sig-1").kid == "fsp-sig-1"
    assert [k.kid for k in load_public_keys(tmp_path / "nged.jwk")] == ["nged-dispatch-1"]
    settings = GbSettings(fsp_id="fsp-sig", signing_key=tmp_path / "fsp.pem", signing_kid="fsp-sig-1", require_signature=True,
                          operator_keys=[OperatorKeyConfig(operator=OPERATOR, file=tmp_path / "nged.jwk")])
    fsp_ring = KeyRing()
    fsp_ring.add("fsp-sig", public_jwk(fsp_key))
    op = Operator(vtn.base_url, "op", vtn.secrets["op"])  # type: ignore[attr-defined]
    program_id = programs[ProductCode.SU]
    controller = Recorder()

    def post(event: m.DispatchInstruction, sign: bool = True, tamper: bool = False) -> str:
        body = b.build_event(event, program_id)
        if sign:
            body = sign_event(body, operator_key)
        if tamper:  # a setpoint changed after signing (e.g. in transit)
            body.intervals[1].payloads[0].values = [-999.0]
        return str(op._request("POST", "/events", json=body.dump())["id"])

    async def scenario() -> None:
        ven = await start_ven(ven_config(vtn, "fsp-sig", "pull", settings), controller)
        try:
            now = datetime.now(UTC).replace(microsecond=0)
            start = (now + timedelta(days=15)).replace(minute=0, second=0)

            def issue() -> dict[str, str]:
                made = {}
                for ref, sign, tamper in (("SIG-OK", True, False), ("SIG-TAMPERED", True, True), ("SIG-NONE", False, False),
                                          ("SIG-DECLINE", True, False), ("SIG-RAISE", True, False), ("SIG-BOOM", True, False)):
                    made[ref] = post(instruction(ProductCode.SU, ref, "fsp-sig", start, now), sign, tamper)
                return made

            ids = await asyncio.to_thread(issue)
            await wait_for(lambda: len(ven.adapter.acknowledgements) >= len(ids), what="acks of signed dispatches")
            # refused dispatches never reach on_dispatch
            reached = sorted(ins.dispatch_ref for _, ins, _ in controller.calls)
            assert reached == ["SIG-BOOM", "SIG-DECLINE", "SIG-OK", "SIG-RAISE"]
            refused = dict(controller.refused)
            assert "signature refused" in refused[f"{OPERATOR}:SIG-TAMPERED"]
            assert refused[f"{OPERATOR}:SIG-NONE"] == "dispatch is not signed"

            # A STOP revision re-signed by the operator is verified and acknowledged too.
            def stop_signed() -> None:
                current = op.event(ids["SIG-OK"])
                stopped = sign_event(b.stop_event(current, start + timedelta(minutes=30), datetime.now(UTC)), operator_key)
                op._request("PUT", f"/events/{ids['SIG-OK']}", json=stopped.dump())

            await asyncio.to_thread(stop_signed)
            await wait_for(lambda: any(a.revision == 2 for a in ven.adapter.acknowledgements), what="ack of the signed stop")
        finally:
            await ven.stop()

        def check_operator_side() -> None:
            expected = {
                "SIG-OK": [(1, m.AckResult.ACCEPTED, None), (2, m.AckResult.ACCEPTED, None)],
                "SIG-TAMPERED": [(1, m.AckResult.REJECTED, "signature refused")],
                "SIG-NONE": [(1, m.AckResult.REJECTED, "dispatch is not signed")],
                "SIG-DECLINE": [(1, m.AckResult.REJECTED, "unit on maintenance")],
                "SIG-RAISE": [(1, m.AckResult.REJECTED, "no headroom")],
                "SIG-BOOM": [(1, m.AckResult.REJECTED, "controller error: RuntimeError")],
            }
            for ref, wanted in expected.items():
                acks = op.acknowledgements(ids[ref])
                got = [(a.revision, a.result, a.reason) for a in acks]
                assert [(r, res) for r, res, _ in got] == [(r, res) for r, res, _ in wanted], ref
                for (_, _, reason), (_, _, want) in zip(got, wanted, strict=True):
                    assert (reason is None) if want is None else (want in (reason or "")), (ref, reason)
                # every acknowledgement carries the FSP's signature, and it verifies
                for report in op._all("/reports", {"eventID": ids[ref]}):
                    assert verify_report(report, fsp_ring) == "fsp-sig-1"
            assert op.silent_vens([ids["SIG-OK"]]) == []

        await asyncio.to_thread(check_operator_side)

    try:
        asyncio.run(scenario())
    finally:
        op.close()


# --- RUN_NOW, cancel, emergency stop; restart without repeated acknowledgements ------------------


class SetpointRecorder(Recorder):
    def __init__(self) -> None:
        super().__init__()
        self.setpoints: list[tuple[str, float]] = []

    def on_setpoint(self, instruction: m.DispatchInstruction, setpoint: m.Setpoint) -> None:
        self.setpoints.append((instruction.dispatch_ref, setpoint.volume))


def test_run_now_cancel_emergency_stop_and_restart(vtn: VtnProcess, programs: dict[ProductCode, str]) -> None:
    op = Operator(vtn.base_url, "op", vtn.secrets["op"])  # type: ignore[attr-defined]
    program_id = programs[ProductCode.OU_2MIN]

    async def scenario() -> None:
        now = datetime.now(UTC).replace(microsecond=0)
        start = (now + timedelta(days=15)).replace(minute=0, second=0)
        run_now = replace(instruction(ProductCode.OU_2MIN, "X-RUN-NOW", "fsp-push", now, now),
                          status=m.DispatchStatus.RUN_NOW, service_end=now + timedelta(hours=1),
                          setpoints=(m.Setpoint(now, -42.0, m.ServiceUnits.KW, SetpointKind.DELTA),))
        ids = await asyncio.to_thread(lambda: {
            "cancel": op.issue_dispatch(instruction(ProductCode.OU_2MIN, "X-CANCEL", "fsp-push", start, now), program_id),
            "run-now": op.issue_dispatch(run_now, program_id),
        })
        first = SetpointRecorder()
        ven = await start_ven(ven_config(vtn, "fsp-push", "pull"), first)
        try:
            await wait_for(lambda: len(ven.adapter.acknowledgements) == 2, what="acks of revision 1")
            await wait_for(lambda: first.setpoints, what="RUN_NOW setpoint announced at once")
            assert first.setpoints == [("X-RUN-NOW", -42.0)]
        finally:
            await ven.stop()

        # A restarted VEN hands the dispatches to its controller again but does not acknowledge them twice.
        second = SetpointRecorder()
        ven = await start_ven(ven_config(vtn, "fsp-push", "pull"), second)
        try:
            await wait_for(lambda: len(second.calls) == 2, what="dispatches after restart")
            assert {(ins.dispatch_ref, prev) for _, ins, prev in second.calls} == {("X-CANCEL", None), ("X-RUN-NOW", None)}
            await asyncio.to_thread(lambda: (op.cancel(ids["cancel"]),
                                             op.revise(ids["run-now"], status=m.DispatchStatus.EMERGENCY_STOP)))
            await wait_for(lambda: len(ven.adapter.acknowledgements) == 2, what="acks of revision 2")
            assert sorted((kind, ins.dispatch_ref, ins.status, prev.revision if prev else None)
                          for kind, ins, prev in second.calls if kind == "stop") == [
                ("stop", "X-CANCEL", m.DispatchStatus.CANCELLED, 1),
                ("stop", "X-RUN-NOW", m.DispatchStatus.EMERGENCY_STOP, 1),
            ]
        finally:
            await ven.stop()

        def check_operator_side() -> None:
            assert [(a.revision, a.status) for a in op.acknowledgements(ids["cancel"])] == [
                (1, m.DispatchStatus.PRE_NOTIFY), (2, m.DispatchStatus.CANCELLED)]
            assert [(a.revision, a.status) for a in op.acknowledgements(ids["run-now"])] == [
                (1, m.DispatchStatus.RUN_NOW), (2, m.DispatchStatus.EMERGENCY_STOP)]
            assert op.silent_vens(list(ids.values())) == []

        await asyncio.to_thread(check_operator_side)

    try:
        asyncio.run(scenario())
    finally:
        op.close()


class CancelRecorder(EventHandler):
    """A plain (non-GB) handler: records what the agent reports for each event id."""

    def __init__(self) -> None:
        self.new: list[str] = []
        self.changed: list[str] = []
        self.cancelled: list[str] = []

    def on_event(self, event: Any, intervals: Any) -> None:
        self.new.append(event.id)

    def on_event_changed(self, event: Any, previous: Any, intervals: Any) -> None:
        self.changed.append(event.id)

    def on_event_cancelled(self, event: Any) -> None:
        self.cancelled.append(event.id)


def test_cancelled_dispatch_is_a_cancellation_for_the_agent_and_the_cli(
    vtn: VtnProcess, programs: dict[ProductCode, str], tmp_path: Path
) -> None:
    """A CANCELLED revision fires on_event_cancelled (not on_event_changed), the agent stops tracking the event,
    and `ven events` no longer lists it as upcoming (with --all: status cancelled)."""
    op = Operator(vtn.base_url, "op", vtn.secrets["op"])  # type: ignore[attr-defined]
    now = datetime.now(UTC).replace(microsecond=0)
    start = (now + timedelta(days=20)).replace(minute=0, second=0)
    event_id = op.issue_dispatch(instruction(ProductCode.OU_2MIN, "X-CANCELLED", "fsp-sig", start, now),
                                 programs[ProductCode.OU_2MIN])
    recorder = CancelRecorder()

    async def scenario() -> None:
        agent = VenAgent(ven_config(vtn, "fsp-sig", "pull"), recorder)
        agent.client.backoff_base = 0.1
        task = asyncio.create_task(agent.run())
        try:
            await wait_for(lambda: event_id in recorder.new or task.done(), what="the dispatch")
            await asyncio.to_thread(op.cancel, event_id)
            await wait_for(lambda: event_id in recorder.cancelled or event_id in recorder.changed or task.done(),
                           what="the cancellation")
            assert (recorder.cancelled, recorder.changed) == ([event_id], [])
            assert event_id not in agent.events
        finally:
            agent.stop()
            await asyncio.wait_for(task, 10)
            await agent.client.close()

    try:
        asyncio.run(scenario())
    finally:
        op.close()
    (tmp_path / "ven.secret").write_text(vtn.secrets["fsp-sig"])  # type: ignore[attr-defined]
    config = tmp_path / "ven.toml"
    config.write_text(f'[vtn]\nurl = "{vtn.base_url}"\nclient_id = "fsp-sig"\nclient_secret_file = "ven.secret"\n'
                      '[ven]\nname = "fsp-sig"\n')
    runner = CliRunner()
    listed = runner.invoke(cli.app, ["events", "--config", str(config), "--json"])
    assert listed.exit_code == 0, listed.output
    assert event_id not in {e["id"] for e in json.loads(listed.output)}
    everything = runner.invoke(cli.app, ["events", "--config", str(config), "--json", "--all"])
    assert {e["id"]: e["status"] for e in json.loads(everything.output)}[event_id] == "cancelled"


# --- readings and emergency stop: library and CLI ------------------------------------------------


def test_readings_and_emergency_stop_round_trip(vtn: VtnProcess, programs: dict[ProductCode, str], tmp_path: Path) -> None:
    start = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(hours=2)
    half_hour = start.replace(minute=0)
    per_minute = tuple(m.MeterReading("MU-1", start + timedelta(minutes=i), m.ReadingKind.POWER_KW, 10.0 - i) for i in range(5))
    half_hourly = tuple(m.MeterReading(u, half_hour + timedelta(minutes=30 * i), m.ReadingKind.ENERGY_KWH, -2.5 * (i + 1))
                        for u in ("MU-1", "MU-2") for i in range(2))
    csv_file = tmp_path / "readings.csv"
    csv_file.write_text(to_readings_csv(list(half_hourly), {"MU-1": "Z1", "MU-2": "Z1"}))
    key = generate_key("fsp-pull-1")
    (tmp_path / "fsp.jwk").write_text(json.dumps(key.as_dict(private=True)))
    settings = GbSettings(fsp_id="fsp-pull", operator_id=OPERATOR, signing_key=tmp_path / "fsp.jwk")
    ring = KeyRing()
    ring.add("fsp-pull", public_jwk(key))

    async def library() -> tuple[str, str, str]:
        config = ven_config(vtn, "fsp-pull", "pull", settings)
        config.resources += [ResourceConfig(name=meter) for meter in ("MU-1", "MU-2")]  # readings name own meters (GB-R-012)
        from ven_client.client import VtnClient

        async with VtnClient.from_config(config) as client:
            await VenAgent(config, client=client).register()  # as `ven register` does: the VTN scopes reports by ven
            reporter = GbReporter(client, settings)
            kw = await reporter.send_readings(per_minute)
            kwh = await reporter.send_readings_csv(csv_file)
            stop = await reporter.send_emergency_stop(["DU-1"], "battery fire alarm")
            beat = await reporter.send_heartbeat([("DU-1", "IDLE_OPTED_OUT")])
            again = await reporter.send_heartbeat()
            assert beat.eventID == kw.eventID and again.id == beat.id  # one heartbeat report, updated
            assert b.parse_heartbeat_report(again).operating_states == ()
            return str(kw.id), str(kwh.id), str(stop.id)

    kw_id, kwh_id, stop_id = asyncio.run(library())
    with Operator(vtn.base_url, "op", vtn.secrets["op"]) as op:  # type: ignore[attr-defined]
        kw_report, kwh_report = op._request("GET", f"/reports/{kw_id}"), op._request("GET", f"/reports/{kwh_id}")
        assert kw_report["eventID"] == kwh_report["eventID"]
        assert op.event(kw_report["eventID"])["eventName"] == f"{OPERATOR}:GB_ANCHOR"
        parsed = b.parse_readings_report(kw_report)
        assert (parsed.fsp_id, parsed.operator_id, parsed.readings) == ("fsp-pull", OPERATOR, per_minute)
        assert parsed_sorted(b.parse_readings_report(kwh_report).readings) == parsed_sorted(half_hourly)
        stop = b.parse_emergency_stop_report(op._request("GET", f"/reports/{stop_id}"))
        assert (stop.fsp_id, stop.dispatch_units, stop.reason) == ("fsp-pull", ("DU-1",), "battery fire alarm")
        for report_id in (kw_id, kwh_id, stop_id):
            assert verify_report(op._request("GET", f"/reports/{report_id}"), ring) == "fsp-pull-1"

        # the same through `ven gb ...`
        (tmp_path / "ven.secret").write_text(vtn.secrets["fsp-pull"])  # type: ignore[attr-defined]
        config = tmp_path / "ven.toml"
        config.write_text(f'[vtn]\nurl = "{vtn.base_url}"\nclient_id = "fsp-pull"\nclient_secret_file = "ven.secret"\n'
                          '[ven]\nname = "fsp-pull"\n[gb]\noperator_id = "NGED"\nsigning_key = "fsp.jwk"\n')
        runner = CliRunner()
        result = runner.invoke(cli.app, ["gb", "readings", "--config", str(config), "--csv", str(csv_file)])
        assert result.exit_code == 0, result.output
        assert "4 ENERGY_KWH readings, 2 meterable unit(s)" in result.output
        report_id = result.output.split()[1]
        assert b.parse_readings_report(op._request("GET", f"/reports/{report_id}")).readings == parsed_sorted(half_hourly)
        # a large file goes in chunks, one report each (here 3 + 1 readings)
        result = runner.invoke(cli.app, ["gb", "readings", "--config", str(config), "--csv", str(csv_file),
                                         "--chunk-size", "3"])
        assert result.exit_code == 0, result.output
        assert "3/4 readings sent" in result.output and "4/4 readings sent" in result.output
        assert "4 ENERGY_KWH readings, 2 meterable unit(s), in 2 report(s)" in result.output

        dispatch_id = op.issue_dispatch(instruction(ProductCode.SU, "CLI-ESTOP", "fsp-pull",
                                                    (datetime.now(UTC) + timedelta(days=15)).replace(minute=0, second=0),
                                                    datetime.now(UTC).replace(microsecond=0)), programs[ProductCode.SU])
        result = runner.invoke(cli.app, ["gb", "emergency-stop", "--config", str(config), "--unit", "DU-1",
                                         "--reason", "site evacuation", "--event", dispatch_id])
        assert result.exit_code == 0, result.output
        reports = [r for r in op._all("/reports", {"eventID": dispatch_id}) if r["reportName"] == m.R_EMERGENCY_STOP]
        assert [b.parse_emergency_stop_report(r).reason for r in reports] == ["site evacuation"]

        # a malformed file is refused whole, with every problem and its line: nothing partial reaches the VTN
        stored = len(op._all("/reports"))
        bad = tmp_path / "bad.csv"
        bad.write_text("Timestamp,Zone,Meterable Unit ID,Power (kW)\n2025-01-01T00:01:00Z,Z1,MU-1,1.5\n"
                       "2025-01-01T00:02:00Z,Z1,MU-1,abc\n2025-01-01T00:03:00Z,Z1,MU-1,2\n2025-01-01T00:03:30Z,Z1,MU-1,2\n")
        result = runner.invoke(cli.app, ["gb", "readings", "--config", str(config), "--csv", str(bad)])
        assert result.exit_code == 2 and "line 3" in result.output and "line 5" in result.output
        assert len(op._all("/reports")) == stored

        result = runner.invoke(cli.app, ["gb", "keygen", "--kid", "k-1", "--out", str(tmp_path / "new.jwk")])
        assert result.exit_code == 0 and json.loads(result.output)["kid"] == "k-1"
        assert load_signing_key(tmp_path / "new.jwk").kid == "k-1"


def parsed_sorted(readings: tuple[m.MeterReading, ...]) -> tuple[m.MeterReading, ...]:
    return tuple(sorted(readings, key=lambda r: (r.meterable_unit, r.start)))


# --- configuration and CLI wiring (no VTN) -------------------------------------------------------


def test_gb_config_and_handler_wiring(tmp_path: Path) -> None:
    from examples.gb_controller import BatteryController
    from ven_client.agent import LoggingHandler
    from ven_client.config import ConfigError, load_config

    (tmp_path / "keys").mkdir()
    key = generate_key("nged-1")
    (tmp_path / "keys" / "nged.pem").write_bytes(key.as_pem(private=False))
    path = tmp_path / "ven.toml"
    path.write_text('[vtn]\nclient_id = "FSP-ACME"\nclient_secret = "s"\n[gb]\nsigning_key = "keys/fsp.jwk"\n'
                    'require_signature = true\n[[gb.operator_keys]]\noperator = "NGED"\nfile = "keys/nged.pem"\nkid = "nged-1"\n')
    config = load_config(path, environ={"VEN_GB_OPERATOR_ID": "UKPN"})
    assert config.gb is not None
    assert (config.gb.fsp_id, config.gb.operator_id, config.gb.require_signature) == ("FSP-ACME", "UKPN", True)
    assert config.gb.signing_key == tmp_path / "keys" / "fsp.jwk" and config.gb.operator_keys[0].file.is_absolute()
    ring = load_operator_keys(config.gb.operator_keys)
    assert ring.lookup("nged-1", "NGED").as_dict() == public_jwk(key)
    with pytest.raises(ValueError, match="require_signature"):
        VenConfig.model_validate({"gb": {"require_signature": True}})
    assert load_config(None, environ={}).gb is None  # no [gb]: plain VEN

    # `ven run`: a GbController is wrapped; with [gb] any handler is, and keeps non-GB events
    assert isinstance(cli.gb_handler(BatteryController(), config), GbAdapter)
    wrapped = cli.gb_handler(LoggingHandler(), config)
    assert isinstance(wrapped, GbAdapter) and wrapped.fallback is None
    plain = load_config(None, environ={})
    assert isinstance(cli.gb_handler(LoggingHandler(), plain), LoggingHandler)
    # a bad key file stops the VEN at start-up
    with pytest.raises(ConfigError, match=r"fsp\.jwk"):
        VenAgent(config, GbAdapter(BatteryController()))
