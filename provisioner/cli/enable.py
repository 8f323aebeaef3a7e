"""`provisioner enable`: converge a comune (or show what would change)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from provisioner.cli import render
from provisioner.cli.common import NO_ACCEL, cancellable, command, run_settings, split_values
from provisioner.errors import ExitCode


def enable(
    ctx: typer.Context,
    comune: Annotated[str, typer.Argument(help="Comune slug (directory under inventory/).")],
    check: Annotated[
        bool, typer.Option("--check", help="Dry run: show what would change, with diffs.")
    ] = False,
    limit: Annotated[
        str | None, typer.Option("--limit", "-l", help="Only these hosts/groups.")
    ] = None,
    tags: Annotated[
        list[str] | None, typer.Option("--tags", "-t", help="Only roles/tasks with these tags.")
    ] = None,
    skip_tags: Annotated[
        list[str] | None, typer.Option("--skip-tags", help="Skip these tags.")
    ] = None,
    diff: Annotated[
        bool | None, typer.Option("--diff/--no-diff", help="Show diffs (default: with --check).")
    ] = None,
    report_dir: Annotated[
        Path | None,
        typer.Option(help="Where HTML/JSON/JUnit reports go (default <state dir>/reports)."),
    ] = None,
    no_accel: Annotated[bool, NO_ACCEL] = False,
) -> None:
    """Enable remote work for a comune and print a per-host summary."""
    from provisioner.core import enable as enable_core  # noqa: PLC0415

    settings = run_settings(ctx, no_accel)
    with cancellable() as cancel, render.Progress(f"enable {comune}") as progress:
        report = enable_core.enable(
            settings,
            comune,
            limit=limit,
            check=check,
            diff=diff,
            tags=split_values(tags),
            skip_tags=split_values(skip_tags),
            on_event=progress,
            cancel=cancel,
            report_dir=report_dir,
        )
    render.run_report(report)
    if report.files is not None:
        render.console.print(f"report: {report.files.html}")
    if report.exit_code != ExitCode.OK:
        raise typer.Exit(int(report.exit_code))


def register(app: typer.Typer) -> None:
    """Add ``enable`` to the root app."""
    command(app)(enable)
