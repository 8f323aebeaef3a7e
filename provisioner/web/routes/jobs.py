"""Runs started from the console: their page, their live event stream (SSE), their result."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sse_starlette import EventSourceResponse, ServerSentEvent

from provisioner.core import audit
from provisioner.models import helpdesk as helpdesk_view
from provisioner.models.accounts import Action, User
from provisioner.models.comply import ComplyRun
from provisioner.models.run import RunReport
from provisioner.web import deps
from provisioner.web.jobs import Job, Work

router = APIRouter()

KEEPALIVE = 15.0
"""Seconds between two SSE comments on a quiet run (proxies close idle connections)."""


def run_ids(result: Any) -> list[str]:
    """The ids of the runs a job's result holds (for the audit trail and the links)."""
    if isinstance(result, RunReport):
        return [result.run_id]
    if isinstance(result, ComplyRun):
        found = []
        for r in result.results:
            found += [x.run_id for x in (r.report, r.remediation) if x is not None]
        return found
    report = getattr(result, "report", None)
    return [report.run_id] if isinstance(report, RunReport) else []


def start(
    request: Request,
    user: User,
    *,
    action: Action,
    comune: str,
    target: str,
    work: Work,
    host: str = "",
) -> Response:
    """Start ``work`` as a job (audited: started, then how it ended) and show its page."""
    console = deps.console(request)
    settings = console.settings
    entry = audit.record(
        settings,
        user=user.name,
        source=deps.source(request),
        action=str(action),
        target=target,
        outcome=audit.STARTED,
    )

    def settle(job: Job) -> None:
        ids = run_ids(job.result)
        detail = f"run {', '.join(ids)}" if ids else "; ".join(job.error)
        audit.settle(settings, entry, f"exit {job.exit_code}", detail)

    job = console.jobs.start(
        kind=str(action),
        comune=comune,
        target=target,
        user=user.name,
        work=work,
        host=host,
        on_done=settle,
    )
    return RedirectResponse(f"/jobs/{job.id}", status_code=303)


def _job(request: Request, job_id: str, user: User) -> Job:
    job = deps.console(request).jobs.get(job_id)
    if job is None:
        raise HTTPException(404, "no such job (the console was restarted?): see Runs")
    if job.user != user.name:
        deps.ensure(request, user, Action.VIEW, job.comune)
    return job


@router.get("/jobs/{job_id}")
def job_page(
    request: Request, job_id: str, user: Annotated[User, Depends(deps.current_user)]
) -> HTMLResponse:
    """The job's live progress, then its result."""
    job = _job(request, job_id, user)
    # Read once, before the result: a job that ends while the page renders is shown running
    # (the stream then fetches its result), never as done without its result.
    done = job.done
    return deps.page(request, "job.html", job=job, done=done, **_result(job))


@router.get("/jobs/{job_id}/result")
def job_result(
    request: Request, job_id: str, user: Annotated[User, Depends(deps.current_user)]
) -> HTMLResponse:
    """The result block alone (the page fetches it when the stream says ``done``)."""
    job = _job(request, job_id, user)
    return deps.page(request, "_job_result.html", job=job, **_result(job))


def _result(job: Job) -> dict[str, Any]:
    """What the result templates need: the report(s) and the helpdesk's before/after."""
    result = job.result
    report = result if isinstance(result, RunReport) else getattr(result, "report", None)
    roles = None
    if isinstance(report, RunReport) and job.host:
        roles = helpdesk_view.host_roles(report, job.host)
    comply = result.results[0] if isinstance(result, ComplyRun) and result.results else None
    if comply is not None:
        report = comply.report
    return {"report": report, "roles": roles, "comply": comply, "run_ids": run_ids(result)}


@router.post("/jobs/{job_id}/cancel")
def cancel(
    request: Request, job_id: str, user: Annotated[User, Depends(deps.current_user)]
) -> Response:
    """Stop a run between tasks (recorded canceled), as Ctrl-C does in the CLI."""
    job = _job(request, job_id, user)
    if job.user != user.name:
        deps.ensure(request, user, Action.ADMIN, job.comune)
    job.cancel.set()
    audit.record(
        deps.console(request).settings,
        user=user.name,
        source=deps.source(request),
        action="cancel",
        target=job.target,
        outcome=audit.OK,
        detail=f"job {job.id}",
    )
    return RedirectResponse(f"/jobs/{job.id}", status_code=303)


@router.get("/jobs/{job_id}/events")
async def events(
    request: Request,
    job_id: str,
    user: Annotated[User, Depends(deps.current_user)],
    last_event_id: Annotated[str | None, Header()] = None,
) -> EventSourceResponse:
    """Server-sent events: every progress event of the run, then ``done``.

    A reconnecting browser sends ``Last-Event-ID`` and gets only what it missed.
    """
    job = _job(request, job_id, user)
    start_after = int(last_event_id) if last_event_id and last_event_id.isdigit() else 0

    async def stream() -> AsyncIterator[ServerSentEvent]:
        seq = start_after
        while True:
            for event in job.after(seq):
                seq = event.seq
                yield ServerSentEvent(data=json.dumps(event.data), event=event.kind, id=str(seq))
                if event.kind == "done":
                    return
            await job.wait(seq, KEEPALIVE)

    return EventSourceResponse(stream(), ping=int(KEEPALIVE), headers={"Cache-Control": "no-store"})
