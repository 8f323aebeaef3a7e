"""VPN addressing: checks before any host is touched, and stable per-endpoint allocation."""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass

from provisioner.errors import InventoryError, InventoryProblem
from provisioner.models.inventory import BUNDLES, PEER_GROUPS, Host, Inventory

ADDRESS_VAR = "vpn_client_address"


@dataclass(frozen=True)
class Allocation:
    """Tunnel addresses of a comune's endpoints: kept ones and newly allocated ones."""

    addresses: dict[str, ipaddress.IPv4Address]
    new: dict[str, ipaddress.IPv4Address]


def gateway_address(pool: ipaddress.IPv4Network) -> ipaddress.IPv4Address:
    """The concentrator's tunnel address: the first host of the pool."""
    return pool.network_address + 1


def _settings_file(inventory: Inventory) -> str:
    return inventory.origins.get("comune_vpn_pool", inventory.directory)


def _host_file(host: Host) -> str:
    return host.origins.get(ADDRESS_VAR, host.source)


def terminator(inventory: Inventory) -> str | None:
    """The comune's VPN terminator when provisioner manages it (Linux gateway or gear)."""
    name = inventory.settings.comune_vpn_terminator
    if name and name in inventory.hosts:
        return name
    return None


def peer_holders(inventory: Inventory) -> list[str]:
    """Every host holding the peers: the terminator and gear acting as concentrator."""
    hosts = [name] if (name := terminator(inventory)) else []
    for host in inventory.group("network_devices"):
        if host.variables.get("netgear_role") == "vpn_concentrator" and host.name not in hosts:
            hosts.append(host.name)
    return hosts


def peers(inventory: Inventory) -> list[Host]:
    """Hosts with a place in the pool: every endpoint, and the bundles' devices with an address."""
    return sorted(
        (
            h
            for h in inventory.hosts.values()
            if "endpoints" in h.groups or (BUNDLES in h.groups and h.vpn_client_address)
        ),
        key=lambda h: h.name,
    )


def capacity(pool: ipaddress.IPv4Network) -> int:
    """Peers a pool holds: all its addresses but network, broadcast and the gateway's."""
    return max(pool.num_addresses - 3, 0)


def check(inventory: Inventory, other_pools: dict[str, ipaddress.IPv4Network]) -> None:
    """Refuse bad VPN input before anything runs.

    Pool too small for the endpoints and bundles, a pool overlapping another comune's, a peer's
    address outside the pool, on the gateway's address or used twice.

    Raises:
        InventoryError: every problem, naming file, host and field.
    """
    pool = inventory.settings.comune_vpn_pool
    where = _settings_file(inventory)
    problems: list[InventoryProblem] = []
    holders = peers(inventory)
    if len(holders) > capacity(pool):
        problems.append(
            InventoryProblem(
                where,
                f"VPN pool {pool} has room for {capacity(pool)} endpoints and bundles, the "
                f"comune has {len(holders)}; choose a larger pool",
                field="comune_vpn_pool",
            )
        )
    for other, other_pool in other_pools.items():
        if other_pool.overlaps(pool):
            problems.append(
                InventoryProblem(
                    where,
                    f"VPN pool {pool} overlaps the pool {other_pool} of comune {other!r}",
                    field="comune_vpn_pool",
                )
            )
    seen: dict[ipaddress.IPv4Address, str] = {}
    for host in holders:
        address = host.vpn_client_address
        if address is None:
            continue
        file = _host_file(host)
        if address not in pool or address in {pool.network_address, pool.broadcast_address}:
            problems.append(
                InventoryProblem(
                    file,
                    f"{address} is outside the VPN pool {pool}",
                    host=host.name,
                    field=ADDRESS_VAR,
                )
            )
        elif address == gateway_address(pool):
            problems.append(
                InventoryProblem(
                    file,
                    f"{address} is the gateway's tunnel address",
                    host=host.name,
                    field=ADDRESS_VAR,
                )
            )
        elif address in seen:
            problems.append(
                InventoryProblem(
                    file,
                    f"{address} is already used by {seen[address]}",
                    host=host.name,
                    field=ADDRESS_VAR,
                )
            )
        seen[address] = host.name
    if problems:
        raise InventoryError(problems)


def check_readiness(inventory: Inventory) -> None:
    """Refuse a run whose endpoints' VPN readiness could not be proven.

    The readiness never passes without a TCP connection through the tunnel to an office service
    (``comune_vpn_readiness_service``). Checked when a run starts, not when the inventory is
    loaded: a new comune's hosts are imported before its services are known.

    Raises:
        InventoryError: the comune has endpoints and no readiness service (names file and field).
    """
    if inventory.group("endpoints") and not inventory.settings.comune_vpn_readiness_service:
        raise InventoryError(
            [
                InventoryProblem(
                    inventory.origins.get("comune_vpn_allowed_services", _settings_file(inventory)),
                    "the endpoints' VPN readiness needs an office service to reach through the "
                    "tunnel: name one of comune_vpn_allowed_services (e.g. the intranet)",
                    field="comune_vpn_readiness_service",
                )
            ]
        )


def _taken(inventory: Inventory) -> dict[str, ipaddress.IPv4Address]:
    """Addresses held by the comune's peers (endpoints and issued bundles), by host."""
    return {
        host.name: host.vpn_client_address
        for group in PEER_GROUPS
        for host in inventory.group(group)
        if host.vpn_client_address is not None
    }


def plan(inventory: Inventory) -> Allocation:
    """Addresses for every endpoint: existing ones kept, the lowest free ones for the rest.

    The bundles' addresses are taken too (a bundle gets its own at ``bundle create``).

    Raises:
        InventoryError: the pool is exhausted (names the pool and its file).
    """
    pool = inventory.settings.comune_vpn_pool
    held = _taken(inventory)
    taken = {gateway_address(pool), *held.values()}
    addresses = {h.name: held[h.name] for h in inventory.group("endpoints") if h.name in held}
    free = (a for a in pool.hosts() if a not in taken)
    new: dict[str, ipaddress.IPv4Address] = {}
    for host in inventory.group("endpoints"):
        if host.name in addresses:
            continue
        address = next(free, None)
        if address is None:
            raise InventoryError(
                [
                    InventoryProblem(
                        _settings_file(inventory),
                        f"VPN pool {pool} is exhausted: no free address for {host.name}",
                        field="comune_vpn_pool",
                    )
                ]
            )
        new[host.name] = address
        addresses[host.name] = address
    return Allocation(addresses, new)


def free_address(inventory: Inventory, host: str, today: datetime.date) -> ipaddress.IPv4Address:
    """The lowest address of the pool that no peer (endpoint or bundle) holds, for ``host``.

    Endpoints without an address yet keep room for theirs (``enable`` allocates it): a bundle
    never takes the last address a laptop in the inventory is waiting for.

    Raises:
        InventoryError: the pool is full (names the pool, its file and the expired bundles
            whose revocation would free an address).
    """
    pool = inventory.settings.comune_vpn_pool
    held = set(_taken(inventory).values())
    waiting = [h for h in inventory.group("endpoints") if h.vpn_client_address is None]
    free = [a for a in pool.hosts() if a != gateway_address(pool) and a not in held]
    if len(free) <= len(waiting):
        expired = [h.name for h in inventory.group(BUNDLES) if h.expired(today)]
        hint = f"; expired bundles to revoke: {', '.join(expired)}" if expired else ""
        raise InventoryError(
            [
                InventoryProblem(
                    _settings_file(inventory),
                    f"VPN pool {pool} is full: no free address for {host} ({len(held)} in use, "
                    f"{len(waiting)} kept for endpoints not enrolled yet){hint}",
                    field="comune_vpn_pool",
                )
            ]
        )
    return free[0]
