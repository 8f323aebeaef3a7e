"""Simulated network devices on 127.0.0.1, on top of FakeNOS's SSH server and shell."""

from __future__ import annotations

import io
import logging
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from fakenos import FakeNOS  # type: ignore[import-untyped]
from fakenos.core.nos import Nos  # type: ignore[import-untyped]
from fakenos.plugins.servers import ssh_server_paramiko  # type: ignore[import-untyped]
from fakenos.plugins.shell.cmd_shell import CMDShell  # type: ignore[import-untyped]

from provisioner.fakegear.devices import DEVICE_CLASSES, FakeDevice, Session

__all__ = ["DeviceSpec", "FakeDevice", "GearLab", "free_port", "running_gear"]

logging.getLogger("fakenos").setLevel(logging.CRITICAL)
logging.getLogger("paramiko").setLevel(logging.CRITICAL)


@dataclass(frozen=True)
class DeviceSpec:
    """One simulated device: its name, vendor, where it listens and its login."""

    name: str
    device_type: str
    port: int
    username: str
    password: str
    config: str | None = None


class GearShell(CMDShell):  # type: ignore[misc]
    """FakeNOS shell whose every line goes to the session's stateful device."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.device: FakeDevice = self.nos.device
        self.session = Session()
        self.prompt = self.device.prompt(self.session)
        self.stopping = False

    def stop(self) -> None:
        """FakeNOS's watchdog: the client is gone. Whatever the CLI mode, the shell ends."""
        self.stopping = True
        super().stop()

    def onecmd(self, line: str) -> bool:
        """Every line, including ``exit``/``help``, is the device's to interpret."""
        if line == "EOF":
            return True
        if self.stopping or not self.is_running.is_set():
            return True
        output = self.device.handle(self.session, line)
        if output:
            self.writeline(output)
        self.prompt = self.device.prompt(self.session)
        return self.session.closed


def _channel_to_shell_tap(
    channel_stdio: Any, shell_stdin: Any, shell_replied_event: threading.Event, run_srv: Any
) -> None:
    """FakeNOS's tap without its 10 ms pause per byte (a 150-character line took 1.5 s)."""
    buffer = io.BytesIO()
    while run_srv.is_set():
        byte: bytes = channel_stdio.read(1)
        shell_replied_event.wait(10)
        if not channel_stdio.channel.active or byte == b"":
            break
        try:
            if byte in (b"\r", b"\n"):
                channel_stdio.write(b"\r\n")
                buffer.write(byte)
                line = buffer.getvalue().decode("utf-8", errors="replace")
                buffer.seek(0)
                buffer.truncate()
                shell_stdin.write(line)
                shell_replied_event.clear()
            else:
                channel_stdio.write(byte)
                if byte != b"\x00":
                    buffer.write(byte)
        except (OSError, EOFError):
            break


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class GearLab:
    """Several simulated devices served by one FakeNOS instance."""

    def __init__(self, specs: list[DeviceSpec]) -> None:
        self.specs = {s.name: s for s in specs}
        self.devices: dict[str, FakeDevice] = {}
        plugins: list[Nos] = []
        hosts: dict[str, Any] = {}
        for spec in specs:
            device = DEVICE_CLASSES[spec.device_type](spec.name, spec.config)
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
        self.net.shell_plugins["CMDShell"] = GearShell

    def start(self) -> None:
        """Listen on every device's port."""
        ssh_server_paramiko.channel_to_shell_tap = _channel_to_shell_tap
        self.net.start()  # binds every port before returning

    def stop(self) -> None:
        """Close every device's port."""
        self.net.stop()

    def stop_device(self, name: str) -> None:
        """Stop one device (its port closes), the others keep running."""
        self.net.stop(name)


@contextmanager
def running_gear(specs: list[DeviceSpec]) -> Iterator[GearLab]:
    """Devices listening for the duration of the block."""
    lab = GearLab(specs)
    lab.start()
    try:
        yield lab
    finally:
        lab.stop()
