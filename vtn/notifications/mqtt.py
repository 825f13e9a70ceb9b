"""The MQTT notifier (OpenADR 3.1.0): topic names, the outbox row of a change, and the publishing transport.

Topics (docs/notifications.md has the table). Everything lives under one root per operator (tenant):
`{prefix}` for the default operator, `{prefix}/operators/{operator}` for others. Under it, an object has
one *business-logic* topic and, for programs and events, one topic per ven that may read it:

| object    | BL topic (the operator's BL clients read `{root}/#`) | ven V's topic (V reads `{root}/vens/V/#`) |
|-----------|------------------------------------------------------|-------------------------------------------|
| program P | `programs/P/{op}`                                    | `vens/V/programs/P/{op}`                  |
| event     | `programs/P/events/{op}`                             | `vens/V/programs/P/events/{op}`           |
| report    | `reports/{op}`                                       | —                                         |
| sub'n     | `subscriptions/{op}`                                 | —                                         |
| ven V     | `vens/V/{op}`                                        | the same topic                            |
| resource  | `vens/V/resources/{op}`                              | the same topic                            |

`{op}` is `create`, `update` or `delete`. Which vens get a program or event is the privacy rule
(`vtn.auth.privacy.visible`, the rule of every GET), decided in the write transaction: a ven's topic never
carries what that ven could not read by REST, and broker ACLs (`vtn mqtt acl`) keep each ven to its own
subtree. The `/notifiers/mqtt/topics/...` endpoints answer with these names, wildcards where a request
covers many objects (`programs/+/create`).

The payload is the 3.1.0 notification (CRUD operation, the object in its 3.1.0 form, `outbox.notification_body_31`),
with 3.1.0 target hiding on the vens' topics. A change is published from the same transactional outbox as
webhooks: one row per change and distinct body (transport `mqtt`, its topics a JSON list) written in the
change's transaction, published by the delivery worker
after the commit at QoS 1 (each topic's PUBACK awaited), removed only when every topic was acknowledged.
So nothing is published that was not committed, and a crash before the PUBACKs publishes it again
(at least once, like webhooks: the payload's object id and modificationDateTime identify duplicates).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import ssl
import uuid
from collections.abc import Callable
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import aiomqtt
from sqlmodel.ext.asyncio.session import AsyncSession

from openadr3.models import ObjectType, Operation
from openadr3.targets import TargetPair, target_pairs
from vtn.auth.privacy import ObjectFacts, Viewer, ven_viewers, visible
from vtn.core.changes import Change
from vtn.core.settings import Settings
from vtn.notifications.models import OutboxRow, OutboxStatus
from vtn.notifications.transports import Attempt

log = logging.getLogger("vtn.mqtt")
TRANSPORT = "mqtt"
SESSION_KEY = "mqtt_topics"  # Database.info: the Topics of this process when the MQTT notifier is on
OPERATION_LEVEL = {Operation.CREATE: "create", Operation.UPDATE: "update", Operation.DELETE: "delete"}
PUBLISH_CONCURRENCY = 256  # QoS 1 messages awaiting their PUBACK at once (one row's fan-out)


def operations(base: str, *, create: bool = True) -> dict[str, str]:
    """The `notifierOperationsTopics` of a topic base: one topic per operation and `ALL` (a wildcard).
    No CREATE for one object: nobody can ask to hear of an object's creation before it exists."""
    topics = {"UPDATE": f"{base}/update", "DELETE": f"{base}/delete", "ALL": f"{base}/+"}
    return {"CREATE": f"{base}/create", **topics} if create else topics


@dataclass(frozen=True)
class Topics:
    """The topic names of one VTN (its prefix)."""

    prefix: str = "openadr3"

    def root(self, operator: str) -> str:
        return f"{self.prefix}/operators/{operator}" if operator else self.prefix

    # --- where a change goes -------------------------------------------------------------------
    def bl_base(self, change: Change) -> str | None:
        root, doc = self.root(change.operator), change.document
        match change.object_type:
            case ObjectType.PROGRAM:
                return f"{root}/programs/{doc.get('id')}"
            case ObjectType.EVENT:
                return f"{root}/programs/{doc.get('programID')}/events"
            case ObjectType.REPORT:
                return f"{root}/reports"
            case ObjectType.SUBSCRIPTION:
                return f"{root}/subscriptions"
            case ObjectType.VEN:
                return f"{root}/vens/{doc.get('id')}"
            case ObjectType.RESOURCE:
                return f"{root}/vens/{doc.get('venID')}/resources"
        return None

    def ven_base(self, change: Change, ven_id: str) -> str | None:
        """Ven `ven_id`'s own topic for a program or event (ven and resource topics are shared with BL)."""
        root, doc = self.root(change.operator), change.document
        if change.object_type == ObjectType.PROGRAM:
            return f"{root}/vens/{ven_id}/programs/{doc.get('id')}"
        if change.object_type == ObjectType.EVENT:
            return f"{root}/vens/{ven_id}/programs/{doc.get('programID')}/events"
        return None

    # --- what a reader subscribes to (the /notifiers/mqtt/topics/... answers) ------------------
    def programs(self, operator: str, ven_id: str | None = None, program_id: str = "+") -> str:
        root = self.root(operator)
        return f"{root}/vens/{ven_id}/programs/{program_id}" if ven_id else f"{root}/programs/{program_id}"

    def events(self, operator: str, ven_id: str | None = None, program_id: str = "+") -> str:
        return f"{self.programs(operator, ven_id, program_id)}/events"

    def reports(self, operator: str) -> str:
        return f"{self.root(operator)}/reports"

    def subscriptions(self, operator: str) -> str:
        return f"{self.root(operator)}/subscriptions"

    def vens(self, operator: str, ven_id: str = "+") -> str:
        return f"{self.root(operator)}/vens/{ven_id}"

    def resources(self, operator: str, ven_id: str = "+") -> str:
        return f"{self.vens(operator, ven_id)}/resources"


async def _viewers(session: AsyncSession, state: dict[str, Any], operator: str) -> list[Viewer]:
    """The operator's vens as viewers, read once per transaction (a cascade emits many changes)."""
    cache = state.setdefault("mqtt_viewers", {})
    if operator not in cache:
        cache[operator] = await ven_viewers(session, operator)
    return cache[operator]


async def outbox_rows(session: AsyncSession, change: Change, body_for: Callable[[AbstractSet[TargetPair] | None], str],
                      state: dict[str, Any], now: Any) -> list[dict[str, Any]]:
    """The MQTT outbox rows of `change` (column values); none when the MQTT notifier is off.

    `body_for(keep)` is the 3.1.0 notification with only the targets in `keep` shown (None: all, for BL): a ven is
    told only the targets of a program or event it holds itself (3.1.0 target hiding, as its webhook would be).
    One row per distinct body: the BL topic, then the vens grouped by the targets they are shown (an untargeted
    event, or one targeted at a group, is one row for all its vens).
    """
    topics: Topics | None = session.sync_session.info.get(SESSION_KEY)
    level = OPERATION_LEVEL.get(change.operation)
    base = topics.bl_base(change) if topics is not None and level else None
    if topics is None or base is None or level is None:
        return []
    groups: dict[AbstractSet[TargetPair] | None, list[str]] = {None: [f"{base}/{level}"]}
    if change.object_type in (ObjectType.PROGRAM, ObjectType.EVENT):
        facts = ObjectFacts(change.object_type, change.operator, change.document, change.owner_ven_id, change.sandbox)
        pairs = target_pairs(change.document.get("targets"))
        for viewer in await _viewers(session, state, change.operator):
            if viewer.ven_id and visible(viewer, facts):
                groups.setdefault(frozenset(pairs & viewer.granted), []).append(
                    f"{topics.ven_base(change, viewer.ven_id)}/{level}")
    return [{
        "message_id": "msg_" + uuid.uuid4().hex,
        "subscription_id": "",
        "operator": change.operator,
        # one ordering unit per operator: its notifications are published in commit order
        "callback_key": f"mqtt:{change.operator}"[:64],
        "callback_url": f"mqtt:{names[0]}",
        "bearer_token": None,
        "object_type": change.object_type.value,
        "operation": level.upper(),
        "body": body_for(keep),
        "transport": TRANSPORT,
        "topics": json.dumps(names, separators=(",", ":")),
        "status": OutboxStatus.PENDING,
        "attempts": 0,
        "created_at": now,
        "next_attempt_at": now,
    } for keep, names in groups.items()]


# --- the publisher ------------------------------------------------------------------------------
def tls_context(settings: Settings) -> ssl.SSLContext | None:
    if urlsplit(settings.mqtt_url or "").scheme not in ("mqtts", "ssl"):
        return None
    context = ssl.create_default_context(cafile=settings.mqtt_ca_file)
    if settings.mqtt_cert_file:
        context.load_cert_chain(settings.mqtt_cert_file, settings.mqtt_key_file)
    return context


def client_for(settings: Settings, identifier: str | None = None) -> aiomqtt.Client:
    url = urlsplit(settings.mqtt_url or "mqtt://127.0.0.1:1883")
    context = tls_context(settings)
    return aiomqtt.Client(
        url.hostname or "127.0.0.1", url.port or (8883 if context else 1883),
        username=settings.mqtt_username, password=settings.mqtt_password, identifier=identifier,
        tls_context=context, max_inflight_messages=PUBLISH_CONCURRENCY, timeout=settings.delivery_timeout_seconds,
    )


class MqttTransport:
    """Publishes outbox rows on one long-lived broker connection (reconnected when it drops)."""

    name = TRANSPORT

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.client: aiomqtt.Client | None = None
        self.connected = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.task = asyncio.create_task(self._connection(), name="vtn-mqtt")

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.task
            self.task = None

    async def _connection(self) -> None:
        while True:
            try:
                async with client_for(self.settings, f"vtn-{uuid.uuid4().hex[:12]}") as client:
                    self.client = client
                    self.connected.set()
                    log.info("MQTT notifier connected to %s", self.settings.mqtt_url)
                    async for _message in client.messages:  # returns (raises) when the connection drops
                        pass
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("MQTT broker %s: %s; reconnecting", self.settings.mqtt_url, exc)
            finally:
                self.connected.clear()
                self.client = None
            await asyncio.sleep(1.0)

    async def send(self, row: OutboxRow) -> Attempt:
        try:
            await asyncio.wait_for(self.connected.wait(), self.settings.delivery_timeout_seconds)
        except TimeoutError:
            return Attempt(error=f"MQTT broker {self.settings.mqtt_url} not connected")
        client = self.client
        if client is None:
            return Attempt(error="MQTT connection lost")
        payload = row.body.encode()
        names: list[str] = json.loads(row.topics or "[]")
        gate = asyncio.Semaphore(PUBLISH_CONCURRENCY)

        async def publish(topic: str) -> None:
            async with gate:
                await client.publish(topic, payload, qos=1)  # returns on the broker's PUBACK

        try:
            await asyncio.wait_for(asyncio.gather(*(publish(t) for t in names)),
                                   self.settings.delivery_timeout_seconds + len(names) / 1000)
        except (aiomqtt.MqttError, TimeoutError) as exc:
            return Attempt(error=f"MQTT publish failed: {type(exc).__name__}: {exc}"[:1000])
        return Attempt()
