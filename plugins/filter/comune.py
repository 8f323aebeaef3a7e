"""Filters that turn a comune's inventory into role inputs (role defaults and the enable playbook).

Each function is the one place where a piece of the inventory's shape (``comune_rdp_users``,
``comune_rdp_desktops``, ``comune_vpn_allowed_services``, the endpoints' host variables) is
read; the roles' defaults and ``playbooks/enable_remote_work.yml`` call them in one line.
Plain Python, so ``tests/unit/content/test_filters.py`` tests them without Ansible.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterable, Mapping
from typing import Any

DOCUMENTATION = """
name: comune
short_description: The comune inventory's mapping to role inputs
description:
  - vpn_peers, rdp_listeners, rdp_prober, service_target and rdp_service_sources (see each
    function's docstring).
"""

# xrdp's and Windows' RDP port, when a desktop of comune_rdp_desktops names none.
RDP_PORT = 3389


def vpn_peers(
    hosts: Iterable[str],
    hostvars: Mapping[str, Any],
    exclude: Iterable[str] = (),
    today: str | datetime.date | None = None,
) -> list[dict[str, str]]:
    """One WireGuard peer per endpoint or bundle's device that has a tunnel address.

    Args:
        hosts: inventory names of the peers (``groups['endpoints'] + groups['bundles']``).
        hostvars: Ansible's ``hostvars``: ``vpn_client_address`` (allocated by provisioner) and
            the public key: ``vpn_client_public_key`` (published by ``vpn_client`` in this run;
            empty when the endpoint did not publish one: offline, outside ``--limit``, new in
            check mode) or ``bundle_public_key`` (a bundle's device, recorded in the inventory).
        exclude: endpoints being decommissioned, bundles being revoked (``provisioner_retired``).
        today: ISO date (default: the controller's); a bundle whose ``bundle_expires`` is
            earlier has expired and gets no peer.

    Returns:
        ``[{name, public_key, address}]`` in the order of ``hosts``.
    """
    gone = set(exclude or ())
    day = str(today or datetime.date.today().isoformat())
    peers = []
    for host in hosts or ():
        if host in gone or host not in hostvars:
            continue
        host_vars = hostvars[host]
        address = host_vars.get("vpn_client_address")
        expires = host_vars.get("bundle_expires")
        if address is None or (expires and str(expires) < day):
            continue
        key = host_vars.get("vpn_client_public_key") or host_vars.get("bundle_public_key")
        peers.append({"name": str(host), "public_key": str(key or ""), "address": str(address)})
    return peers


def rdp_listeners(
    users: Iterable[Mapping[str, Any]],
    desktops: Iterable[Mapping[str, Any]],
    hostvars: Mapping[str, Any] | None = None,
    devices: Iterable[str] = (),
    today: str | datetime.date | None = None,
    retired: Iterable[str] = (),
) -> list[dict[str, Any]]:
    """One fixed-target RD gateway listener per user whose desktop is a known desktop.

    Args:
        users: ``comune_rdp_users`` (``name``, ``desktop``, ``port``, optional ``endpoint``).
        desktops: ``comune_rdp_desktops`` (``name``, ``address``, optional ``port``).
        hostvars: Ansible's ``hostvars``: the tunnel address (``vpn_client_address``) of each
            user's ``endpoint`` and of the bundles' devices issued to the user (``bundle_user``).
        devices: the bundles' devices (``groups['bundles']``); one past its ``bundle_expires``
            is left out, as in :func:`vpn_peers`.
        today: ISO date (default: the controller's).
        retired: endpoints being decommissioned, bundles being revoked
            (``provisioner_retired``): their addresses are no user's source any more, in the
            very run that removes their peers.

    Returns:
        ``[{name, port, target, target_port[, sources]}]`` for ``rd_gateway_listeners``, in
        user order; ``sources``: the user's own tunnel addresses, only when one is known.
    """
    by_name = {d["name"]: d for d in desktops or ()}
    known = hostvars or {}
    day = str(today or datetime.date.today().isoformat())
    owned: dict[str, list[str]] = {}
    for device in devices or ():
        device_vars = known.get(device) or {}
        expires = device_vars.get("bundle_expires")
        if device_vars.get("bundle_user") and not (expires and str(expires) < day):
            owned.setdefault(str(device_vars["bundle_user"]), []).append(device)

    gone = set(retired or ())

    def sources(user: Mapping[str, Any]) -> list[str]:
        hosts = [user["endpoint"]] if user.get("endpoint") else []
        addresses = (
            (known.get(h) or {}).get("vpn_client_address")
            for h in hosts + owned.get(user["name"], [])
            if h not in gone
        )
        return sorted({str(a) for a in addresses if a})

    listeners = []
    for user in users or ():
        desktop = by_name.get(user.get("desktop"))
        if desktop is None:
            continue
        listener = {
            "name": user["name"],
            "port": user["port"],
            "target": desktop["address"],
            "target_port": desktop.get("port", RDP_PORT),
        }
        own = sources(user)
        if own:
            listener["sources"] = own
        listeners.append(listener)
    return listeners


def rdp_prober(
    users: Iterable[Mapping[str, Any]],
    desktop: str,
    offline: Iterable[str] = (),
    left: Iterable[str] = (),
) -> dict[str, Any]:
    """The user whose endpoint proves a desktop's RDP readiness: the first of ``desktop``'s
    users that names an ``endpoint`` not ``offline`` (switched off or away: the run leaves it
    out), so the probe connects from a laptop that is on, through that user's listener, as the
    user would. An endpoint that ``left`` this run (unreachable or failed in an earlier play)
    is taken only when no other one is on, so that the readiness names it instead of waiting
    on it. ``{}`` when no user of the desktop names one that is on."""
    away = set(offline or ())
    gone = set(left or ())
    named = [
        dict(u)
        for u in users or ()
        if u.get("desktop") == desktop and u.get("endpoint") and u["endpoint"] not in away
    ]
    return next((u for u in named if u["endpoint"] not in gone), named[0] if named else {})


def service_target(services: Iterable[Mapping[str, Any]], name: str) -> str:
    """``address:port`` of the service called ``name`` (its address without a prefix length),
    as a TCP readiness target; ``""`` when there is no such service."""
    found = next((s for s in services or () if name and s.get("name") == name), None)
    if found is None:
        return ""
    return f"{str(found['address']).split('/')[0]}:{found['port']}"


def rdp_service_sources(
    services: Iterable[Mapping[str, Any]],
    rd_gateway_address: str,
    listeners: Iterable[Mapping[str, Any]],
) -> list[dict[str, Any]]:
    """The allowed services, each RD gateway listener's port open only to its user's addresses.

    A masquerading VPN gateway hides the endpoints' tunnel addresses from the RD gateway, so only
    the VPN gateway's forward chain can tell the users apart: the service that is the RD
    gateway's port of a listener with ``sources`` (:func:`rdp_listeners`) gets those
    ``sources``; every other service (and a listener whose user has no known address) stays open
    to the whole pool.

    Args:
        services: ``comune_vpn_allowed_services`` (``address``, ``port``, ``proto``, ``name``).
        rd_gateway_address: ``comune_rd_gateway_address`` (``""``: no RD gateway, no change).
        listeners: :func:`rdp_listeners`' result.

    Returns:
        A copy of ``services``; restricted ones carry ``sources`` (sorted tunnel addresses).
    """
    gateway = str(rd_gateway_address or "").split("/")[0]
    by_port = {
        int(each["port"]): list(each["sources"]) for each in listeners or () if each.get("sources")
    }
    restricted = []
    for service in services or ():
        copy = dict(service)
        address = str(service.get("address", ""))
        host = address.removesuffix("/32") if address.endswith("/32") else address
        port = int(service.get("port", 0) or 0)
        if gateway and host == gateway and service.get("proto") == "tcp" and port in by_port:
            copy["sources"] = by_port[port]
        restricted.append(copy)
    return restricted


class FilterModule:
    """Ansible's entry point for this file's filters."""

    def filters(self) -> dict[str, Callable[..., Any]]:
        return {
            "vpn_peers": vpn_peers,
            "rdp_listeners": rdp_listeners,
            "rdp_prober": rdp_prober,
            "service_target": service_target,
            "rdp_service_sources": rdp_service_sources,
        }
