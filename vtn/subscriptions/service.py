"""Subscription logic: a subscription belongs to an existing program; VENs own theirs."""

from __future__ import annotations

from typing import Any

from sqlalchemy import or_
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from openadr3.models import ObjectType, Subscription
from vtn.auth.privacy import Viewer, ensure_has_ven, read_clauses
from vtn.core.errors import NotFound
from vtn.core.pagination import Page
from vtn.core.references import require_reference
from vtn.core.settings import Settings
from vtn.core.store import ObjectStore, TargetFilter
from vtn.subscriptions import notifications
from vtn.subscriptions.callbacks import check_callback_url
from vtn.subscriptions.models import SubscriptionRow

store: ObjectStore[SubscriptionRow] = ObjectStore(ObjectType.SUBSCRIPTION, SubscriptionRow)


async def list_subscriptions(
    session: AsyncSession,
    viewer: Viewer,
    program_id: str | None,
    client_name: str | None,
    targets: TargetFilter | None,
    objects: list[ObjectType] | None,
    page: Page,
) -> list[dict[str, Any]]:
    where = read_clauses(viewer, store)
    if program_id is not None:
        where.append(SubscriptionRow.program_id == program_id)
    if client_name is not None:
        where.append(SubscriptionRow.client_name == client_name)
    if targets:
        where.append(store.target_clause(targets))
    if objects:
        where.append(or_(*[SubscriptionRow.object_types.contains(f",{o},") for o in objects]))  # type: ignore[attr-defined]
    return await store.list_documents(session, where, page)


async def get_subscription(
    session: AsyncSession, viewer: Viewer, subscription_id: str, for_update: bool = False
) -> SubscriptionRow:
    row = await store.get(session, subscription_id, *read_clauses(viewer, store), for_update=for_update)
    if row is None:
        raise NotFound(f"subscription {subscription_id!r} not found")
    return row


async def _prepare(session: AsyncSession, viewer: Viewer, subscription: Subscription, settings: Settings) -> dict[str, Any]:
    from vtn.programs.service import store as programs

    for operation in subscription.objectOperations:
        check_callback_url(operation.callbackUrl, settings)
    await require_reference(session, viewer, programs, subscription.programID, "programID")
    types = sorted({str(o) for op in subscription.objectOperations for o in op.objects})
    return {
        "program_id": subscription.programID,
        "client_name": subscription.clientName,
        "object_types": "," + ",".join(types) + ",",
    }


async def create_subscription(
    session: AsyncSession, viewer: Viewer, subscription: Subscription, settings: Settings
) -> dict[str, Any]:
    owner = None if viewer.is_bl else ensure_has_ven(viewer)
    columns = await _prepare(session, viewer, subscription, settings)
    row = await store.insert(
        session,
        subscription.content(),
        change={"program_id": subscription.programID, "owner_ven_id": owner},
        owner_ven_id=owner,
        **columns,
    )
    return row.document


async def update_subscription(
    session: AsyncSession, viewer: Viewer, subscription_id: str, subscription: Subscription, settings: Settings
) -> dict[str, Any]:
    row = await get_subscription(session, viewer, subscription_id, for_update=True)
    previous = row.document
    columns = await _prepare(session, viewer, subscription, settings)
    row = await store.replace(
        session,
        row,
        subscription.content(),
        change={"program_id": subscription.programID, "owner_ven_id": row.owner_ven_id},
        **columns,
    )
    await notifications.readdress_outbox(session, subscription_id, previous, row.document)
    return row.document


async def _delete(session: AsyncSession, row: SubscriptionRow) -> dict[str, Any]:
    return await store.delete(session, row, change={"program_id": row.program_id, "owner_ven_id": row.owner_ven_id})


async def delete_subscription(session: AsyncSession, viewer: Viewer, subscription_id: str) -> dict[str, Any]:
    row = await get_subscription(session, viewer, subscription_id, for_update=True)
    # Its owner removed it: notifications still queued for it would only reach a receiver that no longer
    # expects them (often a restarted VEN, answering 401). Cascades keep theirs (see remember_cascade).
    await notifications.purge_outbox(session, row.id)
    return await _delete(session, row)


async def delete_subscriptions_where(session: AsyncSession, *where: Any, program_id: str | None = None) -> None:
    rows = (await session.exec(select(SubscriptionRow).where(*where))).all()  # type: ignore[call-overload]
    if program_id is not None:  # the program goes too: its deletions are still notified to them
        notifications.remember_cascade(session, program_id, rows)
    for row in rows:
        await _delete(session, row)


async def delete_subscriptions_of_program(session: AsyncSession, program_id: str) -> None:
    """Called by `delete_program` before the program's reports, events and itself are deleted."""
    await delete_subscriptions_where(session, SubscriptionRow.program_id == program_id, program_id=program_id)
