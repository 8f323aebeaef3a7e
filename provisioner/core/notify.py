"""Notify operators when a comply run finds drift or failures (webhook and/or email).

Deliveries run in the background (:class:`Dispatcher`): a webhook that retries with back-off
never holds up the next comune's run; comply waits for the deliveries only at its very end.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from provisioner.adapters import notify as transport
from provisioner.config import Settings
from provisioner.core.secrets import smtp_password, webhook_secret
from provisioner.errors import ExitCode, ProvisionerError
from provisioner.models.comply import ComuneResult
from provisioner.models.pending import PendingWork, WorkState

log = logging.getLogger(__name__)

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
    body = payload(result)
    lines = [f"comune {result.comune}: exit code {body['exit_code']}, drift {body['drift']}"]
    lines += [f"  {i['host']} / {i['role']} / {i['task']}" for i in body["items"]]
    if result.error:
        lines.append(f"error: {result.error}")
    lines.append(f"report: {body['report_html']}")
    return _deliver(
        settings,
        body,
        f"[provisioner] {result.comune}: drift {body['drift']}, exit {body['exit_code']}",
        lines,
        what=result.comune,
    )


def _deliver(
    settings: Settings, body: dict[str, Any], subject: str, lines: list[str], *, what: str
) -> list[str]:
    """The webhook (signed when a secret is set) and the mail of one notice; what was sent.

    The webhook is named by scheme and host only: its URL is a credential.
    """
    sent = []
    try:
        secret = webhook_secret(settings) if settings.notify_webhook_url else None
        password = smtp_password(settings) if settings.notify_smtp_user else None
    except ProvisionerError as exc:
        log.warning("notifications for %s not sent: %s", what, exc)
        return []
    if settings.notify_webhook_url and transport.post_json(
        settings.notify_webhook_url,
        body,
        timeout=settings.notify_webhook_timeout,
        retries=settings.notify_webhook_retries,
        backoff=settings.notify_webhook_backoff,
        secret=secret,
    ):
        sent.append(f"webhook {transport.where(settings.notify_webhook_url)}")
    if settings.notify_email_to and transport.send_mail(
        settings.notify_smtp_host,
        settings.notify_smtp_port,
        settings.notify_email_from,
        settings.notify_email_to,
        subject,
        "\n".join(lines) + "\n",
        timeout=settings.notify_webhook_timeout,
        security=settings.notify_smtp_security,
        user=settings.notify_smtp_user,
        password=password,
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
    lines = [f"{w.comune} / {w.host}: {w.kind} {state} ({w.detail})" for w in items]
    return _deliver(
        settings,
        work_payload(items, state),
        f"[provisioner] pending work {state}: {len(items)} item(s)",
        lines,
        what=f"pending work {state}",
    )


class Dispatcher:
    """Sends each comune's notifications in the background, at most ``workers`` at a time."""

    def __init__(self, settings: Settings, workers: int = 4) -> None:
        self.settings = settings
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="notify")
        self.pending: list[Future[list[str]]] = []

    def send(self, result: ComuneResult) -> None:
        """Queue the notifications of one comune's run; returns at once."""
        if needs_notice(result):
            self.pending.append(self.pool.submit(self._send, result))

    def _send(self, result: ComuneResult) -> list[str]:
        try:
            return notify(self.settings, result)
        except Exception as exc:  # a notification never fails the runs it reports on
            log.warning("notifications for %s failed: %s", result.comune, type(exc).__name__)
            return []

    def wait(self) -> list[str]:
        """Wait for every queued delivery; what was sent."""
        self.pool.shutdown(wait=True)
        return [line for future in self.pending for line in future.result()]


@contextlib.contextmanager
def dispatcher(settings: Settings) -> Iterator[Dispatcher]:
    """A :class:`Dispatcher` whose deliveries are all finished when the block ends."""
    sender = Dispatcher(settings)
    try:
        yield sender
    finally:
        sender.wait()
