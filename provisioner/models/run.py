"""What a run is asked to do and what came out of it."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from provisioner.errors import ExitCode
from provisioner.models.inventory import Inventory

COMPLY = "comply"
"""The use case whose runs judge drift: a check-mode run where any change is a finding."""
PRESENCE = "presence"
"""The read-only probe of which endpoints are on, run before a run (core/presence.py)."""


class HostState(StrEnum):
    """Overall outcome of one host in one run."""

    OK = "ok"
    CHANGED = "changed"
    FAILED = "failed"
    UNREACHABLE = "unreachable"
    SKIPPED = "skipped"


class RunStatus(StrEnum):
    """ansible-runner's final status (plus ``running`` and ``interrupted`` for history)."""

    RUNNING = "running"
    SUCCESSFUL = "successful"
    FAILED = "failed"
    TIMEOUT = "timeout"
    CANCELED = "canceled"
    ERROR = "error"
    INTERRUPTED = "interrupted"


class Cancel(threading.Event):
    """Ctrl-C for a run. Set (first press): Ansible starts no new task, the running task and the
    handlers it notified finish, the run is recorded ``canceled``. ``abort`` (second press):
    Ansible is killed at once."""

    def __init__(self) -> None:
        super().__init__()
        self.abort = threading.Event()


@dataclass(frozen=True)
class PlaybookRequest:
    """Everything the chokepoint needs to run one playbook; no secrets in here."""

    use_case: str
    comune: str
    playbook: str
    inventory: Path
    limit: str | None = None
    check: bool = False
    diff: bool = False
    tags: tuple[str, ...] = ()
    skip_tags: tuple[str, ...] = ()
    extravars: dict[str, Any] = field(default_factory=dict)
    forks: int | None = None
    flush_cache: bool = False
    """Forget the cached facts of the run's hosts first (a reinstalled laptop)."""
    through_tunnel: tuple[str, ...] = ()
    """Hosts the controller reaches through the comune's VPN terminator (their tunnel address)."""
    direct: tuple[str, ...] = ()
    """Hosts reached at their inventory address this time, even if managed through the tunnel."""

    @property
    def read_only(self) -> bool:
        """A run that changes no host (check mode, the presence probe): safe to run twice."""
        return self.check or self.use_case == PRESENCE


@dataclass(frozen=True)
class TaskOutcome:
    """A task that changed, failed or could not reach its host."""

    host: str
    task: str
    role: str
    action: str
    outcome: str
    message: str = ""
    diff: str = ""
    redacted: bool = False
    """The task is ``no_log``: only the fact that it changed or failed is kept."""
    handler: bool = False
    """A handler: it runs because another task changed (in check mode: would change)."""


@dataclass(frozen=True)
class ReadinessCheck:
    """Result of one readiness task (``Readiness: <check>``) on one host."""

    host: str
    check: str
    ok: bool
    reason: str = ""

    def __str__(self) -> str:
        return f"{self.check}: ok" if self.ok else f"{self.check}: FAIL ({self.reason})"


@dataclass(frozen=True)
class Probe:
    """The output of a read-only task named ``Presence: <check>`` (e.g. a terminator's peers)."""

    host: str
    check: str
    ok: bool
    lines: tuple[str, ...] = ()
    message: str = ""


@dataclass(frozen=True)
class OfflineHost:
    """A host left out of a run: its tunnel has not been seen lately (a laptop switched off)."""

    host: str
    last_seen: float | None
    """Epoch of its last handshake on the terminator (None: never seen)."""

    def __str__(self) -> str:
        return f"{self.host} (last seen {format_seen(self.last_seen)})"


class BundleState(StrEnum):
    """Where a bundle's device stands, from the inventory and the terminator's peers."""

    ACTIVE = "active"
    """Issued, its peer on the terminator."""
    NOT_ISSUED = "not issued"
    """An imported Windows or macOS row: `bundle create` gives it its bundle."""
    EXPIRED = "expired"
    """Past its last day: no peer (revoke it to free its address)."""
    PEER_MISSING = "peer missing"
    """Issued and valid, but the terminator has no peer for it: the next run adds it."""
    EXPIRED_PEER_LEFT = "expired, peer still present"
    """Past its last day and still a peer: the next run removes it."""
    UNKNOWN = "unknown"
    """The terminator's peers could not be read (device gear, or no answer)."""


@dataclass(frozen=True)
class BundleStatus:
    """A bundle's device: what was issued (never the private key), its peer and last handshake."""

    name: str
    user: str | None
    address: str | None
    created: dt.datetime | None
    expires: dt.date | None
    state: BundleState
    last_seen: float | None = None
    """Epoch of its latest handshake on the terminator (remembered in history), None: never."""

    def summary(self) -> dict[str, object]:
        """JSON-ready."""
        return {
            "name": self.name,
            "user": self.user,
            "address": self.address,
            "created": self.created.isoformat() if self.created else None,
            "expires": self.expires.isoformat() if self.expires else None,
            "state": str(self.state),
            "last_seen": self.last_seen,
        }


def format_seen(epoch: float | None) -> str:
    """When a host was last seen, in UTC, or ``never``."""
    if not epoch:
        return "never"
    return datetime.fromtimestamp(epoch, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


@dataclass(frozen=True)
class HostResult:
    """Per-host counters from the play recap."""

    host: str
    ok: int = 0
    changed: int = 0
    failed: int = 0
    unreachable: int = 0
    skipped: int = 0
    rescued: int = 0
    ignored: int = 0

    @property
    def state(self) -> HostState:
        """Worst thing that happened to the host."""
        if self.unreachable:
            return HostState.UNREACHABLE
        if self.failed:
            return HostState.FAILED
        if self.changed:
            return HostState.CHANGED
        if self.ok:
            return HostState.OK
        return HostState.SKIPPED


@dataclass(frozen=True)
class RunOutcome:
    """Typed result of one playbook run."""

    status: RunStatus
    rc: int
    hosts: tuple[HostResult, ...]
    tasks: tuple[TaskOutcome, ...]
    started: float
    finished: float
    error: str = ""
    readiness: tuple[ReadinessCheck, ...] = ()
    probes: tuple[Probe, ...] = ()
    plays: tuple[str, ...] = ()
    """Names of the plays that started, in order (a playbook that stopped early lacks some)."""
    host_roles: tuple[tuple[str, str], ...] = ()
    """Every (host, role) pair that ran at least one task, in first-seen order (role may be "")."""
    worker: str = ""
    """The queue worker that ran it (empty: this machine ran it, the local executor)."""

    @property
    def changed_tasks(self) -> list[TaskOutcome]:
        """Tasks that changed (or would change, in check mode)."""
        return [t for t in self.tasks if t.outcome == "changed"]

    @property
    def drift_tasks(self) -> list[TaskOutcome]:
        """Changed tasks that are drift: a handler only follows the task that drifted."""
        return [t for t in self.tasks if t.outcome == "changed" and not t.handler]

    @property
    def failed_tasks(self) -> list[TaskOutcome]:
        """Tasks that failed or could not reach their host."""
        return [t for t in self.tasks if t.outcome in {"failed", "unreachable"}]

    def readiness_of(self, host: str) -> list[ReadinessCheck]:
        """Readiness checks of one host, in run order."""
        return [r for r in self.readiness if r.host == host]

    def host(self, name: str) -> HostResult | None:
        """The result of one host, if it was in the run."""
        return next((h for h in self.hosts if h.host == name), None)


@dataclass(frozen=True)
class ProgressEvent:
    """A small, display-oriented view of one Ansible event."""

    kind: str
    host: str = ""
    task: str = ""
    role: str = ""
    play: str = ""


@dataclass(frozen=True)
class ReportFiles:
    """Where the reports of one run were written."""

    directory: Path
    html: Path
    json: Path
    junit: Path


@dataclass(frozen=True)
class RunReport:
    """What a use case hands back to the CLI after a run."""

    run_id: str
    comune: str
    use_case: str
    check: bool
    run_dir: Path
    outcome: RunOutcome
    inventory: Inventory
    notes: tuple[str, ...] = ()
    accel: str = "plain"
    """``mitogen`` or ``plain``: how Ansible executed this run."""
    files: ReportFiles | None = None
    """The HTML/JSON/JUnit reports of the run, once written."""
    offline: tuple[OfflineHost, ...] = ()
    """Hosts of the run's scope not attempted: offline (no recent handshake on the terminator)."""
    plays_not_run: tuple[str, ...] = ()
    """Plays of the playbook that never started: Ansible stopped early, their hosts unchecked."""
    bundles: tuple[BundleStatus, ...] = ()
    """The comune's bundles' devices as the terminator saw them before the run (comply)."""

    @property
    def exit_code(self) -> ExitCode:
        """Documented exit code for this outcome."""
        outcome = self.outcome
        if outcome.status == RunStatus.CANCELED:
            return ExitCode.CANCELLED
        if outcome.status == RunStatus.INTERRUPTED:
            # Its executor lost it part-way (a queue worker died): no verdict on its hosts.
            return ExitCode.ANSIBLE_ERROR
        states = {h.state for h in outcome.hosts}
        if HostState.FAILED in states or any(not r.ok for r in outcome.readiness):
            return ExitCode.HOSTS_FAILED
        if HostState.UNREACHABLE in states:
            return ExitCode.HOSTS_UNREACHABLE
        if self.plays_not_run:
            # Never checked is never compliant: hosts of those plays were not looked at.
            return ExitCode.HOSTS_FAILED
        if outcome.status != RunStatus.SUCCESSFUL:
            return ExitCode.ANSIBLE_ERROR
        if self.use_case == COMPLY and outcome.drift_tasks:
            return ExitCode.DRIFT
        if self.offline:
            return ExitCode.HOSTS_OFFLINE
        return ExitCode.OK

    def summary(self) -> dict[str, object]:
        """JSON-ready summary, written to ``summary.json`` in the run directory."""
        return {
            "run_id": self.run_id,
            "comune": self.comune,
            "use_case": self.use_case,
            "check_mode": self.check,
            "accel": self.accel,
            "worker": self.outcome.worker,
            "status": self.outcome.status,
            "rc": self.outcome.rc,
            "exit_code": int(self.exit_code),
            "drift": len(self.outcome.drift_tasks) if self.use_case == COMPLY else None,
            "started": self.outcome.started,
            "finished": self.outcome.finished,
            "error": self.outcome.error,
            "hosts": [{**asdict(h), "state": h.state} for h in self.outcome.hosts],
            "tasks": [asdict(t) for t in self.outcome.tasks],
            "readiness": [asdict(r) for r in self.outcome.readiness],
            "offline": [asdict(o) for o in self.offline],
            "plays_not_run": list(self.plays_not_run),
            "bundles": [b.summary() for b in self.bundles],
            "notes": list(self.notes),
        }


SEVERITY = (
    ExitCode.BAD_INPUT,
    ExitCode.ENVIRONMENT,
    ExitCode.ANSIBLE_ERROR,
    ExitCode.BUSY,
    ExitCode.HOSTS_FAILED,
    ExitCode.HOSTS_UNREACHABLE,
    ExitCode.CANCELLED,
    ExitCode.ERROR,
    ExitCode.DRIFT,
    ExitCode.HOSTS_OFFLINE,
)
"""Exit codes from the most to the least severe, for a command over several comuni (a code not
listed here would read as success)."""


def most_severe(codes: Iterable[ExitCode]) -> ExitCode:
    """The exit code of a command over several comuni: its most severe comune's."""
    seen = set(codes)
    return next((c for c in SEVERITY if c in seen), ExitCode.OK)


@dataclass(frozen=True)
class ComuneRun:
    """One comune of a command over several comuni: its run, or why it did not run."""

    comune: str
    report: RunReport | None = None
    error: str = ""
    error_code: ExitCode = ExitCode.OK

    @property
    def exit_code(self) -> ExitCode:
        """Its error's code, else its run's."""
        if self.error or self.report is None:
            return self.error_code
        return self.report.exit_code


@dataclass(frozen=True)
class ManyRuns:
    """The runs of a command over several comuni (``enable A B C``), in the order given."""

    results: tuple[ComuneRun, ...]

    @property
    def exit_code(self) -> ExitCode:
        """The most severe comune's code."""
        return most_severe(r.exit_code for r in self.results)
