"""Checks that objects named in a request body exist and are visible to the caller."""

from __future__ import annotations

from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from vtn.auth.privacy import Viewer, get_visible
from vtn.core.errors import Conflict
from vtn.core.store import ObjectStore


async def require_reference(
    session: AsyncSession, viewer: Viewer, store: ObjectStore[Any], object_id: str, field: str
) -> Any:
    """The row `object_id` refers to; 409 when it does not exist or the caller cannot read it."""
    row = await get_visible(session, viewer, store, object_id)
    if row is None:
        raise Conflict(f"{field} {object_id!r} does not refer to an existing {store.object_type.value.lower()}")
    return row
