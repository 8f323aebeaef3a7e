"""The nightly comply schedules, as `provisioner schedule list` shows them."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from provisioner.core import schedule
from provisioner.models.accounts import Action, User
from provisioner.web import deps

router = APIRouter()


@router.get("/schedules")
def schedules_page(
    request: Request, user: Annotated[User, Depends(deps.require(Action.VIEW))]
) -> HTMLResponse:
    """Schedules of every scope this machine has (user and system timers, cron lines)."""
    settings = deps.console(request).settings
    found = [s for scope in schedule.Scope for s in schedule.list_schedules(settings, scope)]
    return deps.page(request, "schedules.html", schedules=found)
