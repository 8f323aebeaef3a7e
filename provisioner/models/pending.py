"""The ledger of desired work: what each host still needs, kept until it is seen and done."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class WorkKind(StrEnum):
    """What a host still needs; a later kind includes the earlier ones."""

    ENABLE = "enable"
    """The comune's enable (a new comune, a remediation) never reached it."""
    REPROVISION = "reprovision"
    """The helpdesk asked to reprovision it."""
    ROTATE_KEYS = "rotate-keys"
    """The helpdesk asked for a new VPN key pair."""


COVERS: dict[WorkKind, frozenset[WorkKind]] = {
    WorkKind.ENABLE: frozenset({WorkKind.ENABLE}),
    WorkKind.REPROVISION: frozenset({WorkKind.ENABLE, WorkKind.REPROVISION}),
    WorkKind.ROTATE_KEYS: frozenset(WorkKind),
}
"""A run of a kind, done on a host, settles the host's work of these kinds."""


class WorkState(StrEnum):
    """Where one item of work stands."""

    PENDING = "pending"
    RUNNING = "running"
    APPLIED = "applied"
    FAILED = "failed"
    """Tried and failed; still open: tried again after a back-off, until it expires."""
    EXPIRED = "expired"


OPEN = (WorkState.PENDING, WorkState.FAILED)


@dataclass(frozen=True)
class PendingWork:
    """One item of the ledger."""

    id: int
    comune: str
    host: str
    kind: WorkKind
    state: WorkState
    attempts: int
    created: float
    updated: float
    last_seen: float | None
    next_attempt: float | None
    expires: float
    revision: str
    run_id: str | None
    detail: str

    @property
    def open(self) -> bool:
        """Still to be done (pending, or failed and to be tried again)."""
        return self.state in OPEN
