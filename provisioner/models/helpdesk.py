"""The helpdesk's view of one host after a run: per role, what differed before and the state after.

The CLI's table and the console's page both show this; neither decides it on its own.
"""

from __future__ import annotations

from dataclasses import dataclass

from provisioner.models.run import RunReport, TaskOutcome

NO_ROLE = "(playbook)"
"""Role of a task written in a play rather than a role."""


@dataclass(frozen=True)
class RoleChange:
    """One role on one host: the tasks that changed (what was not as intended) and a failure."""

    role: str
    changed: tuple[str, ...]
    failed: TaskOutcome | None = None

    @property
    def before(self) -> str:
        """What differed before the run (or would be changed, in check mode)."""
        return "; ".join(self.changed) if self.changed else "as intended"


@dataclass(frozen=True)
class HostRoles:
    """Every role that ran on the host, and whether the host could be reached at all."""

    host: str
    check: bool
    roles: tuple[RoleChange, ...]
    unreachable: bool


def host_roles(report: RunReport, host: str) -> HostRoles | None:
    """Per role of ``host`` in the run: before and after (None: the host was not in the run)."""
    outcome = report.outcome
    result = outcome.host(host)
    if result is None:
        return None
    tasks = [t for t in outcome.tasks if t.host == host]
    ran = {r or NO_ROLE for h, r in outcome.host_roles if h == host}
    names = sorted(ran | {t.role or NO_ROLE for t in tasks})
    roles = []
    for role in names:
        mine = [t for t in tasks if (t.role or NO_ROLE) == role]
        failed = [t for t in mine if t.outcome in {"failed", "unreachable"}]
        roles.append(
            RoleChange(
                role,
                tuple(t.task for t in mine if t.outcome == "changed"),
                failed[0] if failed else None,
            )
        )
    return HostRoles(host, report.check, tuple(roles), bool(result.unreachable))
