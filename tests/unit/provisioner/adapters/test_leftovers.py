"""The processes a killed playbook leaves behind: real processes, as Ansible's workers make them
(``setsid()``, then orphaned when the playbook is killed)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from provisioner.adapters import leftovers

# A parent that starts a child in a session of its own (as Ansible's WorkerProcess does), writes
# the child's pid, then waits to be killed; the child sleeps on.
_TREE = """
import os, sys, time
pid = os.fork()
if pid == 0:
    os.setsid()
    time.sleep(120)
    os._exit(0)
open(sys.argv[1], "w").write(str(pid))
time.sleep(120)
"""


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _start(tmp_path: Path, mark: str) -> tuple[subprocess.Popen[bytes], int]:
    pid_file = tmp_path / f"child-{len(list(tmp_path.iterdir()))}"
    name, value = mark.split("=", 1)
    parent = subprocess.Popen(
        [sys.executable, "-c", _TREE, str(pid_file)], env={**os.environ, name: value}
    )
    deadline = time.monotonic() + 10
    while not pid_file.exists() or not pid_file.read_text():
        assert time.monotonic() < deadline
        time.sleep(0.02)
    return parent, int(pid_file.read_text())


def test_the_orphans_of_a_killed_run_are_found_by_its_mark_and_killed(tmp_path: Path) -> None:
    mine = f"PROVISIONER_CANCEL_FILE={tmp_path}/run-a/cancel"
    other = f"PROVISIONER_CANCEL_FILE={tmp_path}/run-b/cancel"
    parent, child = _start(tmp_path, mine)
    bystander, bystander_child = _start(tmp_path, other)
    try:
        # runner's kill reaches the parent's process group, never the child: its own session.
        parent.kill()
        parent.wait()
        assert _alive(child)

        killed = leftovers.kill_marked(mine)

        assert killed == [child]
        deadline = time.monotonic() + 5
        while _alive(child) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert not _alive(child)
        # Another run's processes (another comune, the same controller) are left alone.
        assert _alive(bystander.pid) and _alive(bystander_child)
        assert leftovers.marked(mine) == []
    finally:
        for pid in (bystander_child, bystander.pid):
            os.kill(pid, 9)
        bystander.wait()


def test_a_mark_is_a_whole_entry_not_a_prefix(tmp_path: Path) -> None:
    parent, child = _start(tmp_path, f"PROVISIONER_CANCEL_FILE={tmp_path}/run-10/cancel")
    try:
        assert leftovers.marked(f"PROVISIONER_CANCEL_FILE={tmp_path}/run-1") == []
        assert sorted(leftovers.marked(f"PROVISIONER_CANCEL_FILE={tmp_path}/run-10/cancel")) == (
            sorted([parent.pid, child])
        )
    finally:
        os.kill(child, 9)
        parent.kill()
        parent.wait()
