"""Files that are replaced whole or not at all: the one atomic write of the project."""

from __future__ import annotations

import calendar
import os
import re
import shutil
import stat
import tempfile
import time
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


_RUN_ID = re.compile(r"^(\d{8}-\d{6})-[0-9a-f]+$")


def prune_run_dirs(
    parent: Path, keep: int, max_age_days: float, now: float | None = None
) -> list[Path]:
    """Delete the subdirectories of ``parent`` named by a run id (``20261126-053700-ab12``)
    beyond the newest ``keep`` or older than ``max_age_days`` (by the id's UTC time); the
    newest always stays. Anything else in ``parent`` is left alone. Returns what was deleted.
    """
    if not parent.is_dir():
        return []
    dated = []
    for path in parent.iterdir():
        match = _RUN_ID.match(path.name)
        if match and path.is_dir() and not path.is_symlink():
            stamp = calendar.timegm(time.strptime(match[1], "%Y%m%d-%H%M%S"))
            dated.append((stamp, path.name, path))
    dated.sort(reverse=True)
    oldest = (now if now is not None else time.time()) - max_age_days * 86400
    removed = [
        path
        for i, (stamp, _name, path) in enumerate(dated)
        if i > 0 and (i >= max(keep, 1) or stamp < oldest)
    ]
    for path in removed:
        shutil.rmtree(path, ignore_errors=True)
    return removed
