"""Run history as the store returns it: runs, their hosts and tasks, retired hosts."""

from __future__ import annotations

from dataclasses import dataclass

from provisioner.models.run import HostResult, TaskOutcome


@dataclass(frozen=True)
class RunRecord:
    """One row of run history."""

    id: str
    use_case: str
    comune: str
    host_limit: str | None
    check_mode: bool
    tags: str
    started: float
    finished: float | None
    status: str
    rc: int | None
    run_dir: str
    error: str
    drift: int | None = None
    """Drift items of a finished comply run (None for other runs and unfinished ones)."""

    @property
    def duration(self) -> float | None:
        """Seconds from start to finish, if finished."""
        return None if self.finished is None else self.finished - self.started


@dataclass(frozen=True)
class RunDetail:
    """A run with its host results and notable tasks."""

    run: RunRecord
    hosts: list[HostResult]
    tasks: list[TaskOutcome]


@dataclass(frozen=True)
class RetiredHost:
    """A decommissioned host."""

    comune: str
    host: str
    retired: float
    vpn_address: str | None
    run_id: str | None


@dataclass(frozen=True)
class RunSummary:
    """A run with the counts an overview shows: drift, hosts and how they ended."""

    run: RunRecord
    drifted_hosts: int = 0
    hosts: int = 0
    failed: int = 0
    unreachable: int = 0
    offline: int = 0

    @property
    def healthy(self) -> bool:
        """No host failed or was unreachable, and the run itself completed (hosts left out as
        offline are counted apart)."""
        return not (self.failed or self.unreachable) and self.run.status == "successful"


@dataclass(frozen=True)
class HostRun:
    """How one host ended in one run."""

    state: str
    run_id: str
    use_case: str
    check_mode: bool
    started: float
