"""Change events: every write reports what changed inside its own transaction.

Listeners (the notification outbox, cache invalidation) run inside the same database
transaction as the change, so a change and its consequences commit or roll back together.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from openadr3.models import ObjectType, Operation


@dataclass(frozen=True)
class Change:
    object_type: ObjectType
    operation: Operation
    document: dict[str, Any]  # the object after the change (before it, for DELETE)
    program_id: str | None = None
    owner_ven_id: str | None = None  # the ven owning it, for VEN-private objects
    operator: str = ""  # the tenant the object belongs to
    sandbox: bool = False  # a sandbox program or its event: only then may a sandbox client be told
    extra: dict[str, Any] | None = None  # what only 3.1.0 says of the object (openadr3.convert): its 3.1.0 notifications


ChangeListener = Callable[[AsyncSession, Change], Awaitable[None]]
_listeners: list[ChangeListener] = []


def add_change_listener(listener: ChangeListener) -> None:
    if listener not in _listeners:
        _listeners.append(listener)


async def emit(session: AsyncSession, change: Change) -> None:
    for listener in _listeners:
        await listener(session, change)
