"""The processes a killed playbook leaves behind, found by its run's mark and killed.

ansible-runner stops a playbook (cancel, timeout) with SIGKILL to the process group of
``ansible-playbook``; but Ansible's worker processes call ``setsid()`` (ansible-core 2.17 on), so
they are not in that group and go on running a task whose playbook is gone (ansible-runner issue
#973). Every process of one run carries the run's own cancel file path in its environment
(``PROVISIONER_CANCEL_FILE``, set by the chokepoint), wherever it was reparented to: that mark
finds them. Written by hand: psutil would do the /proc walk, but it is not a dependency here and
these are a dozen lines.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path

PROC = Path("/proc")


def marked(mark: str) -> list[int]:
    """The processes (other than this one) whose environment holds ``mark`` (``NAME=value``)."""
    wanted = mark.encode()
    found = []
    for entry in PROC.iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:  # gone meanwhile, or not ours to read
            continue
        if wanted in environ.split(b"\0"):
            found.append(int(entry.name))
    return found


def kill_marked(mark: str, *, wait: float = 5.0) -> list[int]:
    """SIGKILL every process marked ``mark``, until none is left or ``wait`` seconds passed;
    the pids it killed (a zombie still listed is not alive: its environment reads empty)."""
    killed: list[int] = []
    deadline = time.monotonic() + wait
    while pids := marked(mark):
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
                if pid not in killed:
                    killed.append(pid)
        _reap(killed)
        if time.monotonic() > deadline:
            break
        time.sleep(0.05)
    return killed


def _reap(pids: list[int]) -> None:
    """Collect those of the killed processes that were this process's own children (never
    ``waitpid(-1)``: another thread may be waiting for a child of its own)."""
    for pid in pids:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
