"""Details of unexpected errors: one log file each in the state dir's ``logs/``, redacted."""

from __future__ import annotations

import os
import secrets
import sys
import time
import traceback
from pathlib import Path

from provisioner.adapters.files import atomic_write
from provisioner.adapters.redaction import redact


def write(logs: Path, exc: BaseException, context: str) -> Path | None:
    """Write the traceback of ``exc`` (secrets masked) to a new 0600 file; its path.

    None when the log cannot be written (a full disk, a read-only state dir): the caller still
    reports the error itself.
    """
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    path = logs / f"error-{stamp}-{os.getpid()}-{secrets.token_hex(2)}.log"
    text = (
        f"when: {time.strftime('%Y-%m-%d %H:%M:%S %z')}\n"
        f"context: {context}\n"
        f"python: {sys.version.split()[0]}\n\n" + "".join(traceback.format_exception(exc))
    )
    try:
        logs.mkdir(parents=True, exist_ok=True, mode=0o700)
        return atomic_write(path, redact(text), mode=0o600)
    except OSError:
        return None
