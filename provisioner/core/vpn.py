"""VPN addressing: checks before any host is touched, and stable per-endpoint allocation."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from provisioner.errors import InventoryError, InventoryProblem
from provisioner.models.inventory import Host, Inventory

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


def check(inventory: Inventory, other_pools: dict[str, ipaddress.IPv4Network]) -> None:
    """Refuse bad VPN input before anything runs.

    Pool too small for the endpoints, a pool overlapping another comune's, an endpoint address
    outside the pool, on the gateway's address or used twice.

    Raises:
        InventoryError: every problem, naming file, host and field.
    """
    pool = inventory.settings.comune_vpn_pool
    where = _settings_file(inventory)
    problems: list[InventoryProblem] = []
    endpoints = inventory.group("endpoints")
    capacity = max(pool.num_addresses - 3, 0)  # network, broadcast, gateway
    if len(endpoints) > capacity:
        problems.append(
            InventoryProblem(
                where,
                f"VPN pool {pool} has room for {capacity} endpoints, the comune has "
                f"{len(endpoints)}; choose a larger pool",
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
    for host in endpoints:
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


def plan(inventory: Inventory) -> Allocation:
    """Addresses for every endpoint: existing ones kept, the lowest free ones for the rest.

    Raises:
        InventoryError: the pool is exhausted (names the pool and its file).
    """
    pool = inventory.settings.comune_vpn_pool
    taken = {gateway_address(pool)}
    addresses: dict[str, ipaddress.IPv4Address] = {}
    for host in inventory.group("endpoints"):
        if host.vpn_client_address is not None:
            addresses[host.name] = host.vpn_client_address
            taken.add(host.vpn_client_address)
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
