"""`vtn gb fsp-key add|list|remove`: the FSP public keys the VTN verifies reports with (on the VTN's database)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from vtn.core.commands import run_or_exit

app = typer.Typer(help="FSP public keys the VTN verifies acknowledgements and reports with (GB profile §7).",
                  no_args_is_help=True)

Operator = Annotated[str, typer.Option(
    help="The network operator (tenant) that trusts the key, e.g. NGED; omit on a single-operator VTN.")]


@app.command("add")
def add(
    ven_name: Annotated[str, typer.Argument(help="The FSP's venName (its reports' clientName).")],
    key: Annotated[Path, typer.Option("--key", help="The FSP's public key: JWK, JWK Set or PEM, received out of band.")],
    kid: Annotated[str | None, typer.Option(help="Key id (required for PEM; renames a single JWK).")] = None,
    operator: Operator = "",
) -> None:
    """Register an FSP's public key: from now on its signed reports must verify (else 400 GB-R-050)."""
    from gb_profile.signing import read_keys
    from vtn.audit.service import Actor
    from vtn.gb.keys import add_fsp_key

    try:
        keys = read_keys(key, kid)
    except (OSError, ValueError) as exc:
        raise typer.BadParameter(str(exc), param_hint="--key") from None
    if kid and len(keys) > 1:
        raise typer.BadParameter(f"{key} holds {len(keys)} keys: --kid names a single one", param_hint="--kid")
    if any(k.is_private for k in keys):
        typer.echo("warning: the file holds a private key; only its public part is stored. An FSP's private key "
                   "should never leave the FSP.", err=True)

    async def work(session):  # type: ignore[no-untyped-def]
        return [await add_fsp_key(session, Actor.local(), operator, ven_name, k) for k in keys]

    for row in run_or_exit(work):
        typer.echo(f"registered {row.kid} for {row.ven_name}" + (f" (operator {row.operator})" if row.operator else ""))


@app.command("list")
def list_keys(
    operator: Annotated[str | None, typer.Option(help="Only this operator's keys ('' = the default operator).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines with the public JWK.")] = False,
) -> None:
    """Registered FSP keys: operator, FSP, kid, when, by whom."""
    from vtn.gb.keys import list_fsp_keys

    rows = run_or_exit(lambda session: list_fsp_keys(session, operator))
    for row in rows:
        if as_json:
            typer.echo(json.dumps({"operator": row.operator, "venName": row.ven_name, "kid": row.kid, "jwk": row.jwk,
                                   "created": row.created_at.isoformat(), "createdBy": row.created_by}))
        else:
            typer.echo(f"{row.operator or '-'}\t{row.ven_name}\t{row.kid}\t{row.created_at.isoformat(timespec='seconds')}"
                       f"\t{row.created_by}")
    if not rows and not as_json:
        typer.echo("no FSP keys registered")


@app.command("remove")
def remove(
    ven_name: Annotated[str, typer.Argument(help="The FSP's venName.")],
    kid: Annotated[str, typer.Argument(help="The key id to unregister.")],
    operator: Operator = "",
) -> None:
    """Unregister an FSP key (after a rotation; reports it signed then show "signed, no key to verify")."""
    from vtn.audit.service import Actor
    from vtn.gb.keys import remove_fsp_key

    run_or_exit(lambda session: remove_fsp_key(session, Actor.local(), operator, ven_name, kid))
    typer.echo(f"removed {kid} of {ven_name}")
