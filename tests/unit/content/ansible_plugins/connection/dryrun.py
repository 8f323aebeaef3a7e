"""A connection that never reaches a machine: every command gets the same canned module result.

Test-only (tests/unit/content/test_windows_task_list.py). The result carries the facts of the
environment variable DRYRUN_FACTS (JSON), so the play's fact gathering "finds" whatever platform
the test describes, and the common keys registered results are read for (rc, stdout, stat.exists:
false, exists: false), so the conditions of later tasks evaluate as on a host where nothing was
set up yet. Files are neither sent nor fetched.
"""

from __future__ import annotations

import json
import os
from typing import Any

from ansible.plugins.connection import ConnectionBase

DOCUMENTATION = """
name: dryrun
short_description: Answers every command with a canned module result; never connects
description:
  - Test-only. Facts come from the DRYRUN_FACTS environment variable (JSON).
author: provisioner maintainers
options: {}
"""


def canned_result() -> dict[str, Any]:
    """The answer to every module: nothing changed, nothing found, the test's facts."""
    return {
        "changed": False,
        "rc": 0,
        "stdout": "",
        "stdout_lines": [],
        "stderr": "",
        "stderr_lines": [],
        "exists": False,
        "stat": {"exists": False},
        "ansible_facts": json.loads(os.environ.get("DRYRUN_FACTS", "{}")),
    }


class Connection(ConnectionBase):
    """See the module docstring."""

    transport = "dryrun"
    has_pipelining = True

    def _connect(self) -> Connection:
        self._connected = True
        return self

    def exec_command(
        self, cmd: str, in_data: bytes | None = None, sudoable: bool = True
    ) -> tuple[int, bytes, bytes]:
        super().exec_command(cmd, in_data=in_data, sudoable=sudoable)
        return 0, json.dumps(canned_result()).encode(), b""

    def put_file(self, in_path: str, out_path: str) -> None:
        super().put_file(in_path, out_path)

    def fetch_file(self, in_path: str, out_path: str) -> None:
        super().fetch_file(in_path, out_path)

    def close(self) -> None:
        self._connected = False
