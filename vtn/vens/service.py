"""Ven and resource logic: unique names, VEN clients confined to their own ven, BL-only targets."""

from __future__ import annotations

from typing import Any

from sqlalchemy import update
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from openadr3.models import ObjectType, Resource, Ven
from openadr3.targets import target_pairs
from vtn.auth.privacy import VEN_NAME, Viewer, find_visible, read_clauses
from vtn.core.errors import Forbidden
from vtn.core.pagination import Page
from vtn.core.store import ObjectStore, TargetFilter
from vtn.profiles import check_resource, grant_earlier_dispatches
from vtn.vens.models import ResourceRow, VenRow

vens: ObjectStore[VenRow] = ObjectStore(ObjectType.VEN, VenRow)
resources: ObjectStore[ResourceRow] = ObjectStore(ObjectType.RESOURCE, ResourceRow)


def _granted_targets(viewer: Viewer, new: dict[str, Any], old: dict[str, Any] | None) -> dict[str, Any]:
    """Targets on vens and resources grant visibility of events, so only BL may set them.

    A VEN's write keeps the targets a BL granted: it may send none (an empty list or null, as
    clients do) or the same ones back; any other targets are refused (403).
    """
    if viewer.is_bl:
        return new
    stored = (old or {}).get("targets")
    sent = new.get("targets")
    if sent and target_pairs(sent) != target_pairs(stored):
        raise Forbidden("only the network operator (BL) may set targets on vens and resources")
    content = {k: v for k, v in new.items() if k != "targets"}
    if stored:
        content["targets"] = stored
    return content


# --- vens ---------------------------------------------------------------------------------------
async def list_vens(
    session: AsyncSession, viewer: Viewer, ven_name: str | None, targets: TargetFilter | None, page: Page,
    with_extra: bool = False,
) -> list[Any]:
    """Documents (or, `with_extra`, (document, extra) pairs for the 3.1.0 API) of the vens `viewer` may read.

    A ven's own name is its VEN_NAME target (python-oa3-client finds its ven with
    `?targetType=VEN_NAME&targetValues=<name>`), whether or not a BL also wrote VEN_NAME targets on it.
    """
    where = read_clauses(viewer, vens)
    if ven_name is not None:
        where.append(VenRow.ven_name == ven_name)
    named = vens.named_target_clause(targets, VEN_NAME, VenRow.ven_name) if targets else None
    if named is not None:
        where.append(named)
        targets = None
    return await (vens.list_with_extra if with_extra else vens.list_documents)(session, where, page, targets)


async def get_ven(session: AsyncSession, viewer: Viewer, ven_id: str, for_update: bool = False) -> VenRow:
    return await find_visible(session, viewer, vens, ven_id, for_update=for_update)


async def ven_document(session: AsyncSession, viewer: Viewer, ven_id: str) -> dict[str, Any]:
    return (await get_ven(session, viewer, ven_id)).document


async def _ensure_unique_ven_name(session: AsyncSession, viewer: Viewer, name: str, own_id: str | None = None) -> None:
    """venName is unique per VTN (Y301); each operator is a VTN of its own."""
    where = [VenRow.operator == viewer.operator, VenRow.ven_name == name]
    await vens.ensure_unique(session, where, own_id, f"a ven named {name!r} already exists")


async def create_ven(session: AsyncSession, viewer: Viewer, ven: Ven, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    content = ven.content()
    if not viewer.is_bl and ven.venName != viewer.principal.ven_name:
        raise Forbidden(f"this client may only create the ven named {viewer.principal.ven_name!r}")
    content = _granted_targets(viewer, content, None)
    await _ensure_unique_ven_name(session, viewer, ven.venName)
    row = await vens.insert(session, content, ven_name=ven.venName, operator=viewer.operator, extra=extra)
    await grant_earlier_dispatches(session, viewer.operator, ven.venName)
    return row.document


async def update_ven(
    session: AsyncSession, viewer: Viewer, ven_id: str, ven: Ven, extra: dict[str, Any] | None = None
) -> dict[str, Any]:
    """`extra` (3.1.0 only, openadr3.convert) replaces the stored one; None (a 3.0.1 PUT) keeps it."""
    row = await get_ven(session, viewer, ven_id, for_update=True)
    content = ven.content()
    if not viewer.is_bl and ven.venName != row.ven_name:
        raise Forbidden("a VEN client cannot rename its ven: its credentials are bound to the name")
    content = _granted_targets(viewer, content, row.document)
    await _ensure_unique_ven_name(session, viewer, ven.venName, own_id=row.id)
    row = await vens.replace(session, row, content, ven_name=ven.venName, **({} if extra is None else {"extra": extra}))
    return row.document


async def delete_ven(session: AsyncSession, viewer: Viewer, ven_id: str) -> dict[str, Any]:
    """Delete a ven with its resources and subscriptions; its reports stay as operator records."""
    from vtn.reports.models import ReportRow
    from vtn.subscriptions.models import SubscriptionRow
    from vtn.subscriptions.service import delete_subscriptions_where

    row = await get_ven(session, viewer, ven_id, for_update=True)
    for resource in (await session.exec(select(ResourceRow).where(ResourceRow.ven_id == ven_id))).all():  # type: ignore[call-overload]
        await resources.delete(session, resource)
    await delete_subscriptions_where(session, SubscriptionRow.owner_ven_id == ven_id)
    await session.exec(update(ReportRow).where(ReportRow.owner_ven_id == ven_id).values(owner_ven_id=None))  # type: ignore[call-overload]
    return await vens.delete(session, row)


# --- resources ----------------------------------------------------------------------------------
async def list_resources(
    session: AsyncSession,
    viewer: Viewer,
    ven_id: str,
    resource_name: str | None,
    targets: TargetFilter | None,
    page: Page,
) -> list[dict[str, Any]]:
    await get_ven(session, viewer, ven_id)
    where = [*read_clauses(viewer, resources), ResourceRow.ven_id == ven_id]
    if resource_name is not None:
        where.append(ResourceRow.resource_name == resource_name)
    return await resources.list_documents(session, where, page, targets)


async def list_all_resources(
    session: AsyncSession, viewer: Viewer, ven_id: str | None, resource_name: str | None,
    targets: TargetFilter | None, page: Page,
) -> list[tuple[dict[str, Any], dict[str, Any] | None]]:
    """(document, extra) of the resources `viewer` may read, of one ven or all (3.1.0 /resources)."""
    where = read_clauses(viewer, resources)
    if ven_id is not None:
        where.append(ResourceRow.ven_id == ven_id)
    if resource_name is not None:
        where.append(ResourceRow.resource_name == resource_name)
    return await resources.list_with_extra(session, where, page, targets)


async def find_resource(session: AsyncSession, viewer: Viewer, resource_id: str, for_update: bool = False) -> ResourceRow:
    """A resource by id alone (3.1.0 /resources/{resourceID}); 404 when missing or not the caller's."""
    return await find_visible(session, viewer, resources, resource_id, for_update=for_update)


async def get_resource(
    session: AsyncSession, viewer: Viewer, ven_id: str, resource_id: str, for_update: bool = False
) -> ResourceRow:
    return await find_visible(
        session, viewer, resources, resource_id, ResourceRow.ven_id == ven_id, for_update=for_update,
        label=f"ven {ven_id!r} has no resource",
    )


async def resource_document(session: AsyncSession, viewer: Viewer, ven_id: str, resource_id: str) -> dict[str, Any]:
    return (await get_resource(session, viewer, ven_id, resource_id)).document


async def _ensure_unique_resource_name(session: AsyncSession, ven_id: str, name: str, own_id: str | None = None) -> None:
    where = [ResourceRow.ven_id == ven_id, ResourceRow.resource_name == name]
    await resources.ensure_unique(session, where, own_id, f"ven {ven_id!r} already has a resource named {name!r}")


def _resource_content(resource: Resource, ven_id: str) -> dict[str, Any]:
    content = resource.content()
    content["venID"] = ven_id  # provisioned from the path (Y301:2155-2157)
    return content


async def create_resource(
    session: AsyncSession, viewer: Viewer, ven_id: str, resource: Resource, extra: dict[str, Any] | None = None
) -> dict[str, Any]:
    ven = await get_ven(session, viewer, ven_id, for_update=True)
    content = _granted_targets(viewer, _resource_content(resource, ven_id), None)
    await _ensure_unique_resource_name(session, ven_id, resource.resourceName)
    await check_resource(session, viewer, ven_id, content)
    row = await resources.insert(
        session, content, change={"owner_ven_id": ven_id}, ven_id=ven_id, resource_name=resource.resourceName,
        operator=ven.operator, extra=extra,
    )
    await grant_earlier_dispatches(session, ven.operator, ven.ven_name)  # the grants move to the unit registered now
    return row.document


async def update_resource(
    session: AsyncSession, viewer: Viewer, ven_id: str, resource_id: str, resource: Resource,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    row = await get_resource(session, viewer, ven_id, resource_id, for_update=True)
    content = _granted_targets(viewer, _resource_content(resource, ven_id), row.document)
    await _ensure_unique_resource_name(session, ven_id, resource.resourceName, own_id=row.id)
    await check_resource(session, viewer, ven_id, content)
    row = await resources.replace(
        session, row, content, change={"owner_ven_id": ven_id}, resource_name=resource.resourceName,
        **({} if extra is None else {"extra": extra}),
    )
    return row.document


async def delete_resource(session: AsyncSession, viewer: Viewer, ven_id: str, resource_id: str) -> dict[str, Any]:
    row = await get_resource(session, viewer, ven_id, resource_id, for_update=True)
    return await resources.delete(session, row, change={"owner_ven_id": ven_id})
