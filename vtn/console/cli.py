"""`vtn users …`: console accounts (operators and FSP users)."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated

import typer

from vtn.console.models import AccountRole
from vtn.core.commands import add_enable_disable, run_or_exit

if TYPE_CHECKING:
    from vtn.console.service import IssuedInvitation

app = typer.Typer(help="Console accounts (operator or FSP users who sign in to the web console).", no_args_is_help=True)


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return str(typer.prompt("Password", hide_input=True, confirmation_prompt=True))


def _print_invitation(invitation: IssuedInvitation, action: str) -> None:
    from vtn.console import service
    from vtn.core.settings import get_settings

    settings = get_settings()
    typer.echo(f"{action} {invitation.username}. Send this one-time link to its person (valid until "
               f"{invitation.expires_at.isoformat(timespec='minutes')}):")
    typer.echo(service.invitation_url(settings, invitation.token))
    if not settings.public_url:
        typer.echo("note: VTN_PUBLIC_URL is not set, so the link uses VTN_HOST and VTN_PORT; set it to the address "
                   "people reach the VTN at.", err=True)


@app.command("invite")
def users_invite(
    username: Annotated[str, typer.Argument(help="The sign-in name.")],
    role: Annotated[AccountRole, typer.Option(help="operator (acts as BL) or fsp (acts as its VEN(s)).")],
    ven: Annotated[list[str] | None, typer.Option(help="VEN name an fsp account is bound to (repeat for several).")] = None,
    operator: Annotated[str, typer.Option(
        help="The network operator (tenant) of the account; omit on a single-operator VTN."
    )] = "",
) -> None:
    """Create an account without a password and print a one-time link with which its person chooses one
    (and, for operators, sets up two-factor sign-in). The recommended way to create accounts."""
    from vtn.console import service
    from vtn.core.settings import get_settings

    settings = get_settings()
    invitation = run_or_exit(lambda s: service.invite_user(s, username, role, ven or [], settings, operator=operator))
    _print_invitation(invitation, "invited")


@app.command("reset")
def users_reset(username: Annotated[str, typer.Argument(help="The account to reset.")]) -> None:
    """Lost device or password: clear the password, two-factor secret and recovery codes, end its sessions,
    and print a new one-time link (earlier links stop working)."""
    from vtn.console import service
    from vtn.core.settings import get_settings

    settings = get_settings()
    invitation = run_or_exit(lambda s: service.reset_user(s, username, settings))
    _print_invitation(invitation, "reset")


@app.command("add")
def users_add(
    username: Annotated[str, typer.Argument(help="The sign-in name.")],
    role: Annotated[AccountRole, typer.Option(help="operator (acts as BL) or fsp (acts as its VEN(s)).")],
    ven: Annotated[list[str] | None, typer.Option(help="VEN name an fsp account is bound to (repeat for several).")] = None,
    password_stdin: Annotated[bool, typer.Option(help="Read the password from the first line of stdin.")] = False,
    operator: Annotated[str, typer.Option(
        help="The network operator (tenant) of the account; omit on a single-operator VTN."
    )] = "",
) -> None:
    """Create an account with a password you type (prompted, or read from stdin; never an argument) and stored
    only as an argon2 hash. `vtn users invite` is the recommended way: the person chooses the password."""
    from vtn.console import service

    password = _read_password(password_stdin)
    user = run_or_exit(lambda s: service.add_user(s, username, role, password, ven or [], operator=operator))
    bound = f"  VENs: {', '.join(user.ven_names)}" if user.ven_names else ""
    typer.echo(f"created {user.username} ({user.role}){bound}")


@app.command("list")
def users_list() -> None:
    """List accounts: state (enabled, invited = no password yet, locked, DISABLED), two-factor, last sign-in."""
    from vtn.console import service
    from vtn.core.database import utcnow

    now = utcnow()
    for user in run_or_exit(service.list_users):
        if user.disabled:
            state = "DISABLED"
        elif user.locked_until and user.locked_until > now:
            state = f"locked until {user.locked_until.isoformat(timespec='seconds')}"
        elif user.password_hash is None:
            state = "invited"
        else:
            state = "enabled"
        last = user.last_signin_at.isoformat(timespec="seconds") if user.last_signin_at else "never"
        mfa = "2FA" if user.has_totp else "no 2FA"
        typer.echo(f"{user.username}\t{user.role}\t{user.operator or '-'}\t{','.join(user.ven_names) or '-'}\t{state}\t{mfa}"
                   f"\tlast sign-in: {last}")


async def _set_enabled(session, username: str, enabled: bool):  # type: ignore[no-untyped-def]
    from vtn.console import service

    return await service.set_disabled(session, username, not enabled)


add_enable_disable(app, "username", _set_enabled,
                   disable_help="Disable an account: it cannot sign in and its open sessions end at once.",
                   enable_help="Enable an account again (also clears a lock-out after failed sign-ins).")


@app.command("set-password")
def users_set_password(
    username: str,
    password_stdin: Annotated[bool, typer.Option(help="Read the password from the first line of stdin.")] = False,
) -> None:
    """Set a new password; the account's open sessions end."""
    from vtn.console import service

    password = _read_password(password_stdin)
    run_or_exit(lambda s: service.set_password(s, username, password))
    typer.echo(f"password changed for {username}")
