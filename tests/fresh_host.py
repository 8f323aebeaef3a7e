"""Reproduce what a freshly booted controller looks like, where the lab depends on host state."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

IP_FORWARD = Path("/proc/sys/net/ipv4/ip_forward")


@contextmanager
def host_forwarding_off() -> Iterator[None]:
    """The host's ``net.ipv4.ip_forward`` at 0, as before podman's first network set-up.

    A container's network namespace copies the host's value when it is created, so every
    container created next starts with forwarding off unless podman is told otherwise
    (``--sysctl``); netavark turns the host's forwarding back on as soon as it sets up a
    network. The value found is restored afterwards.
    """
    if os.geteuid() != 0:
        pytest.fail("the lab tests run as root (podman, the host's sysctls)")
    before = IP_FORWARD.read_text(encoding="utf-8").strip()
    IP_FORWARD.write_text("0\n", encoding="utf-8")
    try:
        yield
    finally:
        IP_FORWARD.write_text(f"{before}\n", encoding="utf-8")
