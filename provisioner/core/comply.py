"""Use case: compliance re-runs; drift is what the enable playbook would change (check+diff)."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from provisioner.config import Settings
from provisioner.core import diagnostics, reports
from provisioner.core import enable as enable_core
from provisioner.core import inventory as inventory_core
from provisioner.core import notify as notify_core
from provisioner.core.runs import fan_out, history
from provisioner.errors import BusyError, ExitCode, InputError, ProvisionerError
from provisioner.models.comply import ComplyRun, ComuneResult, DriftItem, drift_items, grid
from provisioner.models.history import RunRecord
from provisioner.models.run import COMPLY, RunStatus
from provisioner.ports import EventSink, Executor

USE_CASE = COMPLY
REMEDIATE = "remediate"
RETRIES = 1
"""New runs of a comply whose run was lost by its executor (a worker died): one."""


def _comply_comune(
    settings: Settings,
    comune: str,
    *,
    remediate: bool,
    report_dir: Path,
    on_event: EventSink | None,
    cancel: threading.Event | None,
    runner: Executor | None,
    console_user: str | None = None,
) -> ComuneResult:
    """Comply (and maybe remediate) one comune; any ProvisionerError becomes the result.

    A check run whose executor lost it (a queue worker killed mid-run: recorded ``interrupted``)
    is run once more, as a new run: it changes nothing, so running it twice is safe.
    """
    lost: list[str] = []
    try:
        for attempt in range(1 + RETRIES):
            report = enable_core.enable(
                settings,
                comune,
                check=True,
                diff=True,
                on_event=on_event,
                cancel=cancel,
                runner=runner,
                use_case=USE_CASE,
                report_dir=report_dir,
                console_user=console_user,
            )
            if report.outcome.status != RunStatus.INTERRUPTED or attempt == RETRIES:
                break
            lost.append(report.run_id)
    except ProvisionerError as exc:
        return ComuneResult(
            comune, error="; ".join(exc.lines()), error_code=exc.exit_code, lost=tuple(lost)
        )
    except Exception as exc:  # a bug must not stop the other comuni: it is this one's result
        line = diagnostics.unexpected(exc, f"comply {comune}", settings)
        return ComuneResult(comune, error=line, error_code=ExitCode.ERROR, lost=tuple(lost))
    result = ComuneResult(
        comune,
        report,
        tuple(drift_items(report)),
        tuple(grid(report.outcome)),
        files=report.files,
        lost=tuple(lost),
    )
    if not (remediate and result.drifted_hosts):
        return result
    try:
        remediation = enable_core.enable(
            settings,
            comune,
            limit=",".join(result.drifted_hosts),
            on_event=on_event,
            cancel=cancel,
            runner=runner,
            use_case=REMEDIATE,
            report_dir=report_dir,
            console_user=console_user,
        )
    except ProvisionerError as exc:
        return dataclasses.replace(
            result, error="remediation: " + "; ".join(exc.lines()), error_code=exc.exit_code
        )
    except Exception as exc:
        line = diagnostics.unexpected(exc, f"comply {comune} --remediate", settings)
        return dataclasses.replace(result, error=f"remediation: {line}", error_code=ExitCode.ERROR)
    return dataclasses.replace(result, remediation=remediation)


def comply(
    settings: Settings,
    comuni: Iterable[str],
    *,
    all_comuni: bool = False,
    remediate: bool = False,
    parallel: int | None = None,
    report_dir: Path | None = None,
    on_event: Callable[[str], EventSink | None] | None = None,
    on_result: Callable[[ComuneResult], None] | None = None,
    cancel: threading.Event | None = None,
    runner: Executor | None = None,
    skip_if_running: bool = False,
    console_user: str | None = None,
) -> ComplyRun:
    """Check comuni against the enable playbook, at most ``parallel`` at a time (default: see
    ``runs.fan_out``: 2 here, two per live worker with the queue executor).

    One comune failing (bad inventory, busy, unreachable hosts) never stops the others; its
    problem is its result. With ``remediate``, the drifted hosts of each comune are converged.

    With ``skip_if_running``, a comply of the same comuni still running elsewhere (a schedule
    that overran) makes this one return at once, ``skipped``. ``console_user``: the console's
    user who started it, recorded with each run.

    Raises:
        InputError: no comune named, an unknown comune, or both names and ``all_comuni``.
        ControllerError: the queue's Redis does not answer or no worker listens (once, before
            any comune is run or recorded).
    """
    names = _names(settings, list(comuni), all_comuni)
    width = fan_out(settings, parallel) if runner is None else (parallel or 2)
    target = report_dir or default_report_dir(settings)
    lock_name = "all" if all_comuni else "-".join(names)
    with ExitStack() as stack:
        try:
            stack.enter_context(history(settings).lock(f"schedule-{lock_name}"))
        except BusyError:
            # The same comply still runs (a schedule that overran): skip, or run beside it
            # (each comune's own lock still keeps two runs off one comune).
            if skip_if_running:
                return ComplyRun((), skipped=lock_name)
        return _run(
            settings,
            names,
            all_comuni,
            remediate,
            width,
            target,
            on_event,
            on_result,
            cancel,
            runner,
            console_user,
        )


def _run(
    settings: Settings,
    names: list[str],
    all_comuni: bool,
    remediate: bool,
    parallel: int,
    target: Path,
    on_event: Callable[[str], EventSink | None] | None,
    on_result: Callable[[ComuneResult], None] | None,
    cancel: threading.Event | None,
    runner: Executor | None,
    console_user: str | None,
) -> ComplyRun:
    """The comuni, at most ``parallel`` at a time, each notified and reported as it ends."""

    def comply_and_notify(name: str, notices: notify_core.Dispatcher) -> ComuneResult:
        result = _comply_comune(
            settings,
            name,
            remediate=remediate,
            report_dir=target,
            on_event=on_event(name) if on_event else None,
            cancel=cancel,
            runner=runner,
            console_user=console_user,
        )
        # In the background: a webhook retrying with back-off never delays the next comune.
        notices.send(result)
        if on_result is not None:
            on_result(result)
        return result

    with (
        notify_core.dispatcher(settings) as notices,
        ThreadPoolExecutor(max_workers=max(1, min(parallel, len(names)))) as pool,
    ):
        results = tuple(pool.map(lambda name: comply_and_notify(name, notices), names))
    index = reports.write_index(results, target) if len(names) > 1 or all_comuni else None
    return ComplyRun(results, index)


def default_report_dir(settings: Settings) -> Path:
    """Where reports go unless ``--report-dir`` says otherwise."""
    return settings.state.reports


def _names(settings: Settings, comuni: list[str], all_comuni: bool) -> list[str]:
    known = inventory_core.comunes(settings)
    if all_comuni and comuni:
        raise InputError("comply: name comuni or use --all, not both")
    if all_comuni:
        if not known:
            raise InputError(f"{settings.inventory_dir}: no comune inventory found")
        return known
    if not comuni:
        raise InputError("comply: name at least one comune, or use --all")
    unknown = [c for c in comuni if c not in known]
    if unknown:
        raise InputError(
            f"{settings.inventory_dir}: no inventory for {', '.join(unknown)}"
            f" (known: {', '.join(known) or 'none'})"
        )
    return list(dict.fromkeys(comuni))


@dataclass(frozen=True)
class DriftView:
    """The latest compliance run of a comune with its drift items."""

    run: RunRecord
    drift: list[DriftItem]


def latest_drift(settings: Settings, comune: str) -> DriftView:
    """The newest comply run of a comune and its drift.

    Raises:
        InputError: the comune has no comply run yet.
    """
    store = history(settings)
    run = store.latest(comune, USE_CASE)
    if run is None:
        raise InputError(f"comune {comune!r}: no comply run yet; run 'provisioner comply {comune}'")
    return DriftView(run, store.drift_of(run.id))
