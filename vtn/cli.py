"""The `vtn` command: serve, migrate, manage clients."""

from __future__ import annotations

from typing import Annotated

import typer
import uvicorn

from vtn.auth.cli import certs_app, keys_app
from vtn.core.commands import add_enable_disable, run_in_session, run_or_exit
from vtn.core.migrate import shown_url, upgrade
from vtn.core.security import Role, Stage
from vtn.core.settings import get_settings

app = typer.Typer(help="OpenADR 3 VTN for GB flexibility.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
clients_app = typer.Typer(help="OAuth2 clients (BL and VEN).", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(clients_app, name="clients")
app.add_typer(__import__("vtn.notifications.cli", fromlist=["app"]).app, name="deliveries")
app.add_typer(__import__("vtn.notifications.cli", fromlist=["mqtt_app"]).mqtt_app, name="mqtt")
app.add_typer(keys_app, name="keys")
app.add_typer(certs_app, name="certs")
_gb_app = __import__("gb_profile.cli", fromlist=["app"]).app
# Registered here, not in gb_profile (which VENs install without the VTN): these work on the VTN's database.
_gb_app.add_typer(__import__("vtn.gb.cli", fromlist=["app"]).app, name="fsp-key")
_gb_app.add_typer(__import__("vtn.contracts.cli", fromlist=["app"]).app, name="terms")
_gb_app.add_typer(__import__("vtn.statements.cli", fromlist=["app"]).app, name="statements")
app.add_typer(_gb_app, name="gb")
app.add_typer(__import__("vtn.console.cli", fromlist=["app"]).app, name="users")
app.add_typer(__import__("vtn.audit.cli", fromlist=["app"]).app, name="audit")


@app.callback()
def _configure() -> None:
    # Every command logs like the server: VTN_LOG_LEVEL and VTN_LOG_FORMAT (docs/operations.md).
    from pydantic import ValidationError

    from vtn.core.logs import configure_logging

    try:
        settings = get_settings()
    except ValidationError:
        return  # a command that needs the settings reports what is wrong with them
    configure_logging(settings.log_level, settings.log_format)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to bind (VTN_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (VTN_PORT).")] = None,
    workers: Annotated[int | None, typer.Option(help="Worker processes (VTN_WORKERS).")] = None,
    base_path: Annotated[str | None, typer.Option(help="API base path (VTN_BASE_PATH).")] = None,
    database_url: Annotated[str | None, typer.Option(help="Database URL (VTN_DATABASE_URL).")] = None,
    migrate: Annotated[bool, typer.Option(help="Upgrade the database schema before serving.")] = True,
    tls_cert: Annotated[str | None, typer.Option(help="Server certificate (PEM): serve HTTPS, TLS 1.2 minimum.")] = None,
    tls_key: Annotated[str | None, typer.Option(help="Server private key (PEM).")] = None,
    client_ca: Annotated[str | None, typer.Option(help="CA bundle verifying client certificates (mTLS).")] = None,
    client_cert: Annotated[str, typer.Option(help="With --client-ca: 'required' or 'optional'.")] = "required",
) -> None:
    """Serve the VTN with uvicorn (the schema is upgraded first)."""
    import os

    overrides = {
        "VTN_HOST": host, "VTN_PORT": port, "VTN_WORKERS": workers, "VTN_BASE_PATH": base_path,
        "VTN_DATABASE_URL": database_url,
    }
    for key, value in overrides.items():
        if value is not None:
            os.environ[key] = str(value)  # worker processes read settings from the environment
    get_settings.cache_clear()
    settings = get_settings()
    if migrate:
        upgrade(settings.database_url)
    if (tls_cert is None) != (tls_key is None) or (client_ca and not tls_cert) or client_cert not in ("required", "optional"):
        raise typer.BadParameter("--tls-cert and --tls-key go together; --client-ca needs them; --client-cert required|optional")
    from vtn.auth.tls import uvicorn_ssl_options

    tls = uvicorn_ssl_options(tls_cert, tls_key, client_ca, client_cert) if tls_cert and tls_key else {}
    scheme = "https" if tls else "http"
    typer.echo(f"VTN on {scheme}://{settings.host}:{settings.port}{settings.base_path} ({shown_url(settings.database_url)})")
    uvicorn.run(
        "vtn.asgi:app",
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        log_level=settings.log_level,
        proxy_headers=False,
        **tls,
    )


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument(help="Target revision.")] = "head") -> None:
    """Upgrade the database schema (creates it on an empty database)."""
    settings = get_settings()
    upgrade(settings.database_url, revision)
    typer.echo(f"database at {revision}: {shown_url(settings.database_url)}")


@clients_app.command("add")
def clients_add(
    client_id: Annotated[str, typer.Argument(help="The client id to create.")],
    role: Annotated[Role, typer.Option(help="BL (network operator) or VEN (an FSP's VEN).")],
    ven_name: Annotated[str | None, typer.Option(help="The venName a VEN client is bound to.")] = None,
    scope: Annotated[list[str] | None, typer.Option(help="Granted scope (repeat); default: the role's set.")] = None,
    cert_subject_dn: Annotated[str | None, typer.Option(help="RFC 8705: bind a certificate subject DN.")] = None,
    cert_san: Annotated[str | None, typer.Option(help="RFC 8705: bind a certificate SAN (DNS, URI or e-mail).")] = None,
    no_secret: Annotated[bool, typer.Option(help="Certificate authentication only.")] = False,
    operator: Annotated[str, typer.Option(
        help="The network operator (tenant) the client belongs to, e.g. NGED; omit on a single-operator VTN."
    )] = "",
    stage: Annotated[Stage, typer.Option(
        help="A VEN client's stage: sandbox (sandbox programs only, until a sign-off is approved) or live."
    )] = Stage.LIVE,
) -> None:
    """Register a client; its secret is printed once and stored only as a hash."""
    from vtn.auth import service

    async def add(session):  # type: ignore[no-untyped-def]
        return await service.add_client(
            session, client_id, role, scopes=scope or None, ven_name=ven_name,
            cert_subject_dn=cert_subject_dn, cert_san=cert_san, with_secret=not no_secret, operator=operator,
            stage=stage,
        )

    created = run_or_exit(add)
    typer.echo(f"client_id:     {created.client.client_id}")
    if created.secret:
        typer.echo(f"client_secret: {created.secret}")
        typer.echo("(the secret is shown once; store it now)")
    typer.echo(f"role: {created.client.role}  scopes: {created.client.scopes}"
               + (f"  operator: {created.client.operator}" if created.client.operator else "")
               + (f"  stage: {created.client.stage}" if created.client.role == Role.VEN.value else ""))


@clients_app.command("list")
def clients_list() -> None:
    """List clients (never secrets)."""
    from vtn.auth import service

    rows = run_in_session(service.list_clients)
    for row in rows:
        state = "enabled" if row.enabled else "DISABLED"
        stage = row.stage if row.role == Role.VEN.value else "-"
        typer.echo(f"{row.client_id}\t{row.role}\t{row.operator or '-'}\t{row.ven_name or '-'}\t{state}\t{stage}\t{row.scopes}")


async def _set_client_enabled(session, client_id: str, enabled: bool):  # type: ignore[no-untyped-def]
    from vtn.auth import service

    return await service.set_enabled(session, client_id, enabled)


add_enable_disable(clients_app, "client id", _set_client_enabled,
                   disable_help="Disable a client: its tokens stop working within seconds.",
                   enable_help="Enable a disabled client again.")


@clients_app.command("rotate-secret")
def clients_rotate_secret(client_id: str) -> None:
    """Issue a new secret (printed once); the old one stops working at once."""
    from vtn.auth import service

    secret = run_or_exit(lambda s: service.rotate_secret(s, client_id))
    typer.echo(f"client_secret: {secret}")
    typer.echo("(the secret is shown once; store it now)")


@clients_app.command("promote")
def clients_promote(
    client_id: Annotated[str, typer.Argument(help="The sandbox VEN client to take live.")],
    signoff: Annotated[int, typer.Option(help="The sign-off (its VEN conformance report) this rests on.")],
) -> None:
    """Take a sandbox VEN client live: approves its pending sign-off SIGNOFF (as you, in the audit log)."""
    from vtn.signoff import service

    row = run_or_exit(lambda s: service.promote(s, client_id, signoff))
    typer.echo(f"client {client_id} is live (sign-off {row.id} {row.decision} by {row.approved_by})")


if __name__ == "__main__":
    app()
