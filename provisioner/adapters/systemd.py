"""systemctl for schedules: the only place the tool talks to the controller's systemd."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from provisioner.errors import ControllerError


def available() -> bool:
    """True when systemd runs this machine (else schedules fall back to cron)."""
    return shutil.which("systemctl") is not None and Path("/run/systemd/system").is_dir()


def systemctl(user: bool, *args: str) -> str:
    """Run systemctl (``--user`` for user scope) and return its stdout.

    Raises:
        ControllerError: systemctl failed; its stderr is in the message.
    """
    argv = ["systemctl", *(["--user"] if user else []), *args]
    proc = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=60)
    if proc.returncode != 0:
        raise ControllerError(f"{' '.join(argv)}: {proc.stderr.strip() or proc.stdout.strip()}")
    return proc.stdout


def linger(user: str) -> str:
    """Turn on lingering for ``user`` (their timers run without a login session); "" when on,
    else why it could not be (loginctl missing or refused)."""
    if shutil.which("loginctl") is None:
        return "loginctl is not installed"
    shown = subprocess.run(
        ["loginctl", "show-user", user, "--property=Linger", "--value"],
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )
    if shown.returncode == 0 and shown.stdout.strip() == "yes":
        return ""
    done = subprocess.run(
        ["loginctl", "enable-linger", user], capture_output=True, text=True, check=False, timeout=30
    )
    return "" if done.returncode == 0 else (done.stderr.strip() or f"exit {done.returncode}")
