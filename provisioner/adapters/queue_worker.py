"""The worker's side of the job queue: one job's stream through ``ansible-runner worker``, and
the RQ worker process that takes the jobs (see ``adapters/queue.py`` for the controller's side).

A job's process dies with its worker (the kernel sends it SIGKILL when the worker dies, and so
does the ``ansible-runner worker`` it starts): a killed worker leaves nothing running behind the
controller's back, its heartbeat stops, and the controller records the run ``interrupted``.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any, cast

from redis import Redis
from redis.client import Pipeline
from redis.exceptions import RedisError

from provisioner.adapters import leftovers
from provisioner.adapters.queue import (
    ALIVE_TTL,
    BEAT,
    CANCEL_STOP,
    LOCK_TTL,
    MACHINE_KEYS,
    job_key,
    policies,
    project_version,
    renew_lease,
    worker_key,
)
from provisioner.adapters.runner import CANCEL_FILE, cancel_mark
from provisioner.config import Settings
from provisioner.errors import ControllerError

WORKER_COMMAND = (sys.executable, "-m", "ansible_runner", "worker")
"""``ansible-runner worker`` with this interpreter (the venv's, wherever it lives)."""
_EOF = b'{"eof": true}\n'
# What the child `ansible-runner worker` inherits: nothing of the worker's own settings and
# credentials (runner records the environment in artifacts/<ident>/command, which comes back).
_CHILD_ENV = ("HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR", "TERM")
_PR_SET_PDEATHSIG = 1


def current_connection() -> Redis:
    """The Redis connection of the RQ job running in this process."""
    from rq import get_current_job  # noqa: PLC0415

    job = get_current_job()
    if job is None:
        raise ControllerError("not inside an RQ job")
    return job.connection


def refused(why: str) -> ControllerError:
    """The error a worker raises for a job it will not run (the controller shows its line)."""
    return ControllerError(f"refused by worker {worker_name()}: {why}")


def worker_name() -> str:
    """This worker's name (RQ's, inherited by the process running the job)."""
    return os.environ.get("RQ_WORKER_ID", f"{socket.gethostname()}.{os.getpid()}")


def serve_job(
    redis: Redis,
    spec: Mapping[str, Any],
    data_dir: Path,
    expected: Mapping[str, Any],
    kwargs: Mapping[str, Any],
    *,
    accel: str,
) -> dict[str, Any]:
    """Run one job: its stream into ``ansible-runner worker``, the output back, chunk by chunk.

    ``expected`` are the runner arguments this machine builds for the job's request without a
    vault answer (they must equal the transmitted ones but for paths and environment);
    ``kwargs`` are the ones it runs with (its own paths, environment and vault answer).

    The job's process dies with the worker (SIGKILL on the parent's death), and so does the
    ``ansible-runner worker`` it starts; its heartbeat stops and the controller records the
    run as interrupted.

    Raises:
        ControllerError: refused (lock no longer held, stream gone, arguments differ).
    """
    job_id = str(spec["job"])
    worker = worker_name()
    alive, out = job_key(job_id, "alive"), job_key(job_id, "out")
    _die_with_parent()
    if not renew_lease(redis, str(spec["lock"]), str(spec["token"])):
        raise refused("the comune's lock is no longer held by the run that sent the job")
    earlier = cast("list[tuple[bytes, dict[bytes, bytes]]]", redis.xrange(out, count=1))
    if earlier:
        # RQ re-queues a job whose worker died (its abandoned-job cleanup, with the retry the
        # job carries for refusals): the controller, not RQ, decides about a new run.
        lost = earlier[0][1].get(b"w", b"?").decode()
        raise refused(f"the job already ran on worker {lost}, which was lost; not run again")
    stream = redis.get(job_key(job_id, "in"))
    if not isinstance(stream, bytes):
        raise refused("the job's stream is gone (expired); nothing ran")
    first, _, rest = stream.partition(b"\n")
    sent = json.loads(first).get("kwargs") or {}
    differ = sorted(
        k
        for k in set(sent) | set(expected)
        if k not in MACHINE_KEYS and sent.get(k) != expected.get(k)
    )
    if differ:
        raise refused(
            f"its arguments differ from what this worker builds ({', '.join(differ)}): "
            "the controller runs another version"
        )
    line = json.dumps({"kwargs": for_worker(kwargs)}).encode() + b"\n"
    # From the first heartbeat on, the controller takes a silent worker for a lost one (a
    # refusal above is a failed job instead, with its reason).
    redis.set(alive, worker, px=int(ALIVE_TTL * 1000))
    try:
        redis.xadd(out, {"w": worker, "a": accel})
        return _pump(redis, spec, data_dir, line + rest, kwargs, worker)
    finally:
        redis.delete(alive)


def for_worker(kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """runner arguments for ``ansible-runner worker``: it sets the data dir itself and joins a
    relative inventory to it (a list of sources would break), so the inventory sources go to
    Ansible through ANSIBLE_INVENTORY, in their order (the tunnel inventory last)."""
    out = {k: v for k, v in kwargs.items() if k not in {"private_data_dir", "inventory"}}
    inventory = kwargs.get("inventory")
    if inventory:
        sources = inventory if isinstance(inventory, list) else [inventory]
        out["envvars"] = {**out.get("envvars", {}), "ANSIBLE_INVENTORY": ",".join(sources)}
    return out


def _pump(
    redis: Redis,
    spec: Mapping[str, Any],
    data_dir: Path,
    stream: bytes,
    kwargs: Mapping[str, Any],
    worker: str,
) -> dict[str, Any]:
    job_id = str(spec["job"])
    out = job_key(job_id, "out")
    env = {k: os.environ[k] for k in _CHILD_ENV if k in os.environ}
    env["PATH"] = str((kwargs.get("envvars") or {}).get("PATH") or os.environ.get("PATH", ""))
    with tempfile.TemporaryFile() as errors:
        proc = subprocess.Popen(
            [*WORKER_COMMAND, "--private-data-dir", str(data_dir), "--delete"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=errors,
            env=env,
            start_new_session=True,
            preexec_fn=_die_with_parent,  # noqa: PLW1509 - before any thread of this job starts
        )
        assert proc.stdin is not None and proc.stdout is not None
        feeder = threading.Thread(target=_feed, args=(proc.stdin, stream), daemon=True)
        feeder.start()
        keeper = _Keeper(redis, spec, worker, proc, data_dir / CANCEL_FILE)
        keeper.start()
        tail = b""
        try:
            while chunk := os.read(proc.stdout.fileno(), 65536):
                redis.xadd(out, {"d": chunk})
                tail = (tail + chunk)[-len(_EOF) :]
            rc = proc.wait()
        except BaseException:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            leftovers.kill_marked(cancel_mark(data_dir))
            raise
        finally:
            keeper.stop.set()
            keeper.join()
        if keeper.killed:
            # runner's SIGKILL reached ansible-playbook's group, not its workers (leftovers.py).
            leftovers.kill_marked(cancel_mark(data_dir))
        if tail != _EOF:
            # runner died without ending its stream: end it, saying why, for process.
            errors.seek(0)
            why = errors.read().decode(errors="replace").strip().splitlines()[-3:]
            explanation = f"ansible-runner worker exited {rc} on {worker}: " + " / ".join(why)
            ending = json.dumps({"status": "error", "job_explanation": explanation}).encode()
            cut = b"\n" if tail and not tail.endswith(b"\n") else b""  # a line cut short
            redis.xadd(out, {"d": cut + ending + b"\n" + _EOF})
    return {"worker": worker, "rc": rc, "stopped": keeper.reason}


def _feed(pipe: IO[bytes], stream: bytes) -> None:
    with contextlib.suppress(BrokenPipeError), pipe:
        pipe.write(stream)


class _Keeper(threading.Thread):
    """While a job runs: the heartbeat, the comune's lock, and the controller's cancel."""

    def __init__(
        self,
        redis: Redis,
        spec: Mapping[str, Any],
        worker: str,
        proc: subprocess.Popen[bytes],
        cancel_file: Path,
    ) -> None:
        super().__init__(name="job-keeper", daemon=True)
        self.redis = redis
        self.job_id = str(spec["job"])
        self.lock, self.token = str(spec["lock"]), str(spec["token"])
        self.worker = worker
        self.proc = proc
        self.cancel_file = cancel_file
        self.stop = threading.Event()
        self.reason = ""
        self.killed = False

    def run(self) -> None:
        last = time.monotonic()
        while not self.stop.wait(BEAT):
            try:
                self.redis.set(job_key(self.job_id, "alive"), self.worker, px=int(ALIVE_TTL * 1000))
                held = renew_lease(self.redis, self.lock, self.token)
                canceled = self.redis.get(job_key(self.job_id, "cancel"))
                last = time.monotonic()
            except RedisError:
                # Cut off from Redis longer than a lock lives: the controller may have given
                # the comune to another run by now.
                if time.monotonic() - last > LOCK_TTL:
                    self.terminate("cut off from Redis longer than the comune's lock lives")
                continue
            if not held:
                self.terminate("the comune's lock is no longer held by this run")
            elif canceled == CANCEL_STOP.encode():
                self.stop_between_tasks()
            elif canceled:
                self.terminate("aborted from the controller: Ansible was killed")

    def stop_between_tasks(self) -> None:
        """The strategy's cancel file, as the local executor's first Ctrl-C: the running task
        finishes, no other starts, the stream ends as the playbook does."""
        if not self.cancel_file.exists():
            with contextlib.suppress(FileNotFoundError):  # runner has not made the dir yet
                self.cancel_file.touch(mode=0o600)

    def terminate(self, reason: str) -> None:
        """SIGTERM to ``ansible-runner worker``: it kills the playbook's process group and ends
        its stream; the playbook's workers, outside that group, are killed after it."""
        if not self.reason:
            self.reason = reason
            self.killed = True
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGTERM)


def _die_with_parent() -> None:
    """Have the kernel SIGKILL this process when its parent dies (Linux ``PR_SET_PDEATHSIG``):
    a killed worker leaves no job running behind the controller's back."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


# --- Worker: the RQ worker process ----------------------------------------------------------------


def work(settings: Settings, redis: Redis, *, name: str | None = None, burst: bool = False) -> bool:
    """Run an RQ worker on the two queues (changes first) until it is stopped; whether it ran
    any job. SIGTERM stops it after the current job (RQ's warm shutdown)."""
    from rq import Queue, Worker  # noqa: PLC0415
    from rq.serializers import JSONSerializer  # noqa: PLC0415

    version = project_version(settings.content_dir)

    class _Worker(Worker):
        """RQ's worker that also publishes its provisioner version with each heartbeat."""

        def heartbeat(self, timeout: int | None = None, pipeline: Pipeline | None = None) -> None:
            super().heartbeat(timeout, pipeline)
            target = pipeline if pipeline is not None else self.connection
            target.set(worker_key(self.name), version, ex=timeout or self.worker_ttl + 60)

    _, changes = policies(settings)
    queues = [
        Queue(queue, connection=redis, serializer=JSONSerializer)
        for queue in (changes.name, settings.queue_checks)
    ]
    worker = _Worker(
        queues,
        connection=redis,
        name=name or f"{socket.gethostname()}.{os.getpid()}",
        serializer=JSONSerializer,
        # RQ's own registries are cleaned often (its abandoned jobs: see the executor).
        maintenance_interval=60,
    )
    return bool(worker.work(burst=burst, logging_level="INFO"))
