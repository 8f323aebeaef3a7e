"""Simulated network devices on 127.0.0.1, on top of FakeNOS's SSH server and shell.

Each simulated vendor (``routeros``, ``ios``, ``fortios``) keeps a running configuration that its
CLI changes and answers what that configuration does with a packet (:class:`Packet` ->
:class:`Decision`). This package never imports ``provisioner.gear``: the production renderer and
parser are checked against an independent reading of each vendor.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fakenos import FakeNOS  # type: ignore[import-untyped]
from fakenos.core.nos import Nos  # type: ignore[import-untyped]

from provisioner.fakegear.base import Decision, Packet, known_hosts_line
from provisioner.fakegear.devices import DEVICE_CLASSES, FakeDevice
from provisioner.fakegear.server import GearShell, GearSshServer

__all__ = [
    "Decision",
    "DeviceSpec",
    "FakeDevice",
    "GearLab",
    "Packet",
    "free_port",
    "free_ports",
    "running_gear",
]

logging.getLogger("fakenos").setLevel(logging.CRITICAL)
logging.getLogger("paramiko").setLevel(logging.CRITICAL)


@dataclass(frozen=True)
class DeviceSpec:
    """One simulated device: its name, vendor, where it listens, its login and host key seed."""

    name: str
    device_type: str
    port: int
    username: str
    password: str
    config: str | None = None
    host_key_seed: bytes | None = None


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    (port,) = free_ports(1)
    return port


def free_ports(count: int) -> list[int]:
    """``count`` distinct TCP ports free on 127.0.0.1 right now.

    Every socket stays bound until all are chosen: the kernel may hand the same port to two
    successive ``bind(0)`` calls once the first socket is closed, and FakeNOS refuses a port twice.
    """
    import socket  # noqa: PLC0415
    from contextlib import ExitStack  # noqa: PLC0415

    with ExitStack() as stack:
        socks = [
            stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            for _ in range(count)
        ]
        for sock in socks:
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in socks]


class GearLab:
    """Several simulated devices served by one FakeNOS instance."""

    def __init__(self, specs: list[DeviceSpec]) -> None:
        self.specs = {s.name: s for s in specs}
        self.devices: dict[str, FakeDevice] = {}
        plugins: list[Nos] = []
        hosts: dict[str, Any] = {}
        for spec in specs:
            device = DEVICE_CLASSES[spec.device_type](
                spec.name, spec.config, host_key_seed=spec.host_key_seed
            )
            self.devices[spec.name] = device
            nos = Nos(name=f"fakegear-{spec.name}", initial_prompt="{base_prompt}>")
            nos.device = device
            plugins.append(nos)
            hosts[spec.name] = {
                "username": spec.username + device.username_suffix,
                "password": spec.password,
                "port": spec.port,
                "nos": {"plugin": nos.name},
                "server": {
                    "plugin": "ParamikoSshServer",
                    "configuration": {"address": "127.0.0.1", "timeout": 1},
                },
            }
        self.net = FakeNOS(inventory={"hosts": hosts}, plugins=plugins)
        # This instance's own registry: each device is served with its host key and faults.
        self.net.servers_plugins["ParamikoSshServer"] = GearSshServer
        self.net.shell_plugins["CMDShell"] = GearShell

    def start(self) -> None:
        """Listen on every device's port."""
        self.net.start()  # binds every port before returning

    def stop(self) -> None:
        """Close every device's port (side by side: each takes up to a second to notice)."""
        threads = [
            threading.Thread(target=self.net.stop, args=(name,), daemon=True) for name in self.specs
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    def known_hosts(self) -> str:
        """known_hosts lines of every device (as the lab records them)."""
        return "".join(
            known_hosts_line("127.0.0.1", spec.port, self.devices[name].host_key) + "\n"
            for name, spec in self.specs.items()
        )

    def write_known_hosts(self, path: Path) -> Path:
        """Record every device's host key in ``path``."""
        path.write_text(self.known_hosts(), encoding="utf-8")
        return path


@contextmanager
def running_gear(specs: list[DeviceSpec]) -> Iterator[GearLab]:
    """Devices listening for the duration of the block."""
    lab = GearLab(specs)
    lab.start()
    try:
        yield lab
    finally:
        lab.stop()
