"""Which endpoints are on: their peers' latest handshakes on the comune's VPN terminator.

An endpoint managed through the tunnel (``provisioner_management: tunnel``) is reachable only
while its tunnel is up. A WireGuard peer with traffic or a keepalive makes a new handshake at
least every two minutes, so a peer without a handshake for longer is switched off or away: the
run leaves it out (no SSH timeout per host) and its work waits in the ledger (core/pending.py).

A laptop switched off a minute ago still has a recent handshake (the terminator's session
outlives it by up to three minutes), and SSH through the tunnel would wait minutes for the
kernel's TCP timeout. So the terminator also asks each tunnel-managed endpoint with a recent
handshake, once, on its SSH port (role vpn_presence, ``Presence: answers``): one that stays
silent for longer than a keepalive interval (35 s) is offline too; one that answers, even with
a refusal, is on.

A RouterOS terminator is read from the controller instead (its peer table through the netgear
role's ``status``, one JSON line of peers with seconds since their latest handshake). A router
cannot open that TCP connection for us, so there a laptop switched off within the last three
minutes is still attempted (and found unreachable).
"""

from __future__ import annotations

import dataclasses
import datetime
import ipaddress
import json
import re
import shutil
import tempfile
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from provisioner.adapters.history import History
from provisioner.config import Settings
from provisioner.core import vpn
from provisioner.errors import ProvisionerError
from provisioner.models.inventory import BUNDLES, Host, Inventory
from provisioner.models.run import (
    PRESENCE,
    BundleState,
    BundleStatus,
    OfflineHost,
    PlaybookRequest,
    RunStatus,
)
from provisioner.ports import Executor

PLAYBOOK = "presence.yml"
RECENT_HANDSHAKE = 180.0
"""Seconds: WireGuard re-keys every 120 s on a live tunnel; 60 s of slack for a late handshake."""
ENDPOINTS = "endpoints"
DEVICES = "network_devices"
"""A terminator in this group is a RouterOS concentrator: its peer table is read."""


@dataclass(frozen=True)
class Presence:
    """What the terminator said about its peers when it was asked."""

    terminator: str
    checked: float
    last_seen: Mapping[str, float | None] = field(default_factory=dict)
    """Endpoint host -> epoch of its latest handshake (None: never, or no peer)."""
    error: str = ""
    """Why the terminator could not be read (then nobody is taken for offline)."""
    down: str = ""
    """Why no endpoint can be on: the terminator's tunnel is down (it said so)."""
    online_now: frozenset[str] = frozenset()
    """Hosts whose peer the terminator has a handshake for now (not only remembered)."""
    silent: frozenset[str] = frozenset()
    """Hosts with a recent handshake whose SSH port did not answer through the tunnel."""
    with_peer: frozenset[str] = frozenset()
    """Hosts (endpoints and bundles' devices) the terminator has a peer for, handshake or not."""

    def online(self, host: str) -> bool:
        """Whether ``host`` made a handshake lately (or the terminator could not be read)."""
        if self.down:
            return False
        if self.error:
            return True
        seen = self.last_seen.get(host)
        return (
            host in self.online_now
            and host not in self.silent
            and seen is not None
            and self.checked - seen <= RECENT_HANDSHAKE
        )

    def offline(self, hosts: Iterable[str]) -> tuple[OfflineHost, ...]:
        """The hosts of ``hosts`` that are not online, with when they were last seen."""
        return tuple(
            OfflineHost(host, self.last_seen.get(host)) for host in hosts if not self.online(host)
        )


def tunnel_hosts(inventory: Inventory, scope: set[str] | None = None) -> list[str]:
    """Endpoints managed through the tunnel (of ``scope``, when given), sorted."""
    return [
        host.name
        for host in inventory.group(ENDPOINTS)
        if host.provisioner_management == "tunnel"
        and host.vpn_client_address is not None
        and (scope is None or host.name in scope)
    ]


def scope(inventory: Inventory, limit: str | None) -> set[str] | None:
    """The hosts a ``--limit`` can select, or None for "any host" (no limit, or a pattern).

    Plain host and group names are resolved; exclusions are ignored (the scope may be wider
    than the run, never narrower).
    """
    if not limit:
        return None
    hosts: set[str] = set()
    for token in re.split(r"[,:]", limit):
        name = token.lstrip("!&")
        if not name or token.startswith("!"):
            continue
        if name in inventory.hosts:
            hosts.add(name)
        elif name == "all" or any(c in name for c in "*?[~"):
            return None
        else:
            hosts.update(h.name for h in inventory.group(name))
    return hosts


def excluding(limit: str | None, hosts: Iterable[str]) -> str:
    """``limit`` (None: all hosts) without ``hosts``, in the separator the limit already uses.

    Ansible splits a pattern on commas when it has one, and only then on colons: appending
    ``:!host`` to ``a,b`` makes ``b:!host`` one pattern that matches nothing (``b`` is lost and
    the host stays in).
    """
    base = limit or "all"
    separator = "," if "," in base else ":"
    return separator.join([base, *(f"!{host}" for host in hosts)])


def parse_peer_table(lines: Iterable[str], now: float) -> dict[ipaddress.IPv4Address, float | None]:
    """A router's peer table (one JSON list: ``allowed_address``, ``last_handshake`` seconds ago
    or null) -> address -> handshake epoch, as :func:`parse_peers` gives for a Linux gateway.

    Raises:
        ValueError: not such a list.
    """
    peers = json.loads("".join(lines) or "[]")
    if not isinstance(peers, list):
        raise ValueError("not a list of peers")
    rows = []
    for peer in peers:
        if not isinstance(peer, dict):
            raise ValueError("a peer is not a mapping")
        age = peer.get("last_handshake")
        try:
            epoch = 0 if age is None else int(now - float(age))
        except (TypeError, ValueError):
            raise ValueError(f"last_handshake {age!r} is not a number of seconds") from None
        allowed = str(peer.get("allowed_address") or "(none)").replace(" ", "")
        rows.append(f"{peer.get('public_key') or '-'} {allowed} {epoch} -")
    return parse_peers(rows)


def parse_peers(lines: Iterable[str]) -> dict[ipaddress.IPv4Address, float | None]:
    """``<key> <allowed ips> <handshake epoch> <endpoint>`` lines -> address -> handshake."""
    seen: dict[ipaddress.IPv4Address, float | None] = {}
    for line in lines:
        parts = line.split()
        if len(parts) < 3:
            continue
        try:
            epoch = float(parts[2])
        except ValueError:
            continue
        for allowed in parts[1].split(","):
            try:
                network = ipaddress.IPv4Network(allowed, strict=False)
            except ValueError:
                continue
            if network.prefixlen == 32:
                seen[network.network_address] = epoch or None
    return seen


def parse_answers(lines: Iterable[str]) -> dict[str, str]:
    """``<address> open|refused|silent`` lines -> address -> answer."""
    answers = {}
    for line in lines:
        parts = line.split()
        if len(parts) == 2 and parts[1] in {"open", "refused", "silent"}:
            answers[parts[0]] = parts[1]
    return answers


def read(
    settings: Settings,
    inventory: Inventory,
    executor: Executor,
    *,
    vault_password: str | None,
    cancel: threading.Event | None = None,
) -> Presence:
    """Ask the comune's terminator for its peers' latest handshakes (a read-only run).

    The run leaves no trace in history (it happens before every run and every few seconds in
    ``watch``); its private data dir is removed afterwards.
    """
    terminator = inventory.settings.comune_vpn_terminator
    checked = time.time()
    host = inventory.hosts.get(terminator)
    if host is None or not {"vpn_gateways", DEVICES} & set(host.groups):
        return Presence(
            terminator,
            checked,
            error=f"{terminator}: presence is read from a VPN gateway or a RouterOS device",
        )
    device = DEVICES in host.groups
    probed = {
        str(inventory.hosts[name].vpn_client_address): name for name in tunnel_hosts(inventory)
    }
    request = PlaybookRequest(
        use_case=PRESENCE,
        comune=inventory.comune,
        playbook=PLAYBOOK,
        inventory=settings.comune_dir(inventory.comune),
        limit=terminator,
        extravars={
            "vpn_presence_probe_addresses": sorted(probed),
            "vpn_presence_recent": int(RECENT_HANDSHAKE),
        },
    )
    tmp_root = settings.state.root / "tmp"
    tmp_root.mkdir(parents=True, exist_ok=True, mode=0o700)
    run_dir = tempfile.mkdtemp(prefix=f"presence-{inventory.comune}-", dir=tmp_root)
    try:
        outcome = executor.run(request, Path(run_dir), vault_password=vault_password, cancel=cancel)
    except ProvisionerError as exc:
        return Presence(terminator, checked, error=str(exc))
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)
    probes = {p.check: p for p in outcome.probes if p.host == terminator}
    probe = probes.get("peers")
    if probe is not None and not probe.ok and "tunnel down" in probe.message:
        return Presence(terminator, checked, down=f"{terminator}: {probe.message}")
    if probe is None or not probe.ok or outcome.status != RunStatus.SUCCESSFUL:
        # Why: the probe's own words, else the terminator's failed task (a router's peer table
        # that could not be read), else the run's error.
        failed = [f"{t.task}: {t.message}" for t in outcome.failed_tasks if t.host == terminator]
        reason = (
            probe.message
            if probe
            else (failed[0] if failed else "") or outcome.error or "unreachable"
        )
        return Presence(terminator, checked, error=f"{terminator}: {reason}")
    try:
        by_address = (
            parse_peer_table(probe.lines, time.time()) if device else parse_peers(probe.lines)
        )
    except ValueError as exc:  # a JSON error is one too
        return Presence(terminator, checked, error=f"{terminator}: unreadable peer table: {exc}")
    # Endpoints and bundles' devices, by tunnel address.
    holders = {h.vpn_client_address: h.name for h in vpn.peers(inventory) if h.vpn_client_address}
    observed = {
        name: seen
        for address, name in holders.items()
        if (seen := by_address.get(address)) is not None
    }
    answers = probes.get("answers")
    silent = frozenset(
        probed[address]
        for address, answer in parse_answers(answers.lines if answers else ()).items()
        if answer == "silent" and address in probed
    )
    # A terminator restarted forgets its peers' handshakes: the history remembers them.
    known = History(settings.state).seen(inventory.comune, observed)
    return Presence(
        terminator,
        checked,
        {name: known.get(name) for name in holders.values()},
        online_now=frozenset(observed),
        silent=silent,
        with_peer=frozenset(name for address, name in holders.items() if address in by_address),
    )


def recalled(settings: Settings, inventory: Inventory, reading: Presence) -> Presence:
    """A reading that could not ask the terminator, with the handshakes history remembers."""
    if not (reading.error or reading.down) or not settings.state.history_db.exists():
        return reading
    known = History(settings.state).seen(inventory.comune, {})
    return dataclasses.replace(reading, last_seen=known)


def bundle_statuses(
    inventory: Inventory, reading: Presence, today: datetime.date
) -> tuple[BundleStatus, ...]:
    """Each bundle's device of the comune: issued or not, expired, its peer, its last handshake."""
    return tuple(
        BundleStatus(
            name=host.name,
            user=host.bundle_user,
            address=str(host.vpn_client_address) if host.vpn_client_address else None,
            created=host.bundle_created,
            expires=host.bundle_expires,
            state=_bundle_state(host, reading, today),
            last_seen=reading.last_seen.get(host.name),
        )
        for host in inventory.group(BUNDLES)
    )


def _bundle_state(host: Host, reading: Presence, today: datetime.date) -> BundleState:
    if not host.issued:
        return BundleState.NOT_ISSUED
    expired = host.expired(today)
    if reading.error or reading.down:
        return BundleState.EXPIRED if expired else BundleState.UNKNOWN
    present = host.name in reading.with_peer
    if expired:
        return BundleState.EXPIRED_PEER_LEFT if present else BundleState.EXPIRED
    return BundleState.ACTIVE if present else BundleState.PEER_MISSING
