"""`vtn deliveries`: inspect and re-drive notification deliveries from the command line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from vtn.core.commands import run_in_session
from vtn.core.pagination import Page

app = typer.Typer(help="Notification deliveries (webhook outbox).", no_args_is_help=True)


@app.command("list")
def list_command(
    status: Annotated[str | None, typer.Option(help="pending, failing or dead.")] = None,
    limit: Annotated[int, typer.Option(help="At most this many.")] = 50,
    skip: Annotated[int, typer.Option(help="Skip this many.")] = 0,
) -> None:
    """List deliveries that are not done yet (delivered ones are removed)."""
    from vtn.notifications.admin import delivery_item, list_deliveries

    if status not in (None, "pending", "failing", "dead"):
        raise typer.BadParameter("status must be pending, failing or dead")

    async def work(session: Any) -> list[dict[str, Any]]:
        return [delivery_item(r) for r in await list_deliveries(session, None, status, Page(skip, limit))]

    for item in run_in_session(work):
        typer.echo(
            f"{item['id']}\t{item['status']}\tattempts={item['attempts']}\t{item['objectType']} {item['operation']}"
            f"\t{item['callbackUrl']}\t{item['lastError'] or ''}"
        )


@app.command("redrive")
def redrive_command(
    delivery_id: Annotated[int | None, typer.Argument(help="The delivery to re-drive.")] = None,
    all_dead: Annotated[bool, typer.Option("--all-dead", help="Re-drive every dead delivery.")] = False,
) -> None:
    """Queue a dead (or failing) delivery again, with a fresh attempt budget."""
    from vtn.notifications.admin import redrive, redrive_dead

    if all_dead == (delivery_id is not None):
        raise typer.BadParameter("give a delivery id or --all-dead")
    if all_dead:
        count = run_in_session(lambda session: redrive_dead(session, None))
        typer.echo(f"re-driven: {count}")
        return
    assert delivery_id is not None

    async def one(session: Any) -> int | None:
        return (await redrive(session, None, delivery_id)).id

    from vtn.core.errors import NotFound

    try:
        typer.echo(f"re-driven: {run_in_session(one)}")
    except NotFound as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from exc


mqtt_app = typer.Typer(help="The MQTT notifier's broker (docs/notifications.md).", no_args_is_help=True)


@mqtt_app.command("acl")
def acl_command(
    acl_file: Annotated[Path, typer.Option(help="Mosquitto acl_file to write.")],
    password_file: Annotated[Path | None, typer.Option(help="Mosquitto password_file to write (hashes kept).")] = None,
    publisher: Annotated[str | None, typer.Option(help="The VTN's own broker user (VTN_MQTT_USERNAME).")] = None,
    publisher_password: Annotated[str | None, typer.Option(help="Its password (VTN_MQTT_PASSWORD).")] = None,
) -> None:
    """Write the broker ACL (each VEN client reads only its own ven's topics) and, with --password-file, the
    password file: clients without a broker password are issued one, printed once as JSON."""
    from vtn.core.settings import get_settings
    from vtn.notifications.broker import acl_text, broker_users, update_password_file
    from vtn.notifications.mqtt import Topics

    settings = get_settings()
    publisher = publisher or settings.mqtt_username
    topics = Topics(settings.mqtt_topic_prefix.strip("/"))
    users = run_in_session(lambda session: broker_users(session, topics, publisher))
    acl_file.write_text(acl_text(users))
    typer.echo(f"wrote {acl_file} ({len(users)} users)", err=True)
    if password_file is not None:
        given = {publisher: publisher_password or settings.mqtt_password or ""} if publisher else {}
        issued = update_password_file(password_file, [u.username for u in users], {k: v for k, v in given.items() if v})
        typer.echo(f"wrote {password_file}; new passwords below (shown once)", err=True)
        typer.echo(json.dumps(issued, indent=2))
