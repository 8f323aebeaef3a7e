"""The life of one run: validate, lock, record, execute through the chokepoint, rotate."""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from provisioner.adapters import accel
from provisioner.adapters.accel import Acceleration
from provisioner.adapters.files import atomic_write
from provisioner.adapters.history import History, new_run_id
from provisioner.adapters.runner import LocalRunner
from provisioner.config import Settings
from provisioner.core import inventory as inventory_core
from provisioner.core import invocation as invocation_core
from provisioner.core.secrets import require_vault_password
from provisioner.errors import InputError, ProvisionerError
from provisioner.models.comply import drift_items
from provisioner.models.history import Invocation, RunDetail, RunRecord
from provisioner.models.inventory import Inventory
from provisioner.models.run import COMPLY, PlaybookRequest, RunReport, RunStatus
from provisioner.ports import EventSink, Executor


def history(settings: Settings) -> History:
    """The history store of these settings."""
    return History(settings.state)


@functools.cache
def _detect(wanted: bool) -> Acceleration:
    return accel.detect(wanted)


def acceleration(settings: Settings) -> Acceleration:
    """Mitogen or plain for this process's runs (detected once; see adapters/accel.py)."""
    return _detect(settings.accel)


def _local(settings: Settings) -> Executor:
    """ansible-runner on this machine, accelerated when Mitogen is usable."""
    return LocalRunner(
        settings.playbooks_dir,
        settings.ansible_cfg,
        acceleration(settings).envvars(),
        fact_cache_dir=settings.fact_cache_dir,
    )


EXECUTORS: dict[str, Callable[[Settings], Executor]] = {"local": _local}
"""``Settings.executor`` -> the factory of that executor (a new executor is one entry)."""


def executor(settings: Settings) -> Executor:
    """The executor the settings name."""
    return EXECUTORS[settings.executor](settings)


def preflight(
    settings: Settings, inventory: Inventory, playbook: str, limit: str | None
) -> str | None:
    """What is checked before anything is written: the playbook, the limit, the vault password
    (returned; None when the inventory needs none).

    Raises:
        InputError: a missing playbook, an unknown host or group, no vault password.
    """
    if not (settings.playbooks_dir / playbook).is_file():
        raise InputError(f"{settings.playbooks_dir / playbook}: playbook not found")
    inventory_core.check_limit(inventory, limit)
    return require_vault_password(settings, inventory)


@dataclass(frozen=True)
class ComuneLock:
    """Proof that the caller holds a comune's lock (see :func:`comune_lock`)."""

    comune: str


@contextlib.contextmanager
def comune_lock(settings: Settings, comune: str) -> Iterator[ComuneLock]:
    """Hold a comune's lock across a whole use case: loading and planning, the run, and the
    inventory edits that follow it; pass what it yields to :func:`run_playbook` as ``held``.

    Raises:
        BusyError: another run holds the comune's lock.
    """
    with history(settings).lock(comune):
        yield ComuneLock(comune)


def run_playbook(
    settings: Settings,
    request: PlaybookRequest,
    inventory: Inventory,
    *,
    on_event: EventSink | None = None,
    cancel: threading.Event | None = None,
    runner: Executor | None = None,
    prepare: Callable[[], list[str]] | None = None,
    held: ComuneLock | None = None,
    invocation: Invocation | None = None,
) -> RunReport:
    """Run one playbook for one comune with history, lock and rotation.

    ``prepare`` runs under the comune's lock just before Ansible (e.g. VPN address allocation)
    and returns notes for the report. ``held``: the caller already holds the comune's lock
    (:func:`comune_lock`). ``invocation``: who started the run (default: this process).

    Everything that can be checked is checked before anything is written to the state dir.
    A full disk when the outcome is recorded keeps what it can (at least the run's status) and
    says so in the report's notes.

    Raises:
        InputError: bad limit or missing vault password.
        BusyError: another run holds the comune's lock.
    """
    password = preflight(settings, inventory, request.playbook, request.limit)
    if held is not None and held.comune != request.comune:
        raise ValueError(f"run_playbook: holding {held.comune!r}'s lock, not {request.comune!r}")
    store = history(settings)
    chosen = runner or executor(settings)
    locked = contextlib.nullcontext() if held is not None else store.lock(request.comune)
    with locked:
        notes = prepare() if prepare is not None else []
        started = time.time()
        run_id = new_run_id(started)
        run_dir = store.start(
            run_id,
            use_case=request.use_case,
            comune=request.comune,
            host_limit=request.limit,
            check_mode=request.check,
            tags=request.tags,
            started=started,
            invocation=invocation or invocation_core.current(),
        )
        try:
            outcome = chosen.run(
                request, run_dir, vault_password=password, on_event=on_event, cancel=cancel
            )
        except ProvisionerError as exc:
            store.fail(run_id, RunStatus.ERROR, str(exc))
            raise
        except BaseException:
            store.fail(run_id, RunStatus.INTERRUPTED, "interrupted")
            raise
        report = RunReport(
            run_id=run_id,
            comune=request.comune,
            use_case=request.use_case,
            check=request.check,
            run_dir=run_dir,
            outcome=outcome,
            inventory=inventory,
            notes=tuple(notes),
            accel=chosen.accel,
        )
        # The run, its hosts, tasks and (comply) drift items in one transaction; on a full disk
        # at least its status, and the report says what is missing.
        missing = [
            store.finish(run_id, outcome, drift_items(report) if request.use_case == COMPLY else [])
        ]
        try:
            atomic_write(
                run_dir / "summary.json", json.dumps(report.summary(), indent=2, default=str)
            )
        except OSError as exc:
            missing.append(f"{run_dir / 'summary.json'}: not written ({exc.strerror})")
        report = dataclasses.replace(report, notes=report.notes + tuple(m for m in missing if m))
        store.prune(request.comune, settings.keep_history_runs, settings.keep_history_days)
        store.rotate(request.comune, settings.keep_runs)
    return report


def list_runs(settings: Settings, comune: str | None, limit: int) -> list[RunRecord]:
    """Newest runs first."""
    return history(settings).list_runs(comune, limit)


def show_run(settings: Settings, run_id: str) -> RunDetail:
    """One run with its hosts and tasks.

    Raises:
        InputError: no run (or no unique run) has that id.
    """
    detail = history(settings).get(run_id)
    if detail is None:
        raise InputError(
            f"run {run_id!r}: no such run (or the prefix is ambiguous); see 'runs list'"
        )
    return detail
