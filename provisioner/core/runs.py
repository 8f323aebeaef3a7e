"""The life of one run: validate, lock, record, execute through the chokepoint, rotate."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import functools
import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path

import yaml

from provisioner.adapters import accel, queue
from provisioner.adapters.accel import Acceleration
from provisioner.adapters.files import atomic_write
from provisioner.adapters.history import History, new_run_id
from provisioner.adapters.inventory_writer import write_host_vars
from provisioner.adapters.runner import LocalRunner
from provisioner.config import Settings
from provisioner.core import admin_password, pending, presence, worker
from provisioner.core import inventory as inventory_core
from provisioner.core import invocation as invocation_core
from provisioner.core.secrets import require_vault_password
from provisioner.errors import ControllerError, InputError, ProvisionerError
from provisioner.models.comply import drift_items
from provisioner.models.history import Invocation, RunDetail, RunRecord
from provisioner.models.inventory import BUNDLES, Inventory
from provisioner.models.run import (
    COMPLY,
    PRESENCE,
    BundleStatus,
    OfflineHost,
    PlaybookRequest,
    ReadinessCheck,
    RunOutcome,
    RunReport,
    RunStatus,
)
from provisioner.ports import EventSink, Executor, SpansMachines

OFFLINE_VAR = "provisioner_offline"
"""Extra variable of a run: the endpoints it left out as offline (roles delegate to none)."""


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


def _queue(settings: Settings) -> Executor:
    """One RQ job per run, executed by `provisioner worker` processes (adapters/queue.py).

    Raises:
        ControllerError: Redis cannot be used (before anything is recorded).
    """
    return queue.QueueExecutor(
        queue.connect(settings), settings, worker.execute, accel=settings.accel
    )


EXECUTORS: dict[str, Callable[[Settings], Executor]] = {"local": _local, "queue": _queue}
"""``Settings.executor`` -> the factory of that executor (a new executor is one entry)."""


def executor(settings: Settings) -> Executor:
    """The executor the settings name.

    Raises:
        ControllerError: it cannot work here (the queue's Redis does not answer).
    """
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


def fan_out(settings: Settings, parallel: int | None) -> int:
    """How many comuni run at once: ``parallel``, else 2 with the local executor (a controller's
    cores) or two per live worker with the queue (each worker always has the next one).

    Raises:
        ControllerError: the queue's Redis does not answer, or no worker listens.
    """
    if parallel is not None:
        return parallel
    if settings.executor != "queue":
        return 2
    workers = queue.live_workers(settings, queue.connect(settings))
    if not workers:
        raise ControllerError(
            f"no `provisioner worker` listens on {settings.queue_checks} or "
            f"{settings.queue_changes} at {settings.redis_url}: nothing was run; start workers "
            "(README: 'Job queue')"
        )
    return 2 * workers


def _everywhere(chosen: Executor, comune: str) -> AbstractContextManager[None]:
    """The comune's lock on the other machines an executor runs on (none for the local one)."""
    if isinstance(chosen, SpansMachines):
        return chosen.hold(comune)
    return contextlib.nullcontext()


def run_playbook(
    settings: Settings,
    request: PlaybookRequest,
    inventory: Inventory,
    *,
    on_event: EventSink | None = None,
    cancel: threading.Event | None = None,
    runner: Executor | None = None,
    prepare: Callable[[], list[str]] | None = None,
    console_user: str | None = None,
    held: ComuneLock | None = None,
    invocation: Invocation | None = None,
) -> RunReport:
    """Run one playbook for one comune with history, lock and rotation.

    ``prepare`` runs under the comune's lock just before Ansible (e.g. VPN address allocation)
    and returns notes for the report. ``held``: the caller already holds the comune's lock
    (:func:`comune_lock`). ``invocation``: who started the run (default: this process, with
    ``console_user``, the web console's user who started it, None when not from the console).

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
    # The comune's lock here, and on the other machines an executor runs on (queue workers).
    with locked, _everywhere(chosen, request.comune):
        notes = prepare() if prepare is not None else []
        # Once per host, not per run: the admin password's slow hash (kept in the vault).
        notes += admin_password.ensure(inventory, request.inventory, password)
        reach = _leave_out_offline(settings, request, inventory, chosen, password, cancel)
        request, offline = reach.request, reach.offline
        notes += [reach.note] if reach.note else []
        bundles = _bundles(settings, request, inventory, chosen, password, cancel, reach.reading)
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
            invocation=invocation or invocation_core.current(console_user=console_user),
        )
        try:
            if _nothing_left(request, inventory, offline):
                # Every host it was for is offline: their work waits in the ledger.
                outcome = RunOutcome(RunStatus.SUCCESSFUL, 0, (), (), started, time.time())
            else:
                outcome = chosen.run(
                    request, run_dir, vault_password=password, on_event=on_event, cancel=cancel
                )
        except ProvisionerError as exc:
            store.fail(run_id, RunStatus.ERROR, str(exc))
            raise
        except BaseException:
            store.fail(run_id, RunStatus.INTERRUPTED, "interrupted")
            raise
        not_ready = reach.not_ready
        if not_ready and not request.check and outcome.status == RunStatus.SUCCESSFUL:
            # The run may have brought the terminator's tunnel up again (enable, remediation):
            # then its endpoints are only offline until their next handshake, not failing.
            after = presence.read(settings, inventory, chosen, vault_password=password)
            if not (after.down or after.error):
                not_ready = ()
                notes.append(
                    f"{after.terminator}: its tunnel is up again after this run; the endpoints "
                    "left out are offline until their next handshake"
                )
        if not_ready:
            outcome = dataclasses.replace(outcome, readiness=outcome.readiness + not_ready)
        if outcome.status == RunStatus.INTERRUPTED:
            notes.append(_after_loss(request))
        plays = _plays(settings.playbooks_dir / request.playbook)
        # Judged only when the started plays are this playbook's (a canceled or interrupted run
        # stops anyway).
        not_run = (
            tuple(p for p in plays if p not in outcome.plays)
            if outcome.plays
            and set(outcome.plays) <= set(plays)
            and outcome.status not in {RunStatus.CANCELED, RunStatus.INTERRUPTED}
            else ()
        )
        if not request.check:
            notes += _record_tunnel_paths(settings, inventory, outcome)
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
            offline=offline,
            plays_not_run=not_run,
            bundles=bundles,
        )
        # The run, its hosts, tasks, (comply) drift items and offline hosts in one transaction;
        # on a full disk at least its status, and the report says what is missing.
        missing = [
            store.finish(
                run_id,
                outcome,
                drift_items(report) if request.use_case == COMPLY else [],
                offline,
            )
        ]
        pending.record(store, request, report, settings.content_dir)
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


def _after_loss(request: PlaybookRequest) -> str:
    """What happens after the executor lost a run (its worker died): never a blind re-run of
    a run that changes hosts."""
    if request.read_only:
        return "the run changed nothing; comply runs it again once, as a new run"
    return (
        f"not run again by itself: the playbook stopped part-way, so some hosts may be half "
        f"converged (the tasks above changed before the loss; a device push reverts by itself: "
        f"safe mode, revert timer, config transaction). See what is left with 'provisioner "
        f"enable {request.comune} --check', then run enable again (it is idempotent)"
    )


@dataclass(frozen=True)
class _Reach:
    """How a run reaches the comune's endpoints, decided from the terminator's peers."""

    request: PlaybookRequest
    offline: tuple[OfflineHost, ...] = ()
    note: str = ""
    not_ready: tuple[ReadinessCheck, ...] = ()
    """Readiness failures known without running: the terminator's tunnel is down."""
    reading: presence.Presence | None = None
    """The terminator's peers, when they were read to decide."""


def _leave_out_offline(
    settings: Settings,
    request: PlaybookRequest,
    inventory: Inventory,
    executor: Executor,
    password: str | None,
    cancel: threading.Event | None,
) -> _Reach:
    """Reach tunnel-managed endpoints through the tunnel; leave out those that are offline.

    When the terminator cannot say who is on, every endpoint is attempted (with a note); when
    it says its tunnel is down, no tunnel-managed endpoint can be reached: each is left out
    and its ``vpn`` readiness fails with that reason.
    """
    tunnel = [h for h in presence.tunnel_hosts(inventory) if h not in request.direct]
    if not tunnel or request.use_case == PRESENCE:
        return _Reach(request)
    # Every tunnel host gets its tunnel connection: tasks may be delegated to one outside the
    # run's scope (the RDP probe runs from a user's laptop).
    request = dataclasses.replace(request, through_tunnel=tuple(tunnel))
    scope = presence.scope(inventory, request.limit)
    in_scope = [h for h in tunnel if scope is None or h in scope]
    if not in_scope:
        return _Reach(request)
    reading = presence.read(settings, inventory, executor, vault_password=password, cancel=cancel)
    if reading.error:
        return _Reach(
            request,
            note=f"presence not read ({reading.error}); endpoints attempted",
            reading=reading,
        )
    # A tunnel that is down tells no handshakes: the history remembers when each was last seen.
    reading = presence.recalled(settings, inventory, reading)
    offline = reading.offline(in_scope)
    if not offline:
        return _Reach(request, reading=reading)
    request = dataclasses.replace(
        request,
        limit=presence.excluding(request.limit, [o.host for o in offline]),
        # Tasks delegated to a laptop (the RDP probe) pick one that is on.
        extravars={**request.extravars, OFFLINE_VAR: [o.host for o in offline]},
    )
    if reading.down:
        return _Reach(
            request,
            offline,
            f"{reading.down}: the endpoints managed through it cannot be reached",
            tuple(ReadinessCheck(o.host, "vpn", False, reading.down) for o in offline),
            reading,
        )
    return _Reach(request, offline, reading=reading)


def _bundles(
    settings: Settings,
    request: PlaybookRequest,
    inventory: Inventory,
    executor: Executor,
    password: str | None,
    cancel: threading.Event | None,
    reading: presence.Presence | None,
) -> tuple[BundleStatus, ...]:
    """Comply: each issued bundle's peer on the terminator and its last handshake.

    The run itself checks the peers' configuration (the terminator's drift); this says, per
    device, whether the terminator has its peer now and when it was last seen.
    """
    if request.use_case != COMPLY or not any(h.issued for h in inventory.group(BUNDLES)):
        return ()
    if reading is None:
        reading = presence.read(
            settings, inventory, executor, vault_password=password, cancel=cancel
        )
    reading = presence.recalled(settings, inventory, reading)
    return presence.bundle_statuses(inventory, reading, datetime.date.today())


def _record_tunnel_paths(
    settings: Settings, inventory: Inventory, outcome: RunOutcome
) -> list[str]:
    """Endpoints whose tunnel was just proven are managed through it from now on (host_vars).

    The first enrolment happens where the laptop is reachable (the office); afterwards the only
    way to a laptop at home is its tunnel.
    """
    notes = []
    for check in outcome.readiness:
        host = inventory.hosts.get(check.host)
        if (
            check.check == "vpn"
            and check.ok
            and host is not None
            and "endpoints" in host.groups
            and host.provisioner_management == "direct"
        ):
            path = write_host_vars(
                settings.comune_dir(inventory.comune),
                host.name,
                {"provisioner_management": "tunnel"},
                "provisioner_management: how the controller reaches the host (set by provisioner)",
            )
            notes.append(f"{host.name}: managed through the tunnel from now on ({path})")
    return notes


def _nothing_left(
    request: PlaybookRequest, inventory: Inventory, offline: tuple[OfflineHost, ...]
) -> bool:
    """Whether the run's scope has no host left but those that only hold peers."""
    if not offline:
        return False
    in_scope = presence.scope(inventory, request.limit)
    if in_scope is None:
        return False
    left = (
        in_scope
        - {o.host for o in offline}
        - set(request.extravars.get("provisioner_peer_only") or ())
    )
    return not left


@functools.cache
def _plays(playbook: Path) -> tuple[str, ...]:
    """The names of a playbook's plays (ours: every play is named)."""
    doc = yaml.safe_load(playbook.read_text(encoding="utf-8")) or []
    return tuple(str(play.get("name", "")) for play in doc if isinstance(play, dict))


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
