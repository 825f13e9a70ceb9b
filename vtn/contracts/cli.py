"""`vtn gb terms set|show|clear`: contract terms on the VTN's database (docs/gb-profile.md §2.1)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from vtn.core.commands import run_or_exit

app = typer.Typer(help="Contract terms per program and dispatch unit (prices, run times, ack period, cut-off).",
                  no_args_is_help=True)
Operator = Annotated[str, typer.Option(help="The network operator (tenant), e.g. NGED; omit on a single-operator VTN.")]
Unit = Annotated[str | None, typer.Option(help="A dispatch unit's own terms (default: the program's).")]


@app.command("set")
def set_(
    program: Annotated[str, typer.Argument(help="Program id or programName.")],
    file: Annotated[str, typer.Argument(help="JSON terms document (as the admin API's PUT body), '-' = stdin.")],
    unit: Unit = None,
    operator: Operator = "",
) -> None:
    """Replace the program's (or a unit's) terms with the JSON document."""
    from vtn.audit.service import Actor
    from vtn.contracts.service import row_document, set_terms

    try:
        text = sys.stdin.read() if file == "-" else Path(file).read_text()
        document = json.loads(text)
    except (OSError, ValueError) as exc:
        raise typer.BadParameter(str(exc), param_hint="FILE") from None

    async def work(session):  # type: ignore[no-untyped-def]
        return row_document(await set_terms(session, Actor.local(), operator, program, document, unit))

    typer.echo(json.dumps(run_or_exit(work), indent=2))


@app.command("show")
def show(
    program: Annotated[str, typer.Argument(help="Program id or programName.")],
    unit: Unit = None,
    operator: Operator = "",
) -> None:
    """The terms in force (the unit's over the program's) as JSON."""
    from vtn.contracts.service import contract_terms, find_program, terms_document

    async def work(session):  # type: ignore[no-untyped-def]
        row = await find_program(session, operator, program)
        return terms_document(await contract_terms(session, operator, row.id, unit))

    typer.echo(json.dumps(run_or_exit(work), indent=2))


@app.command("clear")
def clear(
    program: Annotated[str, typer.Argument(help="Program id or programName.")],
    unit: Annotated[str, typer.Option(help="The dispatch unit whose own terms to remove.")],
    operator: Operator = "",
) -> None:
    """Remove a unit's own terms (it then has its program's)."""
    from vtn.audit.service import Actor
    from vtn.contracts.service import clear_unit_terms

    run_or_exit(lambda session: clear_unit_terms(session, Actor.local(), operator, program, unit))
    typer.echo(f"cleared the terms of {unit}")
