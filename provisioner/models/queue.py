"""What the job queue holds: its workers, its waiting and running jobs, the comuni it locks."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class WorkerInfo:
    """One `provisioner worker` process registered in Redis."""

    name: str
    state: str
    """RQ's worker state: ``idle``, ``busy``, ``suspended``, ..."""
    queues: tuple[str, ...]
    version: str
    """The provisioner version it runs (a job built by another version is refused)."""
    job: str = ""
    """Description of the job it runs now (``comply lab``), empty when idle."""
    last_heartbeat: float | None = None


@dataclass(frozen=True)
class JobInfo:
    """One comune run in the queue."""

    id: str
    queue: str
    description: str
    """``<use case> <comune>``."""
    state: str
    """``queued``, ``running`` or ``failed``."""
    enqueued: float | None = None
    started: float | None = None
    worker: str = ""
    error: str = ""
    """Last line of the failure (a refused job says why)."""


@dataclass(frozen=True)
class LockInfo:
    """A comune held across machines: by which controller run, since when."""

    comune: str
    holder: str
    since: float | None


@dataclass(frozen=True)
class QueueStatus:
    """``provisioner queue status``: everything the controller sees in Redis."""

    redis: str
    """The Redis URL (never a password: the URL cannot carry one)."""
    version: str
    """This machine's provisioner version."""
    workers: tuple[WorkerInfo, ...]
    queued: tuple[JobInfo, ...]
    running: tuple[JobInfo, ...]
    failed: tuple[JobInfo, ...]
    locks: tuple[LockInfo, ...]
