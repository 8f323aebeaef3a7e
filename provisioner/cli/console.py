"""`provisioner serve`, `users add|passwd|roles|remove|list` and `audit list`: the web console."""

from __future__ import annotations

import getpass
import ipaddress
import os
import sys
from typing import Annotated

import typer
from rich.table import Table

from provisioner.cli import render
from provisioner.cli.common import command, settings_of
from provisioner.config import Settings
from provisioner.errors import InputError
from provisioner.models.accounts import Grant, parse_grants

ROLE_HELP = "Role: admin, technician, helpdesk or viewer (repeatable)."
COMUNE_HELP = "A comune the roles apply to (repeatable); without it, --all-comuni is needed."


def _loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return address == "localhost"


def check_serving(settings: Settings) -> None:
    """Refuse what would expose the console unsafely: a non-loopback address without TLS.

    Raises:
        InputError: the problem and the settings that fix it.
    """
    cert, key = settings.console_tls_cert, settings.console_tls_key
    if (cert is None) != (key is None):
        raise InputError("console_tls_cert and console_tls_key go together: set both or neither")
    for path in (cert, key):
        if path is not None and not path.is_file():
            raise InputError(f"{path}: TLS file not found")
    if cert is None and not _loopback(settings.console_bind):
        raise InputError(
            f"console_bind = {settings.console_bind!r} without TLS: passwords and session cookies "
            "would cross the network in clear; set console_tls_cert and console_tls_key, or bind "
            "127.0.0.1 behind a TLS reverse proxy (console_trusted_proxies)"
        )


def serve(
    ctx: typer.Context,
    bind: Annotated[
        str | None, typer.Option(help="Address (config: console_bind, default 127.0.0.1).")
    ] = None,
    port: Annotated[
        int | None, typer.Option(help="Port (config: console_port, default 8080).", min=1)
    ] = None,
) -> None:
    """Run the web console (FastAPI + uvicorn) until stopped (Ctrl-C, SIGTERM).

    Runs started from the console are then canceled between tasks and recorded canceled.
    """
    import uvicorn  # noqa: PLC0415

    from provisioner.web.app import create_app  # noqa: PLC0415

    updates: dict[str, object] = {}
    if bind is not None:
        updates["console_bind"] = bind
    if port is not None:
        updates["console_port"] = port
    settings = settings_of(ctx).model_copy(update=updates)
    check_serving(settings)
    scheme = "https" if settings.console_tls_cert else "http"
    host = settings.console_bind
    shown = f"[{host}]" if ":" in host else host
    render.console.print(f"console: {scheme}://{shown}:{settings.console_port}/")
    uvicorn.run(
        create_app(settings),
        host=host,
        port=settings.console_port,
        ssl_certfile=str(settings.console_tls_cert) if settings.console_tls_cert else None,
        ssl_keyfile=str(settings.console_tls_key) if settings.console_tls_key else None,
        proxy_headers=bool(settings.console_trusted_proxies),
        forwarded_allow_ips=settings.console_trusted_proxies or None,
        server_header=False,
        log_level="info",
    )


def read_password(prompt: str = "Password") -> str:
    """A new password from the terminal (asked twice, not echoed) or one line of stdin.

    Never from the command line: argv is visible to every user of the machine and kept in
    shell histories.

    Raises:
        InputError: the two entries differ, or stdin is empty.
    """
    if sys.stdin.isatty():
        first = getpass.getpass(f"{prompt}: ")
        if getpass.getpass(f"{prompt} (again): ") != first:
            raise InputError("the passwords differ; nothing was changed")
        return first
    line = sys.stdin.readline().rstrip("\r\n")
    if not line:
        raise InputError("no password on stdin; nothing was changed")
    return line


def _grants(
    roles: list[str] | None, comuni: list[str] | None, all_comuni: bool
) -> tuple[Grant, ...]:
    if not roles:
        raise InputError("give at least one --role")
    if bool(comuni) == all_comuni:
        raise InputError("give --comune (one or more) or --all-comuni")
    try:
        return parse_grants(roles, None if all_comuni else comuni)
    except ValueError as exc:
        raise InputError(str(exc)) from None


def _audit(settings: Settings, action: str, target: str, detail: str = "") -> None:
    """Changes to console users are audited like console actions, by the OS user."""
    from provisioner.core import audit  # noqa: PLC0415

    audit.record(
        settings,
        user=f"cli:{getpass.getuser()}",
        source=f"cli (pid {os.getpid()})",
        action=action,
        target=target,
        outcome=audit.OK,
        detail=detail,
    )


def users_add(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="User name (lowercase).")],
    role: Annotated[list[str] | None, typer.Option("--role", help=ROLE_HELP)] = None,
    comune: Annotated[list[str] | None, typer.Option("--comune", help=COMUNE_HELP)] = None,
    all_comuni: Annotated[
        bool, typer.Option("--all-comuni", help="The roles apply to every comune.")
    ] = False,
) -> None:
    """Create a console user; the password is asked (or read from stdin), never an argument."""
    from provisioner.core import accounts  # noqa: PLC0415

    settings = settings_of(ctx)
    grants = _grants(role, comune, all_comuni)
    accounts.check_name(name)
    user = accounts.add_user(settings, name, read_password(), grants)
    _audit(settings, "users add", name, user.roles)
    render.console.print(f"user {user.name}: {user.roles}")


def users_passwd(
    ctx: typer.Context, name: Annotated[str, typer.Argument(help="User name.")]
) -> None:
    """Set a user's password (asked, or read from stdin); its open sessions end."""
    from provisioner.core import accounts  # noqa: PLC0415

    settings = settings_of(ctx)
    accounts.user(settings, name)
    accounts.set_password(settings, name, read_password("New password"))
    _audit(settings, "users passwd", name)
    render.console.print(f"user {name}: password changed, sessions ended")


def users_roles(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="User name.")],
    role: Annotated[list[str] | None, typer.Option("--role", help=ROLE_HELP)] = None,
    comune: Annotated[list[str] | None, typer.Option("--comune", help=COMUNE_HELP)] = None,
    all_comuni: Annotated[
        bool, typer.Option("--all-comuni", help="The roles apply to every comune.")
    ] = False,
) -> None:
    """Replace a user's roles and their comuni (effective on the user's next click)."""
    from provisioner.core import accounts  # noqa: PLC0415

    settings = settings_of(ctx)
    user = accounts.set_grants(settings, name, _grants(role, comune, all_comuni))
    _audit(settings, "users roles", name, user.roles)
    render.console.print(f"user {user.name}: {user.roles}")


def users_remove(
    ctx: typer.Context, name: Annotated[str, typer.Argument(help="User name.")]
) -> None:
    """Delete a user and end its sessions (its audit entries stay)."""
    from provisioner.core import accounts  # noqa: PLC0415

    settings = settings_of(ctx)
    accounts.remove_user(settings, name)
    _audit(settings, "users remove", name)
    render.console.print(f"user {name} removed")


def users_list(ctx: typer.Context) -> None:
    """Console users and their roles per comune."""
    from provisioner.core import accounts  # noqa: PLC0415

    table = Table(title="console users")
    for col in ("user", "roles", "created", "password changed"):
        table.add_column(col, overflow="fold")
    for user in accounts.users(settings_of(ctx)):
        table.add_row(
            user.name, user.roles, render.when(user.created), render.when(user.password_changed)
        )
    render.console.print(table)


def audit_list(
    ctx: typer.Context,
    user: Annotated[str | None, typer.Option("--user", help="Only this user.")] = None,
    action: Annotated[str | None, typer.Option("--action", help="Only this action.")] = None,
    last: Annotated[int, typer.Option(help="How many entries.", min=1)] = 50,
) -> None:
    """The audit trail, newest first: who, when, from where, what, on what, how it ended."""
    from provisioner.core import audit  # noqa: PLC0415

    table = Table(title="audit")
    for col in ("time", "user", "source", "action", "target", "outcome", "detail"):
        table.add_column(col, overflow="fold")
    for e in audit.entries(settings_of(ctx), user=user, action=action, limit=last):
        table.add_row(render.when(e.at), e.user, e.source, e.action, e.target, e.outcome, e.detail)
    render.console.print(table)


def register(app: typer.Typer) -> None:
    """Add ``serve`` and the ``users`` and ``audit`` groups to the root app."""
    command(app)(serve)
    users = typer.Typer(help="Web console users and their roles per comune.", no_args_is_help=True)
    command(users, "add")(users_add)
    command(users, "passwd")(users_passwd)
    command(users, "roles")(users_roles)
    command(users, "remove")(users_remove)
    command(users, "list")(users_list)
    app.add_typer(users, name="users")
    audit = typer.Typer(help="What was done from the console, by whom.", no_args_is_help=True)
    command(audit, "list")(audit_list)
    app.add_typer(audit, name="audit")
