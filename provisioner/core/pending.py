"""The ledger's policy: what a run leaves pending for offline hosts and what it settles.

A run that changes hosts (enable, remediate, reprovision, a key rotation) and finds some of
them offline records, per host, the work they still need. A later run that reaches such a host
and succeeds there settles its work as applied; one that fails there counts an attempt and
leaves it open for ``watch`` to try again after a back-off, until it expires.
"""

from __future__ import annotations

import functools
import subprocess
import time
from pathlib import Path

from provisioner import __version__
from provisioner.adapters.history import History
from provisioner.config import Settings
from provisioner.models.pending import COVERS, PendingWork, WorkKind, WorkState
from provisioner.models.run import HostState, PlaybookRequest, RunReport, RunStatus

EXPIRY = 7 * 24 * 3600.0
"""Seconds an item waits for its host before it expires (a laptop away for a week)."""
BACKOFF = 60.0
"""First wait before a failed item is tried again; doubled per attempt, at most ``BACKOFF_MAX``."""
BACKOFF_MAX = 3600.0


def kind_of(request: PlaybookRequest) -> WorkKind | None:
    """The work a request does on its hosts (None: it changes no endpoint, e.g. comply)."""
    if request.check:
        return None
    if request.use_case in {"enable", "remediate"}:
        return WorkKind.ENABLE
    if request.use_case in {"reprovision", "watch"}:
        if request.extravars.get("provisioner_rotate_keys"):
            return WorkKind.ROTATE_KEYS
        return WorkKind.REPROVISION
    return None


def backoff(attempts: int) -> float:
    """Seconds to wait before attempt ``attempts + 1`` of a failed item."""
    return float(min(BACKOFF_MAX, BACKOFF * 2 ** max(0, attempts - 1)))


@functools.cache
def revision(content_dir: Path) -> str:
    """The revision of the Ansible content a run targets (git commit, else package version)."""
    try:
        proc = subprocess.run(
            ["git", "-C", str(content_dir), "describe", "--always", "--dirty", "--abbrev=12"],
            capture_output=True,
            text=True,
            check=False,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return __version__
    return proc.stdout.strip() if proc.returncode == 0 and proc.stdout.strip() else __version__


def record(store: History, request: PlaybookRequest, report: RunReport, content: Path) -> None:
    """Leave work pending for the run's offline hosts; settle it for the hosts the run did."""
    kind = kind_of(request)
    if kind is None:
        return
    now = time.time()
    for off in report.offline:
        store.want(
            request.comune,
            off.host,
            kind,
            last_seen=off.last_seen,
            revision=revision(content),
            expires=now + EXPIRY,
            detail=f"left out by run {report.run_id}: offline",
        )
    peer_only = set(request.extravars.get("provisioner_peer_only") or ())
    done = report.outcome.status == RunStatus.SUCCESSFUL
    for result in report.outcome.hosts:
        if result.host in peer_only:
            continue
        failed = result.state in {HostState.FAILED, HostState.UNREACHABLE} or any(
            not r.ok for r in report.outcome.readiness_of(result.host)
        )
        if done and not failed:
            store.settle(
                request.comune,
                result.host,
                COVERS[kind],
                WorkState.APPLIED,
                run_id=report.run_id,
                detail=f"applied by run {report.run_id}",
            )
        elif failed:
            attempts = [
                w.attempts
                for w in store.pending(request.comune, open_only=True)
                if w.host == result.host
            ]
            store.settle(
                request.comune,
                result.host,
                COVERS[kind],
                WorkState.FAILED,
                run_id=report.run_id,
                detail=f"run {report.run_id}: {result.state}",
                retry_after=backoff(max(attempts, default=0) + 1),
            )


def ledger(
    settings: Settings, comune: str | None = None, *, include_settled: bool = False
) -> list[PendingWork]:
    """The ledger, newest first: open work only unless ``include_settled``."""
    return History(settings.state).pending(comune, open_only=not include_settled)
