"""The seam between the outbox and the wire: one `Transport` per way of delivering a notification.

The delivery worker (`worker.py`) owns everything transport-independent — claiming rows in order, leases,
retries with backoff, dead letters, recording outcomes in batches — and hands each claimed row to the
transport its `transport` column names. A transport only sends: `send` makes one attempt and says how it
went. Adding one (e.g. websockets) is a module with a class like `webhook.WebhookTransport` or
`mqtt.MqttTransport`, rows written with its name (`outbox.py`), and an entry in `build_transports`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from vtn.core.settings import Settings

if TYPE_CHECKING:
    from vtn.notifications.models import OutboxRow
    from vtn.notifications.signing import WebhookSigner


@dataclass
class Attempt:
    """How one attempt went: `error` None means delivered (the row is removed)."""

    status: int | None = None  # the receiver's answer, where the transport has one (HTTP status)
    error: str | None = None
    retry_after: float | None = None  # seconds the receiver asked us to wait


class Transport(Protocol):
    name: str

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def send(self, row: OutboxRow) -> Attempt: ...


def build_transports(settings: Settings, signer: WebhookSigner) -> dict[str, Transport]:
    from vtn.notifications.webhook import WebhookTransport

    transports: dict[str, Transport] = {"webhook": WebhookTransport(settings, signer)}
    if settings.mqtt_url:
        from vtn.notifications.mqtt import MqttTransport

        transports["mqtt"] = MqttTransport(settings)
    return transports
