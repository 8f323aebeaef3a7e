"""Use cases of the job queue: a worker process, the job it runs for each comune run, its status.

``execute`` is the RQ job function (a plain importable function taking one JSON document): it
checks the job, builds runner's arguments for this machine through the chokepoint
(``LocalRunner.build_kwargs``) with this worker's own vault password, and hands the stream to
``adapters/queue.serve_job``.
"""

from __future__ import annotations

import functools
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from provisioner.adapters import accel, queue, queue_worker
from provisioner.adapters.runner import LocalRunner
from provisioner.config import Settings
from provisioner.core.secrets import vault_password
from provisioner.models.queue import QueueStatus

ENV_WORKER_SETTINGS = "PROVISIONER_WORKER_SETTINGS"
"""The worker's settings (JSON, paths only), handed to the process that runs each job."""


def serve(settings: Settings, *, name: str | None = None, burst: bool = False) -> bool:
    """Run a worker on this machine until stopped (``burst``: until the queues are empty).

    Raises:
        ControllerError: Redis cannot be used.
    """
    redis = queue.connect(settings)
    # RQ runs each job in a fork of this process: the job function finds the settings here,
    # and Mitogen's check is done once, before the forks.
    os.environ[ENV_WORKER_SETTINGS] = settings.model_dump_json()
    _acceleration(settings.accel)
    return queue_worker.work(settings, redis, name=name, burst=burst)


def execute(spec: dict[str, Any]) -> dict[str, Any]:
    """The RQ job: run one comune run sent by a controller (see ``adapters/queue``).

    Raises:
        ControllerError: refused (another version, no vault password here, lock not held); RQ
            records the line and the controller shows it.
    """
    settings = Settings.model_validate_json(os.environ[ENV_WORKER_SETTINGS])
    mine = queue.project_version(settings.content_dir)
    if spec.get("version") != mine:
        raise queue_worker.refused(
            f"it runs provisioner {mine}, the job was built by {spec.get('version')} (code, "
            "Ansible content, ansible-core or ansible-runner differ); deploy one version on "
            "the controller and every worker"
        )
    password = vault_password(settings)
    if spec.get("vault") and password is None:
        raise queue_worker.refused(
            "the comune's inventory is vault-encrypted and this worker has no vault password "
            "(vault_password_file or PROVISIONER_VAULT_PASSWORD on the worker)"
        )
    root = settings.state.worker_jobs
    root.mkdir(parents=True, exist_ok=True, mode=0o700)
    data_dir = Path(tempfile.mkdtemp(prefix=f"{spec['job']}-", dir=root))
    try:
        request = queue.request_from_json(spec["request"], data_dir)
        runner = LocalRunner(
            settings.playbooks_dir,
            settings.ansible_cfg,
            _acceleration(settings.accel and bool(spec.get("accel"))).envvars(),
            fact_cache_dir=settings.fact_cache_dir,
        )
        return queue_worker.serve_job(
            queue_worker.current_connection(),
            spec,
            data_dir,
            runner.build_kwargs(request, data_dir, None),
            runner.build_kwargs(request, data_dir, password),
            accel=runner.accel,
        )
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


@functools.cache
def _acceleration(wanted: bool) -> accel.Acceleration:
    """Mitogen on this worker when the job and the worker's settings allow it and it works."""
    return accel.detect(wanted)


def status(settings: Settings) -> QueueStatus:
    """What ``provisioner queue status`` shows.

    Raises:
        ControllerError: Redis cannot be used.
    """
    return queue.status(settings, queue.connect(settings))
