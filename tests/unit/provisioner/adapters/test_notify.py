"""Notification transports: https only, HMAC signature, the URL never logged, SMTP TLS and login."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import smtplib
import ssl
import threading
from collections.abc import Iterator
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import pytest

from provisioner.adapters import notify
from provisioner.config import Settings
from provisioner.errors import InputError

TOKEN = "xoxb-canary-7f3e9a"


class _Hook(BaseHTTPRequestHandler):
    received: ClassVar[list[tuple[dict[str, str], bytes]]] = []
    status: ClassVar[int] = 204

    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        _Hook.received.append((dict(self.headers), self.rfile.read(length)))
        self.send_response(_Hook.status)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def hook() -> Iterator[str]:
    _Hook.received, _Hook.status = [], 204
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/services/{TOKEN}?token={TOKEN}"
    server.shutdown()
    server.server_close()


def test_a_signed_post_carries_timestamp_and_hmac_of_timestamp_dot_body(hook: str) -> None:
    sent = notify.post_json(
        hook, {"drift": 3}, timeout=2, retries=0, backoff=0, secret="s3cret", clock=lambda: 1.7e9
    )

    assert sent is True
    headers, body = _Hook.received[0]
    assert headers[notify.TIMESTAMP_HEADER] == "1700000000"
    expected = hmac.new(b"s3cret", b"1700000000." + body, hashlib.sha256).hexdigest()
    assert headers[notify.SIGNATURE_HEADER] == f"sha256={expected}"
    assert json.loads(body) == {"drift": 3}


def test_without_a_secret_there_is_no_signature(hook: str) -> None:
    assert notify.post_json(hook, {}, timeout=2, retries=0, backoff=0)
    assert notify.SIGNATURE_HEADER not in _Hook.received[0][0]


def test_the_url_is_never_logged_only_scheme_and_host(
    hook: str, caplog: pytest.LogCaptureFixture
) -> None:
    _Hook.status = 500

    with caplog.at_level(logging.INFO, logger="provisioner.adapters.notify"):
        sent = notify.post_json(
            hook, {}, timeout=2, retries=2, backoff=0, secret="x", sleep=lambda _s: None
        )

    assert sent is False and len(_Hook.received) == 3
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert TOKEN not in text and "/services/" not in text
    assert f"webhook {notify.where(hook)}: giving up after 3 attempts (HTTP 500)" in text
    assert notify.where(hook).startswith("http://127.0.0.1:")


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("https://hooks.example.it/T0/B0/x", True),
        ("http://127.0.0.1:8080/hook", True),
        ("http://localhost/hook", True),
        ("http://[::1]:9/hook", True),
        ("http://hooks.example.it/T0", False),
        ("http://10.0.0.5/hook", False),
        ("ftp://example.it/x", False),
    ],
)
def test_https_is_required_except_to_this_machine(
    url: str, allowed: bool, caplog: pytest.LogCaptureFixture
) -> None:
    if allowed:
        assert Settings(notify_webhook_url=url).notify_webhook_url == url
        return
    with pytest.raises(ValueError, match="must be https://") as info:
        Settings(notify_webhook_url=url)
    assert url not in str(info.value)  # the message never repeats the URL
    # even if a setting bypassed validation, the transport sends nothing
    with caplog.at_level(logging.WARNING):
        assert not notify.post_json(url, {}, timeout=1, retries=0, backoff=0)
    assert "not sent" in caplog.text and url not in caplog.text


def test_settings_show_no_webhook_url() -> None:
    settings = Settings(notify_webhook_url=f"https://hooks.example.it/{TOKEN}")
    assert TOKEN not in repr(settings)


# --- mail ---------------------------------------------------------------------------------------


class _FakeSMTP:
    instances: ClassVar[list[_FakeSMTP]] = []

    def __init__(self, host: str, port: int, timeout: float, context: Any = None) -> None:
        self.calls: list[tuple[str, Any]] = [("connect", (host, port, context))]
        _FakeSMTP.instances.append(self)

    def __enter__(self) -> _FakeSMTP:
        return self

    def __exit__(self, *exc: object) -> None:
        self.calls.append(("quit", None))

    def starttls(self, context: ssl.SSLContext) -> None:
        self.calls.append(("starttls", context))

    def login(self, user: str, password: str) -> None:
        self.calls.append(("login", (user, password)))

    def send_message(self, message: EmailMessage) -> None:
        self.calls.append(("send", message["Subject"]))


@pytest.fixture
def fake_smtp(monkeypatch: pytest.MonkeyPatch) -> type[_FakeSMTP]:
    _FakeSMTP.instances = []
    monkeypatch.setattr(smtplib, "SMTP", _FakeSMTP)
    monkeypatch.setattr(smtplib, "SMTP_SSL", _FakeSMTP)
    return _FakeSMTP


def _mail(**kwargs: Any) -> bool:
    return notify.send_mail(
        kwargs.pop("host", "smtp.example.it"),
        kwargs.pop("port", 587),
        "provisioner@example.it",
        ["ops@example.it"],
        "subject",
        "text",
        timeout=5,
        **kwargs,
    )


def test_mail_upgrades_with_verified_starttls_then_logs_in(fake_smtp: type[_FakeSMTP]) -> None:
    assert _mail(user="ops", password="pw-canary")

    [smtp] = fake_smtp.instances
    kinds = [kind for kind, _ in smtp.calls]
    assert kinds == ["connect", "starttls", "login", "send", "quit"]
    context = smtp.calls[1][1]
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert smtp.calls[2][1] == ("ops", "pw-canary")


def test_mail_with_implicit_tls(fake_smtp: type[_FakeSMTP]) -> None:
    assert _mail(port=465, security="tls", user="ops", password="pw")
    [smtp] = fake_smtp.instances
    assert smtp.calls[0][1][2] is not None  # SMTP_SSL with a verifying context
    assert [kind for kind, _ in smtp.calls] == ["connect", "login", "send", "quit"]


def test_plain_smtp_only_to_this_machine_and_never_with_a_login(
    fake_smtp: type[_FakeSMTP], caplog: pytest.LogCaptureFixture
) -> None:
    assert _mail(host="127.0.0.1", port=25)  # auto: a local relay, plain
    assert [kind for kind, _ in fake_smtp.instances[0].calls] == ["connect", "send", "quit"]
    with caplog.at_level(logging.WARNING):
        assert not _mail(security="none")
        assert not _mail(host="localhost", security="none", user="ops", password="pw")
    assert len(fake_smtp.instances) == 1
    assert "plain SMTP only to this machine" in caplog.text and "no login" in caplog.text


def test_secrets_come_from_a_file_or_the_environment(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from provisioner.core.secrets import smtp_password, webhook_secret  # noqa: PLC0415

    assert webhook_secret(Settings()) is None
    monkeypatch.setenv("PROVISIONER_NOTIFY_WEBHOOK_SECRET", "from-env")
    monkeypatch.setenv("PROVISIONER_NOTIFY_SMTP_PASSWORD", "smtp-env")
    assert webhook_secret(Settings()) == "from-env"
    assert smtp_password(Settings()) == "smtp-env"
    secret_file = tmp_path / "hook.secret"
    secret_file.write_text("from-file\n", encoding="utf-8")
    assert webhook_secret(Settings(notify_webhook_secret_file=secret_file)) == "from-file"
    with pytest.raises(InputError, match="cannot read the SMTP password"):
        smtp_password(Settings(notify_smtp_password_file=tmp_path / "missing"))
