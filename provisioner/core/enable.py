"""Use case: enable remote work for one comune."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from provisioner.adapters.inventory_files import YamlDirectorySource
from provisioner.adapters.inventory_writer import write_host_vars
from provisioner.config import Settings
from provisioner.core import inventory as inventory_core
from provisioner.core import rdp_files, reports, vpn
from provisioner.core.runs import ComuneLock, comune_lock, fan_out, preflight, run_playbook
from provisioner.errors import InputError, ProvisionerError
from provisioner.models.comply import drift_items, grid
from provisioner.models.inventory import Inventory
from provisioner.models.run import ComuneRun, ManyRuns, PlaybookRequest, RunReport, RunStatus
from provisioner.ports import EventSink, Executor

PLAYBOOK = "enable_remote_work.yml"


def enable(
    settings: Settings,
    comune: str,
    *,
    limit: str | None = None,
    check: bool = False,
    diff: bool | None = None,
    tags: tuple[str, ...] = (),
    skip_tags: tuple[str, ...] = (),
    on_event: EventSink | None = None,
    cancel: threading.Event | None = None,
    runner: Executor | None = None,
    use_case: str = "enable",
    report_dir: Path | None = None,
    console_user: str | None = None,
) -> RunReport:
    """Converge a comune (or, with ``check``, show what would change, with diffs).

    The inventory and the VPN addressing are validated before anything is written. New endpoints
    get their tunnel address recorded in the inventory (not in check mode) under the lock.
    ``use_case`` names the run in history (``comply`` and ``remediate`` run this same playbook).

    After a completed run (not in check mode), each user mapped to a desktop gets a ``.rdp``
    file in the run directory (``rdp/<user>.rdp``), noted in the report. Every run's HTML, JSON
    and JUnit reports are written under ``report_dir`` (default: the state dir's reports); the
    comune's oldest reports beyond ``keep_reports`` / ``keep_reports_days`` go.

    The comune's lock is held from loading and planning to the last report: what runs is what
    was read and planned under it (a bad inventory is refused first, before anything is written).
    """
    source = YamlDirectorySource(settings.inventory_dir)
    # Refused here, nothing written (not even the lock file): bad inventory, limit, no password.
    preflight(settings, _load_checked(source, comune), PLAYBOOK, limit)
    with comune_lock(settings, comune) as held:
        inventory = _load_checked(source, comune)
        return _enable_locked(
            settings,
            inventory,
            held,
            limit=limit,
            check=check,
            diff=diff,
            tags=tags,
            skip_tags=skip_tags,
            on_event=on_event,
            cancel=cancel,
            runner=runner,
            use_case=use_case,
            report_dir=report_dir,
            console_user=console_user,
        )


def _load_checked(source: YamlDirectorySource, comune: str) -> Inventory:
    """The comune's inventory, validated, with its VPN addressing checked against the others."""
    inventory = source.load(comune)
    vpn.check(inventory, source.vpn_pools(exclude=comune))
    vpn.check_readiness(inventory)
    return inventory


def _enable_locked(
    settings: Settings,
    inventory: Inventory,
    held: ComuneLock,
    *,
    limit: str | None,
    check: bool,
    diff: bool | None,
    tags: tuple[str, ...],
    skip_tags: tuple[str, ...],
    on_event: EventSink | None,
    cancel: threading.Event | None,
    runner: Executor | None,
    use_case: str,
    report_dir: Path | None,
    console_user: str | None,
) -> RunReport:
    """:func:`enable` under the comune's lock."""
    comune = inventory.comune
    allocation = vpn.plan(inventory)

    def allocate() -> list[str]:
        if check:
            return [f"{host}: would get VPN address {a}" for host, a in allocation.new.items()]
        return [
            f"{host}: VPN address {allocation.new[host]} recorded in {path}"
            for host, path in record_addresses(settings, inventory, allocation.new).items()
        ]

    request = PlaybookRequest(
        use_case=use_case,
        comune=comune,
        playbook=PLAYBOOK,
        inventory=settings.comune_dir(comune),
        limit=limit,
        check=check,
        diff=check if diff is None else diff,
        tags=tags,
        skip_tags=skip_tags,
    )
    report = run_playbook(
        settings,
        request,
        inventory,
        on_event=on_event,
        cancel=cancel,
        runner=runner,
        prepare=allocate,
        held=held,
        console_user=console_user,
    )
    notes = report.notes
    if (
        not check
        and report.outcome.status == RunStatus.SUCCESSFUL
        and inventory.settings.comune_remote_desktop_enabled
    ):
        written = rdp_files.write(inventory.settings, report.run_dir)
        if written:
            notes += (
                f"{len(written)} .rdp connection file(s) for the users in {written[0].parent}",
            )
    target = report_dir or settings.state.reports
    try:
        files = reports.write(
            report, drift_items(report) if check else [], grid(report.outcome), target
        )
    except OSError as exc:  # a full disk: the run is recorded, its reports are not
        files = None
        notes += (f"reports not written to {target / comune} ({exc.strerror})",)
    reports.prune(target / comune, settings.keep_reports, settings.keep_reports_days)
    return dataclasses.replace(report, notes=notes, files=files)


def enable_many(
    settings: Settings,
    comuni: Iterable[str],
    *,
    check: bool = False,
    diff: bool | None = None,
    tags: tuple[str, ...] = (),
    skip_tags: tuple[str, ...] = (),
    parallel: int | None = None,
    report_dir: Path | None = None,
    on_result: Callable[[ComuneRun], None] | None = None,
    cancel: threading.Event | None = None,
    runner: Executor | None = None,
) -> ManyRuns:
    """Enable several comuni (a campaign day), at most ``parallel`` at a time (default: see
    ``runs.fan_out``; with the job queue, they spread over the workers).

    One comune failing never stops the others: its problem is its result. A run its executor
    lost (a queue worker died) is not run again (see ``runs.run_playbook``).

    Raises:
        InputError: no comune, or one without an inventory (before anything runs).
        ControllerError: the queue's Redis does not answer or no worker listens.
    """
    names = list(dict.fromkeys(comuni))
    known = inventory_core.comunes(settings)
    unknown = [c for c in names if c not in known]
    if not names or unknown:
        raise InputError(
            f"{settings.inventory_dir}: no inventory for {', '.join(unknown) or '(none named)'}"
            f" (known: {', '.join(known) or 'none'})"
        )
    width = fan_out(settings, parallel) if runner is None else (parallel or 2)

    def one(comune: str) -> ComuneRun:
        try:
            result = ComuneRun(
                comune,
                enable(
                    settings,
                    comune,
                    check=check,
                    diff=diff,
                    tags=tags,
                    skip_tags=skip_tags,
                    cancel=cancel,
                    runner=runner,
                    report_dir=report_dir,
                ),
            )
        except ProvisionerError as exc:
            result = ComuneRun(comune, error="; ".join(exc.lines()), error_code=exc.exit_code)
        if on_result is not None:
            on_result(result)
        return result

    with ThreadPoolExecutor(max_workers=max(1, min(width, len(names)))) as pool:
        return ManyRuns(tuple(pool.map(one, names)))


def record_addresses(
    settings: Settings, inventory: Inventory, new: Mapping[str, object]
) -> dict[str, str]:
    """Write newly allocated tunnel addresses into the hosts' host_vars; return host -> file."""
    note = (
        "vpn_client_address is allocated by provisioner: stable, never reused while the host exists"
    )
    return {
        host: str(
            write_host_vars(
                settings.comune_dir(inventory.comune), host, {vpn.ADDRESS_VAR: str(address)}, note
            )
        )
        for host, address in sorted(new.items())
    }
