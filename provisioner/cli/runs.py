"""`provisioner runs list|show`: the run history."""

from __future__ import annotations

from typing import Annotated

import typer

from provisioner.cli import render
from provisioner.cli.common import command, settings_of


def runs_list(
    ctx: typer.Context,
    comune: Annotated[str | None, typer.Option(help="Only this comune.")] = None,
    last: Annotated[int, typer.Option(help="How many runs.", min=1)] = 20,
) -> None:
    """Newest runs first, with the drift count of each comply run."""
    from provisioner.core import runs as runs_core  # noqa: PLC0415

    render.console.print(render.runs_table(runs_core.list_runs(settings_of(ctx), comune, last)))


def runs_show(
    ctx: typer.Context, run_id: Annotated[str, typer.Argument(help="Run id (or a unique prefix).")]
) -> None:
    """One run: hosts, changed and failed tasks with diffs."""
    from provisioner.core import runs as runs_core  # noqa: PLC0415

    render.run_detail(runs_core.show_run(settings_of(ctx), run_id))


def register(app: typer.Typer) -> None:
    """Add the ``runs`` group to the root app."""
    group = typer.Typer(help="Run history.", no_args_is_help=True)
    command(group, "list")(runs_list)
    command(group, "show")(runs_show)
    app.add_typer(group, name="runs")
