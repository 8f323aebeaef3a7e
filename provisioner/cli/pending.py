"""`provisioner pending` and `provisioner watch`: work waiting for hosts that were offline."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from provisioner.cli import render
from provisioner.cli.common import cancellable, command, settings_of

if TYPE_CHECKING:
    from provisioner.core.watch import WatchEvent


def pending(
    ctx: typer.Context,
    comune: Annotated[str | None, typer.Option("--comune", help="Only this comune.")] = None,
    include_settled: Annotated[
        bool, typer.Option("--all", help="Also work applied, failed for good or expired.")
    ] = False,
) -> None:
    """What each host still needs: work left for hosts that were offline, until seen and done."""
    from provisioner.core import pending as pending_core  # noqa: PLC0415

    items = pending_core.ledger(settings_of(ctx), comune, include_settled=include_settled)
    render.console.print(render.pending_table(items))


def watch(
    ctx: typer.Context,
    comune: Annotated[
        list[str] | None, typer.Option("--comune", help="Only these comuni (repeatable).")
    ] = None,
    interval: Annotated[
        float, typer.Option(help="Seconds between two looks at who is on.", min=1)
    ] = 30.0,
    rounds: Annotated[
        int | None, typer.Option(help="Stop after this many rounds (default: until Ctrl-C).", min=1)
    ] = None,
) -> None:
    """Apply pending work as soon as its host appears (its tunnel makes a handshake)."""
    from provisioner.core import watch as watch_core  # noqa: PLC0415

    def show(event: WatchEvent) -> None:
        style = {"applied": "green", "failed": "red", "expired": "dim", "error": "red"}
        where = f"{event.comune}/{event.host}" if event.host else event.comune
        render.console.print(
            f"[{style.get(event.kind, 'cyan')}]{event.kind}[/] {where}: {event.detail}",
            soft_wrap=True,
        )
        if event.report is not None:
            render.run_report(event.report)

    with cancellable() as cancel:
        watch_core.watch(
            settings_of(ctx),
            list(comune or []) or None,
            interval=interval,
            rounds=rounds,
            on_event=show,
            cancel=cancel,
        )


def register(app: typer.Typer) -> None:
    """Add ``pending`` and ``watch`` to the root app."""
    command(app)(pending)
    command(app)(watch)
