"""`provisioner bundle create|list|revoke`: enrolment bundles for devices the tool never manages."""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table
from rich.text import Text

from provisioner.cli import render
from provisioner.cli.common import NO_ACCEL, cancellable, command, run_settings, settings_of
from provisioner.errors import ExitCode, InputError
from provisioner.models.run import BundleState, format_seen

if TYPE_CHECKING:
    from provisioner.models.bundle import BundleCreated


def _date(value: str | None) -> datetime.date | None:
    if value is None:
        return None
    try:
        return datetime.date.fromisoformat(value)
    except ValueError:
        raise InputError(f"--expires: {value!r} is not a date (YYYY-MM-DD)") from None


def bundle_create(
    ctx: typer.Context,
    comune: Annotated[str, typer.Argument(help="Comune slug (directory under inventory/).")],
    user: Annotated[str, typer.Option("--user", help="The user (comune_rdp_users).")],
    desktop: Annotated[
        str | None,
        typer.Option(help="The user's office desktop (checked against comune_rdp_users)."),
    ] = None,
    expires: Annotated[
        str | None,
        typer.Option(help="Last day it works (YYYY-MM-DD); the next run after it drops the peer."),
    ] = None,
    name: Annotated[
        str | None,
        typer.Option(help="Inventory name of the device (default bundle-<user>[-N])."),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option(help="Directory the bundle is written to (default: the current one)."),
    ] = None,
    no_accel: Annotated[bool, NO_ACCEL] = False,
) -> None:
    """Issue a bundle: WireGuard (file and QR code), .rdp, meeting link, instructions, sealed."""
    from provisioner.core import bundles  # noqa: PLC0415

    settings = run_settings(ctx, no_accel)
    with cancellable() as cancel, render.Progress(f"bundle create {comune}") as progress:
        created = bundles.create(
            settings,
            comune,
            user,
            name=name,
            desktop=desktop,
            expires=_date(expires),
            output_dir=output,
            on_event=progress,
            cancel=cancel,
        )
    render.run_report(created.report)
    _render_created(created)
    if created.exit_code != ExitCode.OK:
        raise typer.Exit(int(created.exit_code))


def _render_created(created: BundleCreated) -> None:
    console = render.console
    for note in created.notes[len(created.report.notes) :]:
        console.print(f"[yellow]note:[/] {note}", soft_wrap=True)
    if created.path is None:
        render.error([f"{created.name}: no bundle issued"])
        return
    console.print(
        f"[green]bundle[/] {created.path} for {created.user} ({created.name}, VPN address "
        f"{created.address}): {', '.join(created.files)}",
        soft_wrap=True,
    )
    # Shown once, kept nowhere: the technician gives it by another channel (phone, SMS).
    console.print(
        Text.assemble("one-time passphrase: ", (created.passphrase, "bold")), soft_wrap=True
    )
    console.print(
        "send the file by e-mail and the passphrase by another channel (phone, SMS); it is not "
        "stored anywhere: a lost passphrase means revoke and create again",
        soft_wrap=True,
    )


def bundle_list(
    ctx: typer.Context,
    comune: Annotated[str, typer.Argument(help="Comune slug.")],
    refresh: Annotated[
        bool,
        typer.Option(
            "--refresh/--no-refresh",
            help="Read the terminator's peers now (default) or show what history remembers.",
        ),
    ] = True,
) -> None:
    """The comune's bundles: user, address, created, expires, state, last seen."""
    from provisioner.core import bundles  # noqa: PLC0415

    with cancellable() as cancel:
        listing = bundles.list_bundles(settings_of(ctx), comune, refresh=refresh, cancel=cancel)
    table = Table(title=f"bundles of {comune} (terminator {listing.terminator})")
    for col in ("device", "user", "address", "created", "expires", "state", "last seen"):
        table.add_column(col, overflow="fold")
    for b in listing.bundles:
        table.add_row(
            b.name,
            b.user or "-",
            b.address or "-",
            b.created.strftime("%Y-%m-%d %H:%M UTC") if b.created else "-",
            b.expires.isoformat() if b.expires else "-",
            str(b.state),
            "-" if b.state == BundleState.NOT_ISSUED else format_seen(b.last_seen),
        )
    render.console.print(table)
    if listing.note:
        render.console.print(
            f"[dim]peers not read now ({listing.note}): last seen as remembered[/]", soft_wrap=True
        )


def bundle_revoke(
    ctx: typer.Context,
    comune: Annotated[str, typer.Argument(help="Comune slug.")],
    name: Annotated[str, typer.Argument(help="The device's name (see `bundle list`).")],
    no_accel: Annotated[bool, NO_ACCEL] = False,
) -> None:
    """Revoke a bundle: its peer leaves the terminator, then the device the inventory."""
    from provisioner.core import bundles  # noqa: PLC0415

    settings = run_settings(ctx, no_accel)
    with cancellable() as cancel, render.Progress(f"bundle revoke {name}") as progress:
        revoked = bundles.revoke(settings, comune, name, on_event=progress, cancel=cancel)
    if revoked.report is not None:
        render.run_report(revoked.report)
    if not revoked.removed:
        render.error([f"{name}: the peer was not removed; the inventory is unchanged"])
        raise typer.Exit(int(revoked.exit_code))
    address = f", VPN address {revoked.address} is free" if revoked.address else ""
    render.console.print(f"{name} revoked in comune {comune}{address}; its name is not reused")


def register(app: typer.Typer) -> None:
    """Add the ``bundle`` group to the root app."""
    group = typer.Typer(
        help="Enrolment bundles for devices the tool does not manage (Windows, macOS, phones).",
        no_args_is_help=True,
    )
    command(group, "create")(bundle_create)
    command(group, "list")(bundle_list)
    command(group, "revoke")(bundle_revoke)
    app.add_typer(group, name="bundle")
