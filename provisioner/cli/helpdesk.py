"""Helpdesk commands: `reprovision` and `decommission` one host, found among all comuni."""

from __future__ import annotations

from typing import Annotated

import typer

from provisioner.cli import render
from provisioner.cli.common import COMUNE_OF_HOST, NO_ACCEL, cancellable, command, run_settings
from provisioner.errors import ExitCode


def reprovision(
    ctx: typer.Context,
    host: Annotated[str, typer.Argument(help="Host name (any comune: found through the index).")],
    rotate_keys: Annotated[
        bool,
        typer.Option(
            "--rotate-keys",
            help="New VPN key pair on the endpoint; its peer is replaced in the same run.",
        ),
    ] = False,
    check: Annotated[
        bool, typer.Option("--check", help="Dry run: show what would change, with diffs.")
    ] = False,
    direct: Annotated[
        bool,
        typer.Option(
            "--direct",
            help="Reach it at its inventory address, not through the tunnel (a reinstalled "
            "laptop back at the office).",
        ),
    ] = False,
    comune: Annotated[str | None, COMUNE_OF_HOST] = None,
    no_accel: Annotated[bool, NO_ACCEL] = False,
) -> None:
    """Bring one host back to what its comune intends (plus its VPN peer on the gateway)."""
    from provisioner.core import helpdesk  # noqa: PLC0415

    with cancellable() as cancel, render.Progress(f"reprovision {host}") as progress:
        report = helpdesk.reprovision(
            run_settings(ctx, no_accel),
            host,
            comune=comune,
            rotate_keys=rotate_keys,
            check=check,
            direct=direct,
            on_event=progress,
            cancel=cancel,
        )
    render.run_report(report)
    render.host_roles(report, host)
    if report.exit_code == ExitCode.HOSTS_OFFLINE:
        render.error(
            [
                f"{host} is offline (its tunnel made no handshake lately): nothing was run; the "
                "work waits in `provisioner pending` and `provisioner watch` applies it when "
                "the laptop is back on"
            ]
        )
    if report.exit_code == ExitCode.HOSTS_UNREACHABLE:
        render.error(
            [
                f"{host} is unreachable (switched off, offline or its address changed): "
                "nothing was changed on it or on the VPN gateway"
            ]
        )
    if report.exit_code != ExitCode.OK:
        raise typer.Exit(int(report.exit_code))


def decommission(
    ctx: typer.Context,
    host: Annotated[str, typer.Argument(help="Host name (any comune: found through the index).")],
    check: Annotated[
        bool, typer.Option("--check", help="Dry run: show the gateway change, write nothing.")
    ] = False,
    comune: Annotated[str | None, COMUNE_OF_HOST] = None,
    no_accel: Annotated[bool, NO_ACCEL] = False,
) -> None:
    """Retire a host: its VPN peer leaves the gateway, then the host leaves the inventory."""
    from provisioner.core import helpdesk  # noqa: PLC0415

    with cancellable() as cancel, render.Progress(f"decommission {host}") as progress:
        result = helpdesk.decommission(
            run_settings(ctx, no_accel),
            host,
            comune=comune,
            check=check,
            on_event=progress,
            cancel=cancel,
        )
    if result.report is not None:
        render.run_report(result.report)
    if result.exit_code != ExitCode.OK:
        render.error([f"{host}: the gateway was not updated; the inventory is unchanged"])
        raise typer.Exit(int(result.exit_code))
    if check:
        render.console.print(f"{host} would be retired from comune {result.comune}")
        return
    address = f", VPN address {result.address} is free" if result.address else ""
    render.console.print(
        f"{host} retired from comune {result.comune}{address}; its run history is kept"
    )


def register(app: typer.Typer) -> None:
    """Add ``reprovision`` and ``decommission`` to the root app."""
    command(app)(reprovision)
    command(app)(decommission)
