"""The audit trail: every console action and every change to console users, with who and where."""

from __future__ import annotations

import time

from provisioner.adapters.console_store import ConsoleStore
from provisioner.config import Settings
from provisioner.models.accounts import AuditEntry

STARTED = "started"
OK = "ok"
DENIED = "denied"
FAILED = "failed"


def record(
    settings: Settings,
    *,
    user: str,
    source: str,
    action: str,
    target: str,
    outcome: str,
    detail: str = "",
) -> int:
    """Append one entry (now); its id, to settle it when a started action ends."""
    return ConsoleStore(settings.state).audit(
        at=time.time(),
        user=user,
        source=source,
        action=action,
        target=target,
        outcome=outcome,
        detail=detail,
    )


def settle(settings: Settings, entry: int, outcome: str, detail: str) -> None:
    """How a started action ended (e.g. ``exit 0``, with its run id in ``detail``)."""
    ConsoleStore(settings.state).settle_audit(entry, outcome, detail)


def entries(
    settings: Settings,
    *,
    user: str | None = None,
    action: str | None = None,
    since: float | None = None,
    limit: int = 100,
) -> list[AuditEntry]:
    """Newest first."""
    return ConsoleStore(settings.state).audit_entries(
        user=user, action=action, since=since, limit=limit
    )
