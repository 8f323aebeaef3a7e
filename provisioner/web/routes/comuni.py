"""The comuni: overview (latest comply of each), one comune's hosts, its drift; enable, comply."""

from __future__ import annotations

import threading
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response

from provisioner.core import comply as comply_core
from provisioner.core import enable as enable_core
from provisioner.core import overview
from provisioner.errors import InputError
from provisioner.models.accounts import Action, User
from provisioner.ports import EventSink
from provisioner.web import deps
from provisioner.web.routes import jobs

router = APIRouter()


@router.get("/")
def comuni_page(
    request: Request,
    user: Annotated[User, Depends(deps.require(Action.VIEW))],
    province: str = "",
) -> HTMLResponse:
    """Every comune the user may see: drift, health and offline hosts of its latest comply."""
    visible = user.comuni_for(Action.VIEW)
    settings = deps.console(request).settings
    statuses = overview.comuni(settings, only=visible)
    return deps.page(
        request,
        "comuni.html",
        statuses=overview.in_province(statuses, province),
        provinces=overview.provinces(statuses),
        province=province.strip().upper(),
        total=len(statuses),
    )


@router.get("/comuni/{comune}")
def comune_page(
    request: Request, comune: str, user: Annotated[User, Depends(deps.require(Action.VIEW))]
) -> HTMLResponse:
    """A comune's hosts: their last result, readiness, last handshake and pending work."""
    view = overview.comune(deps.console(request).settings, comune)
    return deps.page(request, "comune.html", view=view, comune=comune)


@router.get("/comuni/{comune}/drift")
def drift_page(
    request: Request, comune: str, user: Annotated[User, Depends(deps.require(Action.VIEW))]
) -> HTMLResponse:
    """The latest comply run's drift, per host, role and task, with diffs (secrets masked)."""
    settings = deps.console(request).settings
    try:
        view = comply_core.latest_drift(settings, comune)
    except InputError as exc:
        return deps.page(request, "drift.html", comune=comune, view=None, message=str(exc))
    return deps.page(request, "drift.html", comune=comune, view=view, message="")


@router.post("/comuni/{comune}/enable")
def enable(
    request: Request,
    comune: str,
    user: Annotated[User, Depends(deps.require(Action.ENABLE))],
    check: Annotated[bool, Form()] = False,
) -> Response:
    """Converge the comune (or a dry run), as ``provisioner enable``."""
    settings = deps.console(request).settings
    overview.comune_exists(settings, comune)

    def work(on_event: EventSink, cancel: threading.Event) -> object:
        return enable_core.enable(
            settings, comune, check=check, on_event=on_event, cancel=cancel, console_user=user.name
        )

    return jobs.start(
        request,
        user,
        action=Action.ENABLE,
        comune=comune,
        target=comune + (" (check)" if check else ""),
        work=work,
    )


@router.post("/comuni/{comune}/comply")
def comply(
    request: Request, comune: str, user: Annotated[User, Depends(deps.require(Action.COMPLY))]
) -> Response:
    """Check the comune against the enable playbook, as ``provisioner comply``."""
    settings = deps.console(request).settings
    overview.comune_exists(settings, comune)

    def work(on_event: EventSink, cancel: threading.Event) -> object:
        return comply_core.comply(
            settings,
            [comune],
            on_event=lambda _name: on_event,
            cancel=cancel,
            console_user=user.name,
        )

    return jobs.start(request, user, action=Action.COMPLY, comune=comune, target=comune, work=work)
