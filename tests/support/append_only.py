"""Checks that a table refuses to be rewritten (vtn/migrations/append_only.py)."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from starlette.testclient import TestClient


def refusals(http: TestClient, table: str, statements: list[str], postgres: bool) -> list[str]:
    """Run each statement on its own connection (rolled back whatever happens); the database's answer to each.
    On PostgreSQL `TRUNCATE <table>` is tried as well."""
    db = http.app.state.db  # type: ignore[attr-defined]

    async def attempt(statement: str) -> str:
        async with db.engine.connect() as connection:
            try:
                await connection.execute(text(statement))
            except DBAPIError as exc:
                await connection.rollback()
                return str(exc.orig)
            await connection.rollback()
            return "accepted"

    assert http.portal is not None
    return [http.portal.call(attempt, s) for s in [*statements, *([f"TRUNCATE {table}"] if postgres else [])]]
