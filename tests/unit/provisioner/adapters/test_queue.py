"""The job queue on an in-memory Redis: transmit → RQ job → worker → process, with a stand-in for
``ansible-runner worker`` (tests/unit/fake_runner_worker.py); the real one runs in the lab test."""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import fakeredis
import pytest
from rq import Queue, SimpleWorker
from rq.job import Job, JobStatus
from rq.serializers import JSONSerializer

from provisioner.adapters import queue, queue_worker
from provisioner.adapters.runner import TUNNEL_INVENTORY, LocalRunner
from provisioner.config import Settings
from provisioner.core import worker as worker_core
from provisioner.errors import BusyError, ControllerError, ExitCode, InputError
from provisioner.models.run import (
    Cancel,
    PlaybookRequest,
    ProgressEvent,
    RunOutcome,
    RunStatus,
)
from tests.redis_dump import everything_in
from tests.unit.fakes import (
    SLUG,
    ComuneFiles,
    FakeAnsibleRunner,
    on_failed,
    on_ok,
    play_start,
    stats,
    task_start,
)

FAKE_WORKER = Path(__file__).resolve().parents[2] / "fake_runner_worker.py"
CONTROLLER_VAULT = "controller-vault-canary-3f9a"
WORKER_VAULT = "worker-vault-canary-77c1"
EVENTS = [
    play_start("Baseline on every managed host"),
    task_start("Configure unattended-upgrades", role="baseline"),
    on_ok(
        "gw-vpn-01",
        "Configure unattended-upgrades",
        "baseline",
        changed=True,
        diff={"before": "a\n", "after": "b\n"},
    ),
    on_ok("gw-rd-01", "Configure unattended-upgrades", "baseline"),
    task_start("Readiness: vpn", role="vpn_client"),
    on_failed("laptop-sindaco", "Readiness: vpn", "no handshake", role="vpn_client"),
    stats(
        **{
            "gw-vpn-01": {"ok": 3, "changed": 1},
            "gw-rd-01": {"ok": 3},
            "laptop-sindaco": {"ok": 2, "failures": 1},
        }
    ),
]


@pytest.fixture
def redis() -> fakeredis.FakeRedis:
    """An in-memory Redis shared by the controller and the worker of a test."""
    return fakeredis.FakeRedis(server=fakeredis.FakeServer())


@dataclass
class Harness:
    """A controller's QueueExecutor and a worker (RQ's SimpleWorker, in this process)."""

    redis: fakeredis.FakeRedis
    settings: Settings
    executor: queue.QueueExecutor
    record: Path
    events: Path
    progress: list[ProgressEvent] = field(default_factory=list)
    result: RunOutcome | BaseException | None = None

    def start(
        self,
        request: PlaybookRequest,
        run_dir: Path,
        *,
        vault: str | None = None,
        cancel: threading.Event | None = None,
    ) -> threading.Thread:
        """executor.run in a thread (it waits for a worker); the outcome lands in ``result``."""

        def run() -> None:
            try:
                self.result = self.executor.run(
                    request,
                    run_dir,
                    vault_password=vault,
                    on_event=self.progress.append,
                    cancel=cancel,
                )
            except BaseException as exc:  # handed to the test
                self.result = exc

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        return thread

    def queued(self, name: str = "provisioner-checks", timeout: float = 10) -> str:
        """Wait until a job is on ``name``; its id."""
        q = Queue(name, connection=self.redis, serializer=JSONSerializer)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ids = q.get_job_ids()
            if ids:
                return ids[0]
            time.sleep(0.02)
        pytest.fail(f"no job on {name}")

    def work(self, name: str = "provisioner-checks") -> None:
        """A worker takes every job of the queue, then stops."""
        self.queued(name)
        q = Queue(name, connection=self.redis, serializer=JSONSerializer)
        SimpleWorker([q], connection=self.redis, serializer=JSONSerializer).work(
            burst=True, logging_level="WARNING"
        )

    def outcome(self, thread: threading.Thread) -> RunOutcome:
        thread.join(30)
        assert isinstance(self.result, RunOutcome), self.result
        return self.result

    def received(self) -> dict[str, Any]:
        """What the stand-in for ``ansible-runner worker`` got (kwargs, unpacked files)."""
        data: dict[str, Any] = json.loads(self.record.read_text(encoding="utf-8"))
        return data


@pytest.fixture
def harness(
    redis: fakeredis.FakeRedis,
    settings: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Harness]:
    """Controller and worker on one in-memory Redis; the worker has its own state and vault."""
    worker_vault = tmp_path / "worker-vault"
    worker_vault.write_text(WORKER_VAULT + "\n", encoding="utf-8")
    worker_settings = settings.model_copy(
        update={"state_dir": tmp_path / "worker-state", "vault_password_file": worker_vault}
    )
    monkeypatch.setenv(worker_core.ENV_WORKER_SETTINGS, worker_settings.model_dump_json())
    monkeypatch.setattr(queue_worker, "_die_with_parent", lambda: None)
    record, events = tmp_path / "received.json", tmp_path / "events.json"
    events.write_text(json.dumps(EVENTS), encoding="utf-8")
    mode = tmp_path / "mode"

    def command(kind: str) -> None:
        monkeypatch.setattr(
            queue_worker,
            "WORKER_COMMAND",
            (sys.executable, str(FAKE_WORKER), str(record), str(events), kind),
        )

    command("normal")
    mode.write_text("normal", encoding="utf-8")
    executor = queue.QueueExecutor(
        redis, settings.model_copy(update={"executor": "queue"}), worker_core.execute, accel=False
    )
    h = Harness(redis, settings, executor, record, events)
    h.mode = command  # type: ignore[attr-defined]
    yield h


def _request(comune: ComuneFiles, **changes: Any) -> PlaybookRequest:
    request = PlaybookRequest(
        use_case="comply",
        comune=comune.slug,
        playbook="enable_remote_work.yml",
        inventory=comune.dir,
        check=True,
        diff=True,
    )
    return replace(request, **changes)


def test_a_queued_run_gives_what_the_local_runner_gives_for_the_same_events(
    harness: Harness, comune: ComuneFiles, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    request = _request(comune)
    thread = harness.start(request, tmp_path / "run-q")
    harness.work()
    queued = harness.outcome(thread)

    import ansible_runner  # noqa: PLC0415

    fake = FakeAnsibleRunner(events=EVENTS, status="successful", rc=0)
    monkeypatch.setattr(ansible_runner, "run", fake)
    progress: list[ProgressEvent] = []
    local = LocalRunner(harness.settings.playbooks_dir, harness.settings.ansible_cfg).run(
        request, tmp_path / "run-l", vault_password=None, on_event=progress.append
    )

    same = ("status", "rc", "hosts", "tasks", "readiness", "probes", "plays", "host_roles")
    assert {k: getattr(queued, k) for k in same} == {k: getattr(local, k) for k in same}
    assert queued.status == RunStatus.SUCCESSFUL and queued.rc == 0
    assert queued.worker and not local.worker
    # The same live progress (runner's lifecycle aside), plus the wait and the worker.
    assert [e for e in harness.progress if e.kind not in {"queue", "status"}] == [
        e for e in progress if e.kind != "status"
    ]
    assert [e.task for e in harness.progress if e.kind == "queue"] == [
        "queued: waiting for a worker",
        f"running on worker {queued.worker}",
    ]
    # runner's process keeps no event file on the controller, as the local runner keeps none.
    for run in ("run-q", "run-l"):
        events = tmp_path / run / "artifacts" / "ansible" / "job_events"
        assert not events.exists() or not any(events.iterdir())


def test_the_worker_runs_with_its_own_paths_vault_and_the_tunnel_inventory_last(
    harness: Harness, comune: ComuneFiles, tmp_path: Path
) -> None:
    request = _request(comune, through_tunnel=("laptop-sindaco",), limit="laptop-sindaco")
    thread = harness.start(request, tmp_path / "run", vault=CONTROLLER_VAULT)
    harness.queued()
    while_queued = everything_in(harness.redis)
    harness.work()
    harness.outcome(thread)

    got = harness.received()
    kwargs, env = got["kwargs"], got["kwargs"]["envvars"]
    data_dir = Path(env["ANSIBLE_INVENTORY"].split(",")[0]).parent
    assert data_dir.parent == harness.settings.state_dir.parent / "worker-state" / "worker"
    assert env["ANSIBLE_INVENTORY"] == f"{data_dir}/comune,{data_dir}/{TUNNEL_INVENTORY}"
    assert "comune/hosts.yml" in got["files"] and TUNNEL_INVENTORY in got["files"]
    assert "inventory" not in kwargs and "private_data_dir" not in kwargs
    assert kwargs["limit"] == "laptop-sindaco"
    assert kwargs["cmdline"] == "--check --diff --ask-vault-pass"
    # The worker answers the vault with its own password; the controller's never left it.
    assert list(kwargs["passwords"].values()) == [WORKER_VAULT]
    assert kwargs["project_dir"] == str(harness.settings.playbooks_dir)
    # The transmitted inventory (zipped) is in Redis while queued; no password ever is.
    assert b"laptop-sindaco.castelnuovo.example.it" in while_queued
    for everything in (while_queued, everything_in(harness.redis)):
        assert CONTROLLER_VAULT.encode() not in everything
        assert WORKER_VAULT.encode() not in everything
    assert not data_dir.exists()  # the worker keeps nothing of the job


def _ctrl_c_once_running(harness: Harness, *presses: threading.Event) -> None:
    """Set ``presses`` in turn (Ctrl-C, then a second) once the run's events came back."""

    def press() -> None:
        deadline = time.monotonic() + 20
        while not any(e.kind == "stats" for e in harness.progress):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        for event in presses:
            event.set()
            time.sleep(queue.BEAT * 1.5)

    threading.Thread(target=press, daemon=True).start()


def test_a_first_ctrl_c_stops_the_remote_playbook_between_tasks_as_locally(
    harness: Harness, comune: ComuneFiles, tmp_path: Path
) -> None:
    harness.mode("hang")  # type: ignore[attr-defined]
    cancel = Cancel()
    thread = harness.start(_request(comune), tmp_path / "run", cancel=cancel)
    job_id = harness.queued()
    _ctrl_c_once_running(harness, cancel)
    harness.work()  # RQ's worker: in the main thread (it handles signals)
    outcome = harness.outcome(thread)

    # The worker made the run's cancel file: the strategy's stop, not runner's kill.
    assert outcome.status == RunStatus.CANCELED and outcome.rc == 2
    assert "canceled with Ctrl-C between tasks" in outcome.error
    assert "Ansible was killed" not in outcome.error
    done = Job.fetch(job_id, connection=harness.redis, serializer=JSONSerializer).return_value()
    assert isinstance(done, dict) and done["stopped"] == ""


def test_a_second_ctrl_c_kills_the_remote_playbook(
    harness: Harness, comune: ComuneFiles, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    harness.mode("hang")  # type: ignore[attr-defined]
    # The stand-in ignores the cancel file here, as a task that never ends would.
    monkeypatch.setattr(queue_worker._Keeper, "stop_between_tasks", lambda self: None)
    cancel = Cancel()
    thread = harness.start(_request(comune), tmp_path / "run", cancel=cancel)
    job_id = harness.queued()
    _ctrl_c_once_running(harness, cancel, cancel.abort)
    harness.work()
    outcome = harness.outcome(thread)

    assert outcome.status == RunStatus.CANCELED and outcome.rc == 254
    assert "aborted with a second Ctrl-C: Ansible was killed" in outcome.error
    done = Job.fetch(job_id, connection=harness.redis, serializer=JSONSerializer).return_value()
    assert isinstance(done, dict) and "aborted from the controller" in done["stopped"]


def test_cancel_while_queued_takes_the_job_off_the_queue(
    harness: Harness, comune: ComuneFiles, tmp_path: Path
) -> None:
    cancel = threading.Event()
    thread = harness.start(_request(comune), tmp_path / "run", cancel=cancel)
    job_id = harness.queued()
    cancel.set()
    outcome = harness.outcome(thread)

    assert outcome.status == RunStatus.CANCELED and not outcome.worker
    job = Job.fetch(job_id, connection=harness.redis, serializer=JSONSerializer)
    assert job.get_status() == JobStatus.CANCELED


def test_runner_dying_without_ending_its_stream_ends_the_run_with_why(
    harness: Harness, comune: ComuneFiles, tmp_path: Path
) -> None:
    harness.mode("die")  # type: ignore[attr-defined]
    thread = harness.start(_request(comune), tmp_path / "run")
    harness.work()
    outcome = harness.outcome(thread)

    assert outcome.status == RunStatus.ERROR
    assert f"ansible-runner worker exited 3 on {outcome.worker}" in outcome.error


def _taken_by_a_worker_that_dies(
    harness: Harness, comune: ComuneFiles, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[threading.Thread, str]:
    """A comply run whose job worker ``w-dead`` took (its heartbeat and its stream's first
    entry), then left: the heartbeat ends within 0.5 s. The run's thread and the job id."""
    monkeypatch.setattr(queue, "ALIVE_TTL", 0.5)
    thread = harness.start(_request(comune), tmp_path / "run")
    job_id = harness.queued()
    harness.redis.set(queue.job_key(job_id, "alive"), "w-dead", px=500)
    harness.redis.xadd(queue.job_key(job_id, "out"), {"w": "w-dead", "a": "plain"})
    return thread, job_id


def test_a_worker_that_stops_beating_mid_run_makes_the_run_interrupted(
    harness: Harness, comune: ComuneFiles, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A worker took it and streamed part of the run, then died (no eof, no more heartbeat).
    thread, job_id = _taken_by_a_worker_that_dies(harness, comune, tmp_path, monkeypatch)
    r = harness.redis
    lines = [json.dumps({"status": "running"}), *(json.dumps(e) for e in EVENTS[:4])]
    r.xadd(queue.job_key(job_id, "out"), {"d": ("\n".join(lines) + "\n").encode()})
    outcome = harness.outcome(thread)

    assert outcome.status == RunStatus.INTERRUPTED and outcome.worker == "w-dead"
    assert "worker w-dead stopped beating" in outcome.error
    assert "during task 'Configure unattended-upgrades'" in outcome.error
    assert [t.host for t in outcome.tasks] == ["gw-vpn-01"]  # what it did before dying
    # RQ will never run it again behind the controller's back (the core decides).
    job = Job.fetch(job_id, connection=r, serializer=JSONSerializer)
    assert job.get_status() == JobStatus.CANCELED


def test_a_job_rq_puts_back_after_its_worker_died_is_not_run_again(
    harness: Harness, comune: ComuneFiles, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A worker took it, started streaming and died; RQ's cleanup of abandoned jobs puts a job
    # with a retry left back on its queue, where the next worker finds it.
    thread, job_id = _taken_by_a_worker_that_dies(harness, comune, tmp_path, monkeypatch)
    r = harness.redis
    harness.work()
    outcome = harness.outcome(thread)

    assert not harness.record.exists()  # the second worker ran nothing
    assert r.xlen(queue.job_key(job_id, "out")) == 1  # and streamed nothing
    assert outcome.status == RunStatus.INTERRUPTED and outcome.worker == "w-dead"
    result = Job.fetch(job_id, connection=r, serializer=JSONSerializer).latest_result()
    assert result is not None
    assert "the job already ran on worker w-dead, which was lost" in (result.exc_string or "")


def test_a_job_of_another_version_is_refused_with_both_versions(
    harness: Harness, comune: ComuneFiles, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    harness.executor.version = "0.0.9+0123456789ab"
    thread = harness.start(_request(comune), tmp_path / "run")
    harness.work()
    thread.join(30)

    assert isinstance(harness.result, ControllerError)
    message = str(harness.result)
    assert message.startswith("comply castelnuovo: provisioner.errors.ControllerError: refused by")
    assert "the job was built by 0.0.9+0123456789ab" in message
    assert queue.project_version(harness.settings.content_dir) in message
    assert harness.result.exit_code == ExitCode.ENVIRONMENT
    assert not harness.record.exists()  # nothing ran


def test_no_worker_in_time_is_one_clear_error(
    harness: Harness, comune: ComuneFiles, tmp_path: Path
) -> None:
    harness.executor.settings = harness.executor.settings.model_copy(update={"queue_wait": 1})
    thread = harness.start(_request(comune), tmp_path / "run")
    thread.join(30)

    assert isinstance(harness.result, ControllerError)
    assert "no worker took the job within 1 s (queue_wait); nothing ran" in str(harness.result)


def test_changes_go_to_their_own_queue_without_retry(
    harness: Harness, comune: ComuneFiles, tmp_path: Path
) -> None:
    thread = harness.start(_request(comune, check=False, use_case="enable"), tmp_path / "run")
    job = Job.fetch(
        harness.queued("provisioner-changes"), connection=harness.redis, serializer=JSONSerializer
    )
    assert job.retries_left is None and job.timeout == harness.settings.queue_job_timeout
    assert job.description == f"enable {SLUG}"
    harness.work("provisioner-changes")
    assert harness.outcome(thread).status == RunStatus.SUCCESSFUL


def test_a_private_key_in_clear_never_goes_to_redis(
    harness: Harness, comune: ComuneFiles, tmp_path: Path
) -> None:
    key = comune.dir / "rd-gateway.key"
    key.write_text("-----BEGIN PRIVATE KEY-----\nMIIE...\n-----END PRIVATE KEY-----\n")
    with pytest.raises(InputError, match=r"rd-gateway.key: a private key in clear"):
        harness.executor.run(_request(comune), tmp_path / "run", vault_password=None)
    assert list(harness.redis.scan_iter()) == []


# --- the comune's lock across machines ----------------------------------------------------------


def test_a_comune_is_held_by_one_run_across_machines(redis: fakeredis.FakeRedis) -> None:
    first = queue.Lease(redis, "lab", "controller a pid 1")
    second = queue.Lease(redis, "lab", "controller b pid 2")
    assert first.acquire() is None
    holder = second.acquire()
    assert holder is not None and holder.holder == "controller a pid 1"
    # A worker renews it with the token of the run it serves, never with another.
    assert queue.renew_lease(redis, first.key, first.token)
    assert not queue.renew_lease(redis, first.key, second.token)
    second.release()  # not its lock: nothing happens
    assert redis.exists(first.key)
    first.release()
    assert not redis.exists(first.key)
    assert second.acquire() is None
    second.release()


def test_a_lock_whose_holder_stopped_renewing_expires_and_its_renewer_knows(
    redis: fakeredis.FakeRedis,
) -> None:
    lease = queue.Lease(redis, "lab", "controller a", ttl=0.3)
    assert lease.acquire() is None
    redis.set(lease.key, json.dumps({"token": "someone-else", "by": "b"}))  # taken over
    assert lease.lost.wait(2)
    lease.release()
    assert redis.exists(lease.key)  # the new holder's lock stays


def test_hold_refuses_a_comune_held_elsewhere_naming_the_holder(harness: Harness) -> None:
    other = queue.Lease(harness.redis, "lab", "controller elsewhere pid 9")
    assert other.acquire() is None
    with (
        pytest.raises(BusyError, match="a queued run holds its lock") as caught,
        harness.executor.hold("lab"),
    ):
        pass
    assert "controller elsewhere pid 9" in str(caught.value)
    other.release()


# --- connection and small parts -----------------------------------------------------------------


def test_redis_that_does_not_answer_is_one_line_without_secrets(
    settings: Settings, tmp_path: Path
) -> None:
    secret = tmp_path / "redis-password"
    secret.write_text("redis-canary-55\n", encoding="utf-8")
    unreachable = settings.model_copy(
        update={"redis_url": "redis://provisioner@127.0.0.1:1/0", "redis_password_file": secret}
    )
    with pytest.raises(ControllerError) as caught:
        queue.connect(unreachable)
    message = str(caught.value)
    assert message.startswith("Redis at redis://provisioner@127.0.0.1:1/0 cannot be used")
    assert "nothing was run or recorded" in message and "redis-canary" not in message
    assert caught.value.exit_code == ExitCode.ENVIRONMENT


def test_inventory_sources_go_to_ansible_in_order_through_the_environment() -> None:
    kwargs = {
        "private_data_dir": "/w/job",
        "inventory": ["/w/job/comune", f"/w/job/{TUNNEL_INVENTORY}"],
        "envvars": {"PATH": "/venv/bin"},
        "playbook": "enable_remote_work.yml",
    }
    assert queue_worker.for_worker(kwargs) == {
        "envvars": {
            "PATH": "/venv/bin",
            "ANSIBLE_INVENTORY": f"/w/job/comune,/w/job/{TUNNEL_INVENTORY}",
        },
        "playbook": "enable_remote_work.yml",
    }


def test_a_request_travels_as_json_and_lands_in_the_workers_data_dir(
    comune: ComuneFiles,
) -> None:
    request = _request(comune, tags=("vpn",), through_tunnel=("laptop-sindaco",), forks=5)
    data = json.loads(json.dumps(queue.request_json(request)))
    assert data["inventory"] == "comune"
    back = queue.request_from_json(data, Path("/w/job"))
    assert back == replace(request, inventory=Path("/w/job/comune"))


def test_the_version_follows_the_ansible_content(tmp_path: Path) -> None:
    for name in ("a", "b"):
        (tmp_path / name / "playbooks").mkdir(parents=True)
        (tmp_path / name / "playbooks" / "site.yml").write_text(f"# {name}\n", encoding="utf-8")
    one = queue.project_version(tmp_path / "a")
    assert one == queue.project_version(tmp_path / "a")
    assert one != queue.project_version(tmp_path / "b")
    assert one.split("+")[0] == queue.project_version(tmp_path / "b").split("+")[0]
