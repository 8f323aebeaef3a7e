"""The swappable parts, as Protocols: how runs execute, where events go, where inventory lives.

The core depends on these, never on an implementation; ``core/runs.py`` picks the executor named
by ``Settings.executor`` and the inventory source of ``Settings.inventory_dir``. A second executor
(a remote worker) is one new adapter and one setting.
"""

from __future__ import annotations

import ipaddress
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Protocol, runtime_checkable

from provisioner.models.inventory import Inventory
from provisioner.models.run import PlaybookRequest, ProgressEvent, RunOutcome

EventSink = Callable[[ProgressEvent], None]
"""Receives the progress of a run (the live display, a console's event stream)."""


class Executor(Protocol):
    """Runs a playbook request: the local ansible-runner today, a remote worker later."""

    @property
    def accel(self) -> str:
        """``mitogen`` or ``plain``: how Ansible executes this executor's runs."""
        ...

    def run(
        self,
        request: PlaybookRequest,
        run_dir: Path,
        *,
        vault_password: str | None,
        on_event: EventSink | None = None,
        cancel: threading.Event | None = None,
    ) -> RunOutcome:
        """Run and return the typed outcome."""
        ...


@runtime_checkable
class SpansMachines(Protocol):
    """An executor whose runs happen on other machines: it also locks comuni across them.

    The controller's file lock keeps two runs of one comune apart on this machine only; an
    executor that spans machines adds its own lock around the whole run (``core/runs.py``).
    """

    def hold(self, comune: str) -> AbstractContextManager[None]:
        """Hold ``comune`` on every machine until the block ends (raises BusyError if taken)."""
        ...


class InventorySource(Protocol):
    """Where comuni's inventories come from (a YAML directory tree today)."""

    def comunes(self) -> list[str]:
        """Names of the comuni it holds."""
        ...

    def load(self, comune: str) -> Inventory:
        """One comune, validated (errors name file, host and field)."""
        ...

    def vpn_pools(self, exclude: str) -> dict[str, ipaddress.IPv4Network]:
        """The VPN pool of every comune but ``exclude``."""
        ...
