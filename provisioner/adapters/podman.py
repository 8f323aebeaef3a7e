"""Podman and debootstrap for the lab: image, networks, systemd containers."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from provisioner.errors import ControllerError

IMAGE_PACKAGES = (
    "systemd",
    "systemd-sysv",
    "dbus",
    "python3",
    "openssh-server",
    "sudo",
    "iproute2",
)
LABEL = "provisioner.lab"
# Host keys are generated per container on first start (the image ships none), then checked
# (`sshd -t`); Debian's own ExecStartPre would fail first without keys.
_SSH_DROPIN = (
    "[Service]\nExecStartPre=\n"
    "ExecStartPre=/usr/bin/ssh-keygen -A\nExecStartPre=/usr/sbin/sshd -t\n"
)
# apt asks this script which proxy to use for each archive: the controller's package cache
# (adapters/aptcache.py) when it answers, else the mirror directly.
_APT_PROXY_SCRIPT = """#!/bin/bash
# The lab's package cache on the controller (apt-cacher-ng, started by provisioner) if it answers.
if timeout 1 bash -c 'exec 3<>/dev/tcp/host.containers.internal/3142' 2>/dev/null; then
  echo http://host.containers.internal:3142
else
  echo DIRECT
fi
"""
_APT_PROXY_CONF = 'Acquire::http::Proxy-Auto-Detect "/usr/local/lib/provisioner/apt-proxy";\n'
# root's user manager (user@0.service) lingers: it runs from boot and is never stopped. In a
# Debian 12 container the stop that follows root's last logout (10 s later) hangs until its
# 120 s timeout ("Processes still around after final SIGKILL"), and every SSH login meanwhile
# waits for it: lab-meet, the only Debian 12 host, was unreachable for two minutes after any
# pause in the runs that touch it. A real host's user manager stops at once.
_LINGER = ("root",)
RECIPE_LABEL = "provisioner.image.recipe"
SYSCTLS_LABEL = "provisioner.sysctls"
"""The sysctls a container was created with (``k=v,...``): podman 4.3's inspect does not show
them (no ``HostConfig.Sysctls``), and a container without them must be created again."""
RECIPE = hashlib.sha256(
    repr((IMAGE_PACKAGES, _SSH_DROPIN, _APT_PROXY_SCRIPT, _APT_PROXY_CONF, _LINGER)).encode()
).hexdigest()[:12]
"""Version of the image's build recipe: an image built by another recipe is rebuilt."""


@dataclass(frozen=True)
class Network:
    """A podman network owned by the project."""

    name: str
    subnet: str


@dataclass(frozen=True)
class ContainerSpec:
    """One lab container: systemd as PID 1, sshd published on 127.0.0.1."""

    name: str
    hostname: str
    ssh_port: int | None
    """Published on 127.0.0.1 (None: not published, e.g. a laptop at home behind NAT)."""
    networks: dict[str, str]
    tun: bool = False
    labels: dict[str, str] = field(default_factory=dict)
    # name -> address entries of the container's /etc/hosts (podman --add-host).
    extra_hosts: dict[str, str] = field(default_factory=dict)
    # Namespaced sysctls set by podman at creation (--sysctl): a new network namespace copies
    # the host's values and runc mounts /proc/sys read-only, so nothing inside can change them.
    sysctls: dict[str, str] = field(default_factory=dict)
    netns: Path | None = None
    """Join this named network namespace instead of podman networks (``--network ns:``)."""
    cap_net_admin: bool = False
    """NET_ADMIN without the TUN device (a router that loads nftables rules)."""


@dataclass(frozen=True)
class ContainerState:
    """What podman says about a container."""

    name: str
    state: str
    ports: str
    labels: dict[str, str] = field(default_factory=dict)
    sysctls: dict[str, str] = field(default_factory=dict)
    """The sysctls podman set at creation (``--sysctl``)."""
    image: str = ""
    """The image it was created from (its name, e.g. ``localhost/provisioner-lab:trixie``)."""


class Podman:
    """Thin wrapper over the podman CLI using the project's containers.conf."""

    def __init__(self, containers_conf: Path, log_file: Path | None = None) -> None:
        self.env = {**os.environ, "CONTAINERS_CONF": str(containers_conf)}
        self.log_file = log_file

    def _run(
        self,
        args: Sequence[str],
        *,
        check: bool = True,
        stdin: str | None = None,
        timeout: float = 300,
    ) -> subprocess.CompletedProcess[str]:
        if shutil.which("podman") is None:
            raise ControllerError(
                "podman is not installed (run `make setup` or apt-get install podman)"
            )
        proc = subprocess.run(
            ["podman", *args],
            input=stdin,
            capture_output=True,
            text=True,
            env=self.env,
            timeout=timeout,
            check=False,
        )
        if check and proc.returncode != 0:
            detail = proc.stderr.strip()[-500:]
            raise ControllerError(
                f"podman {' '.join(args[:3])} failed ({proc.returncode}): {detail}"
            )
        return proc

    def image_exists(self, image: str) -> bool:
        """Whether the local image exists and was built by this recipe."""
        proc = self._run(
            ["image", "inspect", "--format", f'{{{{index .Labels "{RECIPE_LABEL}"}}}}', image],
            check=False,
        )
        return proc.returncode == 0 and proc.stdout.strip() == RECIPE

    def build_image(self, image: str, work_dir: Path, suite: str = "trixie") -> None:
        """debootstrap a Debian minbase with systemd + sshd + python3 and import it."""
        if shutil.which("debootstrap") is None:
            raise ControllerError("debootstrap is not installed (run `make setup`)")
        work_dir.mkdir(parents=True, exist_ok=True)
        root = Path(tempfile.mkdtemp(prefix="rootfs-", dir=work_dir))
        log = (self.log_file or work_dir / "image-build.log").open("a", encoding="utf-8")
        try:
            proc = subprocess.run(
                [
                    "debootstrap",
                    "--variant=minbase",
                    f"--include={','.join(IMAGE_PACKAGES)}",
                    suite,
                    str(root),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                check=False,
                timeout=900,
            )
            if proc.returncode != 0:
                raise ControllerError(f"debootstrap failed ({proc.returncode}); see {log.name}")
            # main + updates + security, so unattended-upgrades has security origins to follow.
            (root / "etc/apt/sources.list").write_text(
                f"deb http://deb.debian.org/debian {suite} main\n"
                f"deb http://deb.debian.org/debian {suite}-updates main\n"
                f"deb http://deb.debian.org/debian-security {suite}-security main\n",
                encoding="utf-8",
            )
            for key in (root / "etc/ssh").glob("ssh_host_*"):
                key.unlink()
            dropin = root / "etc/systemd/system/ssh.service.d/provisioner-keygen.conf"
            dropin.parent.mkdir(parents=True, exist_ok=True)
            dropin.write_text(_SSH_DROPIN, encoding="utf-8")
            linger = root / "var/lib/systemd/linger"
            linger.mkdir(parents=True, exist_ok=True)
            for user in _LINGER:
                (linger / user).touch()
            script = root / "usr/local/lib/provisioner/apt-proxy"
            script.parent.mkdir(parents=True, exist_ok=True)
            script.write_text(_APT_PROXY_SCRIPT, encoding="utf-8")
            script.chmod(0o755)
            (root / "etc/apt/apt.conf.d/01provisioner-lab-proxy").write_text(
                _APT_PROXY_CONF, encoding="utf-8"
            )
            for cache in ("var/cache/apt/archives", "var/lib/apt/lists"):
                for item in (root / cache).glob("*"):
                    if item.is_file():
                        item.unlink()
            tar = subprocess.Popen(["tar", "-C", str(root), "-c", "."], stdout=subprocess.PIPE)
            imp = subprocess.run(
                [
                    "podman",
                    "import",
                    "--change",
                    "CMD=/sbin/init",
                    "--change",
                    f"LABEL={RECIPE_LABEL}={RECIPE}",
                    "-",
                    image,
                ],
                stdin=tar.stdout,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env,
                check=False,
            )
            tar.wait()
            if imp.returncode != 0 or tar.returncode != 0:
                raise ControllerError(f"podman import of {image} failed; see {log.name}")
        finally:
            log.close()
            shutil.rmtree(root, ignore_errors=True)

    def ensure_network(self, network: Network, labels: dict[str, str] | None = None) -> None:
        """Create the network if it does not exist."""
        if self._run(["network", "exists", network.name], check=False).returncode != 0:
            extra = [arg for k, v in (labels or {}).items() for arg in ("--label", f"{k}={v}")]
            self._run(
                [
                    "network",
                    "create",
                    # isolated: the host forwards nothing between the project's networks
                    "--opt",
                    "isolate=true",
                    "--subnet",
                    network.subnet,
                    "--label",
                    f"{LABEL}=1",
                    *extra,
                    network.name,
                ]
            )

    def network_interface(self, name: str) -> str:
        """The host's bridge of a network ("" if the network does not exist)."""
        proc = self._run(["network", "inspect", name], check=False)
        if proc.returncode != 0:
            return ""
        return str(json.loads(proc.stdout)[0].get("network_interface", ""))

    def network_labels(self, name: str) -> dict[str, str] | None:
        """Labels of a network, or None if it does not exist."""
        proc = self._run(["network", "inspect", name], check=False)
        if proc.returncode != 0:
            return None
        data = json.loads(proc.stdout)[0]
        return {str(k): str(v) for k, v in (data.get("labels") or {}).items()}

    def remove_network(self, name: str) -> None:
        """Remove a network if present."""
        self._run(["network", "rm", "-f", name], check=False)

    def state(self, name: str) -> ContainerState | None:
        """State of a container, or None if it does not exist."""
        proc = self._run(["container", "inspect", name], check=False)
        if proc.returncode != 0:
            return None
        data = json.loads(proc.stdout)[0]
        ports = data.get("NetworkSettings", {}).get("Ports") or {}
        published = ",".join(
            f"{b['HostIp']}:{b['HostPort']}" for binds in ports.values() if binds for b in binds
        )
        labels = (data.get("Config") or {}).get("Labels") or {}
        sysctls = (data.get("HostConfig") or {}).get("Sysctls") or dict(
            item.split("=", 1)
            for item in str(labels.get(SYSCTLS_LABEL, "")).split(",")
            if "=" in item
        )
        return ContainerState(
            name,
            str(data["State"]["Status"]),
            published,
            {str(k): str(v) for k, v in labels.items()},
            {str(k): str(v) for k, v in sysctls.items()},
            str(data.get("ImageName") or ""),
        )

    def run(self, spec: ContainerSpec, image: str) -> None:
        """Start a systemd container from ``image``."""
        args = [
            "run",
            "-d",
            "--name",
            spec.name,
            "--hostname",
            spec.hostname,
            "--systemd=always",
            "--label",
            f"{LABEL}=1",
        ]
        if spec.ssh_port is not None:
            args += ["-p", f"127.0.0.1:{spec.ssh_port}:22"]
        for key, value in spec.labels.items():
            args += ["--label", f"{key}={value}"]
        if spec.netns is not None:
            args += ["--network", f"ns:{spec.netns}"]
        for net, ip in spec.networks.items():
            args += ["--network", f"{net}:ip={ip}"]
        for host_name, address in spec.extra_hosts.items():
            args += ["--add-host", f"{host_name}:{address}"]
        for key, value in spec.sysctls.items():
            args += ["--sysctl", f"{key}={value}"]
        if spec.sysctls:
            joined = ",".join(f"{k}={v}" for k, v in sorted(spec.sysctls.items()))
            args += ["--label", f"{SYSCTLS_LABEL}={joined}"]
        if spec.tun:
            args += ["--device", "/dev/net/tun", "--cap-add", "NET_ADMIN", "--cap-add", "NET_RAW"]
        elif spec.cap_net_admin:
            args += ["--cap-add", "NET_ADMIN"]
        self._run([*args, image, "/sbin/init"])

    def commit(self, name: str, image: str) -> None:
        """Save a container's filesystem as an image (its installed state survives a move)."""
        self._run(["commit", "-q", name, image], timeout=600)

    def remove_image(self, image: str) -> None:
        """Remove an image if present."""
        self._run(["rmi", "-f", image], check=False)

    def pid(self, name: str) -> int:
        """The host pid of a running container's init (for nsenter/ip)."""
        out = self._run(["inspect", "--format", "{{.State.Pid}}", name]).stdout.strip()
        return int(out)

    def start(self, name: str) -> None:
        """Start an existing container."""
        self._run(["start", name])

    def stop(self, name: str, timeout: int = 5) -> None:
        """Stop a container."""
        self._run(["stop", "-t", str(timeout), name], check=False)

    def remove(self, name: str) -> None:
        """Remove a container (running or not)."""
        self._run(["rm", "-f", "-t", "3", name], check=False)

    def exec(self, name: str, command: Sequence[str], stdin: str | None = None) -> str:
        """Run a command in a container and return its stdout."""
        args = ["exec", *(["-i"] if stdin is not None else []), name, *command]
        return self._run(args, stdin=stdin).stdout

    def wait_for_unit(self, name: str, unit: str, timeout: float = 60) -> None:
        """Wait until a systemd unit in the container is active."""
        deadline = time.monotonic() + timeout
        while True:
            proc = self._run(["exec", name, "systemctl", "is-active", unit], check=False)
            if proc.stdout.strip() == "active":
                return
            if time.monotonic() > deadline:
                raise ControllerError(f"{name}: {unit} not active after {timeout:.0f}s")
            time.sleep(0.5)

    def labelled(self, prefix: str = "") -> list[str]:
        """Names of the containers this tool started (label), whose names start with ``prefix``.

        The label alone is shared by every environment built on this adapter (the lab, bench
        fleets): callers pass their name prefix so they never remove each other's containers.
        """
        proc = self._run(["ps", "-a", "--filter", f"label={LABEL}", "--format", "{{.Names}}"])
        return sorted(n for n in proc.stdout.split() if n and n.startswith(prefix))
