"""Subscription logic: a subscription belongs to an existing program; VENs own theirs."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import or_
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from openadr3.convert import V301, V310, subscription_to_v31
from openadr3.models import ObjectType, Subscription
from vtn.audit import service as audit
from vtn.auth.privacy import Viewer, ensure_has_ven, ensure_own_client_name, find_visible, may_see_secrets, read_clauses
from vtn.core.errors import BadRequest, NotRepresentable
from vtn.core.pagination import Page
from vtn.core.references import require_reference
from vtn.core.settings import Settings
from vtn.core.store import ObjectStore, TargetFilter
from vtn.notifications import outbox
from vtn.notifications.callbacks import check_callback_url, verify_callback_owner
from vtn.subscriptions.models import SubscriptionRow

log = logging.getLogger("vtn.subscriptions")
store: ObjectStore[SubscriptionRow] = ObjectStore(ObjectType.SUBSCRIPTION, SubscriptionRow)


def present(viewer: Viewer, document: dict[str, Any], owner_client_id: str | None, owner_ven_id: str | None) -> dict[str, Any]:
    """The document as `viewer` may see it: without bearer tokens unless it owns the subscription."""
    return document if may_see_secrets(viewer, owner_client_id, owner_ven_id) else outbox.without_bearer_tokens(document)


def present_row(viewer: Viewer, row: SubscriptionRow) -> dict[str, Any]:
    return present(viewer, row.document, row.owner_client_id, row.owner_ven_id)


async def list_subscriptions(
    session: AsyncSession,
    viewer: Viewer,
    program_id: str | None,
    client_name: str | None,
    targets: TargetFilter | None,
    objects: list[ObjectType] | None,
    page: Page,
    api: str = V301,
) -> list[Any]:
    """Documents as `viewer` may see them; for the 3.1.0 API (`api`) in their 3.1.0 form.

    3.0.1 cannot show a subscription without programID (made through 3.1.0): its lists leave them out, by id it
    is a `NotRepresentable` 404 (docs/openadr-3.1.md)."""
    where = read_clauses(viewer, store)
    if api == V301:
        where.append(SubscriptionRow.program_id.is_not(None))  # type: ignore[union-attr]
    if program_id is not None:
        where.append(SubscriptionRow.program_id == program_id)
    if client_name is not None:
        where.append(SubscriptionRow.client_name == client_name)
    if objects:
        where.append(or_(*[SubscriptionRow.object_types.contains(f",{o},") for o in objects]))  # type: ignore[attr-defined]
    rows = await store.list_columns(session, where, page, targets, SubscriptionRow.owner_client_id,
                                    SubscriptionRow.owner_ven_id, SubscriptionRow.extra)
    if api == V310:
        return [subscription_to_v31(present(viewer, document, client, ven), extra, client)
                for document, client, ven, extra in rows]
    return [present(viewer, document, client, ven) for document, client, ven, _extra in rows]


async def get_subscription(
    session: AsyncSession, viewer: Viewer, subscription_id: str, for_update: bool = False
) -> SubscriptionRow:
    return await find_visible(session, viewer, store, subscription_id, for_update=for_update)


async def subscription_document(
    session: AsyncSession, viewer: Viewer, subscription_id: str, api: str = V301
) -> dict[str, Any]:
    """As the caller may see it: webhook bearer tokens only for the subscription's creator."""
    row = await get_subscription(session, viewer, subscription_id)
    return shown(viewer, row, api)


def shown(viewer: Viewer, row: SubscriptionRow, api: str = V301, document: dict[str, Any] | None = None) -> dict[str, Any]:
    """`row` (or its `document` as deleted) in the form of API `api`; 3.0.1 cannot show one without programID."""
    visible_document = present(viewer, document or row.document, row.owner_client_id, row.owner_ven_id)
    if api == V310:
        return subscription_to_v31(visible_document, row.extra, row.owner_client_id)
    if row.program_id is None:
        raise NotRepresentable(
            f"subscription {row.id!r} names no program (made through OpenADR 3.1.0, where programID is optional): "
            "3.0.1 cannot show it; read it through the 3.1.0 API")
    return visible_document


async def _prepare(
    session: AsyncSession, viewer: Viewer, subscription: Subscription, settings: Settings, api: str = V301
) -> tuple[Any, dict[str, Any]]:
    from vtn.programs.service import store as programs

    for operation in subscription.objectOperations:
        check_callback_url(operation.callbackUrl, settings)
    if subscription.programID is None:
        if api == V301:  # required by 3.0.1 (the model is shared with 3.1.0, where it is optional)
            raise BadRequest("programID is required", extra={"errors": [{"field": "programID", "message": "required"}]})
        program = None
    else:
        program = await require_reference(session, viewer, programs, subscription.programID, "programID")
    ensure_own_client_name(viewer, subscription.clientName, "subscription")
    types = sorted({str(o) for op in subscription.objectOperations for o in op.objects})
    return program, {
        "program_id": subscription.programID,
        "client_name": subscription.clientName,
        "object_types": "," + ",".join(types) + ",",
    }


async def verify_callbacks(subscription: Subscription, settings: Settings) -> None:
    """The 3.1.0 callback ownership check (D310:3327), once per distinct URL. The 3.1.0 router runs it before
    it opens the write transaction: a slow callback must not hold the database's writer.

    `settings.callback_echo_check`: `enforce` refuses (400); `warn` logs and accepts (for receivers that do not
    echo); `off` skips the GET. The SSRF policy applies in every mode."""
    for url in dict.fromkeys(operation.callbackUrl for operation in subscription.objectOperations):
        if settings.callback_echo_check == "off":
            check_callback_url(url, settings)
            continue
        try:
            await verify_callback_owner(url, settings)
        except BadRequest as exc:
            if settings.callback_echo_check != "warn" or "ownership check" not in exc.detail:
                raise
            log.warning("accepted despite VTN_CALLBACK_ECHO_CHECK=warn: %s", exc.detail)


async def create_subscription(
    session: AsyncSession, viewer: Viewer, subscription: Subscription, settings: Settings,
    extra: dict[str, Any] | None = None, api: str = V301,
) -> dict[str, Any]:
    owner = None if viewer.is_bl else ensure_has_ven(viewer)
    program, columns = await _prepare(session, viewer, subscription, settings, api)
    row = await store.insert(
        session,
        subscription.content(),
        change={"program_id": subscription.programID, "owner_ven_id": owner},
        owner_ven_id=owner,
        owner_client_id=viewer.principal.client_id,
        operator=program.operator if program is not None else viewer.operator,
        extra=extra,
        **columns,
    )
    await audit.record_write(session, viewer.principal, "create", ObjectType.SUBSCRIPTION, row.document)
    return shown(viewer, row, api)


def _keep_bearer_tokens(content: dict[str, Any], stored: dict[str, Any]) -> dict[str, Any]:
    """A PUT by someone who was never shown the tokens keeps them for callbacks it did not change."""
    known = {e.get("callbackUrl"): e.get("bearerToken") for e in stored.get("objectOperations") or ()}
    operations = []
    for entry in content.get("objectOperations") or ():
        if entry.get("bearerToken") is None and known.get(entry.get("callbackUrl")) is not None:
            entry = {**entry, "bearerToken": known[entry.get("callbackUrl")]}
        operations.append(entry)
    return {**content, "objectOperations": operations}


async def update_subscription(
    session: AsyncSession, viewer: Viewer, subscription_id: str, subscription: Subscription, settings: Settings,
    extra: dict[str, Any] | None = None, api: str = V301,
) -> dict[str, Any]:
    """`extra` (3.1.0 only, openadr3.convert) replaces the stored one; None (a 3.0.1 PUT) keeps it."""
    row = await get_subscription(session, viewer, subscription_id, for_update=True)
    shown(viewer, row, api)  # 3.0.1 does not change what it cannot show
    previous = row.document
    _program, columns = await _prepare(session, viewer, subscription, settings, api)
    if extra is not None:
        columns["extra"] = extra
    content = subscription.content()
    if not may_see_secrets(viewer, row.owner_client_id, row.owner_ven_id):
        content = _keep_bearer_tokens(content, row.document)
    row = await store.replace(
        session,
        row,
        content,
        change={"program_id": subscription.programID, "owner_ven_id": row.owner_ven_id},
        **columns,
    )
    await outbox.readdress_outbox(session, subscription_id, previous, row.document)
    await audit.record_write(session, viewer.principal, "update", ObjectType.SUBSCRIPTION, row.document)
    return shown(viewer, row, api)


async def _delete(session: AsyncSession, row: SubscriptionRow) -> dict[str, Any]:
    return await store.delete(session, row, change={"program_id": row.program_id, "owner_ven_id": row.owner_ven_id})


async def delete_subscription(
    session: AsyncSession, viewer: Viewer, subscription_id: str, api: str = V301
) -> dict[str, Any]:
    row = await get_subscription(session, viewer, subscription_id, for_update=True)
    shown(viewer, row, api)  # 3.0.1 does not delete what it cannot show
    # Its owner removed it: notifications still queued for it would only reach a receiver that no longer
    # expects them (often a restarted VEN, answering 401). Cascades keep theirs (see remember_cascade).
    await outbox.purge_outbox(session, row.id)
    document = await _delete(session, row)
    await audit.record_write(session, viewer.principal, "delete", ObjectType.SUBSCRIPTION, document)
    return shown(viewer, row, api, document)


async def delete_subscriptions_where(session: AsyncSession, *where: Any, program_id: str | None = None) -> None:
    rows = (await session.exec(select(SubscriptionRow).where(*where))).all()  # type: ignore[call-overload]
    if program_id is not None:  # the program goes too: its deletions are still notified to them
        outbox.remember_cascade(session, program_id, rows)
    for row in rows:
        await _delete(session, row)


async def delete_subscriptions_of_program(session: AsyncSession, program_id: str) -> None:
    """Called by `delete_program` before the program's reports, events and itself are deleted."""
    await delete_subscriptions_where(session, SubscriptionRow.program_id == program_id, program_id=program_id)
