"""Hosts: search across all comuni (host index), one host, and the helpdesk's actions on it."""

from __future__ import annotations

import threading
from typing import Annotated

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from provisioner.core import helpdesk, overview
from provisioner.models.accounts import Action, User
from provisioner.ports import EventSink
from provisioner.web import deps
from provisioner.web.routes import jobs

router = APIRouter()


@router.get("/hosts")
def search(
    request: Request, user: Annotated[User, Depends(deps.require(Action.VIEW))], q: str = ""
) -> Response:
    """Hosts whose name contains ``q``, in the comuni the user may see; one exact hit opens it."""
    settings = deps.console(request).settings
    matches = overview.find_hosts(settings, q, only=user.comuni_for(Action.VIEW))
    exact = [m for m in matches if m.host == q.strip()]
    if len(exact) == 1:
        return RedirectResponse(f"/comuni/{exact[0].comune}/hosts/{exact[0].host}", 303)
    return deps.page(request, "hosts.html", q=q, matches=matches)


@router.get("/comuni/{comune}/hosts/{host}")
def host_page(
    request: Request,
    comune: str,
    host: str,
    user: Annotated[User, Depends(deps.require(Action.VIEW))],
) -> HTMLResponse:
    """One host: its state, and the actions the user may take on it."""
    view = overview.comune(deps.console(request).settings, comune)
    status = next((h for h in view.hosts if h.host.name == host), None)
    if status is None:
        raise HTTPException(404, f"no host {host!r} in comune {comune!r}")
    return deps.page(request, "host.html", view=view, status=status, comune=comune)


def _reprovision(
    request: Request, user: User, comune: str, host: str, *, rotate_keys: bool, check: bool
) -> Response:
    settings = deps.console(request).settings
    helpdesk.locate(settings, host, comune)  # an unknown host is refused before a job starts

    def work(on_event: EventSink, cancel: threading.Event) -> object:
        return helpdesk.reprovision(
            settings,
            host,
            comune=comune,
            rotate_keys=rotate_keys,
            check=check,
            on_event=on_event,
            cancel=cancel,
            console_user=user.name,
        )

    return jobs.start(
        request,
        user,
        action=Action.ROTATE_KEYS if rotate_keys else Action.REPROVISION,
        comune=comune,
        target=f"{comune}/{host}" + (" (check)" if check else ""),
        work=work,
        host=host,
    )


@router.post("/comuni/{comune}/hosts/{host}/reprovision")
def reprovision(
    request: Request,
    comune: str,
    host: str,
    user: Annotated[User, Depends(deps.require(Action.REPROVISION))],
    check: Annotated[bool, Form()] = False,
) -> Response:
    """Bring the host back to what its comune intends (plus its VPN peer), live."""
    return _reprovision(request, user, comune, host, rotate_keys=False, check=check)


@router.post("/comuni/{comune}/hosts/{host}/rotate-keys")
def rotate_keys(
    request: Request,
    comune: str,
    host: str,
    user: Annotated[User, Depends(deps.require(Action.ROTATE_KEYS))],
) -> Response:
    """A new VPN key pair on the endpoint; the gateway replaces its peer in the same run."""
    return _reprovision(request, user, comune, host, rotate_keys=True, check=False)


@router.post("/comuni/{comune}/hosts/{host}/decommission")
def decommission(
    request: Request,
    comune: str,
    host: str,
    user: Annotated[User, Depends(deps.require(Action.DECOMMISSION))],
    confirm: Annotated[str, Form()] = "",
) -> Response:
    """Retire the host (its peer leaves the gateway, then it leaves the inventory); the host's
    name must be typed again."""
    if confirm.strip() != host:
        raise HTTPException(400, f"type the host's name ({host}) to confirm the decommission")
    settings = deps.console(request).settings
    helpdesk.locate(settings, host, comune)

    def work(on_event: EventSink, cancel: threading.Event) -> object:
        return helpdesk.decommission(
            settings, host, comune=comune, on_event=on_event, cancel=cancel, console_user=user.name
        )

    return jobs.start(
        request,
        user,
        action=Action.DECOMMISSION,
        comune=comune,
        target=f"{comune}/{host}",
        work=work,
    )
