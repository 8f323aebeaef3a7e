"""Use case: apply pending work when its host appears (``provisioner watch``).

Every ``interval`` seconds: expire what waited too long; for each comune with open work, read
who is on from its terminator; for each host that is on, whose work is due (not in a back-off)
and whose comune is free, run what it needs (a reprovision of that host and its peer on the
terminator; a key rotation when one is pending). The ledger records every attempt; applied and
expired work is notified like comply findings.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from provisioner.config import Settings
from provisioner.core import helpdesk, presence
from provisioner.core import inventory as inventory_core
from provisioner.core import notify as notify_core
from provisioner.core.runs import executor, history
from provisioner.core.secrets import require_vault_password
from provisioner.errors import ProvisionerError
from provisioner.models.pending import PendingWork, WorkKind, WorkState
from provisioner.models.run import RunReport

USE_CASE = "watch"


@dataclass(frozen=True)
class WatchEvent:
    """Something ``watch`` did, for the terminal or a log."""

    kind: str
    """``applied``, ``failed``, ``expired``, ``started``, ``skipped`` or ``error``."""
    comune: str
    host: str = ""
    detail: str = ""
    report: RunReport | None = None


def round_once(
    settings: Settings,
    comuni: list[str] | None = None,
    *,
    on_event: Callable[[WatchEvent], None] | None = None,
    cancel: threading.Event | None = None,
) -> list[WatchEvent]:
    """One polling round over the comuni with open work; returns what it did."""
    store = history(settings)
    events: list[WatchEvent] = []

    def say(event: WatchEvent) -> None:
        events.append(event)
        if on_event is not None:
            on_event(event)

    expired = [w for w in store.expire() if comuni is None or w.comune in comuni]
    for item in expired:
        say(
            WatchEvent(
                "expired", item.comune, item.host, f"{item.kind} waited since {item.created}"
            )
        )
    notify_core.notify_work(settings, expired, WorkState.EXPIRED)
    due: dict[str, list[PendingWork]] = {}
    now = time.time()
    for item in store.pending(open_only=True):
        if (comuni is None or item.comune in comuni) and (item.next_attempt or 0) <= now:
            due.setdefault(item.comune, []).append(item)
    for comune, items in sorted(due.items()):
        if cancel is not None and cancel.is_set():
            break
        try:
            _comune_round(settings, comune, items, say, cancel)
        except ProvisionerError as exc:
            say(WatchEvent("error", comune, detail="; ".join(exc.lines())))
    return events


def _comune_round(
    settings: Settings,
    comune: str,
    items: list[PendingWork],
    say: Callable[[WatchEvent], None],
    cancel: threading.Event | None,
) -> None:
    inventory = inventory_core.load(settings, comune)
    password = require_vault_password(settings, inventory)
    reading = presence.read(
        settings, inventory, executor(settings), vault_password=password, cancel=cancel
    )
    hosts = sorted({item.host for item in items})
    for host in hosts:
        if host not in inventory.hosts:
            history(settings).settle(
                comune,
                host,
                list(WorkKind),
                WorkState.EXPIRED,
                run_id=None,
                detail="the host left the inventory",
            )
            say(WatchEvent("expired", comune, host, "the host left the inventory"))
            continue
        if reading.error or not reading.online(host):
            say(
                WatchEvent(
                    "skipped", comune, host, "offline" if not reading.error else reading.error
                )
            )
            continue
        kinds = {item.kind for item in items if item.host == host}
        say(WatchEvent("started", comune, host, ", ".join(sorted(kinds))))
        try:
            report = helpdesk.reprovision(
                settings,
                host,
                comune=comune,
                rotate_keys=WorkKind.ROTATE_KEYS in kinds,
                cancel=cancel,
                use_case=USE_CASE,
            )
        except ProvisionerError as exc:
            say(WatchEvent("error", comune, host, "; ".join(exc.lines())))
            continue
        left = {w.host for w in history(settings).pending(comune, open_only=True)}
        done = host not in left
        say(WatchEvent("applied" if done else "failed", comune, host, report.run_id, report))
        if done:
            applied = [
                w
                for w in history(settings).pending(comune)
                if w.host == host and w.run_id == report.run_id and w.state == WorkState.APPLIED
            ]
            notify_core.notify_work(settings, applied, WorkState.APPLIED)


def watch(
    settings: Settings,
    comuni: list[str] | None = None,
    *,
    interval: float = 30.0,
    rounds: int | None = None,
    on_event: Callable[[WatchEvent], None] | None = None,
    cancel: threading.Event | None = None,
) -> int:
    """Poll every ``interval`` seconds until ``cancel`` (or for ``rounds`` rounds); the rounds."""
    stop = cancel or threading.Event()
    done = 0
    while not stop.is_set() and (rounds is None or done < rounds):
        round_once(settings, comuni, on_event=on_event, cancel=stop)
        done += 1
        if rounds is None or done < rounds:
            stop.wait(interval)
    return done
