"""Unexpected errors: one line for the operator, the details in a log file."""

from __future__ import annotations

from pathlib import Path

from provisioner.adapters import errorlog
from provisioner.adapters.redaction import redact
from provisioner.config import Settings, default_state_dir


def unexpected(exc: BaseException, context: str, settings: Settings | None = None) -> str:
    """The one line saying what went wrong and where the details are (traceback, redacted)."""
    logs = settings.state.logs if settings is not None else default_state_dir() / "logs"
    path: Path | None = errorlog.write(logs, exc, context)
    first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
    what = f"{type(exc).__name__}: {redact(first)}" if first else type(exc).__name__
    where = f"details in {path}" if path else f"no log written to {logs} (not writable)"
    return f"unexpected error ({what}); {where}"
