"""The `provisioner` command: parse flags, call the core, render. Nothing else."""

from __future__ import annotations

import functools
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, ParamSpec, TypeVar

import typer

from provisioner.cli import render
from provisioner.config import Settings, load_settings
from provisioner.errors import ExitCode, ProvisionerError

P = ParamSpec("P")
R = TypeVar("R")

app = typer.Typer(
    help="Put a comune on remote work: VPN, remote desktop, meeting software, compliance.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
inventory_app = typer.Typer(help="Validate and show comune inventories.", no_args_is_help=True)
runs_app = typer.Typer(help="Run history.", no_args_is_help=True)
lab_app = typer.Typer(
    help="The built-in lab comune (podman containers on 127.0.0.1).", no_args_is_help=True
)
app.add_typer(inventory_app, name="inventory")
app.add_typer(runs_app, name="runs")
app.add_typer(lab_app, name="lab")


def handle_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Turn a ProvisionerError into red lines on stderr and its exit code."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except ProvisionerError as exc:
            render.error(exc.lines())
            raise typer.Exit(int(exc.exit_code)) from None
        except KeyboardInterrupt:
            render.error(["interrupted"])
            raise typer.Exit(int(ExitCode.CANCELLED)) from None

    return wrapper


def settings_of(ctx: typer.Context) -> Settings:
    """Settings built by the root callback."""
    settings = ctx.find_root().obj
    assert isinstance(settings, Settings)
    return settings


NO_ACCEL = typer.Option(
    "--no-accel",
    help="Plain Ansible without Mitogen (also: accel = false in config.toml, PROVISIONER_ACCEL=0).",
)


def run_settings(ctx: typer.Context, no_accel: bool) -> Settings:
    """Settings of a command that runs Ansible; one warning line if Mitogen is unavailable."""
    from provisioner.core import runs as runs_core  # noqa: PLC0415

    settings = settings_of(ctx)
    if no_accel:
        settings = settings.model_copy(update={"accel": False})
    warning = runs_core.acceleration(settings).warning
    if warning:
        render.err_console.print(warning, style="yellow", markup=False, highlight=False)
    return settings


@app.callback()
def root(
    ctx: typer.Context,
    state_dir: Annotated[
        Path | None,
        typer.Option(help="State directory (history, runs, lab keys). Env: PROVISIONER_STATE_DIR."),
    ] = None,
    inventory_dir: Annotated[
        Path | None,
        typer.Option(help="Root of comune inventories. Env: PROVISIONER_INVENTORY_DIR."),
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option(help="Config file (TOML); default ~/.config/provisioner/config.toml."),
    ] = None,
    vault_password_file: Annotated[
        Path | None, typer.Option(help="File holding the Ansible Vault password.")
    ] = None,
) -> None:
    """Global options, resolved as config file, then environment, then these flags."""
    try:
        ctx.obj = load_settings(
            config,
            {
                "state_dir": state_dir,
                "inventory_dir": inventory_dir,
                "vault_password_file": vault_password_file,
            },
        )
    except ProvisionerError as exc:
        render.error(exc.lines())
        raise typer.Exit(int(exc.exit_code)) from None


@contextmanager
def cancellable() -> Iterator[threading.Event]:
    """Ctrl-C sets an event the runner polls; a second Ctrl-C interrupts at once."""
    cancel = threading.Event()

    def on_sigint(signum: int, frame: Any) -> None:
        if cancel.is_set():
            raise KeyboardInterrupt
        cancel.set()
        render.err_console.print("[yellow]cancelling: stopping Ansible (Ctrl-C again to abort)[/]")

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        yield cancel
    finally:
        signal.signal(signal.SIGINT, previous)


def _split(values: list[str] | None) -> tuple[str, ...]:
    return tuple(v.strip() for item in values or [] for v in item.split(",") if v.strip())


@app.command()
@handle_errors
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
    from provisioner.core import comply as comply_core  # noqa: PLC0415
    from provisioner.core import enable as enable_core  # noqa: PLC0415

    settings = run_settings(ctx, no_accel)
    with cancellable() as cancel, render.Progress(f"enable {comune}") as progress:
        report = enable_core.enable(
            settings,
            comune,
            limit=limit,
            check=check,
            diff=diff,
            tags=_split(tags),
            skip_tags=_split(skip_tags),
            on_event=progress,
            cancel=cancel,
        )
    render.run_report(report)
    files = comply_core.report_run(settings, report, report_dir)
    render.console.print(f"report: {files.html}")
    if report.exit_code != ExitCode.OK:
        raise typer.Exit(int(report.exit_code))


@inventory_app.command("validate")
@handle_errors
def inventory_validate(
    ctx: typer.Context, comune: Annotated[str, typer.Argument(help="Comune slug.")]
) -> None:
    """Validate a comune's inventory; errors name file, host and field."""
    from provisioner.core import inventory as inventory_core  # noqa: PLC0415

    inv = inventory_core.load(settings_of(ctx), comune)
    render.console.print(
        f"[green]ok[/] {inv.settings.comune_name} ({comune}): {len(inv.hosts)} hosts valid"
    )


@inventory_app.command("show")
@handle_errors
def inventory_show(
    ctx: typer.Context, comune: Annotated[str, typer.Argument(help="Comune slug.")]
) -> None:
    """Show a comune's settings and hosts."""
    from provisioner.core import inventory as inventory_core  # noqa: PLC0415

    render.console.print(render.inventory_table(inventory_core.load(settings_of(ctx), comune)))


@inventory_app.command("list")
@handle_errors
def inventory_list(ctx: typer.Context) -> None:
    """List the comuni that have an inventory."""
    from provisioner.core import inventory as inventory_core  # noqa: PLC0415

    for name in inventory_core.comunes(settings_of(ctx)):
        render.console.print(name)


@runs_app.command("list")
@handle_errors
def runs_list(
    ctx: typer.Context,
    comune: Annotated[str | None, typer.Option(help="Only this comune.")] = None,
    last: Annotated[int, typer.Option(help="How many runs.", min=1)] = 20,
) -> None:
    """Newest runs first, with the drift count of each comply run."""
    from provisioner.core import comply as comply_core  # noqa: PLC0415
    from provisioner.core import runs as runs_core  # noqa: PLC0415

    records = runs_core.list_runs(settings_of(ctx), comune, last)
    drift = comply_core.drift_counts(settings_of(ctx), records)
    render.console.print(render.runs_table(records, drift))


@runs_app.command("show")
@handle_errors
def runs_show(
    ctx: typer.Context, run_id: Annotated[str, typer.Argument(help="Run id (or a unique prefix).")]
) -> None:
    """One run: hosts, changed and failed tasks with diffs."""
    from provisioner.core import runs as runs_core  # noqa: PLC0415

    render.run_detail(runs_core.show_run(settings_of(ctx), run_id))


@lab_app.command("up")
@handle_errors
def lab_up(
    ctx: typer.Context,
    laptops: Annotated[
        int | None,
        typer.Option(
            "--laptops",
            min=1,
            help="Number of lab endpoints laptop-01..NN (default: as the last `lab up`, else 2).",
        ),
    ] = None,
) -> None:
    """Build the image if missing, start the lab comune, write inventory/lab/."""
    from provisioner.core.lab import Lab  # noqa: PLC0415

    lab = Lab(settings_of(ctx), laptops)
    with render.console.status("lab: building image if missing (debootstrap, ~1-2 min)"):
        lab.ensure_image()
    with render.console.status("lab: starting containers"):
        rows = lab.up()
    render.console.print(render.lab_table(rows))
    render.console.print(f"inventory written to {lab.inventory_dir}; next: provisioner enable lab")


@lab_app.command("image")
@handle_errors
def lab_image(ctx: typer.Context) -> None:
    """Build the lab's base image (Debian 13 minbase + systemd + sshd) if missing."""
    from provisioner.core.lab import IMAGE, Lab  # noqa: PLC0415

    with render.console.status("lab: building image (debootstrap, ~1-2 min)"):
        built = Lab(settings_of(ctx)).ensure_image()
    render.console.print(f"{IMAGE}: {'built' if built else 'present'}")


@lab_app.command("down")
@handle_errors
def lab_down(ctx: typer.Context) -> None:
    """Remove the lab containers and networks (keeps the image)."""
    from provisioner.core.lab import Lab  # noqa: PLC0415

    names = Lab(settings_of(ctx)).down()
    render.console.print(f"removed {len(names)} containers")


@lab_app.command("status")
@handle_errors
def lab_status(ctx: typer.Context) -> None:
    """State of the lab containers."""
    from provisioner.core.lab import Lab  # noqa: PLC0415

    render.console.print(render.lab_table(Lab(settings_of(ctx)).status()))


# Commands in their own modules register themselves on the app.
from provisioner.cli import comply as _comply  # noqa: E402

_comply.register(app)


def main() -> None:
    """Console-script entry point."""
    app()


# Command groups in their own modules register themselves on `app` / `inventory_app` when
# imported (they need the definitions above): reprovision/decommission; inventory import and
# new-comune.
from provisioner.cli import helpdesk, inventory_cmds  # noqa: E402

__all__ = ["app", "helpdesk", "inventory_cmds", "main"]
