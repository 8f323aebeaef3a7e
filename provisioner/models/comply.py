"""Drift: what a compliance run found, per comune, host, role and task."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

NO_ROLE = "(play)"
"""Role column of a task that belongs to no role (a task written in a play)."""


class CellState(StrEnum):
    """State of one host x role cell of the compliance grid."""

    COMPLIANT = "compliant"
    DRIFT = "drift"
    FAILED = "failed"
    UNREACHABLE = "unreachable"


@dataclass(frozen=True)
class DriftItem:
    """One task that would change on one host: the unit of drift."""

    comune: str
    host: str
    role: str
    task: str
    action: str
    diff: str = ""
    message: str = ""
    redacted: bool = False
    """The task hides its data (``no_log``/``diff: false``): only the fact of drift is kept."""


@dataclass(frozen=True)
class Cell:
    """One host x role cell: its state and how many tasks drifted or failed there."""

    host: str
    role: str
    state: CellState
    drift: int = 0
    failed: int = 0
