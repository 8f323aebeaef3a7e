"""Files that are replaced whole or not at all: the one atomic write of the project."""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path


def atomic_write(path: Path, data: str | bytes, *, mode: int | None = None) -> Path:
    """Write ``data`` to a temporary file next to ``path``, fsync it, then rename it over ``path``.

    A reader sees the old file or the new one, never half of one, even after a crash or a full
    disk (the temporary file is removed on any error). ``mode``: the file's mode; by default an
    existing file keeps its mode and a new one gets 0644 minus the umask. Files that hold
    secrets pass ``0o600``: the temporary file has that mode from its creation.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    if mode is None:
        if path.exists():
            mode = stat.S_IMODE(path.stat().st_mode)
        else:
            umask = os.umask(0)
            os.umask(umask)
            mode = 0o644 & ~umask
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data.encode("utf-8") if isinstance(data, str) else data)
            handle.flush()
            os.fsync(handle.fileno())
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
