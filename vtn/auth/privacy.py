"""Object privacy: what each principal may see and change. Enforced here, and only here.

| object              | BL        | VEN client (bound to one ven)                                   |
|---------------------|-----------|-----------------------------------------------------------------|
| program, event      | all, r/w  | read: untargeted, or sharing a target with its grants; no write |
| report              | all, r/w  | its own (created by it), r/w                                    |
| subscription        | all, r/w  | its own, r/w                                                    |
| ven                 | all, r/w  | its own ven object only, r/w (create only under its bound name) |
| resource            | all, r/w  | resources of its own ven, r/w                                   |

A VEN's grants are: (VEN_NAME, its venName), its ven's targets, and for each of its resources
(RESOURCE_NAME, resourceName) and the resource's targets. Objects a principal may not read are
invisible: lists leave them out and by-id access answers 404, so nothing leaks, not even a count.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, false, or_, true
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from openadr3.models import ObjectType
from openadr3.targets import TargetPair, intersects
from vtn.core.errors import Forbidden
from vtn.core.security import Principal
from vtn.core.store import ObjectStore
from vtn.core.tables import ObjectTarget
from vtn.vens.models import ResourceRow, VenRow

VEN_NAME = "VEN_NAME"
RESOURCE_NAME = "RESOURCE_NAME"


@dataclass
class Viewer:
    """A principal with its ven resolved: the unit privacy decisions are made on."""

    principal: Principal
    ven_id: str | None = None
    granted: set[TargetPair] = field(default_factory=set)
    # GB network operator this caller acts for (MPAN licence areas): VTN_GB_OPERATOR today, the client's own
    # operator once clients have one (operator tenancy)
    gb_operator: str | None = None

    @property
    def is_bl(self) -> bool:
        return self.principal.is_bl


async def resolve_viewer(session: AsyncSession, principal: Principal) -> Viewer:
    if principal.is_bl or not principal.ven_name:
        return Viewer(principal)
    ven_id = (await session.exec(select(VenRow.id).where(VenRow.ven_name == principal.ven_name))).first()  # type: ignore[call-overload]
    granted: set[TargetPair] = {(VEN_NAME, principal.ven_name)}
    if ven_id:
        names = await session.exec(select(ResourceRow.resource_name).where(ResourceRow.ven_id == ven_id))
        granted |= {(RESOURCE_NAME, name) for name in names.all()}
        own_resources = select(ResourceRow.id).where(ResourceRow.ven_id == ven_id)
        rows = await session.exec(
            select(ObjectTarget.type, ObjectTarget.value).where(
                or_(
                    and_(ObjectTarget.object_type == ObjectType.VEN.value, ObjectTarget.object_id == ven_id),
                    and_(ObjectTarget.object_type == ObjectType.RESOURCE.value, ObjectTarget.object_id.in_(own_resources)),  # type: ignore[attr-defined]
                )
            )
        )
        granted |= {(t, v) for t, v in rows.all()}
    return Viewer(principal, ven_id, granted)


def read_clauses(viewer: Viewer, store: ObjectStore[Any]) -> list[Any]:
    """SQL conditions restricting `store`'s rows to those `viewer` may read."""
    if viewer.is_bl:
        return []
    table = store.table
    match store.object_type:
        case ObjectType.PROGRAM | ObjectType.EVENT:
            return [store.visible_by_targets(viewer.granted)]
        case ObjectType.REPORT | ObjectType.SUBSCRIPTION:
            return [table.owner_ven_id == viewer.ven_id] if viewer.ven_id else [false()]  # type: ignore[attr-defined]
        case ObjectType.VEN:
            return [table.id == viewer.ven_id] if viewer.ven_id else [false()]  # type: ignore[attr-defined]
        case ObjectType.RESOURCE:
            return [table.ven_id == viewer.ven_id] if viewer.ven_id else [false()]  # type: ignore[attr-defined]
    return [true()]


def can_read(viewer: Viewer, object_type: ObjectType, document: dict[str, Any], owner_ven_id: str | None) -> bool:
    """The in-memory twin of `read_clauses`, for objects already loaded (notifications)."""
    if viewer.is_bl:
        return True
    match object_type:
        case ObjectType.PROGRAM | ObjectType.EVENT:
            return not document.get("targets") or intersects(document.get("targets"), viewer.granted)
        case ObjectType.VEN:
            return viewer.ven_id is not None and document.get("id") == viewer.ven_id
        case ObjectType.RESOURCE:
            return viewer.ven_id is not None and document.get("venID") == viewer.ven_id
        case _:
            return viewer.ven_id is not None and owner_ven_id == viewer.ven_id


def ensure_can_write(viewer: Viewer, object_type: ObjectType) -> None:
    """Programs and events are written by the network operator's business logic only."""
    if not viewer.is_bl and object_type in (ObjectType.PROGRAM, ObjectType.EVENT):
        raise Forbidden(f"a VEN client cannot write {object_type.value.lower()}s")


def ensure_has_ven(viewer: Viewer) -> str:
    """The ven a VEN client acts for; it must have registered its ven object first."""
    if viewer.ven_id is None:
        raise Forbidden(
            f"VEN client {viewer.principal.client_id!r} has no ven object yet: create ven "
            f"{viewer.principal.ven_name!r} first"
        )
    return viewer.ven_id


async def viewer_for_ven(session: AsyncSession, ven_id: str) -> Viewer:
    """The Viewer of a VEN client bound to ven `ven_id` (privacy of VEN-owned subscriptions)."""
    from vtn.core.security import Role

    ven_name = (await session.exec(select(VenRow.ven_name).where(VenRow.id == ven_id))).first()  # type: ignore[call-overload]
    if ven_name is None:
        return Viewer(Principal(client_id=f"ven:{ven_id}", role=Role.VEN, scopes=frozenset()), None, set())
    principal = Principal(client_id=f"ven:{ven_name}", role=Role.VEN, scopes=frozenset(), ven_name=ven_name)
    return await resolve_viewer(session, principal)
