"""`vtn audit`: read the audit log from the command line (it cannot be changed from anywhere)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any

import typer

from vtn.core.commands import run_in_session

app = typer.Typer(help="The audit log (append-only): who did what, when.", no_args_is_help=True)


def parse_since(text: str) -> datetime:
    """ISO 8601; without an offset it is Europe/London local time. Aware UTC."""
    from gb_profile.settlement import SettlementPeriodError, local_to_utc

    try:
        moment = datetime.fromisoformat(text)
        return local_to_utc(moment)
    except (ValueError, OverflowError, SettlementPeriodError) as exc:
        raise typer.BadParameter(f"{text!r}: {exc}") from None


@app.command("list")
def list_command(
    since: Annotated[str | None, typer.Option(help="Lines at or after this time (ISO 8601; London time without offset).")] = None,
    actor: Annotated[str | None, typer.Option(help="Only this actor (a prefix when it ends with *, e.g. 'console:*').")] = None,
    action: Annotated[str | None, typer.Option(help="Only this action (a prefix when it ends with *, e.g. 'gb.*').")] = None,
    object_id: Annotated[str | None, typer.Option("--object", help="Only lines about this object id.")] = None,
    limit: Annotated[int, typer.Option(min=1, help="The newest this many matching lines.")] = 100,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line (times in UTC).")] = False,
) -> None:
    """Print audit lines, oldest first: the newest LIMIT that match every filter given. Times are London time."""
    from vtn.audit.service import AuditFilter, entry, list_entries
    from vtn.console.times import london
    from vtn.core.pagination import Page

    where = AuditFilter(since=parse_since(since) if since else None, actor=actor, action=action, object_id=object_id)

    async def work(session: Any) -> list[dict[str, Any]]:
        return [entry(row) for row in await list_entries(session, where, Page(0, limit), newest_first=True)]

    items = list(reversed(run_in_session(work)))
    for item in items:
        if as_json:
            typer.echo(json.dumps(item, separators=(",", ":")))
            continue
        detail = json.dumps(item["detail"], separators=(",", ":")) if item["detail"] else ""
        typer.echo("\t".join((str(item["id"]), london(item["at"]), item["actor"], item["actorRole"], item["action"],
                              item["outcome"], f"{item['objectType']}:{item['objectID'] or '-'}", detail)).rstrip())
    if not items and not as_json:
        typer.echo("no audit lines match", err=True)
