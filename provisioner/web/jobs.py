"""Runs started from the console: a thread each, their progress kept for the event stream.

A job calls one core use case (the same function the CLI calls) with an event sink and a cancel
event. Its events are kept in order with a sequence number, so a browser that connects late or
reconnects (SSE ``Last-Event-ID``) gets what it missed; waiting streams are woken from the
run's thread through their event loop. At most ``max_running`` jobs run at once, the others
wait their turn; a comune already running is refused by the core (its lock), as in the CLI.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import logging
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from provisioner.errors import ExitCode, ProvisionerError
from provisioner.models.run import ProgressEvent
from provisioner.ports import EventSink

log = logging.getLogger(__name__)

MAX_EVENTS = 20_000
"""Events kept per job (a comune-wide run has a few thousand); later ones only count."""
KEEP_JOBS = 200
"""Finished jobs kept in memory for their pages; their runs stay in history anyway."""
SHOWN_KINDS = frozenset({"play", "task", "ok", "changed", "failed", "unreachable", "skipped"})
"""Progress events streamed to the browser (``host_start`` adds nothing a person reads)."""


class JobState:
    """Where a job stands."""

    QUEUED = "queued"
    RUNNING = "running"
    FINISHED = "finished"
    ERROR = "error"


@dataclass(frozen=True)
class JobEvent:
    """One event of a job: its sequence number (the SSE id), kind and fields."""

    seq: int
    kind: str
    data: dict[str, str]


Work = Callable[[EventSink, threading.Event], Any]
"""What a job runs: the use case, given the event sink and the cancel event; its result."""


@dataclass
class Job:
    """One run started from the console."""

    id: str
    kind: str
    comune: str
    target: str
    user: str
    host: str = ""
    """The one host the job is about (helpdesk actions), else empty."""
    created: float = field(default_factory=time.time)
    state: str = JobState.QUEUED
    result: Any = None
    error: list[str] = field(default_factory=list)
    exit_code: int | None = None
    first_task_at: float | None = None
    cancel: threading.Event = field(default_factory=threading.Event)
    events: list[JobEvent] = field(default_factory=list)
    dropped: int = 0
    _seq: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _waiters: set[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = field(default_factory=set)

    @property
    def done(self) -> bool:
        """Finished or ended in error."""
        return self.state in {JobState.FINISHED, JobState.ERROR}

    def publish(self, kind: str, **data: str) -> None:
        """Append an event (from any thread) and wake the streams waiting for it."""
        with self._lock:
            self._seq += 1
            if len(self.events) < MAX_EVENTS or kind in {"state", "done"}:
                self.events.append(JobEvent(self._seq, kind, data))
            else:
                self.dropped += 1
            waiters = list(self._waiters)
        for loop, event in waiters:
            with contextlib.suppress(RuntimeError):  # the stream's loop is gone
                loop.call_soon_threadsafe(event.set)

    def progress(self, event: ProgressEvent) -> None:
        """The run's event sink: Ansible's progress, as the browser shows it."""
        if event.kind == "task" and self.first_task_at is None:
            self.first_task_at = time.time()
        if event.kind in SHOWN_KINDS:
            self.publish(
                event.kind, host=event.host, task=event.task, role=event.role, play=event.play
            )

    def after(self, seq: int) -> list[JobEvent]:
        """Events with a sequence number above ``seq`` (kept in order: a bisection, so a stream
        woken per event does not rescan the run's thousands of events each time)."""
        with self._lock:
            return self.events[bisect.bisect_right(self.events, seq, key=lambda e: e.seq) :]

    async def wait(self, seq: int, timeout: float) -> None:
        """Until an event above ``seq`` exists, or ``timeout`` seconds."""
        loop = asyncio.get_running_loop()
        event = asyncio.Event()
        key = (loop, event)
        with self._lock:
            if self._seq > seq:
                return
            self._waiters.add(key)
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), timeout)
        finally:
            with self._lock:
                self._waiters.discard(key)


class Jobs:
    """The console's running and recent jobs."""

    def __init__(self, max_running: int) -> None:
        self._slots = threading.BoundedSemaphore(max_running)
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._threads: dict[str, threading.Thread] = {}
        self._lock = threading.Lock()

    def start(
        self,
        *,
        kind: str,
        comune: str,
        target: str,
        user: str,
        work: Work,
        host: str = "",
        on_done: Callable[[Job], None] | None = None,
    ) -> Job:
        """Start ``work`` in a thread of its own (it waits for a free slot first)."""
        job = Job(secrets.token_urlsafe(12), kind, comune, target, user, host)
        thread = threading.Thread(
            target=self._run, args=(job, work, on_done), name=f"job-{job.id}", daemon=True
        )
        with self._lock:
            self._jobs[job.id] = job
            self._threads[job.id] = thread
            while len(self._jobs) > KEEP_JOBS:
                oldest = next(iter(self._jobs.values()))
                if not oldest.done:
                    break
                self._jobs.pop(oldest.id)
                self._threads.pop(oldest.id, None)
        job.publish("state", state=JobState.QUEUED)
        thread.start()
        return job

    def _run(self, job: Job, work: Work, on_done: Callable[[Job], None] | None) -> None:
        with self._slots:
            if job.cancel.is_set():
                job.error = ["canceled before it started"]
                job.exit_code = int(ExitCode.CANCELLED)
                job.state = JobState.ERROR
            else:
                job.state = JobState.RUNNING
                job.publish("state", state=JobState.RUNNING)
                try:
                    job.result = work(job.progress, job.cancel)
                    code = getattr(job.result, "exit_code", ExitCode.OK)
                    job.exit_code = int(code)
                    job.state = JobState.FINISHED
                except ProvisionerError as exc:
                    job.error = exc.lines()
                    job.exit_code = int(exc.exit_code)
                    job.state = JobState.ERROR
                except Exception as exc:  # a bug must not kill the server; it is logged
                    log.exception("job %s (%s %s) failed", job.id, job.kind, job.target)
                    job.error = [f"unexpected error: {type(exc).__name__}; see the server's log"]
                    job.exit_code = int(ExitCode.ERROR)
                    job.state = JobState.ERROR
        if on_done is not None:
            try:
                on_done(job)
            except Exception:
                log.exception("job %s: after-run step failed", job.id)
        job.publish("done", state=job.state, exit_code=str(job.exit_code))

    def get(self, job_id: str) -> Job | None:
        """A job by id."""
        with self._lock:
            return self._jobs.get(job_id)

    def recent(self) -> list[Job]:
        """Jobs newest first."""
        with self._lock:
            return list(reversed(self._jobs.values()))

    def shutdown(self, timeout: float = 60.0) -> None:
        """Cancel every job and wait for their runs to stop (recorded canceled)."""
        with self._lock:
            jobs = list(self._jobs.values())
            threads = dict(self._threads)
        for job in jobs:
            job.cancel.set()
        deadline = time.monotonic() + timeout
        for job in jobs:
            thread = threads.get(job.id)
            if thread is not None:
                thread.join(max(0.0, deadline - time.monotonic()))
