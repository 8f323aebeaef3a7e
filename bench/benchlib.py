"""What the lab benchmarks share: a lab of their own that never touches another and never stays."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
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
