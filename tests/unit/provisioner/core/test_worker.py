"""The RQ job function and the worker's use cases: what a worker refuses, and why it says so."""

from __future__ import annotations

from pathlib import Path

import pytest

from provisioner.adapters import queue
from provisioner.config import Settings
from provisioner.core import worker
from provisioner.errors import ControllerError, ExitCode


@pytest.fixture
def on_a_worker(settings: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Settings:
    """This process as a worker's job process: its settings handed down, its own state dir."""
    mine = settings.model_copy(update={"state_dir": tmp_path / "worker-state"})
    monkeypatch.setenv(worker.ENV_WORKER_SETTINGS, mine.model_dump_json())
    monkeypatch.setenv("RQ_WORKER_ID", "w-test")
    return mine


def _spec(settings: Settings, **changes: object) -> dict[str, object]:
    spec: dict[str, object] = {
        "version": queue.project_version(settings.content_dir),
        "job": "0123abcd",
        "request": {},
        "vault": False,
        "accel": False,
        "lock": queue.lock_key("castelnuovo"),
        "token": "t",
    }
    return {**spec, **changes}


def test_a_job_of_another_version_is_refused_naming_both(on_a_worker: Settings) -> None:
    with pytest.raises(ControllerError) as caught:
        worker.execute(_spec(on_a_worker, version="0.0.1+deadbeef0000"))

    message = str(caught.value)
    assert message.startswith("refused by worker w-test: it runs provisioner ")
    assert "the job was built by 0.0.1+deadbeef0000" in message
    assert caught.value.exit_code == ExitCode.ENVIRONMENT
    assert not (on_a_worker.state_dir / "worker").exists()  # nothing unpacked


def test_a_vaulted_job_on_a_worker_without_the_vault_password_is_refused(
    on_a_worker: Settings,
) -> None:
    with pytest.raises(ControllerError, match="this worker has no vault password"):
        worker.execute(_spec(on_a_worker, vault=True))


def test_status_with_redis_unreachable_is_one_error(settings: Settings) -> None:
    down = settings.model_copy(update={"redis_url": "redis://127.0.0.1:1/0"})
    with pytest.raises(ControllerError, match=r"Redis at redis://127.0.0.1:1/0 cannot be used"):
        worker.status(down)
