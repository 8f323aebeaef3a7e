"""For admins: the audit trail and the console's users (managed with `provisioner users`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from provisioner.core import accounts, audit
from provisioner.models.accounts import Action, User
from provisioner.web import deps

router = APIRouter(prefix="/admin")

PAGE = 500
"""Audit entries listed at once."""


@router.get("/audit")
def audit_page(
    request: Request,
    user: Annotated[User, Depends(deps.require(Action.ADMIN))],
    who: str = "",
    action: str = "",
) -> HTMLResponse:
    """Who did what, when, from where, on what, and how it ended; newest first."""
    entries = audit.entries(
        deps.console(request).settings, user=who or None, action=action or None, limit=PAGE
    )
    return deps.page(request, "audit.html", entries=entries, who=who, action=action)


@router.get("/users")
def users_page(
    request: Request, user: Annotated[User, Depends(deps.require(Action.ADMIN))]
) -> HTMLResponse:
    """The console's users and their roles per comune."""
    return deps.page(request, "users.html", users=accounts.users(deps.console(request).settings))
