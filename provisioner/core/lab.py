"""The lab comune: a handful of systemd containers on 127.0.0.1 and their inventory."""

from __future__ import annotations

import os
import secrets
import subprocess
from dataclasses import dataclass
from pathlib import Path

import yaml

from provisioner.adapters import pki, vault
from provisioner.adapters.podman import ContainerSpec, ContainerState, Network, Podman
from provisioner.config import Settings
from provisioner.core.secrets import vault_password
from provisioner.errors import ControllerError, InputError
from provisioner.fakegear.lab import GearServer, start_lab_gear

IMAGE = "localhost/provisioner-lab:trixie"
COMUNE = "lab"
PREFIX = "prov-lab-"
OFFICE = Network("provisioner-lab-office", "10.89.1.0/24")
INTERNET = Network("provisioner-lab-internet", "10.89.2.0/24")
ENV_PORT_BASE = "PROVISIONER_LAB_SSH_PORT_BASE"
ENV_ADMIN_PASSWORD = "PROVISIONER_LAB_ADMIN_PASSWORD"
GENERATED = "# Written by `provisioner lab up`; regenerated on every run, do not edit.\n"


@dataclass(frozen=True)
class LabHost:
    """One host of the lab comune."""

    name: str
    group: str
    port_offset: int
    networks: dict[str, str]
    tun: bool = False


FIXED_HOSTS: tuple[LabHost, ...] = (
    LabHost(
        "lab-vpn-gw",
        "vpn_gateways",
        1,
        {OFFICE.name: "10.89.1.10", INTERNET.name: "10.89.2.10"},
        tun=True,
    ),
    # tun=True also grants NET_ADMIN, which their nftables filters need.
    LabHost("lab-rd-gw", "rd_gateways", 2, {OFFICE.name: "10.89.1.11"}, tun=True),
    LabHost("lab-desk-01", "office_desktops", 3, {OFFICE.name: "10.89.1.21"}, tun=True),
)
DEFAULT_LAPTOPS = 2
MAX_LAPTOPS = 150


def laptop(number: int) -> LabHost:
    """Lab endpoint ``laptop-NN``: SSH on port base + 10 + NN (+ 80 from 20 on, past the
    intranet's offset), address 10.89.2.(100 + NN) on the internet side."""
    offset = 10 + number if number < 20 else 100 + number
    return LabHost(
        f"laptop-{number:02d}",
        "endpoints",
        offset,
        {INTERNET.name: f"10.89.2.{100 + number}"},
        tun=True,
    )


def lab_hosts(laptops: int = DEFAULT_LAPTOPS) -> tuple[LabHost, ...]:
    """The managed lab hosts with ``laptops`` endpoints."""
    return (*FIXED_HOSTS, *(laptop(n) for n in range(1, laptops + 1)))


LAB_HOSTS = lab_hosts()
"""The default lab: gateway, RD gateway, one desktop, two laptops."""


INTRANET = LabHost("lab-intranet", "", 30, {OFFICE.name: "10.89.1.30"})
"""An existing office service of the comune (not managed): the VPN readiness target."""
_INTRANET_UNIT = "lab-intranet"

MEETING = LabHost("lab-meet", "", 40, {OFFICE.name: "10.89.1.40"})
"""The comune's meeting platform (not managed): HTTPS with a certificate of the lab's own CA."""
MEETING_NAME = "meet.lab.provisioner.test"
_MEETING_UNIT = "lab-meet"
_MEETING_DIR = "/srv/meet"
UNMANAGED = (INTRANET, MEETING)


@dataclass(frozen=True)
class LabStatus:
    """One lab host and its container."""

    host: LabHost
    container: str
    port: int
    state: ContainerState | None


class Lab:
    """Builds, starts, inspects and removes the lab comune."""

    def __init__(self, settings: Settings, laptops: int | None = None) -> None:
        """``laptops``: number of endpoints (default: what the last `lab up` used, else 2).

        Raises:
            InputError: ``laptops`` out of range.
        """
        self.settings = settings
        self.dir = settings.state_dir / "lab"
        self.podman = Podman(settings.content_dir / "lab" / "containers.conf", None)
        self.port_base = int(os.environ.get(ENV_PORT_BASE, "22400"))
        if laptops is not None and not 1 <= laptops <= MAX_LAPTOPS:
            raise InputError(f"--laptops: {laptops} is not between 1 and {MAX_LAPTOPS}")
        self.resized = laptops is not None
        self.laptops = laptops if laptops is not None else self._recorded_size()
        self.hosts = lab_hosts(self.laptops)

    @property
    def size_file(self) -> Path:
        """Number of laptops of the last `lab up`."""
        return self.dir / "laptops"

    def _recorded_size(self) -> int:
        try:
            return max(1, min(MAX_LAPTOPS, int(self.size_file.read_text(encoding="utf-8"))))
        except (OSError, ValueError):
            return DEFAULT_LAPTOPS

    @property
    def key_file(self) -> Path:
        """Private SSH key Ansible uses for the lab."""
        return self.dir / "id_ed25519"

    @property
    def known_hosts(self) -> Path:
        """Recorded host keys of the lab containers."""
        return self.dir / "known_hosts"

    @property
    def inventory_dir(self) -> Path:
        """Inventory directory of the lab comune."""
        return self.settings.comune_dir(COMUNE)

    def container(self, host: LabHost) -> str:
        """Container name of a lab host."""
        return PREFIX + host.name

    def port(self, host: LabHost) -> int:
        """Published SSH port of a lab host."""
        return self.port_base + host.port_offset

    def ensure_image(self) -> bool:
        """Build the base image if missing; True if it was built."""
        if self.podman.image_exists(IMAGE):
            return False
        self.podman.build_image(IMAGE, self.dir / "build")
        return True

    def up(self) -> list[LabStatus]:
        """Build what is missing, start every lab container, write inventory/lab/."""
        self.ensure_image()
        self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._ensure_key()
        for net in (OFFICE, INTERNET):
            self.podman.ensure_network(net)
        if self.resized:
            _write(self.size_file, f"{self.laptops}\n")
        wanted = {self.container(h) for h in (*self.hosts, *UNMANAGED)}
        for name in self.podman.labelled(PREFIX):
            if name.startswith(PREFIX + "laptop-") and name not in wanted:
                self.podman.remove(name)
        # The laptops find the meeting platform by name, as a comune's DNS would tell them.
        meeting_entry = {MEETING_NAME: MEETING.networks[OFFICE.name]}
        for host in (*self.hosts, *UNMANAGED):
            name = self.container(host)
            state = self.podman.state(name)
            if state is None:
                spec = ContainerSpec(
                    name,
                    host.name,
                    self.port(host),
                    host.networks,
                    host.tun,
                    extra_hosts=meeting_entry if host.group == "endpoints" else {},
                )
                self.podman.run(spec, IMAGE)
            elif state.state != "running":
                self.podman.start(name)
        self._start_intranet()
        ca, platform = self._meeting_pki()
        self._start_meeting(platform)
        pubkey = (self.key_file.with_suffix(".pub")).read_text(encoding="utf-8").strip()
        known: list[str] = []
        for host in self.hosts:
            name = self.container(host)
            self.podman.exec(
                name,
                ["sh", "-c", "umask 077; mkdir -p /root/.ssh; cat > /root/.ssh/authorized_keys"],
                stdin=pubkey + "\n",
            )
            self.podman.wait_for_unit(name, "ssh.service")
            keys = self.podman.exec(name, ["sh", "-c", "cat /etc/ssh/ssh_host_*_key.pub"])
            for line in keys.splitlines():
                kind, blob = line.split()[:2]
                known.append(f"[127.0.0.1]:{self.port(host)} {kind} {blob}")
        self.known_hosts.write_text("\n".join(known) + "\n", encoding="utf-8")
        self._write_inventory(pubkey, ca)
        return self.status()

    def status(self) -> list[LabStatus]:
        """State of every lab container."""
        return [
            LabStatus(h, self.container(h), self.port(h), self.podman.state(self.container(h)))
            for h in self.hosts
        ]

    def down(self) -> list[str]:
        """Remove the lab containers and networks (the image stays)."""
        GearServer(self.dir).stop()
        names = self.podman.labelled(PREFIX)
        for name in names:
            self.podman.remove(name)
        for net in (OFFICE, INTERNET):
            self.podman.remove_network(net.name)
        return names

    def stop_host(self, host_name: str) -> None:
        """Stop one lab container (used to simulate a host lost mid-run)."""
        self.podman.stop(PREFIX + host_name)

    def _start_intranet(self) -> None:
        """A plain web server on the office network, as a comune's intranet portal would be."""
        name = self.container(INTRANET)
        address = INTRANET.networks[OFFICE.name]
        self.podman.wait_for_unit(name, "multi-user.target")
        script = (
            f"systemctl is-active -q {_INTRANET_UNIT} && exit 0; "
            "mkdir -p /srv/intranet && echo 'Intranet del Comune di Laboratorio' "
            "> /srv/intranet/index.html && "
            f"systemd-run --unit={_INTRANET_UNIT} -p Restart=always "
            f"python3 -m http.server 80 --bind {address} --directory /srv/intranet"
        )
        self.podman.exec(name, ["sh", "-c", script])

    @property
    def meeting_dir(self) -> Path:
        """The lab CA and the meeting platform's certificate (keys 0600)."""
        return self.dir / "meeting"

    def _meeting_pki(self) -> tuple[pki.Issued, pki.Issued]:
        """The lab CA and the platform's certificate: made once, kept across `lab up`."""
        files = {
            name: self.meeting_dir / name
            for name in ("ca.pem", "ca.key", "platform.pem", "platform.key")
        }
        if not all(path.exists() for path in files.values()):
            self.meeting_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            ca = pki.make_ca("Provisioner lab CA")
            platform = pki.issue_server(ca, MEETING_NAME, MEETING.networks[OFFICE.name])
            _write(files["ca.key"], ca.key_pem)
            _write(files["platform.key"], platform.key_pem)
            _write(files["platform.pem"], platform.cert_pem)
            _write(files["ca.pem"], ca.cert_pem)
        read = {name: path.read_text(encoding="utf-8") for name, path in files.items()}
        return (
            pki.Issued(read["ca.pem"], read["ca.key"]),
            pki.Issued(read["platform.pem"], read["platform.key"]),
        )

    def _start_meeting(self, platform: pki.Issued) -> None:
        """The comune's meeting platform: one HTTPS page on the office network."""
        name = self.container(MEETING)
        self.podman.wait_for_unit(name, "multi-user.target")
        source = self.settings.content_dir / "lab" / "meeting"
        files = {
            f"{_MEETING_DIR}/platform.pem": platform.cert_pem,
            f"{_MEETING_DIR}/platform.key": platform.key_pem,
            f"{_MEETING_DIR}/platform.py": (source / "platform.py").read_text(encoding="utf-8"),
            f"{_MEETING_DIR}/site/index.html": (source / "index.html").read_text(encoding="utf-8"),
        }
        for path, text in files.items():
            self.podman.exec(
                name,
                ["sh", "-c", f"umask 077; mkdir -p {_MEETING_DIR}/site; cat > {path}"],
                stdin=text,
            )
        address = MEETING.networks[OFFICE.name]
        # Restarted on every `lab up`: the certificate may come from another state dir's CA.
        script = (
            f"systemctl stop {_MEETING_UNIT} 2>/dev/null; "
            f"systemctl reset-failed {_MEETING_UNIT} 2>/dev/null; "
            f"chmod -R go+rX {_MEETING_DIR}/site; "
            f"systemd-run --unit={_MEETING_UNIT} -p Restart=always python3 "
            f"{_MEETING_DIR}/platform.py {address} {_MEETING_DIR}/platform.pem "
            f"{_MEETING_DIR}/platform.key {_MEETING_DIR}/site"
        )
        self.podman.exec(name, ["sh", "-c", script])

    def _ensure_key(self) -> None:
        if self.key_file.exists():
            return
        proc = subprocess.run(
            [
                "ssh-keygen",
                "-q",
                "-t",
                "ed25519",
                "-N",
                "",
                "-C",
                "provisioner-lab",
                "-f",
                str(self.key_file),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            raise ControllerError(f"ssh-keygen failed: {proc.stderr.strip()}")

    def _write_inventory(self, pubkey: str, ca: pki.Issued) -> None:
        groups: dict[str, dict[str, object]] = {}
        for host in self.hosts:
            hosts = groups.setdefault(host.group, {"hosts": {}})["hosts"]
            assert isinstance(hosts, dict)
            hosts[host.name] = {"ansible_host": "127.0.0.1", "ansible_port": self.port(host)}
        hosts_doc = {"all": {"children": groups}}
        self.inventory_dir.mkdir(parents=True, exist_ok=True)
        all_dir = self.inventory_dir / "group_vars" / "all"
        all_dir.mkdir(parents=True, exist_ok=True)
        connection = {
            "ansible_user": "root",
            "ansible_ssh_private_key_file": str(self.key_file),
            "ansible_ssh_common_args": (
                f"-o UserKnownHostsFile={self.known_hosts} -o StrictHostKeyChecking=yes"
            ),
            "baseline_admin_ssh_keys": [pubkey],
            "baseline_admin_password": "{{ vault_baseline_admin_password }}",
        }
        _write(
            all_dir / "lab_connection.yml", GENERATED + yaml.safe_dump(connection, sort_keys=False)
        )
        self._write_vault(all_dir / "vault.yml")
        meeting = {
            # The lab's own CA signed the meeting platform's certificate: the laptops trust it.
            "comune_meeting_ca_certificate": ca.cert_pem,
        }
        _write(all_dir / "lab_meeting.yml", GENERATED + yaml.safe_dump(meeting, sort_keys=False))
        # One simulated router/firewall per vendor (netmiko over SSH on 127.0.0.1, no container).
        groups["netgear"] = {
            "hosts": start_lab_gear(
                self.dir, self.inventory_dir, self.port_base, vault_password(self.settings) or ""
            )
        }
        _write(
            self.inventory_dir / "hosts.yml", GENERATED + yaml.safe_dump(hosts_doc, sort_keys=False)
        )

    def _write_vault(self, path: Path) -> None:
        password = vault_password(self.settings)
        if password is None:
            password = secrets.token_urlsafe(24)
            target = self.settings.default_vault_password_file
            target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            _write(target, password + "\n")
        # Keep the existing vault when it still opens, so the admin password stays stable.
        keep = (
            path.exists()
            and not os.environ.get(ENV_ADMIN_PASSWORD)
            and vault.decrypt(path.read_text(encoding="utf-8"), password) is not None
        )
        if keep:
            return
        admin = os.environ.get(ENV_ADMIN_PASSWORD) or secrets.token_urlsafe(18)
        plaintext = yaml.safe_dump({"vault_baseline_admin_password": admin})
        _write(path, vault.encrypt(plaintext, password))


def _write(path: Path, text: str) -> None:
    """Write a file atomically with mode 0600."""
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    tmp.replace(path)
