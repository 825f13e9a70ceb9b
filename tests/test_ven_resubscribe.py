"""A push VEN that crashes and restarts (real `vtn serve`, the reference VEN's real webhook receiver on loopback).

The first run leaves its subscription behind (no clean shutdown); the operator STOPs the dispatch while the VEN is
down. The restarted VEN updates that subscription with its new callback URL and bearer token (deleting any other
stale one), pulls once, and so: the STOP reaches its controller, the queued STOP notification is delivered with the
new token (no 401), nothing is dead-lettered, and the console does not call the VEN "comms loss".
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx2
import pytest

from gb_profile import model as m
from gb_profile.operator import Operator
from gb_profile.products import ProductCode, SetpointKind
from tests.support.browser import PASSWORD, add_console_user
from tests.support.gb_ven import RecordingController, running_gb_ven
from tests.support.server import VtnProcess, free_port, running_vtn
from vtn.core.security import Role

pytestmark = pytest.mark.slow
FSP = "fsp-1"


def run_instruction(ref: str, start: datetime, now: datetime) -> m.DispatchInstruction:
    return m.DispatchInstruction(
        operator_id="NGED", dispatch_ref=ref, revision=1, status=m.DispatchStatus.RUN, instruction_time=now,
        fsp_id=FSP, dispatch_unit="DU-1", contract_id="C-1", service_start=start, service_end=start + timedelta(hours=1),
        setpoints=(m.Setpoint(start, -100.0, m.ServiceUnits.KW, SetpointKind.DELTA),),
    )


def console_vens_row(vtn: VtnProcess, name: str) -> str:
    """The operator console's VENs table row of `name` (signed in over HTTP, as a browser would)."""
    with httpx2.Client(base_url=vtn.url, follow_redirects=True, timeout=10) as http:
        form = http.get("/console/signin").text
        token = re.search(r'name="csrf_token" value="([^"]+)"', form)
        assert token
        signed = http.post("/console/signin", data={"username": "olive", "password": PASSWORD, "csrf_token": token.group(1),
                                                    "next": "/"})
        assert signed.status_code == 200, signed.text[-500:]
        page = http.get("/console/operator/vens/fragment").text
    row = re.search(rf"<tr[^>]*>\s*<td data-label=\"VEN\"><strong>{name}</strong>.*?</tr>", page, re.S)
    assert row, page
    return row.group(0)


def wait(condition: Any, within: float = 20.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if result := condition():
            return result
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.parametrize("same_url", [True, False], ids=["same-url", "new-url"])
def test_restarted_push_ven_replaces_its_subscription_and_gets_the_stop(tmp_path, same_url: bool) -> None:  # type: ignore[no-untyped-def]
    # A failed attempt is retried after ~30 s: within this test only the re-addressing at the VEN's PUT delivers it.
    env = {"VTN_DELIVERY_RETRY_BASE_SECONDS": "30", "VTN_DELIVERY_RETRY_MAX_SECONDS": "60", "VTN_COMMS_LOSS_SECONDS": "120",
           "VTN_CONSOLE_REQUIRE_MFA": "false"}  # a password-only operator reads the VENs page
    with running_vtn(tmp_path, env=env) as vtn:
        add_console_user(vtn.env, "olive", "operator")
        op_secret = vtn.provision("op", Role.BL)
        secret = vtn.provision(FSP, Role.VEN, ven_name=FSP)
        assert httpx2.get(vtn.url + "/.well-known/webhook-keys").status_code == 200
        op = Operator(vtn.base_url, "op", op_secret)
        program_id = op.ensure_program(ProductCode.OU_2MIN, m.Contract("NGED", "C-1", FSP, ProductCode.OU_2MIN))["id"]
        now = datetime.now(UTC).replace(microsecond=0)
        port = free_port()

        # 1. The first run subscribes, acknowledges a RUN, then dies without unsubscribing.
        with running_gb_ven(vtn, FSP, secret, mode="push", listen_port=port) as first:
            first.wait_for(lambda: first.agent.subscription_ids, what="first subscription")
            event_id = op.issue_dispatch(run_instruction("R-1", now + timedelta(minutes=5), now), program_id)
            first.wait_for(lambda: first.acknowledged("NGED:R-1", 1), what="ack of revision 1")
            assert first.agent.receiver.accepted >= 1
            old_token = first.agent.bearer_token
            [old_id] = first.agent.subscription_ids.values()

            async def crash() -> None:  # a crash: the subscription stays on the VTN
                return None

            first.agent.unsubscribe_all = crash  # type: ignore[method-assign]
        def own_subscriptions() -> list[dict[str, Any]]:
            """The FSP's subscriptions as its own client sees them: only it is shown the bearer tokens."""
            with httpx2.Client() as http:
                token = http.post(vtn.base_url + "/auth/token", auth=(FSP, secret),
                                  data={"grant_type": "client_credentials"}).json()["access_token"]
                return http.get(vtn.base_url + "/subscriptions", params={"clientName": FSP},
                                headers={"Authorization": f"Bearer {token}"}).json()

        [left] = own_subscriptions()
        assert left["id"] == old_id and left["objectOperations"][0]["bearerToken"] == old_token
        assert "bearerToken" not in op._all("/subscriptions", {"clientName": FSP})[0]["objectOperations"][0]
        if not same_url:  # an even older run left another one behind
            stale = {**left, "objectOperations": [{**left["objectOperations"][0],
                                                   "callbackUrl": f"http://127.0.0.1:{free_port()}/older"}]}
            stale.pop("id")
            with httpx2.Client() as http:
                token = http.post(vtn.base_url + "/auth/token", auth=(FSP, secret),
                                  data={"grant_type": "client_credentials"}).json()["access_token"]
                assert http.post(vtn.base_url + "/subscriptions", json=stale,
                                 headers={"Authorization": f"Bearer {token}"}).status_code == 201

        # 2. While it is down the operator stops the dispatch; the webhook fails (connection refused) and waits.
        op.stop(event_id)

        def failed() -> list[dict[str, Any]]:
            found = op._request("GET", "/admin/deliveries", params={"status": "failing"})
            return found if len(found) == (1 if same_url else 2) else []

        failing = wait(failed, what="failed attempts")
        assert old_id in {f["subscriptionID"] for f in failing}

        # 3. The restart: a new receiver (same or new port), a new token.
        controller = RecordingController()
        with running_gb_ven(vtn, FSP, secret, mode="push", controller=controller,
                            listen_port=port if same_url else None) as second:
            second.wait_for(lambda: controller.stopped, what="the STOP at the restarted VEN's controller")
            [stopped] = controller.stopped
            assert (stopped.dispatch_ref, stopped.revision, stopped.status) == ("R-1", 2, m.DispatchStatus.STOP)
            second.wait_for(lambda: second.acknowledged("NGED:R-1", 2), what="ack of the STOP")
            second.wait_for(lambda: second.agent.subscription_ids, what="the restarted VEN's subscription")

            [current] = own_subscriptions()  # the stale ones are gone
            [entry] = current["objectOperations"]
            assert entry["bearerToken"] == second.agent.bearer_token != old_token
            assert entry["callbackUrl"] == second.agent.config.push.effective_callback_url
            assert (current["id"] == old_id) is True  # updated in place (PUT), not a new one beside it

            # The queued STOP went to the new receiver with the new token: no 401, nothing dead or failing.
            second.wait_for(lambda: op._request("GET", "/admin/deliveries") == [], what="the outbox to drain")
            assert second.agent.receiver.rejected == 0 and second.agent.receiver.accepted >= 1
            assert op._request("GET", "/admin/deliveries", params={"status": "dead"}) == []

            # Later dispatches arrive by webhook.
            notified = second.agent.stats.notifications
            op.issue_dispatch(run_instruction("R-2", now + timedelta(minutes=6), datetime.now(UTC).replace(microsecond=0)),
                              program_id)
            second.wait_for(lambda: [i for i in controller.dispatched if i.dispatch_ref == "R-2"], what="R-2 by webhook")
            assert second.agent.stats.notifications > notified and second.agent.receiver.rejected == 0

            row = console_vens_row(vtn, FSP)
            assert "comms-loss" not in row and "comms loss" not in row and 'badge ok">OK' in row, row
        op.close()
