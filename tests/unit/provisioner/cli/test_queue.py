"""`provisioner queue status`, `worker`, and the commands that fan out when Redis is not there."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import fakeredis
import pytest
from rq import Queue, Worker
from rq.serializers import JSONSerializer

from provisioner.adapters import queue
from provisioner.config import Settings
from tests.unit.fakes import SLUG, ComuneFiles
from tests.unit.provisioner.cli.conftest import Cli

DOWN = "redis://127.0.0.1:1/0"


@pytest.fixture
def redis_down(monkeypatch: pytest.MonkeyPatch) -> None:
    """The job queue selected, its Redis not answering."""
    monkeypatch.setenv("PROVISIONER_EXECUTOR", "queue")
    monkeypatch.setenv("PROVISIONER_REDIS_URL", DOWN)


@pytest.mark.usefixtures("redis_down")
def test_queue_status_without_redis_is_one_red_line_and_exit_8(cli: Cli) -> None:
    result = cli("queue", "status")

    assert result.exit_code == 8
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert lines[0].startswith(f"error: Redis at {DOWN} cannot be used")


@pytest.mark.usefixtures("redis_down")
@pytest.mark.parametrize(
    "command", [("comply", "--all"), ("comply", SLUG), ("enable", SLUG), ("enable", SLUG, "b")]
)
def test_runs_without_redis_are_exit_8_and_record_nothing(
    cli: Cli,
    make_comune: Callable[..., ComuneFiles],
    state_dir: Path,
    command: tuple[str, ...],
) -> None:
    make_comune()
    make_comune("b", settings={"comune_vpn_pool": "10.78.0.0/24"})

    result = cli(*command)

    assert result.exit_code == 8, result.output
    assert result.output.count("cannot be used") == 1
    assert not (state_dir / "history.sqlite3").exists()
    assert not (state_dir / "runs").exists()


def test_enable_of_several_comuni_refuses_a_limit(
    cli: Cli, make_comune: Callable[..., ComuneFiles]
) -> None:
    make_comune()
    make_comune("b", settings={"comune_vpn_pool": "10.78.0.0/24"})

    result = cli("enable", SLUG, "b", "--limit", "gw-vpn-01")

    assert result.exit_code == 2
    assert "--limit names hosts of one comune" in result.output


def test_queue_status_shows_workers_versions_runs_and_locks(
    cli: Cli, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    redis = fakeredis.FakeRedis(server=fakeredis.FakeServer())
    monkeypatch.setattr(queue, "connect", lambda s: redis)
    checks = Queue("provisioner-checks", connection=redis, serializer=JSONSerializer)
    mine = queue.project_version(settings.content_dir)
    for name, version in (("w-new", mine), ("w-old", "0.0.1+x")):
        Worker([checks], connection=redis, name=name, serializer=JSONSerializer).register_birth()
        redis.set(queue.worker_key(name), version)
    checks.enqueue_call("os.getcwd", description="comply castelnuovo", job_id="job-1")
    lock = queue.Lease(redis, "lab", "controller ctl pid 42")
    lock.acquire()

    result = cli("queue", "status")
    lock.release()

    assert result.exit_code == 0, result.output
    out = " ".join(result.output.split())
    assert "w-new" in out and "w-old" in out and "0.0.1+x (differs)" in out
    assert "1 queued" in out and "comply castelnuovo" in out and "job-1" in out
    assert "locked: lab by controller ctl pid 42" in out
