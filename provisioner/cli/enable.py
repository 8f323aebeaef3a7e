"""`provisioner enable`: converge a comune (or show what would change)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from provisioner.cli import render
from provisioner.cli.common import NO_ACCEL, cancellable, command, run_settings, split_values
from provisioner.errors import ExitCode, InputError

if TYPE_CHECKING:
    from provisioner.models.run import ComuneRun


def enable(
    ctx: typer.Context,
    comuni: Annotated[
        list[str],
        typer.Argument(help="Comune slug(s) (directories under inventory/), run side by side."),
    ],
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
    parallel: Annotated[
        int | None,
        typer.Option(
            help="With several comuni: how many run at the same time (default: 2; with the "
            "job queue, two per live worker).",
            min=1,
            max=512,
        ),
    ] = None,
    no_accel: Annotated[bool, NO_ACCEL] = False,
) -> None:
    """Enable remote work for a comune and print a per-host summary (several comuni: one line
    each as it ends)."""
    from provisioner.core import enable as enable_core  # noqa: PLC0415

    settings = run_settings(ctx, no_accel)
    if len(comuni) > 1:
        if limit:
            raise InputError("--limit names hosts of one comune: enable one comune with it")
        with cancellable() as cancel:
            many = enable_core.enable_many(
                settings,
                comuni,
                check=check,
                diff=diff,
                tags=split_values(tags),
                skip_tags=split_values(skip_tags),
                parallel=parallel,
                report_dir=report_dir,
                on_result=comune_line,
                cancel=cancel,
            )
        if many.exit_code != ExitCode.OK:
            raise typer.Exit(int(many.exit_code))
        return
    comune = comuni[0]
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


def comune_line(result: ComuneRun) -> None:
    """One comune's verdict in a command over several comuni."""
    code = int(result.exit_code)
    if result.report is None:
        render.error([f"{result.comune}: {result.error} (exit {code})"])
        return
    report, outcome = result.report, result.report.outcome
    bad = [h.host for h in outcome.hosts if h.failed or h.unreachable]
    colour = "red" if bad or code not in {0, 9} else "green"
    render.console.print(
        f"[{colour}]{result.comune}[/]: run {report.run_id}, {outcome.status.value}, "
        f"{len(outcome.hosts)} hosts, {sum(h.changed for h in outcome.hosts)} changed"
        + (f", failed/unreachable: {', '.join(bad)}" if bad else "")
        + (f", on worker {outcome.worker}" if outcome.worker else "")
        + f", {outcome.finished - outcome.started:.1f}s, exit {code}"
    )
    for note in report.notes:
        render.console.print(f"  note: {note}")
    if outcome.error:
        render.error([f"{result.comune}: {line}" for line in outcome.error.splitlines()[-3:]])


def register(app: typer.Typer) -> None:
    """Add ``enable`` to the root app."""
    command(app)(enable)
