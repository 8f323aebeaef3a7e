"""Readings of the controller's own state that the lab depends on (sysctls, devices, limits)."""

from __future__ import annotations

import ipaddress
import json
import resource
import shutil
import socket
import stat
import subprocess
from collections.abc import Iterable
from pathlib import Path

PROC_SYS = Path("/proc/sys")


def sysctl(name: str) -> str | None:
    """The host's value of a sysctl (``net.ipv4.ip_forward``), None if it has none."""
    try:
        return (PROC_SYS / name.replace(".", "/")).read_text(encoding="utf-8").strip()
    except OSError:
        return None


def is_char_device(path: Path) -> bool:
    """Whether ``path`` exists and is a character device (e.g. /dev/net/tun)."""
    try:
        return stat.S_ISCHR(path.stat().st_mode)
    except OSError:
        return False


def hard_limit(kind: int) -> int:
    """This process's hard resource limit (``resource.RLIMIT_*``); -1 for unlimited."""
    hard = resource.getrlimit(kind)[1]
    return -1 if hard == resource.RLIM_INFINITY else int(hard)


def missing_commands(names: Iterable[str]) -> list[str]:
    """The commands of ``names`` that are not on PATH."""
    return [name for name in names if shutil.which(name) is None]


def routed_networks() -> list[tuple[ipaddress.IPv4Network, str]]:
    """IPv4 destinations of the host's main routing table with their device (``ip -j route``)."""
    if shutil.which("ip") is None:
        return []
    proc = subprocess.run(
        ["ip", "-j", "-4", "route", "show", "table", "main"],
        capture_output=True,
        text=True,
        check=False,
        timeout=10,
    )
    if proc.returncode != 0:
        return []
    found = []
    for route in json.loads(proc.stdout or "[]"):
        dst = str(route.get("dst", ""))
        if not dst or dst == "default":
            continue
        try:
            found.append((ipaddress.IPv4Network(dst, strict=False), str(route.get("dev", ""))))
        except ValueError:
            continue
    return found


def ports_in_use(ports: Iterable[int], address: str = "127.0.0.1") -> list[int]:
    """The TCP ports of ``address`` some process listens on (a plain bind fails)."""
    busy = []
    for port in ports:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((address, port))
            except OSError:
                busy.append(port)
    return sorted(busy)
