"""`vtn keys …` (token signing keys) and `vtn certs …` (a development PKI)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

import typer

from vtn.core.commands import run_in_session

keys_app = typer.Typer(help="Token signing keys (ES256, shared by all VTN processes).", no_args_is_help=True)
certs_app = typer.Typer(help="Certificates for development and tests.", no_args_is_help=True)


def _state(row: Any, now: Any) -> str:
    from vtn.auth.tokens import can_sign

    if can_sign(row, now):
        return "signing" if row.retired_at is None else f"signing until {row.retired_at.isoformat(timespec='seconds')}"
    if row.active_from > now:
        return f"published, signs from {row.active_from.isoformat(timespec='seconds')}"
    return f"retired {row.retired_at.isoformat(timespec='seconds')}, published until its tokens expire"


@keys_app.command("list")
def keys_list() -> None:
    """List signing keys and their state (never private material)."""
    from vtn.auth.tokens import list_keys
    from vtn.core.database import utcnow

    rows = run_in_session(list_keys)
    now = utcnow()
    for row in rows:
        typer.echo(f"{row.kid}\tcreated {row.created_at.isoformat(timespec='seconds')}\t{_state(row, now)}")
    if not rows:
        typer.echo("no keys yet (the first is created when the VTN first signs or publishes)")


@keys_app.command("rotate")
def keys_rotate(
    activate_in: Annotated[int, typer.Option(
        help="Seconds before the new key starts signing; longer than JWKS caches (the VTN's is 300 s).")] = 600,
) -> None:
    """Publish a new key now; it signs after ACTIVATE_IN seconds, when the old keys retire.

    Retired keys stay in the JWKS until the tokens they signed have expired (token lifetime + 5 min);
    keys past that are deleted by the next rotation.
    """
    from vtn.auth.tokens import rotate_keys
    from vtn.core.settings import get_settings

    lifetime = timedelta(seconds=get_settings().token_lifetime_seconds)
    new, retiring, removed = run_in_session(lambda s: rotate_keys(s, timedelta(seconds=activate_in), lifetime))
    typer.echo(f"new key {new.kid}: published now, signs from {new.active_from.isoformat(timespec='seconds')}")
    for row in retiring:
        typer.echo(f"retiring {row.kid} at {row.retired_at.isoformat(timespec='seconds')}")
    for kid in removed:
        typer.echo(f"removed {kid} (retired longer than a token lifetime ago)")


@certs_app.command("dev")
def certs_dev(
    out: Annotated[Path, typer.Option(help="Directory for the PEM files.")],
    ven: Annotated[str, typer.Option(help="Name (CN and SAN) of the VEN client certificate.")] = "ven-1",
    bl: Annotated[str, typer.Option(help="Name (CN and SAN) of the BL client certificate.")] = "bl-1",
    host: Annotated[list[str] | None, typer.Option(help="Server SAN (repeat); default 127.0.0.1 and localhost.")] = None,
) -> None:
    """Create a development CA, a server certificate and client certificates (ECDSA P-256)."""
    from vtn.auth.devcerts import make_dev_pki

    ca, server, issued = make_dev_pki(out, ven=ven, bl=bl, hosts=tuple(host or ("127.0.0.1", "localhost")))
    typer.echo(f"CA:      {ca.cert_path}")
    typer.echo(f"server:  {server.cert_path} {server.key_path}")
    for item in issued:
        typer.echo(f"client:  {item.cert_path} {item.key_path}  subject DN: {item.subject_dn}")
    typer.echo(f"serve:   vtn serve --tls-cert {server.cert_path} --tls-key {server.key_path} --client-ca {ca.cert_path}")
