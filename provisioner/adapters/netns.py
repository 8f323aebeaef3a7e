"""Named network namespaces and veth links (iproute2) for the lab's home networks.

A podman network always has the host on its bridge, so the host could reach every container on
it. A laptop "at home" instead lives in a network namespace of its own whose only link is a veth
pair to its home router's container: nothing on the controller routes to it, as nothing on the
internet routes to a home LAN behind NAT.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

from provisioner.errors import ControllerError

NETNS_DIR = Path("/run/netns")


def _ip(args: Sequence[str], *, check: bool = True) -> subprocess.CompletedProcess[str]:
    if shutil.which("ip") is None:
        raise ControllerError("ip (iproute2) is not installed")
    proc = subprocess.run(["ip", *args], capture_output=True, text=True, check=False, timeout=30)
    if check and proc.returncode != 0:
        raise ControllerError(f"ip {' '.join(args)} failed: {proc.stderr.strip()[-300:]}")
    return proc


def path(name: str) -> Path:
    """Where a named namespace is bound (what ``podman run --network ns:<path>`` takes)."""
    return NETNS_DIR / name


def exists(name: str) -> bool:
    """Whether the named namespace exists."""
    return path(name).exists()


def create(name: str) -> None:
    """Create a named namespace (with its loopback up) unless it exists."""
    if not exists(name):
        _ip(["netns", "add", name])
    _ip(["-n", name, "link", "set", "lo", "up"])


def delete(name: str) -> None:
    """Delete a named namespace if it exists (its veth ends go with it)."""
    if exists(name):
        _ip(["netns", "delete", name], check=False)


def link_up(name: str, device: str) -> bool:
    """Whether ``device`` exists in the named namespace."""
    return _ip(["-n", name, "link", "show", device], check=False).returncode == 0


def veth(
    *,
    netns: str,
    inner: str,
    inner_address: str,
    gateway: str,
    router_pid: int,
    outer: str,
    outer_address: str,
) -> None:
    """A veth pair: ``inner`` in the named namespace (default route via ``gateway``), ``outer``
    in the router's namespace (the process ``router_pid``'s), both up with their addresses."""
    temporary = f"{outer[:10]}tmp"
    _ip(["link", "add", temporary, "type", "veth", "peer", "name", inner, "netns", netns])
    _ip(["link", "set", temporary, "netns", str(router_pid)])
    router = ["nsenter", "-t", str(router_pid), "-n", "ip"]
    for args in (
        ["link", "set", temporary, "name", outer],
        ["addr", "add", outer_address, "dev", outer],
        ["link", "set", outer, "up"],
    ):
        proc = subprocess.run([*router, *args], capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise ControllerError(f"ip {' '.join(args)} in the router failed: {proc.stderr}")
    _ip(["-n", netns, "addr", "add", inner_address, "dev", inner])
    _ip(["-n", netns, "link", "set", inner, "up"])
    _ip(["-n", netns, "route", "replace", "default", "via", gateway])
