"""The reference VEN in mode `mqtt` against a real VTN process and the real Mosquitto: it finds the broker and its
topics through the 3.1.0 /notifiers endpoints and acts on dispatches within moments, not at its fallback poll."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest

from openadr3.models import Program
from tests.support.mqtt import broker_url, require_broker, unique_prefix
from tests.support.server import running_vtn
from tests.support.waiting import wait_until
from tests.test_ven_integration import Recorder, dispatch, ven_config
from ven_client import VenAgent, VtnClient
from ven_client.config import MqttSettings
from vtn.core.security import Role

pytestmark = pytest.mark.slow


def test_mqtt_mode_against_a_real_vtn_and_broker(tmp_path: Path) -> None:
    require_broker()
    env = {"VTN_MQTT_URL": broker_url(), "VTN_MQTT_TOPIC_PREFIX": unique_prefix(), "VTN_DELIVERY_POLL_SECONDS": "0.5"}
    with running_vtn(tmp_path, env=env) as vtn:
        bl_secret = vtn.provision("op", Role.BL)
        ven_secret = vtn.provision("ven-a-client", Role.VEN, ven_name="ven-a")
        asyncio.run(mqtt_scenario(vtn.base_url, bl_secret, ven_secret))


async def mqtt_scenario(base_url: str, bl_secret: str, ven_secret: str) -> None:
    async with VtnClient(base_url, "op", bl_secret, backoff_base=0.1) as bl:
        program = await bl.create_program(Program(programName="UKPN-SAOU"))
        assert program.id
        config = ven_config(base_url, ven_secret, mode="mqtt")
        config.mqtt = MqttSettings(fallback_poll_interval=600)  # only MQTT can deliver within the test
        handler = Recorder()
        agent = VenAgent(config, handler)
        task = asyncio.create_task(agent.run())
        try:
            await wait_until(lambda: agent.mqtt_connected.is_set() or task.done(), what="mqtt subscribed")
            assert not task.done()
            # the start-up poll, then the one every (re)connection asks for (what was published before it)
            await wait_until(lambda: agent.stats.polls >= 2, what="poll after subscribing")
            polls = agent.stats.polls
            other = await bl.create_event(dispatch(program.id, "UKPN:0", datetime.now(UTC), [1.0], ven="ven-b"))
            event = await bl.create_event(dispatch(program.id, "UKPN:1", datetime.now(UTC), [7.0], duration="PT1M"))
            assert event.id and other.id
            await wait_until(lambda: handler.find("new", lambda e: e.id == event.id), what="event by MQTT")
            await bl.update_event(event.id, dispatch(program.id, "UKPN:1", datetime.now(UTC), [8.0], duration="PT1M"))
            await wait_until(lambda: handler.find("changed", lambda e: e.id == event.id), what="update by MQTT")
            await bl.delete_event(event.id)
            await wait_until(lambda: handler.find("cancelled", lambda e: e.id == event.id), what="delete by MQTT")
            assert agent.stats.polls == polls  # none of it came by polling
            assert agent.stats.notifications == 3  # ven-b's event never reached ven-a's topics
            assert not handler.find("new", lambda e: e.id == other.id)
        finally:
            agent.stop()
            await asyncio.wait_for(task, 10)
            await agent.client.close()
