"""Notification transports: webhook (JSON POST) and email (SMTP). Standard library only."""

from __future__ import annotations

import json
import logging
import smtplib
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from email.message import EmailMessage
from typing import Any

log = logging.getLogger(__name__)


def post_json(
    url: str,
    payload: Mapping[str, Any],
    *,
    timeout: float,
    retries: int,
    backoff: float,
    sleep: Callable[[float], None] = time.sleep,
) -> bool:
    """POST ``payload`` as JSON; retry with exponential back-off; True once a 2xx came back.

    Never raises for transport problems: a notification must not fail the run it reports on.
    """
    body = json.dumps(payload).encode()
    attempts = retries + 1
    for attempt in range(1, attempts + 1):
        request = urllib.request.Request(
            url,
            data=body,
            method="POST",
            headers={"Content-Type": "application/json", "User-Agent": "provisioner"},
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                if 200 <= response.status < 300:
                    return True
                problem = f"HTTP {response.status}"
        except urllib.error.HTTPError as exc:
            problem = f"HTTP {exc.code}"
        except (urllib.error.URLError, OSError, TimeoutError) as exc:
            problem = str(getattr(exc, "reason", exc))
        if attempt < attempts:
            delay = backoff * 2 ** (attempt - 1)
            log.info(
                "webhook %s: attempt %d failed (%s), retrying in %.1fs",
                url,
                attempt,
                problem,
                delay,
            )
            sleep(delay)
        else:
            log.warning(
                "webhook %s: giving up after %d attempts (%s); the run is recorded anyway",
                url,
                attempts,
                problem,
            )
    return False


def send_mail(
    host: str,
    port: int,
    sender: str,
    recipients: Sequence[str],
    subject: str,
    text: str,
    *,
    timeout: float,
) -> bool:
    """Send a plain-text mail; False (with a logged warning) when the server refuses or is down."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    message["Subject"] = subject
    message.set_content(text)
    try:
        with smtplib.SMTP(host, port, timeout=timeout) as smtp:
            smtp.send_message(message)
    except (smtplib.SMTPException, OSError) as exc:
        log.warning("mail via %s:%d failed (%s); the run is recorded anyway", host, port, exc)
        return False
    return True
