"""What the lab benchmarks share: a lab of their own that never touches another and never stays."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / ".venv" / "bin"


@contextmanager
def private_lab(prefix: str) -> Iterator[tuple[Path, dict[str, str]]]:
    """A lab in a private state dir: (work dir, environment); taken down and removed at the end.

    `lab up` refuses while another state dir's lab is up (exit 2, naming it): the bench then
    stops with that message and the running lab is untouched. A plain kill (SIGTERM) still
    takes this lab down: its devices, containers and networks never outlive the bench.
    """
    work = Path(tempfile.mkdtemp(prefix=prefix))
    shutil.copytree(
        ROOT / "inventory/lab/group_vars",
        work / "inventory/lab/group_vars",
        ignore=shutil.ignore_patterns("lab_connection.yml", "vault.yml", "lab_meeting.yml"),
    )
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("ANSIBLE_", "PROVISIONER_")) or k == "PROVISIONER_LAB_SSH_PORT_BASE"
    }
    env.update(
        {
            "CONTAINERS_CONF": str(ROOT / "lab/containers.conf"),
            "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
            "PROVISIONER_STATE_DIR": str(work / "state"),
            "PROVISIONER_INVENTORY_DIR": str(work / "inventory"),
            "XDG_CONFIG_HOME": str(work / "config"),
        }
    )
    previous = signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    up = None
    try:
        up = subprocess.run(
            [str(BIN / "provisioner"), "lab", "up"],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
        if up.returncode != 0:
            sys.exit(f"lab up failed ({up.returncode}): {(up.stdout + up.stderr).strip()[-1500:]}")
        yield work, env
    finally:
        if up is not None:
            # Also after a refused or failed `lab up`: it removes only what this state dir owns.
            down = subprocess.run(
                [str(BIN / "provisioner"), "lab", "down"],
                env=env,
                cwd=ROOT,
                capture_output=True,
                text=True,
                check=False,
            )
            if down.returncode != 0:
                print(f"lab down failed ({down.returncode}): {down.stderr.strip()[-500:]}")
        shutil.rmtree(work, ignore_errors=True)
        signal.signal(signal.SIGTERM, previous)


def first_task(cmd: list[str], env: dict[str, str], runs_dir: Path) -> tuple[float, int]:
    """Seconds to the first task event (the CLI's first "TASK" line) and peak RSS (KiB).

    ``runs_dir`` is unused since run directories keep no job events (issue 19): the CLI prints
    each task start as it receives the event, without a terminal one line each.
    """
    del runs_dir
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    found: list[float] = []
    lines: list[bytes] = []

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if not found and b" TASK " in line:
                found.append(time.perf_counter() - start)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    peak = 0
    while proc.poll() is None:
        try:
            status = Path(f"/proc/{proc.pid}/status").read_text()
            peak = max(peak, int(status.split("VmHWM:")[1].split()[0]))
        except (OSError, IndexError, ValueError):
            pass
        time.sleep(0.01)
    reader.join(timeout=10)
    err = proc.stderr.read() if proc.stderr is not None else b""
    if not found:
        tail = b"".join(lines).decode()[-1500:] + err.decode()[-1500:]
        sys.exit(f"no task event seen (exit {proc.returncode}):\n{tail}")
    return found[0], peak
