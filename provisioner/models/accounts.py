"""Console users, their roles per comune, sessions and the audit trail."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum


class Role(StrEnum):
    """What a console user is for; each role allows a fixed set of actions."""

    ADMIN = "admin"
    TECHNICIAN = "technician"
    HELPDESK = "helpdesk"
    VIEWER = "viewer"


class Action(StrEnum):
    """Something a user does in the console (and the audit trail records)."""

    VIEW = "view"
    """Read pages: overview, comune, hosts, drift, runs, schedules."""
    ENABLE = "enable"
    COMPLY = "comply"
    REPROVISION = "reprovision"
    ROTATE_KEYS = "rotate-keys"
    DECOMMISSION = "decommission"
    BUNDLES = "bundles"
    """Create, download once and revoke enrolment bundles (issue 20)."""
    ADMIN = "admin"
    """The audit page and the user list."""


ROLE_ACTIONS: Mapping[Role, frozenset[Action]] = {
    Role.ADMIN: frozenset(Action),
    Role.TECHNICIAN: frozenset({Action.VIEW, Action.ENABLE, Action.COMPLY, Action.BUNDLES}),
    Role.HELPDESK: frozenset(
        {
            Action.VIEW,
            Action.REPROVISION,
            Action.ROTATE_KEYS,
            Action.DECOMMISSION,
            Action.BUNDLES,
        }
    ),
    Role.VIEWER: frozenset({Action.VIEW}),
}
"""The actions of each role (the README's role table is this)."""

GLOBAL_ACTIONS = frozenset({Action.ADMIN})
"""Actions about the console itself, not about a comune: only a grant on all comuni gives them."""

ALL_COMUNI = "*"
"""The scope of a grant on every comune (stored as this in place of a comune's slug)."""


@dataclass(frozen=True)
class Grant:
    """One role of a user over all comuni (``comuni`` None) or a list of them."""

    role: Role
    comuni: frozenset[str] | None = None

    def covers(self, comune: str | None) -> bool:
        """Whether the grant reaches ``comune`` (None: some comune, e.g. to show a menu entry)."""
        return self.comuni is None or comune is None or comune in self.comuni

    def __str__(self) -> str:
        where = "all comuni" if self.comuni is None else ", ".join(sorted(self.comuni))
        return f"{self.role} on {where}"


def parse_grants(roles: Iterable[str], comuni: Iterable[str] | None) -> tuple[Grant, ...]:
    """Grants of the same scope for each role name (``comuni`` None: all comuni).

    Raises:
        ValueError: an unknown role, or an empty list of comuni.
    """
    scope = None if comuni is None else frozenset(comuni)
    if scope is not None and not scope:
        raise ValueError("name at least one comune, or grant all comuni")
    grants = []
    for name in roles:
        try:
            grants.append(Grant(Role(name), scope))
        except ValueError:
            raise ValueError(
                f"unknown role {name!r}; roles: {', '.join(r.value for r in Role)}"
            ) from None
    return tuple(grants)


@dataclass(frozen=True)
class User:
    """A console user (its password hash never leaves the store)."""

    name: str
    grants: tuple[Grant, ...] = ()
    created: float = 0.0
    password_changed: float = 0.0

    def can(self, action: Action, comune: str | None = None) -> bool:
        """Whether some grant allows ``action`` on ``comune`` (None: on at least one comune)."""
        return any(
            action in ROLE_ACTIONS[g.role]
            and (g.comuni is None if action in GLOBAL_ACTIONS else g.covers(comune))
            for g in self.grants
        )

    def comuni_for(self, action: Action) -> frozenset[str] | None:
        """The comuni on which ``action`` is allowed (None: all of them)."""
        found: set[str] = set()
        for grant in self.grants:
            if action not in ROLE_ACTIONS[grant.role]:
                continue
            if grant.comuni is None:
                return None
            found |= grant.comuni
        return frozenset(found)

    @property
    def roles(self) -> str:
        """The grants as one line (``helpdesk on a, b; viewer on all comuni``)."""
        return "; ".join(str(g) for g in self.grants) or "no role"


@dataclass(frozen=True)
class Session:
    """A logged-in browser: its user, the CSRF token of its forms and its age."""

    user: User
    csrf: str
    created: float
    last_seen: float


@dataclass(frozen=True)
class AuditEntry:
    """One action: who, when, from where, what, on what, and how it ended."""

    id: int
    at: float
    user: str
    source: str
    """The client's address (console), or ``cli (<os user>)``."""
    action: str
    target: str
    outcome: str
    detail: str = ""


@dataclass(frozen=True)
class LoginAttempt:
    """What a login attempt came to (no session is made unless ``ok``)."""

    ok: bool
    throttled: bool = False
    retry_after: float = 0.0
    """Seconds until the throttle lifts (when ``throttled``)."""
    token: str = field(default="", repr=False)
    """The new session's token (only when ``ok``): the cookie's value, never stored."""
