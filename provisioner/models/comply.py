"""Drift: what a compliance run found, per comune, host, role and task."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from provisioner.errors import ExitCode
from provisioner.models.run import ReportFiles, RunOutcome, RunReport, most_severe

NO_ROLE = "(play)"
"""Role column of a task that belongs to no role (a task written in a play)."""


class CellState(StrEnum):
    """State of one host x role cell of the compliance grid."""

    COMPLIANT = "compliant"
    DRIFT = "drift"
    FAILED = "failed"
    UNREACHABLE = "unreachable"


@dataclass(frozen=True)
class DriftItem:
    """One task that would change on one host: the unit of drift."""

    comune: str
    host: str
    role: str
    task: str
    action: str
    diff: str = ""
    message: str = ""
    redacted: bool = False
    """The task hides its data (``no_log``/``diff: false``): only the fact of drift is kept."""


@dataclass(frozen=True)
class Cell:
    """One host x role cell: its state and how many tasks drifted or failed there."""

    host: str
    role: str
    state: CellState
    drift: int = 0
    failed: int = 0


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
        for t in report.outcome.drift_tasks
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
    files: ReportFiles | None = None
    lost: tuple[str, ...] = ()
    """Runs of this comune its executor lost (a queue worker died mid-run): each recorded
    ``interrupted`` and followed by a new run."""

    @property
    def exit_code(self) -> ExitCode:
        """Documented exit code: errors first, then failed/unreachable hosts, then drift."""
        if self.error:
            return self.error_code
        if self.remediation is not None:
            return self.remediation.exit_code
        assert self.report is not None
        return self.report.exit_code

    @property
    def drifted_hosts(self) -> list[str]:
        """Hosts with at least one drift item, sorted."""
        return sorted({d.host for d in self.drift})


@dataclass(frozen=True)
class ComplyRun:
    """Results of one ``comply`` invocation over one or more comuni."""

    results: tuple[ComuneResult, ...]
    index: Path | None = None
    skipped: str = ""
    """Set (the schedule's name) when the same comply still ran and this one was skipped."""

    @property
    def exit_code(self) -> ExitCode:
        """The most severe comune's code (error > failed > unreachable > drift > ok)."""
        return most_severe(r.exit_code for r in self.results)
