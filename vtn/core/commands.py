"""What every `vtn` sub-command that touches the database needs: an upgraded schema and a session."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession


def run_in_session(work: Callable[[AsyncSession], Awaitable[Any]]) -> Any:
    """Upgrade the schema, then run `work` in one committed transaction; returns its result."""
    from vtn.core.database import Database
    from vtn.core.migrate import upgrade
    from vtn.core.settings import get_settings

    settings = get_settings()
    upgrade(settings.database_url)  # Alembic runs its own event loop: before ours

    async def main() -> Any:
        db = Database(settings.database_url)
        try:
            async with db.session() as session:
                return await work(session)
        finally:
            await db.dispose()

    return asyncio.run(main())
