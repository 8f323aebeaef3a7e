"""`provisioner comply`, `drift show` and `schedule ...`: parse flags, call the core, render."""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table
from rich.text import Text

from provisioner.cli import render
from provisioner.cli.common import NO_ACCEL, cancellable, command, run_settings, settings_of
from provisioner.errors import ExitCode
from provisioner.models.run import BundleState, format_seen

if TYPE_CHECKING:
    from provisioner.core.schedule import Schedule, Scope
    from provisioner.models.comply import ComuneResult, DriftItem

_SCOPE_HELP = (
    "auto (user if systemd runs here, else cron), user (systemd --user), "
    "system (/etc/systemd/system) or cron (/etc/cron.d)."
)
_WATCH_SCOPE_HELP = (
    "auto (user; needs systemd), user (systemd --user) or system (/etc/systemd/system)."
)


def drift_lines(items: list[DriftItem]) -> Table:
    """Drift items: host, role, task and the diff (or why there is none)."""
    table = Table(title=f"drift ({len(items)})", show_lines=True)
    for col in ("host", "role", "task", "diff"):
        table.add_column(col, overflow="fold")
    for d in items:
        if d.redacted:
            detail = Text("drifted; details hidden (secret)", style="italic")
        elif d.diff:
            detail = Text(d.diff)
        else:
            detail = Text(d.message or "(no diff from this module)")
        table.add_row(d.host, d.role, d.task, detail)
    return table


def result_line(result: ComuneResult) -> None:
    """One comune's verdict, then its drift items."""
    code = int(result.exit_code)
    if result.error:
        render.error([f"{result.comune}: {result.error} (exit {code})"])
        return
    assert result.report is not None
    outcome = result.report.outcome
    bad = [h.host for h in outcome.hosts if h.failed or h.unreachable]
    colour = "red" if bad else ("yellow" if result.drift else "green")
    render.console.print(
        f"[{colour}]{result.comune}[/]: run {result.report.run_id}, {len(outcome.hosts)} hosts, "
        f"{len(result.drift)} drift items on {len(result.drifted_hosts)} hosts"
        + (f", failed/unreachable: {', '.join(bad)}" if bad else "")
        + f", {outcome.finished - outcome.started:.1f}s, exit {code}"
    )
    for t in outcome.failed_tasks:
        render.console.print(f"  [red]{t.outcome}[/] {t.host} / {t.role} / {t.task}: {t.message}")
    for lost in result.lost:
        render.console.print(
            f"  [yellow]run {lost} interrupted[/] (its worker was lost): run again as "
            f"{result.report.run_id}"
        )
    for off in result.report.offline:
        render.console.print(f"  [blue]offline, not checked[/] {off}")
    for check in outcome.readiness:
        if not check.ok:
            render.console.print(f"  [red]readiness[/] {check.host}: {check}")
    for b in result.report.bundles:
        fine = b.state in {BundleState.ACTIVE, BundleState.NOT_ISSUED, BundleState.EXPIRED}
        expires = f", expires {b.expires.isoformat()}" if b.expires else ""
        render.console.print(
            f"  [{'green' if fine else 'yellow'}]bundle[/] {b.name} ({b.user or '-'}, "
            f"{b.address or 'no address'}): {b.state}, last seen {format_seen(b.last_seen)}"
            f"{expires}",
            soft_wrap=True,
        )
    if result.drift:
        render.console.print(drift_lines(list(result.drift)))
    if result.files is not None:
        render.console.print(f"  report: {result.files.html}")
    if result.remediation is not None:
        remediation = result.remediation
        render.console.print(
            f"  remediation run {remediation.run_id} on {', '.join(result.drifted_hosts)}: "
            f"{remediation.outcome.status.value}, exit {int(remediation.exit_code)}"
        )


def comply(
    ctx: typer.Context,
    comuni: Annotated[
        list[str] | None, typer.Argument(help="Comune slugs (directories under inventory/).")
    ] = None,
    all_comuni: Annotated[
        bool, typer.Option("--all", help="Every comune with an inventory.")
    ] = False,
    remediate: Annotated[
        bool,
        typer.Option("--remediate", help="Converge the drifted hosts (apply mode) afterwards."),
    ] = False,
    parallel: Annotated[
        int | None,
        typer.Option(
            help="How many comuni run at the same time (default: 2; with the job queue, two "
            "per live worker).",
            min=1,
            max=512,
        ),
    ] = None,
    report_dir: Annotated[
        Path | None,
        typer.Option(help="Where HTML/JSON/JUnit reports go (default <state dir>/reports)."),
    ] = None,
    skip_if_running: Annotated[
        bool,
        typer.Option(
            "--skip-if-running", help="Exit 0 without running if the same comply still runs."
        ),
    ] = False,
    no_accel: Annotated[bool, NO_ACCEL] = False,
) -> None:
    """Check comuni against the enable playbook (check mode with diffs); exit 7 on drift."""
    from provisioner.core import comply as comply_core  # noqa: PLC0415

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    settings = run_settings(ctx, no_accel)
    names = list(comuni or [])
    single = len(names) == 1 and not all_comuni
    view = render.Progress(f"comply {names[0]}") if single else contextlib.nullcontext(None)
    with cancellable() as cancel, view as live:
        run = comply_core.comply(
            settings,
            names,
            all_comuni=all_comuni,
            remediate=remediate,
            parallel=parallel,
            report_dir=report_dir,
            # One comune: live progress; several: one verdict line each as it ends.
            on_event=(lambda _name: live) if single else None,
            on_result=None if single else result_line,
            cancel=cancel,
            skip_if_running=skip_if_running,
        )
    if run.skipped:
        render.console.print(f"skipped: the previous comply ({run.skipped}) still runs")
        return
    if single:
        result_line(run.results[0])
    if run.index is not None:
        render.console.print(f"index: {run.index}")
    if run.exit_code != ExitCode.OK:
        raise typer.Exit(int(run.exit_code))


def drift_show(
    ctx: typer.Context, comune: Annotated[str, typer.Argument(help="Comune slug.")]
) -> None:
    """The latest comply run of a comune and its drift, with diffs."""
    from provisioner.core import comply as comply_core  # noqa: PLC0415

    view = comply_core.latest_drift(settings_of(ctx), comune)
    r = view.run
    render.console.print(
        f"comune {comune}: latest comply run {r.id}, {render.when(r.started)}, status {r.status}, "
        f"{len(view.drift)} drift items"
    )
    if view.drift:
        render.console.print(drift_lines(view.drift))


def schedule_add(
    ctx: typer.Context,
    at: Annotated[str, typer.Option("--at", help="Time of day, HH:MM (24 h).")],
    comune: Annotated[
        list[str] | None, typer.Option("--comune", help="Comune to check (repeatable).")
    ] = None,
    all_comuni: Annotated[bool, typer.Option("--all", help="Every comune.")] = False,
    remediate: Annotated[bool, typer.Option("--remediate", help="Also converge drift.")] = False,
    scope: Annotated[str, typer.Option(help=_SCOPE_HELP)] = "auto",
    unit_dir: Annotated[
        Path | None, typer.Option(help="Write the units/cron file here instead.")
    ] = None,
    report_dir: Annotated[Path | None, typer.Option(help="Reports of the runs go here.")] = None,
    no_activate: Annotated[
        bool, typer.Option("--no-activate", help="Only write the files (no systemctl).")
    ] = False,
) -> None:
    """Run comply every day at a time; a run still going when the next is due is not doubled."""
    from provisioner.core import schedule as schedule_core  # noqa: PLC0415
    from provisioner.errors import InputError  # noqa: PLC0415

    if bool(comune) == all_comuni:
        raise InputError("schedule add: give --comune X (one or more) or --all")
    made = schedule_core.add(
        settings_of(ctx),
        comuni=list(comune or []),
        at=at,
        remediate=remediate,
        scope=_scope(scope),
        directory=unit_dir,
        report_dir=report_dir,
        activate=not no_activate,
    )
    _installed(made, f"every day at {made.at}")


def schedule_watch(
    ctx: typer.Context,
    comune: Annotated[
        list[str] | None,
        typer.Option("--comune", help="Only these comuni (repeatable; default: every comune)."),
    ] = None,
    interval: Annotated[
        float, typer.Option(help="Seconds between two looks at who is on.", min=1)
    ] = 30.0,
    scope: Annotated[str, typer.Option(help=_WATCH_SCOPE_HELP)] = "auto",
    unit_dir: Annotated[Path | None, typer.Option(help="Write the unit here instead.")] = None,
    no_activate: Annotated[
        bool, typer.Option("--no-activate", help="Only write the file (no systemctl).")
    ] = False,
) -> None:
    """Run `provisioner watch` as a systemd service, restarted if it fails."""
    from provisioner.core import schedule as schedule_core  # noqa: PLC0415

    made = schedule_core.add_watch(
        settings_of(ctx),
        comuni=list(comune or []),
        interval=interval,
        scope=_scope(scope),
        directory=unit_dir,
        activate=not no_activate,
    )
    _installed(made, made.at)


def schedule_list(
    ctx: typer.Context,
    scope: Annotated[str, typer.Option(help=_SCOPE_HELP)] = "auto",
    unit_dir: Annotated[Path | None, typer.Option(help="Look here instead.")] = None,
) -> None:
    """Installed schedules of a scope."""
    from provisioner.core import schedule as schedule_core  # noqa: PLC0415

    table = Table(title="schedules")
    for col in ("name", "at", "scope", "command"):
        table.add_column(col, overflow="fold")
    for s in schedule_core.list_schedules(settings_of(ctx), _scope(scope), unit_dir):
        table.add_row(s.name, s.at, s.scope, s.command)
    render.console.print(table)


def schedule_remove(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Schedule name (see 'schedule list').")],
    scope: Annotated[str, typer.Option(help=_SCOPE_HELP)] = "auto",
    unit_dir: Annotated[Path | None, typer.Option(help="Look here instead.")] = None,
    no_activate: Annotated[
        bool, typer.Option("--no-activate", help="Only delete the files (no systemctl).")
    ] = False,
) -> None:
    """Stop and delete a schedule."""
    from provisioner.core import schedule as schedule_core  # noqa: PLC0415

    gone = schedule_core.remove(
        settings_of(ctx), name, _scope(scope), unit_dir, activate=not no_activate
    )
    render.console.print(f"removed schedule {gone.name} ({', '.join(map(str, gone.files))})")


def _installed(made: Schedule, when: str) -> None:
    """The files written, when the schedule runs, and its notes (lingering)."""
    for path in made.files:
        render.console.print(f"wrote {path}")
    render.console.print(f"schedule {made.name}: {when} ({made.scope})")
    for note in made.notes:
        style = "yellow" if note.startswith("warning") else ""
        render.console.print(note, style=style, markup=False, highlight=False)


def _scope(value: str) -> Scope:
    from provisioner.core.schedule import resolve  # noqa: PLC0415

    return resolve(value)


def register(app: typer.Typer) -> None:
    """Add ``comply`` and the ``drift`` and ``schedule`` groups to the root app."""
    command(app, "comply")(comply)
    drift = typer.Typer(help="Drift found by comply runs.", no_args_is_help=True)
    command(drift, "show")(drift_show)
    app.add_typer(drift, name="drift")
    schedule = typer.Typer(
        help="Nightly comply runs (systemd timers or cron) and the watch service.",
        no_args_is_help=True,
    )
    command(schedule, "add")(schedule_add)
    command(schedule, "watch")(schedule_watch)
    command(schedule, "list")(schedule_list)
    command(schedule, "remove")(schedule_remove)
    app.add_typer(schedule, name="schedule")
