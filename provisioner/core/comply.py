"""Use case: compliance re-runs; drift is what the enable playbook would change (check+diff)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from provisioner.adapters.history import RunRecord
from provisioner.adapters.runner import EventSink, Executor
from provisioner.config import Settings
from provisioner.core import enable as enable_core
from provisioner.core import inventory as inventory_core
from provisioner.core import notify as notify_core
from provisioner.core import reports
from provisioner.core.runs import RunReport, history
from provisioner.errors import BusyError, ExitCode, InputError, ProvisionerError
from provisioner.models.comply import NO_ROLE, Cell, CellState, DriftItem
from provisioner.models.run import RunOutcome

USE_CASE = "comply"
REMEDIATE = "remediate"


@dataclass(frozen=True)
class ComuneResult:
    """What comply found for one comune (and what remediation did)."""

    comune: str
    report: RunReport | None = None
    drift: tuple[DriftItem, ...] = ()
    cells: tuple[Cell, ...] = ()
    remediation: RunReport | None = None
    error: str = ""
    error_code: ExitCode = ExitCode.OK
    files: reports.ReportFiles | None = None

    @property
    def exit_code(self) -> ExitCode:
        """Documented exit code: errors first, then failed/unreachable hosts, then drift."""
        if self.error:
            return self.error_code
        if self.remediation is not None:
            return self.remediation.exit_code
        assert self.report is not None
        code = self.report.exit_code
        if code == ExitCode.OK and self.drift:
            return ExitCode.DRIFT
        return code

    @property
    def drifted_hosts(self) -> list[str]:
        """Hosts with at least one drift item, sorted."""
        return sorted({d.host for d in self.drift})


@dataclass(frozen=True)
class ComplyRun:
    """Results of one ``comply`` invocation over one or more comuni."""

    results: tuple[ComuneResult, ...]
    index: Path | None = None

    @property
    def exit_code(self) -> ExitCode:
        """The most severe comune's code (error > failed > unreachable > drift > ok)."""
        order = [
            ExitCode.BAD_INPUT,
            ExitCode.ENVIRONMENT,
            ExitCode.ANSIBLE_ERROR,
            ExitCode.BUSY,
            ExitCode.HOSTS_FAILED,
            ExitCode.HOSTS_UNREACHABLE,
            ExitCode.CANCELLED,
            ExitCode.ERROR,
            ExitCode.DRIFT,
        ]
        codes = {r.exit_code for r in self.results}
        return next((c for c in order if c in codes), ExitCode.OK)


def drift_items(report: RunReport) -> list[DriftItem]:
    """Every task that would change, per host/role/task (the runner already redacted secrets)."""
    return [
        DriftItem(
            comune=report.comune,
            host=t.host,
            role=t.role or NO_ROLE,
            task=t.task,
            action=t.action,
            diff=t.diff,
            message=t.message,
            redacted=t.redacted,
        )
        for t in report.outcome.changed_tasks
        # A handler would run because of a drifted task, which is already the drift item.
        if not t.handler
    ]


def grid(outcome: RunOutcome) -> list[Cell]:
    """Host x role cells: every role that ran on a host, with its worst state.

    Roles come from the runner's events, so roles added to the playbook later appear unchanged.
    """
    pairs = {(h, r or NO_ROLE): None for h, r in outcome.host_roles}
    for t in outcome.tasks:
        pairs.setdefault((t.host, t.role or NO_ROLE), None)
    for h in outcome.hosts:
        if h.unreachable and not any(host == h.host for host, _ in pairs):
            pairs[(h.host, NO_ROLE)] = None
    cells = []
    for host, role in sorted(pairs):
        tasks = [
            t
            for t in outcome.tasks
            if t.host == host and (t.role or NO_ROLE) == role and not t.handler
        ]
        changed = sum(t.outcome == "changed" for t in tasks)
        failed = sum(t.outcome == "failed" for t in tasks)
        if any(t.outcome == "unreachable" for t in tasks):
            state = CellState.UNREACHABLE
        elif failed:
            state = CellState.FAILED
        elif changed:
            state = CellState.DRIFT
        else:
            state = CellState.COMPLIANT
        cells.append(Cell(host, role, state, changed, failed))
    return cells


def _one(
    settings: Settings,
    comune: str,
    *,
    remediate: bool,
    report_dir: Path,
    on_event: EventSink | None,
    cancel: threading.Event | None,
    runner: Executor | None,
) -> ComuneResult:
    """Comply (and maybe remediate) one comune; any ProvisionerError becomes the result."""
    try:
        report = enable_core.enable(
            settings,
            comune,
            check=True,
            diff=True,
            on_event=on_event,
            cancel=cancel,
            runner=runner,
            use_case=USE_CASE,
        )
    except ProvisionerError as exc:
        return ComuneResult(comune, error="; ".join(exc.lines()), error_code=exc.exit_code)
    drift = drift_items(report)
    history(settings).record_drift(report.run_id, drift)
    cells = grid(report.outcome)
    files = reports.write(report, drift, cells, report_dir)
    result = ComuneResult(comune, report, tuple(drift), tuple(cells), files=files)
    if not (remediate and result.drifted_hosts):
        return result
    try:
        fixed = enable_core.enable(
            settings,
            comune,
            limit=",".join(result.drifted_hosts),
            on_event=on_event,
            cancel=cancel,
            runner=runner,
            use_case=REMEDIATE,
        )
    except ProvisionerError as exc:
        return ComuneResult(
            comune,
            report,
            tuple(drift),
            tuple(cells),
            error="remediation: " + "; ".join(exc.lines()),
            error_code=exc.exit_code,
            files=files,
        )
    reports.write(fixed, [], grid(fixed.outcome), report_dir)
    return ComuneResult(comune, report, tuple(drift), tuple(cells), remediation=fixed, files=files)


def comply(
    settings: Settings,
    comuni: Iterable[str],
    *,
    all_comuni: bool = False,
    remediate: bool = False,
    parallel: int = 2,
    report_dir: Path | None = None,
    on_event: Callable[[str], EventSink | None] | None = None,
    on_result: Callable[[ComuneResult], None] | None = None,
    cancel: threading.Event | None = None,
    runner: Executor | None = None,
) -> ComplyRun:
    """Check comuni against the enable playbook, at most ``parallel`` at a time.

    One comune failing (bad inventory, busy, unreachable hosts) never stops the others; its
    problem is its result. With ``remediate``, the drifted hosts of each comune are converged.

    Raises:
        InputError: no comune named, an unknown comune, or both names and ``all_comuni``.
    """
    names = _names(settings, list(comuni), all_comuni)
    target = report_dir or default_report_dir(settings)

    def work(name: str) -> ComuneResult:
        result = _one(
            settings,
            name,
            remediate=remediate,
            report_dir=target,
            on_event=on_event(name) if on_event else None,
            cancel=cancel,
            runner=runner,
        )
        notify_core.notify(settings, result)
        if on_result is not None:
            on_result(result)
        return result

    with ThreadPoolExecutor(max_workers=max(1, min(parallel, len(names)))) as pool:
        results = tuple(pool.map(work, names))
    index = reports.write_index(results, target) if len(names) > 1 or all_comuni else None
    return ComplyRun(results, index)


def report_run(
    settings: Settings, report: RunReport, report_dir: Path | None = None
) -> reports.ReportFiles:
    """Write the HTML/JSON/JUnit reports of an enable run (comply runs write their own)."""
    drift = drift_items(report) if report.check else []
    return reports.write(
        report, drift, grid(report.outcome), report_dir or default_report_dir(settings)
    )


def default_report_dir(settings: Settings) -> Path:
    """Where reports go unless ``--report-dir`` says otherwise."""
    return settings.state_dir / "reports"


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


def drift_counts(settings: Settings, runs: list[RunRecord]) -> dict[str, int]:
    """Drift items per comply run id (0 for a comply run without drift)."""
    counts = history(settings).drift_counts([r.id for r in runs])
    return {r.id: counts.get(r.id, 0) for r in runs if r.use_case == USE_CASE and r.finished}


@contextmanager
def skip_if_running(settings: Settings, name: str) -> Iterator[bool]:
    """Hold the schedule's lock; yield False (skip this run) while a previous run still holds it."""
    with ExitStack() as stack:
        try:
            stack.enter_context(history(settings).lock(f"schedule-{name}"))
        except BusyError:
            yield False
            return
        yield True
