"""Read-only views across comuni: the overview, a comune's hosts, host search.

Everything comes from the history (latest comply per comune, host results, last handshakes,
the ledger) and the inventories; nothing runs Ansible.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from pathlib import Path

from provisioner.adapters.comune_catalog import ComuneCatalog
from provisioner.adapters.host_index import HostIndex
from provisioner.config import Settings
from provisioner.core import inventory as inventory_core
from provisioner.core import pending as pending_core
from provisioner.core.runs import history
from provisioner.errors import InputError
from provisioner.models.overview import ComuneStatus, ComuneView, HostMatch, HostStatus
from provisioner.models.run import COMPLY, ReadinessCheck
from provisioner.names import did_you_mean

READINESS_RUNS = 10
"""How many of a comune's latest runs are read for the hosts' readiness (summary.json each)."""


@functools.cache
def _catalog(root: Path) -> ComuneCatalog:
    """One catalog per inventory root and process: a running console re-reads only what changed."""
    return ComuneCatalog(root)


def comuni(settings: Settings, *, only: Iterable[str] | None = None) -> list[ComuneStatus]:
    """Every comune (of ``only``, when given) with its latest comply run."""
    facts = _catalog(settings.inventory_dir).facts()
    allowed = None if only is None else set(only)
    latest = history(settings).latest_per_comune(COMPLY)
    return [
        ComuneStatus(f.slug, f.name, f.province, latest.get(f.slug))
        for f in facts
        if allowed is None or f.slug in allowed
    ]


def provinces(statuses: Iterable[ComuneStatus]) -> list[str]:
    """The provinces of these comuni, sorted (for a filter)."""
    return sorted({s.province for s in statuses if s.province})


def in_province(statuses: Iterable[ComuneStatus], province: str) -> list[ComuneStatus]:
    """The comuni of a province (its sigla, any case); all of them for an empty one."""
    wanted = province.strip().upper()
    return [s for s in statuses if not wanted or s.province.upper() == wanted]


def comune(settings: Settings, slug: str) -> ComuneView:
    """A comune's hosts with their last result, readiness, last handshake and open work.

    Raises:
        InputError: no such comune.
        InventoryError: its inventory is invalid.
    """
    inventory = inventory_core.load(settings, slug)
    store = history(settings)
    runs = store.list_runs(slug, READINESS_RUNS)
    readiness: dict[tuple[str, str], ReadinessCheck] = {}
    for run in runs:
        for item in (store.summary(run) or {}).get("readiness") or []:
            check = ReadinessCheck(
                str(item.get("host", "")),
                str(item.get("check", "")),
                bool(item.get("ok")),
                str(item.get("reason", "")),
            )
            readiness.setdefault((check.host, check.check), check)
    last = store.latest_host_results(slug)
    seen = store.last_seen(slug)
    work = pending_core.ledger(settings, slug)
    hosts = tuple(
        HostStatus(
            host,
            last.get(name),
            tuple(c for (h, _), c in sorted(readiness.items()) if h == name),
            seen.get(name),
            tuple(w for w in work if w.host == name),
        )
        for name, host in sorted(inventory.hosts.items())
    )
    return ComuneView(
        inventory, hosts, store.latest_per_comune(COMPLY, slug).get(slug), tuple(runs)
    )


def find_hosts(
    settings: Settings, query: str, *, only: Iterable[str] | None = None, limit: int = 50
) -> list[HostMatch]:
    """Hosts whose name contains ``query`` (case-insensitive), across all comuni (host index).

    Exact matches come first; ``only`` restricts the comuni searched.
    """
    needle = query.strip().lower()
    if not needle:
        return []
    allowed = None if only is None else set(only)
    index = HostIndex(settings.inventory_dir, settings.state.host_index).refresh()
    found = [
        HostMatch(host, comune)
        for comune, hosts in index.items()
        if allowed is None or comune in allowed
        for host in hosts
        if needle in host.lower()
    ]
    found.sort(key=lambda m: (m.host.lower() != needle, m.host, m.comune))
    return found[:limit]


def comune_exists(settings: Settings, slug: str) -> None:
    """Refuse a comune that has no inventory (before a run is queued for it).

    Raises:
        InputError: no such comune (the closest names suggested).
    """
    known = inventory_core.comunes(settings)
    if slug not in known:
        raise InputError(
            f"no comune {slug!r} under {settings.inventory_dir}{did_you_mean(slug, known)}"
        )
