"""Enrolment bundles (issue 20): the console's seam for them.

The bundle use cases (create, list, revoke; a bundle downloaded once) belong to the core, with
`provisioner bundle ...` on the CLI. This router is where their pages go: each action is
already a role permission (``Action.BUNDLES``: technician, helpdesk, admin), checked per comune
by ``deps.require``; a download-once link must be a POST with the CSRF token (never a secret in
a URL), and each action is audited through ``routes.jobs.start`` or ``core.audit.record``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from provisioner.models.accounts import Action, User
from provisioner.web import deps

router = APIRouter()


@router.get("/bundles")
def bundles_page(
    request: Request, user: Annotated[User, Depends(deps.require(Action.BUNDLES))]
) -> HTMLResponse:
    """Where bundles will be created, downloaded once and revoked."""
    return deps.page(request, "bundles.html")
