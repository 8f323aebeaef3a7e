"""The lab's package cache: Debian's apt-cacher-ng, started by the project on the controller.

Lab and Molecule containers install packages on every fresh start; through this cache they are
fetched from the Debian mirror once per machine. The lab image's apt asks for the cache at
``host.containers.internal:3142`` (podman's name for the controller) and goes direct when it
does not answer, so a machine without the cache still works, only slower.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

from provisioner.errors import ControllerError

PORT = 3142
BINARY = "/usr/sbin/apt-cacher-ng"
REPORT = "acng-report.html"
# Our own configuration (nothing under /etc is read or edited): the Debian archive and its
# security archive, fetched from deb.debian.org, as the lab image's sources.list names them.
_CONF = """\
CacheDir: {root}/cache
LogDir: {root}/log
SupportDir: /usr/lib/apt-cacher-ng
Port: {port}
# Containers reach the controller through their network's gateway address, which differs per
# podman network (lab, Molecule scenarios): listen on all of them.
BindAddress: 0.0.0.0
PidFile: {root}/run/pid
SocketPath: {root}/run/socket
Remap-debrep: file:deb_mirror*.gz /debian ; http://deb.debian.org/debian/
Remap-secdeb: security.debian.org security.debian.org/debian-security \
deb.debian.org/debian-security /debian-security ; http://deb.debian.org/debian-security/
ReportPage: {report}
ExThreshold: 4
"""


def default_root() -> Path:
    """Machine-wide for root (kept across runs and state dirs), per user otherwise."""
    if os.geteuid() == 0:
        return Path("/var/cache/provisioner/apt")
    return Path.home() / ".cache" / "provisioner" / "apt"


def answering(port: int = PORT) -> bool:
    """Whether an apt-cacher-ng answers on 127.0.0.1:``port``."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/{REPORT}", timeout=2) as reply:
            return b"Apt-Cacher NG" in reply.read(4096) or reply.status == 200
    except (OSError, urllib.error.URLError):
        return False


def ensure(root: Path | None = None, port: int = PORT) -> bool:
    """Start the cache unless one answers already; False when apt-cacher-ng is not installed.

    Raises:
        ControllerError: it is installed but did not start (its log is named).
    """
    if answering(port):
        return True
    if not Path(BINARY).is_file() and shutil.which("apt-cacher-ng") is None:
        return False
    base = root or default_root()
    for sub in ("cache", "log", "run", "conf"):
        (base / sub).mkdir(parents=True, exist_ok=True, mode=0o755)
    # Two suites starting side by side: one starts it, the other finds it answering.
    with (base / "run" / "start.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if answering(port):
            return True
        conf = base / "conf" / "acng.conf"
        conf.write_text(_CONF.format(root=base, port=port, report=REPORT), encoding="utf-8")
        with contextlib.suppress(FileNotFoundError):
            (base / "run" / "socket").unlink()
        binary = BINARY if Path(BINARY).is_file() else str(shutil.which("apt-cacher-ng"))
        proc = subprocess.run(
            [binary, "-c", str(conf.parent), "ForeGround=0"],
            capture_output=True,
            text=True,
            check=False,
            timeout=30,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if answering(port):
                return True
            time.sleep(0.2)
    raise ControllerError(
        f"apt-cacher-ng did not start on port {port} ({proc.stderr.strip()[-300:]}); "
        f"see {base / 'log'}"
    )
