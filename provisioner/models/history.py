"""Run history as the store returns it: runs, their hosts and tasks, retired hosts."""

from __future__ import annotations

from dataclasses import dataclass

from provisioner.models.run import HostResult, TaskOutcome


@dataclass(frozen=True)
class Invocation:
    """Who started a run, from where, with which command line (secrets masked)."""

    user: str
    """The OS user (``root (sudo from mrossi)`` under sudo)."""
    host: str
    """The controller's host name."""
    origin: str
    """``ssh from 192.0.2.7``, ``tty /dev/pts/3``, ``systemd`` (a schedule), ``no terminal``."""
    command: str
    console_user: str | None = None
    """The web console's user, when a run comes from the console (none yet)."""

    def __str__(self) -> str:
        who = f"{self.console_user} (console) as {self.user}" if self.console_user else self.user
        return f"{who} on {self.host}, {self.origin}"


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
    invocation: Invocation | None = None
    """Who started it (None for runs recorded before provisioner kept it)."""

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
