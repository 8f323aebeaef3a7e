"""Notify operators when a comply run finds drift or failures (webhook and/or email)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from provisioner.adapters import notify as transport
from provisioner.config import Settings
from provisioner.errors import ExitCode
from provisioner.models.comply import ComuneResult
from provisioner.models.pending import PendingWork, WorkState

EVENT = "provisioner.comply"


def payload(result: ComuneResult) -> dict[str, Any]:
    """The webhook's JSON document for one comune's run (documented in the README)."""
    report = result.report
    return {
        "event": EVENT,
        "comune": result.comune,
        "run_id": report.run_id if report else None,
        "exit_code": int(result.exit_code),
        "drift": len(result.drift),
        "drifted_hosts": result.drifted_hosts,
        "failed_hosts": sorted(
            h.host for h in (report.outcome.hosts if report else ()) if h.failed or h.unreachable
        ),
        "remediated": result.remediation is not None,
        "error": result.error,
        "report_html": str(result.files.html) if result.files else None,
        "report_json": str(result.files.json) if result.files else None,
        "items": [{"host": d.host, "role": d.role, "task": d.task} for d in result.drift],
    }


def needs_notice(result: ComuneResult) -> bool:
    """Drift, failed or unreachable hosts, or a comune that could not run at all."""
    return result.exit_code != ExitCode.OK or bool(result.drift)


def notify(settings: Settings, result: ComuneResult) -> list[str]:
    """Send the configured notifications for one comune's run; returns what was sent."""
    if not needs_notice(result):
        return []
    sent = []
    body = payload(result)
    if settings.notify_webhook_url and transport.post_json(
        settings.notify_webhook_url,
        body,
        timeout=settings.notify_webhook_timeout,
        retries=settings.notify_webhook_retries,
        backoff=settings.notify_webhook_backoff,
    ):
        sent.append(f"webhook {settings.notify_webhook_url}")
    if settings.notify_email_to:
        lines = [f"comune {result.comune}: exit code {body['exit_code']}, drift {body['drift']}"]
        lines += [f"  {i['host']} / {i['role']} / {i['task']}" for i in body["items"]]
        if result.error:
            lines.append(f"error: {result.error}")
        lines.append(f"report: {body['report_html']}")
        if transport.send_mail(
            settings.notify_smtp_host,
            settings.notify_smtp_port,
            settings.notify_email_from,
            settings.notify_email_to,
            f"[provisioner] {result.comune}: drift {body['drift']}, exit {body['exit_code']}",
            "\n".join(lines) + "\n",
            timeout=settings.notify_webhook_timeout,
        ):
            sent.append("mail " + ", ".join(settings.notify_email_to))
    return sent


WORK_EVENT = "provisioner.pending"


def work_payload(items: Sequence[PendingWork], state: WorkState) -> dict[str, Any]:
    """The webhook's JSON document for pending work that was applied or expired."""
    return {
        "event": WORK_EVENT,
        "state": str(state),
        "items": [
            {
                "comune": w.comune,
                "host": w.host,
                "kind": str(w.kind),
                "attempts": w.attempts,
                "run_id": w.run_id,
                "created": w.created,
                "last_seen": w.last_seen,
                "detail": w.detail,
            }
            for w in items
        ],
    }


def notify_work(settings: Settings, items: Sequence[PendingWork], state: WorkState) -> list[str]:
    """Tell operators that pending work was applied (its host came back) or expired."""
    if not items:
        return []
    sent = []
    body = work_payload(items, state)
    if settings.notify_webhook_url and transport.post_json(
        settings.notify_webhook_url,
        body,
        timeout=settings.notify_webhook_timeout,
        retries=settings.notify_webhook_retries,
        backoff=settings.notify_webhook_backoff,
    ):
        sent.append(f"webhook {settings.notify_webhook_url}")
    if settings.notify_email_to:
        lines = [f"{w.comune} / {w.host}: {w.kind} {state} ({w.detail})" for w in items]
        if transport.send_mail(
            settings.notify_smtp_host,
            settings.notify_smtp_port,
            settings.notify_email_from,
            settings.notify_email_to,
            f"[provisioner] pending work {state}: {len(items)} item(s)",
            "\n".join(lines) + "\n",
            timeout=settings.notify_webhook_timeout,
        ):
            sent.append("mail " + ", ".join(settings.notify_email_to))
    return sent
