"""What every command module shares: settings, error handling, Ctrl-C, common options."""

from __future__ import annotations

import functools
import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, ParamSpec, TypeVar

import typer

from provisioner.cli import render
from provisioner.config import Settings
from provisioner.errors import ExitCode, ProvisionerError
from provisioner.models.run import Cancel

P = ParamSpec("P")
R = TypeVar("R")

NO_ACCEL = typer.Option(
    "--no-accel",
    help="Plain Ansible without Mitogen (also: accel = false in config.toml, PROVISIONER_ACCEL=0).",
)
COMUNE_OF_HOST = typer.Option(
    "--comune", help="Comune of the host, when the same name exists in several comuni."
)


def handle_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Turn a ProvisionerError into red lines on stderr and its exit code; anything unexpected
    into one line naming a log with the details (exit 1), never a traceback."""

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
        except (typer.Exit, typer.Abort, typer.TyperException):
            raise
        except Exception as exc:
            from provisioner.core import diagnostics  # noqa: PLC0415

            settings = _settings_in([*args, *kwargs.values()])
            render.error([diagnostics.unexpected(exc, _command_line(), settings)])
            raise typer.Exit(int(ExitCode.ERROR)) from None

    return wrapper


def _settings_in(arguments: list[object]) -> Settings | None:
    """The settings the root callback built, from the command's context argument."""
    for argument in arguments:
        find_root = getattr(argument, "find_root", None)  # typer's (vendored click) Context
        if callable(find_root):
            obj = find_root().obj
            return obj if isinstance(obj, Settings) else None
    return None


def _command_line() -> str:
    """This process's command line, secrets masked (for logs and history)."""
    from provisioner.core import invocation  # noqa: PLC0415

    return invocation.command_line()


def command(group: typer.Typer, name: str | None = None) -> Callable[[Callable[P, R]], Any]:
    """Register ``func`` as a command of ``group`` with the project's error handling."""

    def decorate(func: Callable[P, R]) -> Any:
        return group.command(name)(handle_errors(func))

    return decorate


def settings_of(ctx: typer.Context) -> Settings:
    """Settings built by the root callback."""
    settings = ctx.find_root().obj
    assert isinstance(settings, Settings)
    return settings


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


@contextmanager
def cancellable() -> Iterator[Cancel]:
    """Ctrl-C during a run: the first stops Ansible between tasks (the running task and its
    handlers finish, the run is recorded canceled); the second kills Ansible at once; a third,
    should the second not be noticed, interrupts this process."""
    cancel = Cancel()

    def on_sigint(signum: int, frame: Any) -> None:
        if cancel.abort.is_set():
            raise KeyboardInterrupt
        if cancel.is_set():
            cancel.abort.set()
            render.err_console.print("[red]aborting: killing Ansible now[/]")
            return
        cancel.set()
        render.err_console.print(
            "[yellow]cancelling: the running task finishes, no new task starts "
            "(Ctrl-C again to abort at once)[/]"
        )

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        yield cancel
    finally:
        signal.signal(signal.SIGINT, previous)


def split_values(values: list[str] | None) -> tuple[str, ...]:
    """Repeated and comma-separated option values as one tuple (``-t a,b -t c``)."""
    return tuple(v.strip() for item in values or [] for v in item.split(",") if v.strip())
