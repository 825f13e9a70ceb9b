"""MQTT notifications for the reference VEN (mode `mqtt`, OpenADR 3.1.0 notifier binding).

1. `GET {3.1.0 base}/notifiers` names the broker (`MQTT.URIS`) and how to log in (`authentication`);
2. `GET /notifiers/mqtt/topics/vens/{venID}/programs` and `.../events` name this ven's topics (their `ALL`
   wildcards): the VTN publishes there exactly what this ven may read;
3. connect, subscribe at QoS 1, and hand every message to the agent like a webhook notification.

The agent keeps its slow fallback poll (`[mqtt] fallback_poll_interval`), which also catches anything published
while the connection was down; after every (re)connection it polls once at once.
"""

from __future__ import annotations

import asyncio
import json
import logging
import ssl
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import aiomqtt

from openadr3.convert import V310
from openadr3.models import Notification
from openadr3.wire import Adapter, adapter

if TYPE_CHECKING:
    from ven_client.agent import VenAgent

log = logging.getLogger("ven.mqtt")
# 3.1.0 notifications name operations like subscriptions do; the agent speaks the 3.0.1 verbs


@dataclass
class Binding:
    broker: str
    username: str | None
    password: str | None
    topics: list[str]


def notifiers_base(agent: VenAgent) -> str:
    configured = agent.config.mqtt.notifiers_url
    if configured:
        return configured.rstrip("/")
    base = agent.client.base_url
    return base[: -len("3.0.1")] + "3.1.0" if base.endswith("/3.0.1") else base


async def discover(agent: VenAgent) -> Binding:
    """Where to connect and what to subscribe to, from the VTN's 3.1.0 notifier endpoints."""
    settings = agent.config.mqtt
    base = notifiers_base(agent)
    notifiers = await agent.client._call("GET", f"{base}/notifiers")
    mqtt = notifiers.get("MQTT") if isinstance(notifiers, dict) else None
    if not mqtt:
        raise RuntimeError(f"the VTN offers no MQTT notifier ({base}/notifiers)")
    assert agent.ven is not None and agent.ven.id
    topics = []
    for kind in ("programs", "events"):
        answer = await agent.client._call("GET", f"{base}/notifiers/mqtt/topics/vens/{agent.ven.id}/{kind}")
        topics.append(answer["topics"]["ALL"])
    authentication = mqtt.get("authentication") or {}
    username, password = settings.username, settings.password
    if authentication.get("method") == "OAUTH2_BEARER_TOKEN":
        username = username or str(authentication.get("username") or "{clientID}").replace(
            "{clientID}", agent.client.client_id)
        password = password or await agent.client.token()
    broker = settings.broker_url or (mqtt.get("URIS") or [""])[0]
    return Binding(broker, username, password, topics)


def _tls(agent: VenAgent, scheme: str) -> ssl.SSLContext | None:
    settings = agent.config.mqtt
    if scheme not in ("mqtts", "ssl"):
        return None
    context = ssl.create_default_context(cafile=settings.ca_file)
    if settings.client_cert:
        context.load_cert_chain(settings.client_cert, settings.client_key)
    return context


def to_notification(payload: bytes, wire: Adapter) -> Notification:
    """A 3.1.0 notification (CRUD operation, the object in 3.1.0 form) as the 3.0.1 one the agent handles, through
    the same adapter as the 3.1.0 API's answers and webhooks (openadr3.wire)."""
    return Notification.model_validate(wire.notification(json.loads(payload)))


def _wire(agent: VenAgent) -> Adapter:
    """MQTT payloads are 3.1.0 whatever API the VEN polls: its own adapter on 3.1.0 (which also learns each event's
    program, for the reports it answers with), else one of its own."""
    return agent.client.wire if agent.client.api_version == V310 else adapter(V310)


async def listen(agent: VenAgent, connected: asyncio.Event | None = None) -> None:
    """Follow this ven's topics until cancelled; reconnects (with a fresh discovery) when the broker drops."""
    delay = 1.0
    wire = _wire(agent)
    while True:
        try:
            binding = await discover(agent)
            url = urlsplit(binding.broker)
            context = _tls(agent, url.scheme)
            async with aiomqtt.Client(url.hostname or "127.0.0.1", url.port or (8883 if context else 1883),
                                      username=binding.username, password=binding.password, tls_context=context) as client:
                for topic in binding.topics:
                    await client.subscribe(topic, qos=1)
                log.info("mqtt subscribed", extra={"broker": binding.broker, "topics": binding.topics})
                delay = 1.0
                if connected is not None:
                    connected.set()
                agent.request_poll()  # whatever was published while we were not subscribed
                async for message in client.messages:
                    try:
                        notification = to_notification(bytes(message.payload), wire)  # type: ignore[arg-type]
                    except ValueError as exc:
                        log.warning("mqtt message ignored", extra={"topic": str(message.topic), "error": str(exc)})
                        continue
                    await agent._on_notification(notification, f"mqtt:{message.topic}")
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("mqtt connection failed, retrying", extra={"error": repr(exc), "delay": delay})
            if connected is not None:
                connected.clear()
        await asyncio.sleep(delay)
        delay = min(delay * 2, 60.0)
