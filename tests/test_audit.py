"""The audit log: one line per audited action with the right actor and outcome, written in the action's own
transaction (none for a rolled-back action), append-only in the database, readable by BL clients, the
`vtn audit` command and operator accounts only."""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from starlette.testclient import TestClient
from typer.testing import CliRunner

from gb_profile import builders as b
from gb_profile import model as m
from gb_profile.examples import SERVICE_START, example_instruction, example_program
from openadr3.models import Event
from tests.support.append_only import refusals
from tests.test_console_auth import PASSWORD, add_user, signin
from vtn.audit.models import AuditRow
from vtn.audit.service import AuditFilter, list_entries
from vtn.core.pagination import Page
from vtn.core.security import Principal, Role, Scope
from vtn.core.settings import Settings, get_settings


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(database_url=database_url, delivery_enabled=False, console_enabled=True, console_require_mfa=False,
                    console_signin_rate_limit=1000, callback_allow_http=True, callback_allowed_networks=["127.0.0.0/8"])


def lines(http: TestClient, **where: Any) -> list[AuditRow]:
    db = http.app.state.db  # type: ignore[attr-defined]

    async def read() -> list[AuditRow]:
        async with db.session(write=False) as session:
            return await list_entries(session, AuditFilter(**where), Page(0, 1000))

    assert http.portal is not None
    return http.portal.call(read)


@pytest.fixture
def audit_log() -> Iterator[list[logging.LogRecord]]:
    """What the `vtn.audit` logger emits."""
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    logger = logging.getLogger("vtn.audit")
    logger.addHandler(handler)
    yield records
    logger.removeHandler(handler)


def gb_dispatch(program_id: str, ref: str) -> Event:
    return b.build_event(dataclasses.replace(example_instruction(), dispatch_ref=ref), program_id)


def gb_event(program_id: str, ref: str) -> dict[str, Any]:
    return gb_dispatch(program_id, ref).dump() | {"id": None}


# --------------------------------------------------------------------------------------------- API actions


def test_gb_dispatch_revise_stop_cancel_and_emergency_stop_each_write_one_line(http, bl, audit_log) -> None:  # type: ignore[no-untyped-def]
    program_id = bl.post("/programs", json=example_program().dump()).json()["id"]
    first = bl.post("/events", json=gb_event(program_id, "D-1"))
    assert first.status_code == 201, first.text
    event_id = first.json()["id"]
    before = SERVICE_START - timedelta(days=1)
    revised = bl.put(f"/events/{event_id}", json=b.revise_event(first.json(), before, status=m.DispatchStatus.RUN).dump())
    assert revised.status_code == 200, revised.text
    stopped = bl.put(f"/events/{event_id}", json=b.stop_event(revised.json(), SERVICE_START, SERVICE_START).dump())
    assert stopped.status_code == 200, stopped.text
    second = bl.post("/events", json=gb_event(program_id, "D-2")).json()
    assert bl.put(f"/events/{second['id']}", json=b.cancel_event(second, before).dump()).status_code == 200
    third = bl.post("/events", json=gb_event(program_id, "D-3")).json()
    estop = b.revise_event(third, before, status=m.DispatchStatus.EMERGENCY_STOP).dump()
    assert bl.put(f"/events/{third['id']}", json=estop).status_code == 200
    assert bl.delete(f"/events/{third['id']}").status_code == 409  # a dispatch is never deleted (VTN-GB-001): no line

    got = [(r.action, r.object_id, r.actor, r.actor_role, r.outcome) for r in lines(http, actor=bl.client_id)]
    assert got == [
        ("program.create", program_id, bl.client_id, "BL", "success"),
        ("gb.dispatch", event_id, bl.client_id, "BL", "success"),
        ("gb.revise", event_id, bl.client_id, "BL", "success"),
        ("gb.stop", event_id, bl.client_id, "BL", "success"),
        ("gb.dispatch", second["id"], bl.client_id, "BL", "success"),
        ("gb.cancel", second["id"], bl.client_id, "BL", "success"),
        ("gb.dispatch", third["id"], bl.client_id, "BL", "success"),
        ("gb.emergency_stop", third["id"], bl.client_id, "BL", "success"),
    ]
    stop_line = lines(http, action="gb.stop")[0]
    assert stop_line.detail == {"programID": program_id, "eventName": "NGED:D-1", "gb": {
        "dispatchRef": "D-1", "revision": 3, "status": "STOP", "fsp": "FSP-ACME", "unit": "DU-7"}}
    # each line also went to the vtn.audit logger, after its commit, with the whole entry
    logged = [r.audit for r in audit_log if r.audit["actor"] == bl.client_id]  # type: ignore[attr-defined]
    assert [e["action"] for e in logged] == [a for a, *_ in got]
    assert logged[3]["detail"]["gb"]["status"] == "STOP" and logged[3]["at"].endswith("Z")


def test_plain_events_programs_and_subscriptions_by_bl_and_ven(http, bl, clients) -> None:  # type: ignore[no-untyped-def]
    program = bl.post("/programs", json={"programName": "plain"}).json()
    event = bl.post("/events", json={"programID": program["id"], "intervals": []}).json()
    assert bl.put(f"/events/{event['id']}", json={**event, "eventName": "renamed"}).status_code == 200
    assert bl.delete(f"/events/{event['id']}").status_code == 200
    ven = clients.ven("ven-1")
    assert ven.post("/vens", json={"venName": "ven-1"}).status_code == 201
    body = {"clientName": "ven-1", "programID": program["id"],
            "objectOperations": [{"objects": ["EVENT"], "operations": ["CREATE"], "callbackUrl": "http://127.0.0.1:9/cb"}]}
    sub = ven.post("/subscriptions", json=body).json()
    assert ven.put(f"/subscriptions/{sub['id']}", json=body).status_code == 200
    assert ven.delete(f"/subscriptions/{sub['id']}").status_code == 200
    assert bl.delete(f"/programs/{program['id']}").status_code == 200

    assert [(r.action, r.object_id) for r in lines(http, actor=bl.client_id)] == [
        ("program.create", program["id"]), ("event.create", event["id"]), ("event.update", event["id"]),
        ("event.delete", event["id"]), ("program.delete", program["id"])]
    assert [(r.action, r.actor_role, r.detail["callbackUrls"]) for r in lines(http, actor=ven.client_id)] == [
        ("subscription.create", "VEN", ["http://127.0.0.1:9/cb"]), ("subscription.update", "VEN", ["http://127.0.0.1:9/cb"]),
        ("subscription.delete", "VEN", ["http://127.0.0.1:9/cb"])]


def test_a_refused_or_rolled_back_action_leaves_no_line(http, bl, audit_log) -> None:  # type: ignore[no-untyped-def]
    from vtn.audit.service import Actor, record
    from vtn.auth.privacy import Viewer
    from vtn.events import service as events

    program_id = bl.post("/programs", json=example_program().dump()).json()["id"]
    count = len(lines(http))
    assert bl.post("/events", json={**gb_event(program_id, "D-1"), "targets": []}).status_code == 400  # profile refuses
    assert bl.put("/events/nope", json=gb_event(program_id, "D-1")).status_code == 404
    assert len(lines(http)) == count

    # the action and its line were both written, then the transaction rolled back: neither stays, nothing is logged
    db = http.app.state.db
    viewer = Viewer(Principal("bl-x", Role.BL, frozenset(s.value for s in Scope)))

    async def create_then_fail() -> None:
        async with db.session() as session:
            await events.create_event(session, viewer, gb_dispatch(program_id, "D-9"))
            await record(session, Actor("bl-x", "BL"), "extra", "event", "x")
            assert len(session.sync_session.info["vtn_audit_pending"]) == 2
            raise RuntimeError("after the audit line")

    logged = len(audit_log)
    with pytest.raises(RuntimeError):
        http.portal.call(create_then_fail)
    assert len(lines(http)) == count and not lines(http, actor="bl-x")
    assert bl.get("/events").json() == []
    assert len(audit_log) == logged


def test_console_operator_dispatch_and_stop_are_recorded_as_the_account(http, bl) -> None:  # type: ignore[no-untyped-def]
    from tests.test_console_auth import csrf_of

    program_id = bl.post("/programs", json=example_program().dump()).json()["id"]
    ins = example_instruction()
    shift = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1) - ins.service_start  # open: an e-stop covers it
    upcoming = dataclasses.replace(
        ins, dispatch_ref="D-1", instruction_time=ins.instruction_time + shift, service_start=ins.service_start + shift,
        service_end=ins.service_end + shift,
        setpoints=tuple(dataclasses.replace(s, timestamp=s.timestamp + shift) for s in ins.setpoints))
    event_id = bl.post("/events", json=b.build_event(upcoming, program_id).dump() | {"id": None}).json()["id"]
    add_user(http, "olive", "operator")
    assert signin(http, "olive").status_code == 303
    response = http.post("/console/operator/stop", data={"event_id": event_id, "confirm": "yes", "csrf_token": csrf_of(http)},
                         follow_redirects=False)
    assert response.status_code == 303, response.text
    (stop,) = lines(http, action="gb.emergency_stop")  # the console stop is an emergency stop (GB-E-019)
    assert (stop.actor, stop.actor_role, stop.object_id) == ("console:olive", "BL", event_id)


# --------------------------------------------------------------------------------------------- console sign-in


def test_console_signin_success_failure_and_refusal(http) -> None:  # type: ignore[no-untyped-def]
    add_user(http, "olive", "operator")
    add_user(http, "dora", "operator")
    assert signin(http, "olive").status_code == 303
    http.cookies.clear()
    assert signin(http, "olive", "wrong password!").status_code == 401
    assert signin(http, "nobody\x07<b>", PASSWORD).status_code == 401
    http.portal.call(_disable, http, "dora")
    assert signin(http, "dora").status_code == 401

    got = [(r.actor, r.actor_role, r.object_id, r.outcome, (r.detail or {}).get("reason"))
           for r in lines(http, action="console.signin")]
    assert got == [
        ("console:olive", "operator", "olive", "success", None),
        ("console:olive", "anonymous", "olive", "failure", "wrong-password"),
        ("console:nobody?<b>", "anonymous", "nobody?<b>", "failure", "unknown"),
        ("console:dora", "anonymous", "dora", "refused", "disabled"),
    ]
    assert all(r.detail and r.detail["address"] for r in lines(http, action="console.signin"))


async def _disable(http: TestClient, username: str) -> None:
    from vtn.console import service

    async with http.app.state.db.session() as session:  # type: ignore[attr-defined]
        await service.set_disabled(session, username, True)


def test_a_signin_that_raises_still_leaves_its_failure_line(http, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from vtn.console import service

    add_user(http, "olive", "operator")

    async def broken(*_args: Any, **_kw: Any) -> None:
        raise RuntimeError("session store down")

    monkeypatch.setattr(service, "create_session", broken)
    assert signin(http, "olive").status_code == 500
    (line,) = lines(http, action="console.signin")
    assert (line.outcome, line.detail["reason"]) == ("failure", "error: RuntimeError")


# --------------------------------------------------------------------------------------------- append-only


def test_update_delete_and_truncate_of_audit_log_are_refused(http, bl, database_url) -> None:  # type: ignore[no-untyped-def]
    bl.post("/programs", json={"programName": "p"})
    before = [(r.id, r.actor, r.action) for r in lines(http)]
    assert before
    statements = ["UPDATE audit_log SET actor = 'someone-else'", "DELETE FROM audit_log",
                  "DELETE FROM audit_log WHERE id = (SELECT min(id) FROM audit_log)"]
    for answer in refusals(http, "audit_log", statements, database_url.startswith("postgresql")):
        assert "audit_log is append-only" in answer, answer
    assert [(r.id, r.actor, r.action) for r in lines(http)] == before
    # and the service has nothing but record: no way to change a line
    from vtn.audit import service

    assert not [name for name in vars(service) if name.startswith(("update", "delete", "remove", "purge"))]


# --------------------------------------------------------------------------------------------- reading


def test_admin_endpoint_filters_pages_and_is_bl_only(http, bl, clients) -> None:  # type: ignore[no-untyped-def]
    other = clients.bl()
    first = bl.post("/programs", json={"programName": "p1"}).json()
    bl.post("/programs", json={"programName": "p2"})
    other.post("/programs", json={"programName": "p3"})

    def get(**params: Any) -> Any:
        response = bl.get("/admin/audit", params=params)
        assert response.status_code == 200, response.text
        return response.json()

    mine = get(actor=bl.client_id)
    assert [i["detail"]["programName"] for i in mine] == ["p1", "p2"]
    assert set(mine[0]) == {"id", "at", "actor", "actorRole", "action", "objectType", "objectID", "outcome", "detail",
                         "operator"}
    assert [i["objectID"] for i in get(objectID=first["id"])] == [first["id"]]
    assert {i["action"] for i in get(action="client.*")} == {"client.add"}
    assert len(get(action="program.create")) == 3
    assert len(get(action="program.*", skip=1, limit=1)) == 1 and get(action="program.*", skip=1, limit=1)[0]["detail"][
        "programName"] == "p2"
    assert get(since=(datetime.now(UTC) + timedelta(hours=1)).isoformat()) == []
    assert len(get(since="2000-01-01T00:00:00+01:00")) == len(get())
    assert get(actor="nobody") == [] and get(limit=0) == []
    for bad in ({"since": "2026-01-01T00:00:00"}, {"since": "yesterday"}, {"limit": 51}, {"skip": -1},
                {"since": "9999-12-31T23:59:59-23:00"}, {"actor": "x" * 201}):
        response = bl.get("/admin/audit", params=bad)
        assert response.status_code == 400, (bad, response.status_code)
        assert response.headers["content-type"].startswith("application/problem+json")
    assert clients.ven("ven-1").get("/admin/audit").status_code == 403
    assert http.get("/openadr3/3.0.1/admin/audit").status_code == 401
    operation = http.get("/openadr3/3.0.1/openapi.json").json()["paths"]["/admin/audit"]["get"]
    assert operation["operationId"] == "listAuditLog" and {"since", "actor", "action", "objectID", "skip", "limit"} <= {
        p["name"] for p in operation["parameters"]}


def test_console_audit_page_for_operators_only(http, bl) -> None:  # type: ignore[no-untyped-def]
    bl.post("/programs", json={"programName": "seen-<script>"})
    add_user(http, "olive", "operator")
    add_user(http, "fiona", "fsp", ["fsp-1"])
    assert signin(http, "fiona").status_code == 303
    refused = http.get("/console/operator/audit")
    assert refused.status_code == 403 and "operator accounts" in refused.text
    http.cookies.clear()
    assert signin(http, "olive").status_code == 303
    page = http.get("/console/operator/audit")
    assert page.status_code == 200 and 'data-testid="audit"' in page.text
    assert "program.create" in page.text and "console.signin" in page.text and "user.add" in page.text
    assert "seen-&lt;script&gt;" in page.text.replace("&#34;", '"') and "seen-<script>" not in page.text
    assert "GMT" in page.text or "BST" in page.text  # London time
    assert 'href="/console/operator/audit"' in page.text  # in the navigation
    filtered = http.get("/console/operator/audit", params={"action": "console.*"})
    assert "console.signin" in filtered.text and "program.create" not in filtered.text
    assert "No audit lines match" in http.get("/console/operator/audit", params={"since": "2100-01-01T00:00"}).text
    assert http.get("/console/operator/audit", params={"since": "not a time"}).status_code == 400


def test_console_audit_page_pages_with_older_link(http) -> None:  # type: ignore[no-untyped-def]
    from vtn.audit.service import Actor, record

    async def many() -> None:
        async with http.app.state.db.session() as session:
            for i in range(60):
                await record(session, Actor("bulk", "cli"), "bulk.test", "thing", f"t-{i}")

    http.portal.call(many)
    add_user(http, "olive", "operator")
    assert signin(http, "olive").status_code == 303
    page = http.get("/console/operator/audit", params={"actor": "bulk"})
    assert page.text.count("bulk.test") == 50 and "t-59" in page.text and "t-9<" not in page.text
    older = page.text.split('href="/console/operator/audit?')[1].split('"')[0].replace("&amp;", "&")
    rest = http.get("/console/operator/audit?" + older)
    assert rest.text.count("bulk.test") == 10 and "t-0<" in rest.text


def test_cli_actions_and_vtn_audit_list(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from vtn.audit.service import Actor
    from vtn.cli import app

    monkeypatch.setenv("VTN_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}")
    get_settings.cache_clear()
    runner = CliRunner()
    me = Actor.local().id
    try:
        for args in (["clients", "add", "op-1", "--role", "BL"], ["clients", "disable", "op-1"], ["clients", "enable", "op-1"],
                     ["clients", "rotate-secret", "op-1"], ["keys", "rotate"]):
            assert runner.invoke(app, args).exit_code == 0, args
        assert runner.invoke(app, ["users", "add", "olive", "--role", "operator", "--password-stdin"],
                             input=PASSWORD + "\n").exit_code == 0
        assert runner.invoke(app, ["users", "disable", "olive"]).exit_code == 0
        assert runner.invoke(app, ["users", "add", "bad", "--role", "fsp", "--password-stdin"], input=PASSWORD).exit_code == 1

        done = runner.invoke(app, ["audit", "list", "--json"])
        assert done.exit_code == 0, done.output
        items = [json.loads(line) for line in done.stdout.splitlines()]
        assert [(i["action"], i["objectID"], i["actor"], i["actorRole"]) for i in items] == [
            ("client.add", "op-1", me, "cli"), ("client.disable", "op-1", me, "cli"), ("client.enable", "op-1", me, "cli"),
            ("client.rotate_secret", "op-1", me, "cli"), ("signing_key.rotate", items[4]["objectID"], me, "cli"),
            ("user.add", "olive", me, "cli"), ("user.disable", "olive", me, "cli")]  # the refused add left no line
        assert items[3]["detail"] is None and items[0]["detail"]["secret"] is True  # never the secret itself

        table = runner.invoke(app, ["audit", "list", "--action", "client.*", "--object", "op-1"]).stdout.splitlines()
        assert [row.split("\t")[4] for row in table] == ["client.add", "client.disable", "client.enable", "client.rotate_secret"]
        assert all(row.split("\t")[1].endswith(("GMT", "BST")) for row in table)  # London time
        assert len(runner.invoke(app, ["audit", "list", "--limit", "2"]).stdout.splitlines()) == 2
        assert runner.invoke(app, ["audit", "list", "--actor", "cli:*", "--action", "user.add"]).stdout.count("user.add") == 1
        future = (datetime.now(UTC) + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
        empty = runner.invoke(app, ["audit", "list", "--since", future])
        assert empty.exit_code == 0 and "no audit lines match" in empty.output
        assert runner.invoke(app, ["audit", "list", "--since", "2020-01-01T00:00"]).stdout.count("\n") == 7
        assert runner.invoke(app, ["audit", "list", "--since", "tuesday"]).exit_code == 2
        assert runner.invoke(app, ["audit", "list", "--since", "2026-03-29T01:30"]).exit_code == 2  # skipped by the clock
    finally:
        get_settings.cache_clear()
