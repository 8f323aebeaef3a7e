"""Helpdesk use cases: find one host among all comuni, reprovision it, decommission it.

A reprovision runs the enable playbook limited to the host plus the comune's VPN terminator, on
which only the peers are touched (``provisioner_peer_only``): the baseline, firewall and
forwarding of the gateway are not part of the run. A decommission removes the endpoint's peer
first and edits the inventory only when that succeeded, so a failed run leaves everything as it
was.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from provisioner.adapters.host_index import HostIndex
from provisioner.adapters.inventory_files import YamlDirectorySource
from provisioner.config import Settings
from provisioner.core import vpn
from provisioner.core.enable import PLAYBOOK, record_addresses
from provisioner.core.runs import ComuneLock, comune_lock, history, run_playbook
from provisioner.errors import ExitCode, InputError
from provisioner.models.inventory import Host, Inventory
from provisioner.models.run import PlaybookRequest, RunReport
from provisioner.names import did_you_mean
from provisioner.ports import EventSink, Executor


@dataclass(frozen=True)
class Located:
    """A host and the comune whose inventory has it."""

    host: Host
    inventory: Inventory


def locate(settings: Settings, name: str, comune: str | None = None) -> Located:
    """Find the comune of ``name`` through the host index, then load only that comune.

    Raises:
        InputError: unknown host (closest names suggested) or a name used in several comuni
            without ``comune``.
    """
    if comune is None:
        found = HostIndex(settings.inventory_dir, settings.state.host_index).find(name)
        if not found.comuni:
            where = {h: c for c, hosts in found.all_hosts.items() for h in hosts}
            hint = did_you_mean(name, where, label=lambda h: f"{h} ({where[h]})")
            raise InputError(f"host {name!r} is in no comune under {settings.inventory_dir}{hint}")
        if len(found.comuni) > 1:
            raise InputError(
                f"host {name!r} is in several comuni ({', '.join(found.comuni)}); "
                "choose one with --comune"
            )
        comune = found.comuni[0]
    inventory = YamlDirectorySource(settings.inventory_dir).load(comune)
    host = inventory.hosts.get(name)
    if host is None:
        hint = did_you_mean(name, inventory.hosts)
        raise InputError(f"host {name!r} is not in comune {comune!r}{hint}")
    return Located(host, inventory)


def _not_a_bundle(host: Host, inventory: Inventory, instead: str) -> None:
    """Refuse a bundle's device: no run reaches it over SSH."""
    if host.is_bundle:
        raise InputError(
            f"{host.name!r} is a bundle's device of comune {inventory.comune!r} (not managed "
            f"over SSH); {instead} {inventory.comune} {host.name}"
        )


def reprovision(
    settings: Settings,
    name: str,
    *,
    comune: str | None = None,
    rotate_keys: bool = False,
    check: bool = False,
    direct: bool = False,
    on_event: EventSink | None = None,
    cancel: threading.Event | None = None,
    runner: Executor | None = None,
    use_case: str = "reprovision",
    console_user: str | None = None,
) -> RunReport:
    """Converge one host and exactly the VPN peer it needs on the terminator.

    ``direct`` reaches the host at its inventory address even when it is managed through the
    tunnel (a reinstalled laptop brought back to the office has no tunnel any more); the run
    that enrols it again records the tunnel path anew.

    ``rotate_keys`` gives an endpoint a new key pair, generated on it; the terminator replaces
    the peer in the same run. An unreachable host publishes no key, so the terminator keeps its
    peer unchanged.

    The comune's lock is held from loading and planning to the end of the run.

    Raises:
        InputError: unknown host, or --rotate-keys on a host that is no VPN endpoint.
        InventoryError: the comune's inventory or VPN addressing is wrong.
    """
    found = locate(settings, name, comune)  # refused here: nothing written, not even a lock
    with comune_lock(settings, found.inventory.comune) as held:
        # What runs is what is read and planned under the lock.
        located = locate(settings, name, found.inventory.comune)
        return _reprovision_locked(
            settings,
            located,
            held,
            rotate_keys=rotate_keys,
            check=check,
            direct=direct,
            on_event=on_event,
            cancel=cancel,
            runner=runner,
            use_case=use_case,
            console_user=console_user,
        )


def _reprovision_locked(
    settings: Settings,
    located: Located,
    held: ComuneLock,
    *,
    rotate_keys: bool,
    check: bool,
    direct: bool,
    on_event: EventSink | None,
    cancel: threading.Event | None,
    runner: Executor | None,
    use_case: str,
    console_user: str | None,
) -> RunReport:
    """:func:`reprovision` under the comune's lock."""
    name = located.host.name
    inventory, host = located.inventory, located.host
    _not_a_bundle(host, inventory, "give it a new bundle: `provisioner bundle revoke`, then create")
    is_endpoint = "endpoints" in host.groups
    if rotate_keys and not is_endpoint:
        raise InputError(
            f"--rotate-keys: {name!r} is no VPN endpoint of comune {inventory.comune!r} "
            f"(groups: {', '.join(host.groups)})"
        )
    # The cross-comune pool check belongs to enable/validate: a reprovision reads one comune.
    vpn.check(inventory, {})
    vpn.check_readiness(inventory)
    allocation = vpn.plan(inventory)
    new_address = allocation.new.get(name) if is_endpoint else None
    limit = [name]
    extravars: dict[str, object] = {}
    terminator = vpn.terminator(inventory) if is_endpoint else None
    holders = [h for h in vpn.peer_holders(inventory) if h != name] if is_endpoint else []
    if holders:
        limit.extend(holders)
        extravars["provisioner_peer_only"] = holders
    if rotate_keys:
        extravars["provisioner_rotate_keys"] = True

    def prepare() -> list[str]:
        notes = []
        if rotate_keys:
            notes.append(
                f"{name}: {'would get' if check else 'gets'} a new VPN key pair; "
                f"{terminator or 'the terminator'} replaces its peer"
            )
        if new_address is not None:
            if check:
                notes.append(f"{name}: would get VPN address {new_address}")
            else:
                for host_name, path in record_addresses(
                    settings, inventory, {name: new_address}
                ).items():
                    notes.append(f"{host_name}: VPN address {new_address} recorded in {path}")
        return notes

    request = PlaybookRequest(
        use_case=use_case,
        comune=inventory.comune,
        playbook=PLAYBOOK,
        inventory=settings.comune_dir(inventory.comune),
        limit=",".join(limit),
        check=check,
        diff=check,
        extravars=extravars,
        # A reprovisioned laptop may have been reinstalled: its cached facts are not trusted.
        flush_cache=True,
        direct=(name,) if direct else (),
    )
    return run_playbook(
        settings,
        request,
        inventory,
        on_event=on_event,
        cancel=cancel,
        runner=runner,
        prepare=prepare,
        held=held,
        console_user=console_user,
    )


@dataclass(frozen=True)
class Decommissioned:
    """Outcome of a decommission: the gateway run (if any) and what left the inventory."""

    host: str
    comune: str
    address: str | None
    report: RunReport | None
    removed: dict[str, object]

    @property
    def exit_code(self) -> ExitCode:
        """The run's exit code, or OK when no run was needed."""
        return self.report.exit_code if self.report is not None else ExitCode.OK


def decommission(
    settings: Settings,
    name: str,
    *,
    comune: str | None = None,
    check: bool = False,
    on_event: EventSink | None = None,
    cancel: threading.Event | None = None,
    runner: Executor | None = None,
    console_user: str | None = None,
) -> Decommissioned:
    """Remove an endpoint's peer from the terminator, then the host from the inventory.

    The inventory is edited and the host marked retired in history only after the terminator's
    run succeeded; its past runs stay in history. Its VPN address is free for new endpoints.
    The comune's lock is held from loading to the last inventory edit: no run starts between
    the peer's removal and the host's.

    Raises:
        InputError: unknown host, or the host is the comune's VPN terminator.
    """
    found = locate(settings, name, comune)
    with comune_lock(settings, found.inventory.comune) as held:
        located = locate(settings, name, found.inventory.comune)
        return _decommission_locked(
            settings, located, held, check, on_event, cancel, runner, console_user
        )


def _decommission_locked(
    settings: Settings,
    located: Located,
    held: ComuneLock,
    check: bool,
    on_event: EventSink | None,
    cancel: threading.Event | None,
    runner: Executor | None,
    console_user: str | None,
) -> Decommissioned:
    """:func:`decommission` under the comune's lock."""
    name = located.host.name
    inventory, host = located.inventory, located.host
    _not_a_bundle(host, inventory, "use `provisioner bundle revoke`")
    terminator = vpn.terminator(inventory)
    if name == terminator:
        raise InputError(
            f"{name!r} is the VPN terminator of comune {inventory.comune!r}; "
            "change comune_vpn_terminator first"
        )
    address = str(host.vpn_client_address) if host.vpn_client_address is not None else None
    report: RunReport | None = None
    holders = vpn.peer_holders(inventory)
    if "endpoints" in host.groups and address is not None and holders:
        request = PlaybookRequest(
            use_case="decommission",
            comune=inventory.comune,
            playbook=PLAYBOOK,
            inventory=settings.comune_dir(inventory.comune),
            limit=",".join(holders),
            check=check,
            diff=check,
            extravars={
                "provisioner_peer_only": holders,
                "provisioner_retired": [name],
            },
        )
        report = run_playbook(
            settings,
            request,
            inventory,
            on_event=on_event,
            cancel=cancel,
            runner=runner,
            held=held,
            console_user=console_user,
        )
        if report.exit_code != ExitCode.OK:
            return Decommissioned(name, inventory.comune, address, report, {})
    removed: dict[str, object] = {}
    if not check:
        from provisioner.adapters.inventory_writer import remove_host  # noqa: PLC0415

        removed = dict(remove_host(settings.comune_dir(inventory.comune), name))
        history(settings).retire(inventory.comune, name, address, report.run_id if report else None)
    return Decommissioned(name, inventory.comune, address, report, removed)
