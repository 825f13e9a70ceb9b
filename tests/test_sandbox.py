"""Sandbox to live (docs/conformance.md): a sandbox VEN client sees sandbox programs only; test dispatches are marked,
never on the operator's board and never actuated by the reference VEN; a sign-off (the VEN conformance report,
approved by an operator) takes the client live, a rejected one keeps it in the sandbox. API and console, SQLite
and PostgreSQL."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select
from starlette.testclient import TestClient
from typer.testing import CliRunner

from conformance.core import Config, Outcome, Result, Run
from conformance.report import to_json
from conformance.ven_suite import VEN_CHECKS
from gb_profile import builders as b
from gb_profile import model as m
from gb_profile.products import ProductCode, product
from tests.conftest import Caller, Clients, vtn_test_settings
from tests.test_console_auth import add_user, csrf_of
from tests.test_console_fsp import MPAN_A, dispatch, register_fsp, signin
from vtn.audit.models import AuditRow
from vtn.auth.models import ClientRow
from vtn.console.fsp import build_test_instruction
from vtn.core.settings import Settings

SANDBOX = "NGED-OU_2MIN-SANDBOX"


@pytest.fixture
def settings(database_url: str) -> Settings:
    return vtn_test_settings(database_url, console_enabled=True, console_signin_rate_limit=1000,
                             console_sandbox_program=SANDBOX, console_require_mfa=False)


def ven_report(ven_name: str, failed: str | None = None, only: int | None = None) -> str:
    """A report exactly as `oadr-conformance ven --json` writes it (optionally one check failed, or a subset run)."""
    checks = list(VEN_CHECKS.values())[:only]
    results = [Result(c, Outcome.FAIL if c.id == failed else Outcome.PASS) for c in checks]
    config = Config(vtn_url="http://127.0.0.1:9", bl_client=("", ""), ven_client=("x", "y"), ven_name=ven_name, profile="gb")
    now = datetime.now(UTC)
    return to_json(Run(config, results, now, now, [], "ven-pull", suite="VEN", subject=f"VEN {ven_name!r} (pull mode)"))


@pytest.fixture
def world(http: TestClient, clients: Clients, bl: Caller) -> dict[str, Any]:
    """A production and a sandbox program, a dispatch on each to fsp-s, its live and its sandbox client."""
    production = bl.post("/programs", json=b.build_program(ProductCode.SU, operator_id="NGED").dump()).json()
    sandbox = bl.post("/programs", json=b.build_program(ProductCode.OU_2MIN, operator_id="NGED", suffix="SANDBOX").dump())
    assert sandbox.status_code == 201 and sandbox.json()["programName"] == SANDBOX, sandbox.text
    fsp = register_fsp(bl, clients, "fsp-s", "DU-S", "MU-S", MPAN_A)
    live_event = dispatch(bl, production["id"], fsp, "D-LIVE-1")
    ins = build_test_instruction(product(ProductCode.OU_2MIN), "NGED", "fsp-s", "DU-S", datetime.now(UTC).replace(microsecond=0))
    test_event = bl.post("/events", json=b.build_event(ins, sandbox.json()["id"]).dump())
    assert test_event.status_code == 201, test_event.text
    staged = clients.ven("fsp-s", client_id="fsp-s-sandbox", stage="sandbox")
    return {"production": production, "sandbox": sandbox.json(), "fsp": fsp, "staged": staged,
            "live_event": live_event, "test_event": test_event.json(), "test_name": ins.event_name}


def names(caller: Caller, path: str, key: str) -> set[str]:
    response = caller.get(path)
    assert response.status_code == 200, response.text
    return {item[key] for item in response.json()}


def test_sandbox_client_sees_only_sandbox_programs_and_test_dispatches_are_marked(
        world: dict[str, Any], bl: Caller) -> None:
    staged, live = world["staged"], world["fsp"].token
    production, test_event, live_event = world["production"], world["test_event"], world["live_event"]
    assert names(staged, "/programs", "programName") == {SANDBOX}
    assert names(staged, "/events", "id") == {test_event["id"]}
    assert staged.get(f"/programs/{production['id']}").status_code == 404
    assert staged.get(f"/events/{live_event['id']}").status_code == 404
    # a live client sees production and the sandbox (console test dispatches still reach live VENs)
    assert names(live, "/programs", "programName") == {SANDBOX, production["programName"]}
    assert names(live, "/events", "id") == {test_event["id"], live_event["id"]}
    # the sandbox client acknowledges its test dispatch, and cannot report on a production one
    ack = b.build_ack_report(b.acknowledge(test_event, datetime.now(UTC)), test_event["programID"], test_event["id"])
    assert staged.post("/reports", json=ack.dump()).status_code == 201
    ack = b.build_ack_report(b.acknowledge(live_event, datetime.now(UTC)), live_event["programID"], live_event["id"])
    refused = staged.post("/reports", json=ack.dump())
    assert refused.status_code == 409 and "does not refer to an existing event" in refused.text  # as if missing

    # marking: a dispatch on a sandbox program is a test (contract SANDBOX), and only there
    wrong = dict(live_event, programID=world["sandbox"]["id"], eventName="NGED:D-LIVE-2")
    for key in ("id", "createdDateTime", "modificationDateTime", "objectType"):
        wrong.pop(key, None)
    refused = bl.post("/events", json=wrong)
    assert refused.status_code == 400 and "VTN-SBX-001" in refused.text, refused.text
    ins = replace(b.parse_event(live_event), dispatch_ref="D-LIVE-3", contract_id=m.SANDBOX_CONTRACT)
    refused = bl.post("/events", json=b.build_event(ins, production["id"]).dump())
    assert refused.status_code == 400 and "VTN-SBX-001" in refused.text, refused.text
    # a program cannot move between production and sandbox (its events' visibility hangs on it)
    renamed = dict(production, programName="NGED-SU-SANDBOX")
    for key in ("id", "createdDateTime", "modificationDateTime", "objectType"):
        renamed.pop(key, None)
    assert bl.put(f"/programs/{production['id']}", json=renamed).status_code == 409


def test_operator_board_never_shows_test_dispatches(http: TestClient, world: dict[str, Any]) -> None:
    add_user(http, "olive", "operator")
    signin(http, "olive")
    page = http.get("/console/operator/board")
    assert page.status_code == 200
    assert "NGED:D-LIVE-1" in page.text and world["test_name"] not in page.text
    fragment = http.get("/console/operator/board/fragment")
    assert "NGED:D-LIVE-1" in fragment.text and world["test_name"] not in fragment.text


def upload(http: TestClient, client_id: str, report: str) -> Any:
    return http.post("/console/fsp/signoff", data={"csrf_token": csrf_of(http), "client_id": client_id},
                     files={"report": ("report.json", report.encode(), "application/json")}, follow_redirects=False)


def audit_actions(http: TestClient) -> list[str]:
    db = http.app.state.db  # type: ignore[attr-defined]

    async def read() -> list[str]:
        async with db.session(write=False) as session:
            return [r.action for r in (await session.exec(select(AuditRow).order_by(AuditRow.id))).all()]

    assert http.portal is not None
    return http.portal.call(read)


def test_signoff_rejected_keeps_sandbox_approved_goes_live(http: TestClient, world: dict[str, Any]) -> None:
    staged, production = world["staged"], world["production"]
    add_user(http, "fiona", "fsp", ["fsp-s"])
    add_user(http, "olive", "operator")
    signin(http, "fiona")
    page = http.get("/console/fsp/signoff")
    assert page.status_code == 200 and 'data-testid="stage-fsp-s-sandbox">sandbox' in page.text
    # the VTN checks the report: a VEN-suite report of this client's VEN, complete, nothing failed
    for bad, why in ((ven_report("fsp-s", failed="V005"), "V005"), (ven_report("fsp-other"), "fsp-other"),
                     (ven_report("fsp-s", only=3), "whole VEN suite"), ("{not json", "not JSON"),
                     ('{"suite": "oadr-conformance", "side": "VTN"}', "not a VEN conformance report")):
        refused = upload(http, "fsp-s-sandbox", bad)
        assert refused.status_code == 400 and why in refused.text, (why, refused.text)
    assert upload(http, world["fsp"].token.client_id, ven_report("fsp-s")).status_code == 409  # already live
    assert upload(http, "nobody", ven_report("fsp-s")).status_code == 404
    assert upload(http, "fsp-s-sandbox", ven_report("fsp-s")).status_code == 303
    assert upload(http, "fsp-s-sandbox", ven_report("fsp-s")).status_code == 409  # one pending at a time

    http.cookies.clear()
    signin(http, "olive")
    pending = http.get("/console/operator/signoffs")
    assert pending.status_code == 200 and "fsp-s-sandbox" in pending.text and 'data-testid="approve-1"' in pending.text
    token = csrf_of(http)
    assert http.post("/console/operator/signoffs/1/reject", data={"csrf_token": token}).status_code == 400  # a reason
    rejected = http.post("/console/operator/signoffs/1/reject", data={"csrf_token": token, "reason": "V011 skipped"},
                         follow_redirects=False)
    assert rejected.status_code == 303
    assert http.post("/console/operator/signoffs/1/approve", data={"csrf_token": token}).status_code == 409  # decided
    assert names(staged, "/programs", "programName") == {SANDBOX}  # still in the sandbox

    http.cookies.clear()
    signin(http, "fiona")
    assert "V011 skipped" in http.get("/console/fsp/signoff").text
    assert upload(http, "fsp-s-sandbox", ven_report("fsp-s")).status_code == 303
    http.cookies.clear()
    signin(http, "olive")
    approved = http.post("/console/operator/signoffs/2/approve", data={"csrf_token": csrf_of(http)}, follow_redirects=False)
    assert approved.status_code == 303
    assert "No sign-off is waiting" in http.get("/console/operator/signoffs").text
    # live from its next request, with the same token
    assert names(staged, "/programs", "programName") == {SANDBOX, production["programName"]}
    actions = audit_actions(http)
    assert [a for a in actions if a.startswith(("signoff.", "client.promote"))] == [
        "signoff.submit", "signoff.reject", "signoff.submit", "signoff.approve", "client.promote"]


def test_cli_add_sandbox_and_promote(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from vtn.cli import app
    from vtn.core.commands import run_in_session
    from vtn.core.settings import get_settings
    from vtn.signoff import service

    monkeypatch.setenv("VTN_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}")
    get_settings.cache_clear()
    runner = CliRunner()
    try:
        added = runner.invoke(app, ["clients", "add", "fsp-1", "--role", "VEN", "--ven-name", "fsp-1", "--stage", "sandbox"])
        assert added.exit_code == 0 and "stage: sandbox" in added.output, added.output
        assert "fsp-1\tVEN\t-\tfsp-1\tenabled\tsandbox\t" in runner.invoke(app, ["clients", "list"]).output
        actor = service.audit.Actor("console:fiona", "VEN")
        for report in (ven_report("fsp-1"), ven_report("fsp-1")):
            row = run_in_session(lambda s, r=report: service.submit(s, actor, "fsp-1", service.parse_report(r)))
            if row.id == 1:
                run_in_session(lambda s: service.decide(s, service.audit.Actor("cli:x", "cli"), 1, False, "no"))
        assert runner.invoke(app, ["clients", "promote", "fsp-1", "--signoff", "1"]).exit_code == 1  # rejected
        assert "sandbox" in runner.invoke(app, ["clients", "list"]).output
        missing = runner.invoke(app, ["clients", "promote", "fsp-1", "--signoff", "9"])
        assert missing.exit_code == 1 and "not found" in missing.output
        promoted = runner.invoke(app, ["clients", "promote", "fsp-1", "--signoff", "2"])
        assert promoted.exit_code == 0 and "is live" in promoted.output, promoted.output
        assert "fsp-1\tVEN\t-\tfsp-1\tenabled\tlive\t" in runner.invoke(app, ["clients", "list"]).output
    finally:
        get_settings.cache_clear()


class _Reporter:
    """Stands in for the VTN: records acknowledgements."""

    def __init__(self) -> None:
        self.acks: list[tuple[str, m.AckResult]] = []

    async def acknowledge(self, event: Any, *, result: m.AckResult = m.AckResult.ACCEPTED, reason: str | None = None,
                          received_time: Any = None) -> m.Acknowledgement:
        self.acks.append((event.id, result))
        return b.acknowledge(event, datetime.now(UTC), result=result, reason=reason)

    async def acknowledged_revisions(self, event_id: str) -> set[int]:
        return set()


def test_reference_ven_acknowledges_test_dispatches_and_never_actuates_them() -> None:
    import asyncio

    from ven_client.config import GbSettings
    from ven_client.gb import GbAdapter, GbController

    class Recorder(GbController):
        def __init__(self) -> None:
            self.calls: list[str] = []

        def on_dispatch(self, instruction: m.DispatchInstruction, previous: Any) -> None:
            self.calls.append(instruction.dispatch_ref)

        def on_stop(self, instruction: m.DispatchInstruction, previous: Any) -> None:
            self.calls.append(instruction.dispatch_ref)

    controller, reporter = Recorder(), _Reporter()
    adapter = GbAdapter(controller, GbSettings(fsp_id="fsp-s"))
    adapter._reporter = reporter  # type: ignore[assignment]
    now = datetime.now(UTC).replace(microsecond=0)
    test_ins = build_test_instruction(product(ProductCode.OU_2MIN), "NGED", "fsp-s", "DU-S", now)
    real_ins = replace(test_ins, dispatch_ref="D-REAL-1", contract_id="C-1")
    test_event = b.build_event(test_ins, "p-1").model_copy(update={"id": "e-test"})
    real_event = b.build_event(real_ins, "p-1").model_copy(update={"id": "e-real"})

    async def run() -> None:
        for event in (test_event, real_event):
            await adapter.on_event(event, [])

    asyncio.run(run())
    assert controller.calls == ["D-REAL-1"]  # the test dispatch never reached the controller
    assert reporter.acks == [("e-test", m.AckResult.ACCEPTED), ("e-real", m.AckResult.ACCEPTED)]
    assert [i.dispatch_ref for i in adapter.tests] == [test_ins.dispatch_ref]
    assert adapter.instruction("e-test") is None and adapter.instruction("e-real") is not None


def test_fsp_console_shows_what_its_sandbox_token_sees(http: TestClient, world: dict[str, Any]) -> None:
    add_user(http, "fiona", "fsp", ["fsp-s"])
    signin(http, "fiona")
    events = http.get("/console/fsp/events").text
    assert "NGED:D-LIVE-1" in events and world["test_name"] in events  # a live client among the VEN's: live
    db = http.app.state.db  # type: ignore[attr-defined]

    async def sandbox_only() -> None:
        async with db.session() as session:
            client = await session.get(ClientRow, world["fsp"].token.client_id)
            client.stage = "sandbox"
            session.add(client)

    assert http.portal is not None
    http.portal.call(sandbox_only)
    events = http.get("/console/fsp/events").text
    assert "NGED:D-LIVE-1" not in events and world["test_name"] in events
    assert http.get(f"/console/fsp/events/{world['live_event']['id']}").status_code == 404


def test_migration_marks_existing_sandbox_programs_and_their_events(tmp_path: Path) -> None:
    import sqlalchemy as sa
    from alembic import command

    from vtn.core.migrate import alembic_config, upgrade

    path = tmp_path / "old.db"
    upgrade(f"sqlite+aiosqlite:///{path}", "0013")
    engine = sa.create_engine(f"sqlite:///{path}")
    now = "2026-01-01 00:00:00.000000"
    with engine.begin() as db:
        for pid, name in (("p1", SANDBOX), ("p2", "NGED-SU"), ("p3", "NGED-SU-SANDBOXED_X")):
            db.execute(sa.text("INSERT INTO program (id, created_at, modified_at, document, targeted, operator, program_name)"
                               " VALUES (:id, :t, :t, '{}', 0, '', :n)"), {"id": pid, "t": now, "n": name})
            db.execute(sa.text("INSERT INTO event (id, created_at, modified_at, document, targeted, operator, program_id)"
                               " VALUES (:id, :t, :t, '{}', 0, '', :p)"), {"id": "e" + pid, "t": now, "p": pid})
        db.execute(sa.text("INSERT INTO auth_client (client_id, role, scopes, operator, enabled, created_at)"
                           " VALUES ('old', 'VEN', 'read_all', '', 1, :t)"), {"t": now})
    upgrade(f"sqlite+aiosqlite:///{path}")
    with engine.begin() as db:
        assert dict(db.execute(sa.text("SELECT id, sandbox FROM program")).all()) == {"p1": 1, "p2": 0, "p3": 1}
        assert dict(db.execute(sa.text("SELECT id, sandbox FROM event")).all()) == {"ep1": 1, "ep2": 0, "ep3": 1}
        assert db.execute(sa.text("SELECT stage FROM auth_client")).scalar_one() == "live"  # nothing breaks
    command.downgrade(alembic_config(f"sqlite+aiosqlite:///{path}"), "0013")  # with the rows in place
    with engine.begin() as db:
        assert db.execute(sa.text("SELECT count(*) FROM event")).scalar_one() == 3
    engine.dispose()


def test_a_sandbox_clients_subscription_is_told_only_what_its_token_may_read(
        world: dict[str, Any], bl: Caller, clients: Clients) -> None:
    """Notifications follow the subscriber's stage: PROGRAM CREATE matches subscriptions of every program, so a
    sandbox client subscribed on the sandbox program must not learn of a new production program."""
    from vtn.notifications.models import OutboxRow

    staged = world["staged"]
    entry = {"objects": ["PROGRAM", "EVENT"], "operations": ["POST", "PUT"], "callbackUrl": "http://127.0.0.1:9/s"}
    subscribed = staged.post("/subscriptions", json={"clientName": "fsp-s", "programID": world["sandbox"]["id"],
                                                     "objectOperations": [entry]})
    assert subscribed.status_code == 201, subscribed.text
    created = bl.post("/programs", json=b.build_program(ProductCode.SU, operator_id="NGED", suffix="NEW").dump())
    assert created.status_code == 201, created.text
    sandbox_event = bl.put(f"/programs/{world['sandbox']['id']}", json={
        k: v for k, v in world["sandbox"].items() if k not in ("id", "createdDateTime", "modificationDateTime", "objectType")})
    assert sandbox_event.status_code == 200, sandbox_event.text

    async def bodies() -> list[str]:
        async with clients.app.state.db.session(write=False) as session:
            rows = await session.exec(select(OutboxRow.body).where(OutboxRow.subscription_id == subscribed.json()["id"]))
            return list(rows.all())

    sent = clients.http.portal.call(bodies)
    assert any(world["sandbox"]["id"] in body for body in sent)  # the sandbox program's update: told
    assert not any(created.json()["id"] in body for body in sent)  # the new production program: never
