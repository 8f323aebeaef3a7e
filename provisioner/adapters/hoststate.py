"""Readings of the controller's own state that the lab depends on (sysctls, devices, limits)."""

from __future__ import annotations

import ipaddress
import json
import os
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


def _others_may_write(st: os.stat_result, *, parent: bool) -> str:
    """Why a non-root user may change this file or directory ("" when none may)."""
    if st.st_uid != 0:
        return f"owned by uid {st.st_uid}"
    mode = stat.S_IMODE(st.st_mode)
    if mode & stat.S_IWGRP and st.st_gid != 0:
        return f"writable by group gid {st.st_gid}"
    if mode & stat.S_IWOTH:
        # A sticky world-writable parent (/tmp) lets nobody rename or delete root's entries.
        if parent and stat.S_ISDIR(st.st_mode) and mode & stat.S_ISVTX:
            return ""
        return "writable by everyone"
    return ""


def writable_by_others(roots: Iterable[Path], skip: Iterable[str] = (".git",)) -> list[str]:
    """Files and directories under ``roots`` (and the directories above them) that a user
    other than root could change: owned by another user, group-writable by a non-root group,
    or world-writable. Symbolic links are judged by what they point to. One line each:
    ``<path>: <why>``.
    """
    skipped = set(skip)
    found: dict[Path, str] = {}
    resolved = sorted({root.resolve() for root in roots})
    # A root inside another root is walked with it (the venv inside the checkout).
    resolved = [r for r in resolved if not any(o != r and r.is_relative_to(o) for o in resolved)]

    def judge(path: Path, *, parent: bool = False) -> None:
        if path in found:
            return
        try:
            st = path.stat()  # follows links: what runs is the target
        except OSError:
            return
        found[path] = _others_may_write(st, parent=parent)

    for root in resolved:
        for above in root.parents:
            judge(above, parent=True)
        for directory, dirs, files in os.walk(root, followlinks=False):
            dirs[:] = [d for d in dirs if d not in skipped]
            here = Path(directory)
            judge(here)
            for name in files:
                judge(here / name)
            for name in dirs:
                if (here / name).is_symlink():
                    judge((here / name).resolve())
    return [f"{path}: {why}" for path, why in sorted(found.items()) if why]
