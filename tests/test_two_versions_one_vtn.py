"""Issue 17's "done when": one VTN, one GB dispatch, a VEN on OpenADR 3.0.1 told by webhook and a VEN on 3.1.0
told by MQTT, both acknowledging, the operator reading both acknowledgements.

A GB dispatch names one FSP (its privacy rule), so the dispatch reaches the two API versions the way an operator
moving its FSPs meets them: FSP A on 3.0.1 (push: webhooks) and FSP B on 3.1.0 (MQTT) each get the same instruction
in the same program, issued together; then FSP A moves its VEN to 3.1.0 and MQTT, and the next revision of the very
same dispatch reaches it there and is acknowledged on 3.1.0, beside the revision it acknowledged on 3.0.1.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gb_profile import model as m
from gb_profile.operator import Operator
from gb_profile.products import ProductCode, SetpointKind
from tests.support.gb_ven import GbVen, running_gb_ven
from tests.support.mqtt import broker_url, require_broker, unique_prefix
from tests.support.server import running_vtn
from vtn.core.security import Role

pytestmark = pytest.mark.slow

OPERATOR = "NGED"
PRODUCT = ProductCode.OU_2MIN


def instruction(fsp: str, ref: str, start: datetime, now: datetime) -> m.DispatchInstruction:
    return m.DispatchInstruction(
        operator_id=OPERATOR, dispatch_ref=ref, revision=1, status=m.DispatchStatus.PRE_NOTIFY, instruction_time=now,
        fsp_id=fsp, dispatch_unit="DU-1", contract_id=f"C-{PRODUCT.value}", service_start=start,
        service_end=start + timedelta(hours=1),
        setpoints=(m.Setpoint(start, -120.0, m.ServiceUnits.KW, SetpointKind.DELTA, price=0.3),),
    )


def acked_revisions(ven: GbVen, ref: str) -> list[int]:
    return sorted(a.revision for a in list(ven.adapter.acknowledgements) if a.event_name and ref in a.event_name)


def test_a_301_webhook_ven_and_a_310_mqtt_ven_acknowledge_the_same_dispatch(tmp_path: Path) -> None:
    require_broker()
    env = {"VTN_MQTT_URL": broker_url(), "VTN_MQTT_TOPIC_PREFIX": unique_prefix(), "VTN_DELIVERY_POLL_SECONDS": "0.2"}
    with running_vtn(tmp_path, env=env) as vtn:
        v31 = {"url": vtn.url + "/openadr3/3.1.0", "api_version": "3.1.0"}
        op_secret = vtn.provision("op", Role.BL)
        secrets = {name: vtn.provision(name, Role.VEN, ven_name=name) for name in ("fsp-a", "fsp-b")}
        with Operator(vtn.base_url, "op", op_secret) as op:
            program_id = op.ensure_program(PRODUCT, m.Contract(OPERATOR, f"C-{PRODUCT.value}", "fsp-a", PRODUCT))["id"]
            now = datetime.now(UTC).replace(microsecond=0)
            start = (now + timedelta(days=3)).replace(minute=0, second=0)
            # slow fallback polls: within the test only a webhook or an MQTT message can bring the dispatch
            with running_gb_ven(vtn, "fsp-a", secrets["fsp-a"], mode="push", poll_interval=600) as ven_a, \
                    running_gb_ven(vtn, "fsp-b", secrets["fsp-b"], mode="mqtt", poll_interval=600,
                                   vtn_options=v31) as ven_b:
                assert ven_a.agent.client.api_version == "3.0.1" and ven_b.agent.client.api_version == "3.1.0"
                ven_b.wait_for(lambda: ven_b.agent.mqtt_connected.is_set(), what="fsp-b on the broker")
                ids = {fsp: op.issue_dispatch(instruction(fsp, f"SAME-{fsp}", start, now), program_id)
                       for fsp in ("fsp-a", "fsp-b")}
                ven_a.wait_for(lambda: acked_revisions(ven_a, "SAME-fsp-a") == [1], what="fsp-a's ack on 3.0.1")
                ven_b.wait_for(lambda: acked_revisions(ven_b, "SAME-fsp-b") == [1], what="fsp-b's ack on 3.1.0")
                assert ven_a.agent.stats.notifications >= 1 and ven_b.agent.stats.notifications >= 1
                first_a, first_b = ven_a.controller.dispatched[0], ven_b.controller.dispatched[0]
                # the same instruction through either API version
                assert replace(first_a, fsp_id="x", dispatch_ref="x") == replace(first_b, fsp_id="x", dispatch_ref="x")

            # FSP A moves its VEN to 3.1.0 and MQTT; revision 2 of the same dispatch reaches it there
            with running_gb_ven(vtn, "fsp-a", secrets["fsp-a"], mode="mqtt", poll_interval=600,
                                vtn_options=v31) as ven_a31:
                ven_a31.wait_for(lambda: ven_a31.agent.mqtt_connected.is_set(), what="fsp-a on the broker")
                polls = ven_a31.agent.stats.polls
                op.cancel(ids["fsp-a"])
                ven_a31.wait_for(lambda: 2 in acked_revisions(ven_a31, "SAME-fsp-a"), what="fsp-a's ack on 3.1.0")
                assert ven_a31.agent.stats.notifications >= 1
                assert ven_a31.agent.stats.polls == polls  # it came by MQTT, not by a poll

            # the operator reads every acknowledgement, whichever version the VEN spoke
            assert [(a.revision, a.status) for a in op.acknowledgements(ids["fsp-a"])] == [
                (1, m.DispatchStatus.PRE_NOTIFY), (2, m.DispatchStatus.CANCELLED)]
            assert [(a.revision, a.status) for a in op.acknowledgements(ids["fsp-b"])] == [
                (1, m.DispatchStatus.PRE_NOTIFY)]
