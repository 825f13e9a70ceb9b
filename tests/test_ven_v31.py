"""The reference VEN with `--api-version 3.1.0` against a real VTN's 3.1.0 mount (issue 17): it registers, follows a
dispatch the BL created through the 3.0.1 API (one store), reports, and takes pushed notifications (3.1.0 CRUD
operation names, the callback ownership echo); every request it sends is a 3.1.0 operation with a valid body."""

from __future__ import annotations

import asyncio
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import httpx2
import pytest
from typer.testing import CliRunner

from openadr3.models import Program
from openadr3.schema import component_errors, spec_document
from tests.support.server import VtnProcess, free_port, running_vtn
from tests.support.waiting import wait_until
from tests.test_ven_integration import Recorder, RecordingTransport, dispatch, ven_config
from ven_client import VenAgent, VtnClient, cli, report_resource
from ven_client.config import PushSettings
from vtn.core.security import Role

pytestmark = pytest.mark.slow
V31 = "/openadr3/3.1.0"


def outside_31(requests: list[httpx2.Request]) -> list[str]:
    """Requests that are not a 3.1.0 operation: unknown path or method, undeclared query parameter, invalid body."""
    spec = spec_document("3.1.0")
    problems = []
    for request in requests:
        path = request.url.path.removeprefix(V31)
        if path == "/auth/token":
            continue
        found = None
        for template, item in spec["paths"].items():
            pattern = "^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)) + "$"
            if re.match(pattern, path) and request.method.lower() in item:
                found = item[request.method.lower()]
        if not request.url.path.startswith(V31) or found is None:
            problems.append(f"{request.method} {request.url.path}")
            continue
        declared = {p["name"] for p in found.get("parameters", [])}
        if undeclared := set(request.url.params) - declared:
            problems.append(f"{request.method} {path}: query {sorted(undeclared)}")
        body = found.get("requestBody", {}).get("content", {}).get("application/json")
        if body and (errors := component_errors(body["schema"]["$ref"].rsplit("/", 1)[-1], json.loads(request.content),
                                                "3.1.0")):
            problems.append(f"{request.method} {path}: {errors}")
    return problems


def test_reference_ven_speaks_31(tmp_path: Path) -> None:
    with running_vtn(tmp_path) as vtn:
        bl_secret = vtn.provision("op", Role.BL)
        ven_secret = vtn.provision("ven-a-client", Role.VEN, ven_name="ven-a")
        asyncio.run(scenario(vtn, bl_secret, ven_secret))
        # the CLI switch: `ven run --api-version` takes 3.0.1 or 3.1.0 only
        result = CliRunner().invoke(cli.app, ["run", "--api-version", "3.2.0"])
        assert result.exit_code != 0 and "3.0.1 or 3.1.0" in result.output


async def scenario(vtn: VtnProcess, bl_secret: str, ven_secret: str) -> None:
    async with VtnClient(vtn.base_url, "op", bl_secret, backoff_base=0.1) as bl:  # the BL on 3.0.1
        program = await bl.create_program(Program(programName="NGED-31"))
        assert program.id
        config = ven_config(vtn.url + V31, ven_secret, poll_interval=0.2)
        config.vtn.api_version = "3.1.0"
        wire = RecordingTransport()
        handler = Recorder()
        agent = VenAgent(config, handler, client=VtnClient.from_config(config, transport=wire))
        task = asyncio.create_task(agent.run())
        try:
            await wait_until(lambda: agent.ven is not None and agent.stats.polls > 0, what="registration")
            assert agent.ven is not None and agent.ven.venName == "ven-a" and list(agent.resources) == ["battery-1"]
            start = datetime.now(UTC) + timedelta(seconds=1)
            event = await bl.create_event(dispatch(program.id, "NGED:31", start, [10.0, -20.0]))
            await bl.create_event(dispatch(program.id, "NGED:other", start, [99.0], ven="ven-b"))
            new = await wait_until(lambda: handler.find("new"), what="new event")
            # the VEN sees the 3.1.0 event in its 3.0.1 terms: valuesMap targets
            assert new[0].id == event.id and new[0].targets and new[0].targets[0].type == "VEN_NAME"
            got = await wait_until(lambda: handler.find("interval", lambda i: i[0] == event.id and i[1] == 1), what="2nd")
            assert got[0][2] == {"DISPATCH_SETPOINT": [-20.0]}
            assert all(e.eventName != "NGED:other" for e in handler.find("new"))
            report = await agent.submit_report(event, [report_resource("battery-1", "USAGE", {0: 9.5})])
            assert report.id and report.programID == program.id  # 3.1.0 reports name no program: the event's
            reports = await bl.list_reports(event_id=event.id)
            assert [r.id for r in reports] == [report.id]
            assert agent.client.not_modified > 0 and agent.stats.poll_failures == 0
            assert wire.requests and outside_31(wire.requests) == []
            assert all(urlsplit(str(r.url)).path.startswith(V31) for r in wire.requests)
        finally:
            agent.stop()
            await asyncio.wait_for(task, 15)
            await agent.client.close()

        # push: the 3.1.0 VTN checks the callback (GET ?echo=) before it takes the subscription, then notifies
        # with CRUD operation names, which the VEN reads as 3.0.1 verbs
        config = ven_config(vtn.url + V31, ven_secret, mode="push")
        config.vtn.api_version = "3.1.0"
        config.push = PushSettings(listen_port=free_port(), fallback_poll_interval=60, signatures="off")
        handler = Recorder()
        agent = VenAgent(config, handler)
        task = asyncio.create_task(agent.run())
        try:
            await wait_until(lambda: agent.subscription_ids or task.done(), what="subscription")
            assert not task.done()
            pushed = await bl.create_event(dispatch(program.id, "NGED:31p", datetime.now(UTC), [7.0], duration="PT1M"))
            await wait_until(lambda: handler.find("new", lambda e: e.id == pushed.id), what="pushed new event")
            assert pushed.id
            await bl.update_event(pushed.id, dispatch(program.id, "NGED:31p", datetime.now(UTC), [8.0], duration="PT1M"))
            await wait_until(lambda: handler.find("changed", lambda e: e.id == pushed.id), what="pushed update")
            await bl.delete_event(pushed.id)
            await wait_until(lambda: handler.find("cancelled", lambda e: e.id == pushed.id), what="pushed delete")
            assert agent.receiver.accepted >= 3 and agent.receiver.rejected == 0
        finally:
            agent.stop()
            await asyncio.wait_for(task, 15)
            await agent.client.close()
