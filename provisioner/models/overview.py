"""What the console's overview and comune pages show: state per comune and per host."""

from __future__ import annotations

from dataclasses import dataclass

from provisioner.models.history import HostRun, RunRecord, RunSummary
from provisioner.models.inventory import Host, Inventory
from provisioner.models.pending import PendingWork
from provisioner.models.run import ReadinessCheck


@dataclass(frozen=True)
class ComuneStatus:
    """One comune in the overview: its latest comply run (None: never checked)."""

    slug: str
    name: str
    province: str
    comply: RunSummary | None


@dataclass(frozen=True)
class HostStatus:
    """One host of a comune: how its last run ended, readiness, last handshake, open work."""

    host: Host
    last: HostRun | None
    readiness: tuple[ReadinessCheck, ...]
    last_seen: float | None
    pending: tuple[PendingWork, ...]


@dataclass(frozen=True)
class ComuneView:
    """A comune's page."""

    inventory: Inventory
    hosts: tuple[HostStatus, ...]
    comply: RunSummary | None
    runs: tuple[RunRecord, ...]


@dataclass(frozen=True)
class HostMatch:
    """A host name found by a search, with its comune."""

    host: str
    comune: str
