"""Notification transports: webhook (JSON POST, HMAC-signed) and email (SMTP). Standard library.

The webhook URL is a credential for many chat services (the token is in its path or query): it
is never logged; messages name only its scheme and host (:func:`where`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import smtplib
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from email.message import EmailMessage
from typing import Any, Literal

from provisioner.config import is_loopback, webhook_url_problem

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Provisioner-Signature"
TIMESTAMP_HEADER = "X-Provisioner-Timestamp"
SmtpSecurity = Literal["auto", "starttls", "tls", "none"]


def where(url: str) -> str:
    """The URL without what may be a credential: ``scheme://host[:port]``."""
    try:
        parts = urllib.parse.urlsplit(url)
        netloc = parts.hostname or "?"
        if parts.port:
            netloc = f"{netloc}:{parts.port}"
    except ValueError:
        return "<webhook>"
    return f"{parts.scheme}://{netloc}"


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """``sha256=<hex>``: HMAC-SHA256 of ``<timestamp>.<body>`` with the shared secret."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + digest.hexdigest()


def post_json(
    url: str,
    payload: Mapping[str, Any],
    *,
    timeout: float,
    retries: int,
    backoff: float,
    secret: str | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.time,
) -> bool:
    """POST ``payload`` as JSON; retry with exponential back-off; True once a 2xx came back.

    With ``secret``, every attempt carries ``X-Provisioner-Timestamp`` (Unix seconds) and
    ``X-Provisioner-Signature: sha256=<HMAC-SHA256 of "<timestamp>.<body>">``. Never raises for
    transport problems: a notification must not fail the run it reports on. A URL that is not
    https (or http to this machine) is refused without a request.
    """
    target = where(url)
    problem = webhook_url_problem(url)
    if problem:
        log.warning("webhook %s: not sent: the URL %s", target, problem)
        return False
    body = json.dumps(payload).encode()
    attempts = retries + 1
    for attempt in range(1, attempts + 1):
        headers = {"Content-Type": "application/json", "User-Agent": "provisioner"}
        if secret:
            stamp = str(int(clock()))
            headers[TIMESTAMP_HEADER] = stamp
            headers[SIGNATURE_HEADER] = signature(secret, stamp, body)
        request = urllib.request.Request(url, data=body, method="POST", headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                if 200 <= response.status < 300:
                    return True
                problem = f"HTTP {response.status}"
        except urllib.error.HTTPError as exc:
            problem = f"HTTP {exc.code}"
        except (urllib.error.URLError, OSError, TimeoutError) as exc:
            # The socket's reason ("[Errno 111] Connection refused"), which names no URL.
            problem = str(getattr(exc, "reason", exc))
        if attempt < attempts:
            delay = backoff * 2 ** (attempt - 1)
            log.info(
                "webhook %s: attempt %d failed (%s), retrying in %.1fs",
                target,
                attempt,
                problem,
                delay,
            )
            sleep(delay)
        else:
            log.warning(
                "webhook %s: giving up after %d attempts (%s); the run is recorded anyway",
                target,
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
    security: SmtpSecurity = "auto",
    user: str | None = None,
    password: str | None = None,
) -> bool:
    """Send a plain-text mail; False (with a logged warning) when the server refuses or is down.

    ``security``: ``starttls`` (upgrade, certificate and host name verified), ``tls`` (implicit
    TLS, port 465), ``none`` (plain: only to this machine), ``auto`` (none to this machine,
    else starttls). ``user`` logs in (with ``password``), never over a plain connection.
    """
    mode = ("none" if is_loopback(host) else "starttls") if security == "auto" else security
    if mode == "none" and not is_loopback(host):
        log.warning("mail via %s:%d: not sent: plain SMTP only to this machine", host, port)
        return False
    if user and mode == "none":
        log.warning("mail via %s:%d: not sent: no login over plain SMTP", host, port)
        return False
    message = EmailMessage()
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    message["Subject"] = subject
    message.set_content(text)
    context = ssl.create_default_context()
    try:
        smtp: smtplib.SMTP = (
            smtplib.SMTP_SSL(host, port, timeout=timeout, context=context)
            if mode == "tls"
            else smtplib.SMTP(host, port, timeout=timeout)
        )
        with smtp:
            if mode == "starttls":
                smtp.starttls(context=context)
            if user:
                smtp.login(user, password or "")
            smtp.send_message(message)
    except (smtplib.SMTPException, OSError) as exc:
        log.warning(
            "mail via %s:%d failed (%s); the run is recorded anyway",
            host,
            port,
            type(exc).__name__ if isinstance(exc, smtplib.SMTPAuthenticationError) else exc,
        )
        return False
    return True
