"""`vtn gb statements issue|list|run`: monthly statements on the VTN's database (docs/gb-profile.md §6.9)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated

import typer

from vtn.core.commands import run_or_exit

app = typer.Typer(help="Monthly statements per FSP: issue a month on demand, list, run the scheduled round.",
                  no_args_is_help=True)
Operator = Annotated[str, typer.Option(help="The network operator (tenant), e.g. NGED; omit on a single-operator VTN.")]


@app.command("issue")
def issue(
    month: Annotated[str, typer.Argument(help="YYYY-MM, a London calendar month.")],
    fsp: Annotated[str | None, typer.Option(help="One FSP (venName); default every FSP with anything in the month.")] = None,
    final: Annotated[bool, typer.Option("--final", help="Issue the final version (nothing is issued after it; a later "
                                                        "correction is adjusted in the next open statement).")] = False,
    operator: Operator = "",
) -> None:
    """Issue the month's statements now: a new provisional version where a line changed, or the final one."""
    from vtn.audit.service import Actor
    from vtn.statements.models import FINAL, PROVISIONAL
    from vtn.statements.service import issue_month, month_of

    kind = FINAL if final else PROVISIONAL

    async def work(session):  # type: ignore[no-untyped-def]
        first = month_of(month)  # a bad month: `error: …`, exit status 1
        reason = f"{kind.lower()}: issued with `vtn gb statements issue`"
        issued = await issue_month(session, operator, first, kind, reason, Actor.local(), fsp)
        return [{"id": row.id, "fsp": row.fsp, "month": row.month, "version": row.version, "kind": row.kind,
                 "totalGbp": row.document["totalGbp"], "new": new} for row, new in issued]

    typer.echo(json.dumps(run_or_exit(work), indent=2))


@app.command("list")
def list_(
    month: Annotated[str | None, typer.Argument(help="YYYY-MM (default: every month).")] = None,
    operator: Operator = "",
) -> None:
    """The latest version of each FSP's statement, as JSON."""
    from vtn.statements.service import list_for_operator

    typer.echo(json.dumps(run_or_exit(lambda session: list_for_operator(session, operator, month)), indent=2))


@app.command("run")
def run(at: Annotated[str | None, typer.Option(help="Act as if it were this UTC instant (ISO 8601).")] = None) -> None:
    """One round of the scheduled work (what the background task does): provisional on the 1st, new versions on
    corrections, final on the 15th, London time."""
    from vtn.statements.service import run_due

    now = None
    if at is not None:
        try:
            now = datetime.fromisoformat(at.replace("Z", "+00:00"))
        except ValueError:
            raise typer.BadParameter("an ISO 8601 instant, e.g. 2027-04-01T00:00:00Z", param_hint="--at") from None
        now = now if now.tzinfo else now.replace(tzinfo=UTC)

    async def work(session):  # type: ignore[no-untyped-def]
        return [{"id": r.id, "fsp": r.fsp, "month": r.month, "version": r.version, "kind": r.kind,
                 "totalGbp": r.document["totalGbp"]} for r in await run_due(session, now)]

    typer.echo(json.dumps(run_or_exit(work), indent=2))
