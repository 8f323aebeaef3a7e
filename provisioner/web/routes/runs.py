"""Run history and one run, as `provisioner runs list|show`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from provisioner.core import runs as runs_core
from provisioner.models.accounts import Action, User
from provisioner.web import deps

router = APIRouter()

PAGE = 100
"""Runs listed at once."""


@router.get("/runs")
def runs_page(
    request: Request,
    user: Annotated[User, Depends(deps.require(Action.VIEW))],
    comune: str = "",
) -> HTMLResponse:
    """Newest runs first (of one comune, when asked), in the comuni the user may see."""
    settings = deps.console(request).settings
    if comune:
        deps.ensure(request, user, Action.VIEW, comune)
        shown = runs_core.list_runs(settings, comune, PAGE)
    elif (visible := user.comuni_for(Action.VIEW)) is None:
        shown = runs_core.list_runs(settings, None, PAGE)
    else:
        # A user of a few comuni: each one's newest runs, merged.
        mine = [r for c in sorted(visible) for r in runs_core.list_runs(settings, c, PAGE)]
        shown = sorted(mine, key=lambda r: r.started, reverse=True)[:PAGE]
    return deps.page(request, "runs.html", runs=shown, comune=comune)


@router.get("/runs/{run_id}")
def run_page(
    request: Request, run_id: str, user: Annotated[User, Depends(deps.current_user)]
) -> HTMLResponse:
    """One run: hosts, changed and failed tasks with diffs (secrets masked by the runner)."""
    detail = runs_core.show_run(deps.console(request).settings, run_id)
    deps.ensure(request, user, Action.VIEW, detail.run.comune)
    return deps.page(request, "run.html", detail=detail)
