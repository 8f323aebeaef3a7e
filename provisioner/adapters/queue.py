"""The job queue: one RQ job per comune run, carrying ansible-runner's own job stream through Redis.

Controller (``QueueExecutor``): the comune's inventory is copied into the run directory, runner's
``transmit`` turns the directory and the run's arguments into a stream, the stream goes into Redis
and one RQ job names it. The worker's stream comes back through a Redis stream, chunk by chunk,
and runner's ``process`` reads it as it arrives with the local runner's event collector: live
progress, history, reports and readiness are made by the same code as with the local executor.

Worker (``adapters/queue_worker.py``, called by the RQ job function ``core/worker.execute``): the
transmitted stream is piped into ``ansible-runner worker`` with its first line (runner's
arguments) built for that machine by the same chokepoint (``LocalRunner.build_kwargs``); its
stdout comes back chunk by chunk.

Nothing secret travels: the vault password stays on each machine (the worker answers Ansible's
prompt with its own), an inventory file holding a private key in clear is refused, and the
worker's child environment is an allow-list.

Keys (besides RQ's ``rq:*``)::

    provisioner:lock:<comune>       the comune's lock across machines: a lease (holder, token)
    provisioner:job:<id>:in         the transmitted stream (deleted when the run ends)
    provisioner:job:<id>:out        the worker's stream: a Redis stream of chunks (kept a while)
    provisioner:job:<id>:alive      the worker's heartbeat while it runs the job
    provisioner:job:<id>:cancel     set by the controller: "stop" between tasks, or "abort"
    provisioner:worker:<name>       a worker's provisioner version (expires with its heartbeat)
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import io
import json
import os
import secrets
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, cast

from redis import Redis
from redis.client import Pipeline
from redis.exceptions import RedisError, WatchError

from provisioner.adapters.runner import (
    TUNNEL_INVENTORY,
    LocalRunner,
    _Collector,
    outcome_of,
    tunnel_source,
)
from provisioner.config import Settings
from provisioner.errors import BusyError, ControllerError, InputError
from provisioner.models.queue import JobInfo, LockInfo, QueueStatus, WorkerInfo
from provisioner.models.run import (
    Cancel,
    PlaybookRequest,
    ProgressEvent,
    RunOutcome,
    RunStatus,
)
from provisioner.ports import EventSink

PREFIX = "provisioner"
ENV_REDIS_PASSWORD = "PROVISIONER_REDIS_PASSWORD"
COMUNE_DIR = "comune"
"""Where the comune's inventory goes in a queued run's private data dir."""
LOCK_TTL = 60.0
"""Seconds a comune's lock lives without renewal (the holder renews it every third of that)."""
ALIVE_TTL = 10.0
"""Seconds without the worker's heartbeat after which its run is taken for lost."""
BEAT = 2.0
"""Seconds between a worker's heartbeats (and its looks at the cancel flag)."""
CANCEL_STOP = "stop"
"""The cancel flag's value for "stop between tasks" (the strategy's cancel file, as locally)."""
CANCEL_ABORT = "abort"
"""The cancel flag's value for "kill the playbook now" (runner's cancel, then its leftovers)."""
KEEP_STREAMS = 600
"""Seconds a job's output stream stays in Redis after the run (to look at a run just done)."""
_PRIVATE_KEY = b"PRIVATE KEY-----"
RESULT_TTL = 24 * 3600
FAILURE_TTL = 7 * 24 * 3600
MACHINE_KEYS = frozenset({"private_data_dir", "project_dir", "envvars", "inventory"})
"""runner's arguments that depend on the machine (paths, environment): not transmitted, each
worker builds its own; every other argument must be the same on both sides."""


_Entries = list[tuple[bytes, list[tuple[bytes, dict[bytes, bytes]]]]]
"""What XREAD answers: per stream, its entries (id, fields)."""


def _text(value: object) -> str | None:
    """A Redis reply (bytes: no decode_responses) as text."""
    return value.decode() if isinstance(value, bytes) else None


def _key(*parts: str) -> str:
    return ":".join((PREFIX, *parts))


def lock_key(comune: str) -> str:
    """The Redis key of a comune's lock."""
    return _key("lock", comune)


def job_key(job_id: str, part: str) -> str:
    """A Redis key of one job: ``in``, ``out``, ``alive`` or ``cancel``."""
    return _key("job", job_id, part)


def worker_key(name: str) -> str:
    """The Redis key holding a worker's provisioner version."""
    return _key("worker", name)


# --- Connection ---------------------------------------------------------------------------------


def redis_password(settings: Settings) -> str | None:
    """The Redis password: ``redis_password_file``, else ``PROVISIONER_REDIS_PASSWORD``.

    Raises:
        ControllerError: the named file cannot be read or is empty.
    """
    path = settings.redis_password_file
    if path is None:
        return os.environ.get(ENV_REDIS_PASSWORD) or None
    try:
        text = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ControllerError(f"{path}: cannot read the Redis password: {exc.strerror}") from exc
    if not text:
        raise ControllerError(f"{path}: the Redis password file is empty")
    return text


def connect(settings: Settings) -> Redis:
    """A checked connection to the queue's Redis.

    Raises:
        ControllerError: Redis does not answer or refuses the credentials (exit 8).
    """
    options: dict[str, Any] = {
        "password": redis_password(settings),
        "socket_connect_timeout": 5,
        # Longer than the blocking reads below (XREAD BLOCK), shorter than a hung server.
        "socket_timeout": 30,
        "health_check_interval": 30,
    }
    if settings.redis_ca_file is not None:
        options["ssl_ca_certs"] = str(settings.redis_ca_file)
    redis = Redis.from_url(settings.redis_url, **options)
    try:
        redis.ping()
    except RedisError as exc:
        raise ControllerError(unreachable(settings.redis_url, exc)) from exc
    return redis


def unreachable(url: str, exc: Exception) -> str:
    """The one line that says Redis cannot be used (never with a password: the URL has none)."""
    return (
        f"Redis at {url} cannot be used ({type(exc).__name__}: {exc}): nothing was run or "
        "recorded; start Redis or fix redis_url / the Redis password (README: 'Job queue')"
    )


# --- Version ------------------------------------------------------------------------------------


def project_version(content_dir: Path) -> str:
    """This machine's provisioner: its package version and a digest of its code, its Ansible
    content and the versions of ansible-core and ansible-runner (a worker refuses a job built
    by another)."""
    return _version(content_dir.resolve())


@functools.cache
def _version(content_dir: Path) -> str:
    package = Path(__file__).resolve().parents[1]
    roots = {
        "playbooks": content_dir / "playbooks",
        "roles": content_dir / "roles",
        "plugins": content_dir / "plugins",
        "provisioner": package,
    }
    digest = hashlib.sha256()
    for label, root in sorted(roots.items()):
        for path in sorted(root.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
                digest.update(f"{label}/{path.relative_to(root)}\0".encode())
                digest.update(path.read_bytes())
    cfg = content_dir / "ansible.cfg"
    digest.update(cfg.read_bytes() if cfg.is_file() else b"")
    for library in ("ansible-core", "ansible-runner"):
        digest.update(f"{library}={_installed(library)}\0".encode())
    return f"{_installed('provisioner')}+{digest.hexdigest()[:12]}"


def _installed(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "0"


# --- The comune's lock across machines ----------------------------------------------------------


def _token_of(value: bytes | str | None) -> str | None:
    if value is None:
        return None
    try:
        return str(json.loads(value)["token"])
    except (ValueError, KeyError, TypeError):
        return None


def _if_holder(redis: Redis, key: str, token: str, action: Callable[[Pipeline], object]) -> bool:
    """Run ``action`` in a transaction if ``key`` still holds ``token`` (WATCH/MULTI/EXEC)."""
    with redis.pipeline() as pipe:
        while True:
            try:
                pipe.watch(key)  # type: ignore[no-untyped-call]
                if _token_of(pipe.get(key)) != token:
                    pipe.unwatch()
                    return False
                pipe.multi()
                action(pipe)
                pipe.execute()
                return True
            except WatchError:
                continue


def renew_lease(redis: Redis, key: str, token: str, ttl: float = LOCK_TTL) -> bool:
    """Extend a lock held with ``token``; False if it is not (or no longer) held with it."""
    return _if_holder(redis, key, token, lambda pipe: pipe.pexpire(key, int(ttl * 1000)))


class Lease:
    """A comune's lock in Redis: a key naming its holder, with a lease renewed while the holder
    lives. Holder and worker both renew it, so it outlives neither a controller that died
    (the worker still runs) nor a worker that died (the controller still decides)."""

    def __init__(self, redis: Redis, comune: str, holder: str, ttl: float = LOCK_TTL) -> None:
        self.redis = redis
        self.comune = comune
        self.key = lock_key(comune)
        self.token = secrets.token_hex(8)
        self.ttl = ttl
        self.value = json.dumps({"token": self.token, "by": holder, "since": time.time()})
        self.lost = threading.Event()
        """Set when a renewal found the lock gone or taken: the run must stop."""
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def acquire(self) -> LockInfo | None:
        """Take the lock (and keep renewing it); None when taken, else who holds it."""
        if self.redis.set(self.key, self.value, nx=True, px=int(self.ttl * 1000)):
            self._thread = threading.Thread(target=self._renew, name=f"lease-{self.comune}")
            self._thread.daemon = True
            self._thread.start()
            return None
        return _lock_info(self.comune, self.redis.get(self.key))

    def _renew(self) -> None:
        last = time.monotonic()
        while not self._stop.wait(self.ttl / 3):
            try:
                held = renew_lease(self.redis, self.key, self.token, self.ttl)
                last = time.monotonic()
            except RedisError:
                held = time.monotonic() - last < self.ttl
            if not held:
                self.lost.set()
                return

    def release(self) -> None:
        """Stop renewing and delete the lock if it is still ours."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        with contextlib.suppress(RedisError):
            _if_holder(self.redis, self.key, self.token, lambda pipe: pipe.delete(self.key))


def _lock_info(comune: str, value: bytes | str | None) -> LockInfo:
    try:
        data = json.loads(value or "{}")
        return LockInfo(comune, str(data.get("by", "unknown")), data.get("since"))
    except (ValueError, AttributeError):
        return LockInfo(comune, "unknown", None)


# --- Controller: one queued run -----------------------------------------------------------------


@dataclass(frozen=True)
class QueuePolicy:
    """How RQ treats the jobs of one queue."""

    name: str
    retries: int
    """RQ retries of a job that failed on a worker before Ansible started (a worker of another
    version refused it, its ansible-runner could not start): the next free worker takes it."""
    job_timeout: int
    failure_ttl: int = FAILURE_TTL


def policies(settings: Settings) -> tuple[QueuePolicy, QueuePolicy]:
    """(checks, changes): the queue of read-only runs and the queue of runs that change hosts."""
    return (
        QueuePolicy(settings.queue_checks, 1, settings.queue_job_timeout),
        QueuePolicy(settings.queue_changes, 0, settings.queue_job_timeout),
    )


def request_json(request: PlaybookRequest) -> dict[str, Any]:
    """A request as JSON for a job: its inventory is the copy in the private data dir."""
    return {**dataclasses.asdict(request), "inventory": COMUNE_DIR}


def request_from_json(data: Mapping[str, Any], data_dir: Path) -> PlaybookRequest:
    """The request of a job, its inventory in ``data_dir`` (the worker's private data dir)."""
    values: dict[str, Any] = {}
    for f in dataclasses.fields(PlaybookRequest):
        if f.name in data:
            value = data[f.name]
            values[f.name] = tuple(value) if isinstance(value, list) else value
    values["inventory"] = data_dir / COMUNE_DIR
    return PlaybookRequest(**values)


def _holder() -> str:
    return f"controller {socket.gethostname()} pid {os.getpid()}"


class _WorkerLostError(Exception):
    """The worker running the job stopped beating: killed, crashed or cut off."""


class _CanceledWhileQueuedError(Exception):
    """The job ended before any worker ran it (canceled while queued)."""


class QueueExecutor:
    """Executor that runs each playbook as one RQ job on a `provisioner worker`."""

    def __init__(
        self,
        redis: Redis,
        settings: Settings,
        job: Callable[[dict[str, Any]], dict[str, Any]],
        *,
        accel: bool,
    ) -> None:
        """``job`` is the RQ job function the workers import (``core/worker.execute``);
        ``accel``: whether runs may use Mitogen (each worker decides if it can)."""
        self.redis = redis
        self.settings = settings
        self.job = job
        self.wanted_accel = accel
        self.checks, self.changes = policies(settings)
        # runner's arguments as this controller would build them: transmitted without the
        # machine's parts, which each worker builds for itself.
        self.builder = LocalRunner(
            settings.playbooks_dir, settings.ansible_cfg, fact_cache_dir=settings.fact_cache_dir
        )
        self.version = project_version(settings.content_dir)
        self.accel = "mitogen" if accel else "plain"
        """How the last run executed, as its worker said (``mitogen`` or ``plain``)."""
        self._held: dict[str, Lease] = {}

    @contextlib.contextmanager
    def hold(self, comune: str) -> Iterator[None]:
        """Hold the comune's lock in Redis for the whole run (see ``Lease``).

        Raises:
            BusyError: a run elsewhere holds it.
        """
        lease = Lease(self.redis, comune, _holder())
        try:
            holder = lease.acquire()
        except RedisError as exc:
            raise ControllerError(unreachable(self.settings.redis_url, exc)) from exc
        if holder is not None:
            raise BusyError(
                f"comune {comune!r} is busy: a queued run holds its lock ({holder.holder}, since "
                f"{_clock(holder.since)}); wait for it to finish and retry"
            )
        self._held[comune] = lease
        try:
            yield
        finally:
            del self._held[comune]
            lease.release()

    def run(
        self,
        request: PlaybookRequest,
        run_dir: Path,
        *,
        vault_password: str | None,
        on_event: EventSink | None = None,
        cancel: threading.Event | None = None,
    ) -> RunOutcome:
        """Queue the run, follow its worker's stream as it comes, return the typed outcome.

        The vault password never leaves this machine: the job only says that the worker must
        answer the vault (with its own password).

        Raises:
            ControllerError: Redis failed, no worker took the job in time, or it was refused.
            InputError: the comune's inventory holds a private key in clear.
        """
        lease = self._held.get(request.comune)
        if lease is None:
            with self.hold(request.comune):
                return self.run(
                    request,
                    run_dir,
                    vault_password=vault_password,
                    on_event=on_event,
                    cancel=cancel,
                )
        try:
            job_id = self._submit(request, run_dir, lease, vault=vault_password is not None)
            followed = _Follow(self, job_id, request, lease, on_event, cancel)
            try:
                outcome = followed.process(run_dir)
            finally:
                followed.clean_up()
        except RedisError as exc:
            raise ControllerError(
                f"Redis failed during the run ({type(exc).__name__}: {exc}); a worker may still "
                "run it: see 'provisioner queue status'"
            ) from exc
        self.accel = followed.accel or self.accel
        return outcome

    def _submit(self, request: PlaybookRequest, run_dir: Path, lease: Lease, *, vault: bool) -> str:
        """Copy the inventory, transmit, store the stream and enqueue the job; its id."""
        import ansible_runner  # noqa: PLC0415 - heavy import, only when a run happens
        from rq import Queue, Retry  # noqa: PLC0415
        from rq.serializers import JSONSerializer  # noqa: PLC0415

        run_dir.mkdir(parents=True, exist_ok=True)
        comune_dir = run_dir / COMUNE_DIR
        shutil.copytree(request.inventory, comune_dir)
        _refuse_keys_in_clear(comune_dir, request.inventory)
        if request.through_tunnel:
            (run_dir / TUNNEL_INVENTORY).write_text(
                json.dumps(tunnel_source(request.through_tunnel)), encoding="utf-8"
            )
        here = dataclasses.replace(request, inventory=comune_dir)
        sent = {
            k: v
            for k, v in self.builder.build_kwargs(here, run_dir, None).items()
            if k not in MACHINE_KEYS
        }
        with tempfile.TemporaryFile() as stream:
            ansible_runner.run(
                streamer="transmit",
                _output=stream,
                private_data_dir=str(run_dir),
                cancel_callback=_never,
                **sent,
            )
            stream.seek(0)
            payload = stream.read()
        policy = self.checks if request.read_only else self.changes
        job_id = secrets.token_hex(12)
        spec = {
            "version": self.version,
            "job": job_id,
            "request": request_json(request),
            "vault": vault,
            "accel": self.wanted_accel,
            "lock": lease.key,
            "token": lease.token,
            "controller": _holder(),
        }
        ttl = self.settings.queue_wait + policy.job_timeout + 300
        self.redis.set(job_key(job_id, "in"), payload, ex=ttl)
        Queue(policy.name, connection=self.redis, serializer=JSONSerializer).enqueue_call(
            self.job,
            args=(spec,),
            job_id=job_id,
            timeout=policy.job_timeout,
            ttl=self.settings.queue_wait,
            result_ttl=RESULT_TTL,
            failure_ttl=policy.failure_ttl,
            retry=Retry(max=policy.retries) if policy.retries else None,
            description=f"{request.use_case} {request.comune}",
        )
        return job_id


def _never() -> bool:
    """A cancel callback for runner's transmit/process (else runner takes over SIGINT)."""
    return False


def _refuse_keys_in_clear(copy: Path, source: Path) -> None:
    """A private key in clear in the inventory would travel through Redis: refuse it.

    Raises:
        InputError: names the file (ansible-vault encrypts it; Ansible decrypts it on the worker).
    """
    for path in sorted(copy.rglob("*")):
        if path.is_file() and _PRIVATE_KEY in path.read_bytes()[:65536]:
            name = source / path.relative_to(copy)
            raise InputError(
                f"{name}: a private key in clear cannot go through the job queue; encrypt it "
                f"(ansible-vault encrypt {name}): Ansible decrypts it on the worker"
            )


def _clock(epoch: float | None) -> str:
    return time.strftime("%H:%M:%S", time.localtime(epoch)) if epoch else "unknown"


class _Feed(io.RawIOBase):
    """A job's output stream as a file: runner's ``process`` reads it while it arrives."""

    def __init__(self, next_chunk: Callable[[], bytes]) -> None:
        super().__init__()
        self._next = next_chunk
        self._pending = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._pending:
            self._pending = self._next()
        view = memoryview(buffer).cast("B")
        size = min(len(view), len(self._pending))
        view[:size] = self._pending[:size]
        self._pending = self._pending[size:]
        return size


class _Follow:
    """Follows one job: waits for a worker, feeds its stream to ``process``, watches it live."""

    def __init__(
        self,
        executor: QueueExecutor,
        job_id: str,
        request: PlaybookRequest,
        lease: Lease,
        on_event: EventSink | None,
        cancel: threading.Event | None,
    ) -> None:
        from rq.job import Job  # noqa: PLC0415
        from rq.serializers import JSONSerializer  # noqa: PLC0415

        self.redis = executor.redis
        self.wait = executor.settings.queue_wait
        self.job_id = job_id
        self.job = Job.fetch(job_id, connection=self.redis, serializer=JSONSerializer)
        self.request = request
        self.lease = lease
        self.on_event = on_event
        self.cancel = cancel
        self.out = job_key(job_id, "out")
        self.alive = job_key(job_id, "alive")
        self.last_id: bytes | str = "0-0"
        self.worker = ""
        self.accel = ""
        self.task = ""
        self.began = time.time()
        self.started = 0.0
        self.seen_alive = False
        self.cancel_sent = ""
        self.stop_reason = ""
        self.explanation = ""

    def emit(self, event: ProgressEvent) -> None:
        if event.kind == "task":
            self.task = event.task
        if self.on_event is not None:
            self.on_event(event)

    def process(self, run_dir: Path) -> RunOutcome:
        """runner's ``process`` over the job's stream with the local runner's collector."""
        import ansible_runner  # noqa: PLC0415

        collector = _Collector(self.emit)
        self.emit(ProgressEvent("queue", task="queued: waiting for a worker"))
        status: str = RunStatus.ERROR
        error = ""
        try:
            processed = ansible_runner.run(
                streamer="process",
                _input=io.BufferedReader(_Feed(self.next_chunk), buffer_size=65536),
                private_data_dir=str(run_dir),
                ident="ansible",
                quiet=True,
                event_handler=collector,
                status_handler=lambda data, runner_config: self.status(collector, data),
                cancel_callback=_never,
            )
            status = str(processed.status)
        except _WorkerLostError:
            status = RunStatus.INTERRUPTED
            error = (
                f"worker {self.worker or '?'} stopped beating (no heartbeat for {ALIVE_TTL:.0f} s)"
                + (f" during task {self.task!r}" if self.task else "")
                + ": killed, crashed or cut off; the run did not finish there"
            )
            self._abandon()
        except _CanceledWhileQueuedError:
            status = RunStatus.CANCELED
        outcome = outcome_of(
            collector,
            status,
            _rc(run_dir),
            self.started or self.began,
            time.time(),
            self.cancel,
        )
        notes = "; ".join(
            n for n in (error, self.explanation, self.stop_reason, outcome.error) if n
        )
        return dataclasses.replace(outcome, worker=self.worker, error=notes)

    def status(self, collector: _Collector, data: Mapping[str, Any]) -> None:
        """runner's lifecycle to the display; why the worker's side failed, for the outcome."""
        collector.emit(ProgressEvent("status", task=str(data.get("status", ""))))
        if data.get("job_explanation"):
            self.explanation = str(data["job_explanation"])

    def next_chunk(self) -> bytes:
        """The next bytes of the worker's stream; blocks, watching the job meanwhile.

        Raises:
            _WorkerLostError: the worker's heartbeat is gone before the end of its stream.
            _CanceledWhileQueuedError: canceled while queued.
            ControllerError: refused, or no worker took it in time.
        """
        while True:
            data = self._read(block=500)
            if data:
                return data
            self._look_at_cancel()
            if self.redis.exists(self.alive):
                self.seen_alive = True
            elif self.seen_alive:
                # The heartbeat is gone: the end may have come just before it went.
                data = self._read(block=None)
                if data:
                    return data
                raise _WorkerLostError
            else:
                self._waiting()

    def _read(self, block: int | None) -> bytes:
        found = cast("_Entries", self.redis.xread({self.out: self.last_id}, count=256, block=block))
        chunks: list[bytes] = []
        for _stream, entries in found or []:
            for entry_id, fields in entries:
                self.last_id = entry_id
                if b"w" in fields:
                    self.worker = fields[b"w"].decode()
                    self.accel = fields.get(b"a", b"").decode()
                    self.started = time.time()
                    self.seen_alive = True
                    self.emit(ProgressEvent("queue", task=f"running on worker {self.worker}"))
                elif b"d" in fields:
                    chunks.append(fields[b"d"])
        return b"".join(chunks)

    def _look_at_cancel(self) -> None:
        """Tell the worker: stop between tasks (a first Ctrl-C, as the local executor does) or
        kill the playbook now (a second Ctrl-C; the comune's lock lost)."""
        if self.cancel_sent == CANCEL_ABORT:
            return
        if self.lease.lost.is_set():
            self.stop_reason = "the comune's lock was lost (Redis unreachable too long): stopped"
            wanted = CANCEL_ABORT
        elif isinstance(self.cancel, Cancel) and self.cancel.abort.is_set():
            wanted = CANCEL_ABORT
        elif self.cancel is not None and self.cancel.is_set():
            wanted = CANCEL_STOP
        else:
            return
        if wanted == self.cancel_sent:
            return
        self.cancel_sent = wanted
        if not self.seen_alive and self._cancel_queued():
            raise _CanceledWhileQueuedError
        self.redis.set(job_key(self.job_id, "cancel"), wanted, ex=self.wait)

    def _cancel_queued(self) -> bool:
        """Cancel the job if no worker took it yet; whether it was."""
        from rq.exceptions import InvalidJobOperation  # noqa: PLC0415
        from rq.job import JobStatus  # noqa: PLC0415

        with contextlib.suppress(InvalidJobOperation):
            if self.job.get_status(refresh=True) in {JobStatus.QUEUED, JobStatus.SCHEDULED}:
                self.job.cancel()
                return True
        return False

    def _waiting(self) -> None:
        """No worker runs the job yet: is it still queued, refused, or waiting too long?"""
        from rq.exceptions import InvalidJobOperation  # noqa: PLC0415
        from rq.job import JobStatus  # noqa: PLC0415

        try:
            status = self.job.get_status(refresh=True)
        except InvalidJobOperation:
            status = None  # expired: its queued time (queue_wait) is over
        if status == JobStatus.FAILED:
            result = self.job.latest_result()
            reason = (result.exc_string or "").strip().splitlines() if result else []
            raise ControllerError(
                f"{self.request.use_case} {self.request.comune}: "
                + (reason[-1] if reason else "the job failed on its worker")
            )
        if status == JobStatus.CANCELED:
            raise _CanceledWhileQueuedError
        waited = time.time() - self.began
        if status is None or waited > self.wait:
            self._cancel_queued()
            raise ControllerError(
                f"{self.request.use_case} {self.request.comune}: no worker took the job within "
                f"{self.wait} s (queue_wait); nothing ran; see 'provisioner queue status'"
            )

    def _abandon(self) -> None:
        """The worker is gone: cancel its job so that RQ never re-runs it behind our back (the
        core decides about a new run), and ask a worker that is only cut off to stop it."""
        from rq.command import send_stop_job_command  # noqa: PLC0415
        from rq.exceptions import InvalidJobOperation  # noqa: PLC0415
        from rq.serializers import JSONSerializer  # noqa: PLC0415

        with contextlib.suppress(InvalidJobOperation, RedisError):
            send_stop_job_command(self.redis, self.job_id, serializer=JSONSerializer)
        with contextlib.suppress(InvalidJobOperation, RedisError):
            self.job.cancel()
        with contextlib.suppress(RedisError):
            self.redis.set(job_key(self.job_id, "cancel"), CANCEL_ABORT, ex=self.wait)

    def clean_up(self) -> None:
        """The stream sent is deleted; the stream received stays a while (KEEP_STREAMS)."""
        with contextlib.suppress(RedisError):
            self.redis.delete(job_key(self.job_id, "in"))
            self.redis.expire(self.out, KEEP_STREAMS)


def _rc(run_dir: Path) -> int | None:
    """ansible-playbook's exit code, from the artifacts the worker sent back."""
    try:
        return int((run_dir / "artifacts" / "ansible" / "rc").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


# --- Status -------------------------------------------------------------------------------------


def status(settings: Settings, redis: Redis) -> QueueStatus:
    """Workers, queued, running and failed jobs, and the comuni locked across machines."""
    from rq import Queue, Worker  # noqa: PLC0415
    from rq.job import Job  # noqa: PLC0415
    from rq.registry import FailedJobRegistry, StartedJobRegistry  # noqa: PLC0415
    from rq.serializers import JSONSerializer  # noqa: PLC0415

    names = (settings.queue_changes, settings.queue_checks)
    workers = []
    for w in Worker.all(connection=redis, serializer=JSONSerializer):
        current = w.get_current_job()
        version = _text(redis.get(worker_key(w.name)))
        workers.append(
            WorkerInfo(
                name=w.name,
                state=str(w.get_state()),
                queues=tuple(w.queue_names()),
                version=version or "?",
                job=(current.description or "") if current is not None else "",
                last_heartbeat=w.last_heartbeat.timestamp() if w.last_heartbeat else None,
            )
        )
    queued: list[JobInfo] = []
    running: list[JobInfo] = []
    failed: list[JobInfo] = []
    for name in names:
        queue = Queue(name, connection=redis, serializer=JSONSerializer)
        groups = (
            (queued, "queued", queue.get_job_ids()),
            (running, "running", StartedJobRegistry(queue=queue).get_job_ids()),
            (failed, "failed", FailedJobRegistry(queue=queue).get_job_ids()[-20:]),
        )
        for target, state, ids in groups:
            for job in Job.fetch_many(ids, connection=redis, serializer=JSONSerializer):
                if job is not None:
                    target.append(_job_info(job, name, state))
    locks = [
        _lock_info(key.decode().removeprefix(_key("lock", "")), redis.get(key))
        for key in sorted(redis.scan_iter(match=_key("lock", "*"), count=500))
    ]
    return QueueStatus(
        redis=settings.redis_url,
        version=project_version(settings.content_dir),
        workers=tuple(sorted(workers, key=lambda w: w.name)),
        queued=tuple(queued),
        running=tuple(running),
        failed=tuple(failed),
        locks=tuple(locks),
    )


def _job_info(job: Any, queue: str, state: str) -> JobInfo:
    error = ""
    if state == "failed":
        result = job.latest_result()
        lines = (result.exc_string or "").strip().splitlines() if result else []
        error = lines[-1] if lines else ""
    return JobInfo(
        id=job.id,
        queue=queue,
        description=job.description or "",
        state=state,
        enqueued=job.enqueued_at.timestamp() if job.enqueued_at else None,
        started=job.started_at.timestamp() if job.started_at else None,
        worker=job.worker_name or "",
        error=error,
    )


def live_workers(settings: Settings, redis: Redis) -> int:
    """How many workers listen on the queues now."""
    from rq import Worker  # noqa: PLC0415
    from rq.serializers import JSONSerializer  # noqa: PLC0415

    names = {settings.queue_checks, settings.queue_changes}
    return sum(
        1
        for w in Worker.all(connection=redis, serializer=JSONSerializer)
        if names & set(w.queue_names())
    )
