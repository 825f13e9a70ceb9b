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


def run_or_exit(work: Callable[[AsyncSession], Awaitable[Any]]) -> Any:
    """`run_in_session`, with a refused input (`ApiError`) printed as `error: …` and exit status 1, not a traceback."""
    import typer

    from vtn.core.errors import ApiError

    try:
        return run_in_session(work)
    except ApiError as exc:
        typer.echo(f"error: {exc.detail}", err=True)
        raise typer.Exit(1) from None


def add_enable_disable(
    app: Any, what: str, set_enabled: Callable[[AsyncSession, str, bool], Awaitable[Any]], *, disable_help: str,
    enable_help: str,
) -> None:
    """Register `disable NAME` and `enable NAME` on a typer app; `set_enabled(session, name, enabled)` does the work."""
    import typer

    def toggle(name: str, enabled: bool) -> None:
        run_or_exit(lambda session: set_enabled(session, name, enabled))
        typer.echo(f"{'enabled' if enabled else 'disabled'} {name}")

    @app.command("disable", help=disable_help)
    def disable(name: str = typer.Argument(..., metavar="NAME", help=f"The {what} to disable.")) -> None:
        toggle(name, False)

    @app.command("enable", help=enable_help)
    def enable(name: str = typer.Argument(..., metavar="NAME", help=f"The {what} to enable.")) -> None:
        toggle(name, True)
