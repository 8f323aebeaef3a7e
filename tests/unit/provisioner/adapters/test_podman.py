"""adapters/podman: what a container was created with is read back from podman 4.3's inspect."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from provisioner.adapters.podman import ContainerSpec, Podman


class _FakePodman(Podman):
    """The podman CLI replaced: ``run`` records its labels, ``inspect`` answers like podman 4.3.1
    (no ``HostConfig.Sysctls``)."""

    def __init__(self) -> None:
        super().__init__(Path("/nonexistent/containers.conf"))
        self.labels: dict[str, str] = {}

    def _run(
        self,
        args: Sequence[str],
        *,
        check: bool = True,
        stdin: str | None = None,
        timeout: float = 300,
    ) -> subprocess.CompletedProcess[str]:
        args = list(args)
        if args[0] == "run":
            for i, arg in enumerate(args):
                if arg == "--label":
                    key, _, value = args[i + 1].partition("=")
                    self.labels[key] = value
            return subprocess.CompletedProcess(args, 0, "", "")
        inspect: dict[str, Any] = {
            "State": {"Status": "running"},
            "Config": {"Labels": self.labels},
            "HostConfig": {"MemorySwap": 0},
            "ImageName": "localhost/provisioner-lab:trixie",
        }
        return subprocess.CompletedProcess(args, 0, json.dumps([inspect]), "")


@pytest.mark.parametrize("sysctls", [{"net.ipv4.ip_forward": "1"}, {}])
def test_the_sysctls_a_container_was_created_with_are_read_back(sysctls: dict[str, str]) -> None:
    podman = _FakePodman()
    podman.run(ContainerSpec("gw", "gw", 22401, {}, sysctls=sysctls), "img")

    state = podman.state("gw")

    assert state is not None and state.sysctls == sysctls
