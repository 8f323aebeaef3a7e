"""The lab comune: a handful of systemd containers on 127.0.0.1 and their inventory."""

from __future__ import annotations

import ipaddress
import json
import os
import resource
import secrets
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from provisioner.adapters import aptcache, hoststate, netns, pki, vault
from provisioner.adapters.files import atomic_write
from provisioner.adapters.inventory_writer import document, write_document
from provisioner.adapters.podman import ContainerSpec, ContainerState, Network, Podman
from provisioner.config import Settings
from provisioner.core.secrets import vault_password
from provisioner.errors import ControllerError, InputError
from provisioner.fakegear.lab import GearServer, start_lab_gear, stop_orphans

IMAGE = "localhost/provisioner-lab:trixie"
IMAGE_BOOKWORM = "localhost/provisioner-lab:bookworm"
"""Debian 12, the release that packages Janus: the lab's meeting platform (role meeting_server)."""
IMAGES: dict[str, str] = {IMAGE: "trixie", IMAGE_BOOKWORM: "bookworm"}
"""The lab's images and their Debian suites, built by one recipe (``adapters.podman``)."""
COMUNE = "lab"
PREFIX = "prov-lab-"
OFFICE = Network("provisioner-lab-office", "10.89.1.0/24")
INTERNET = Network("provisioner-lab-internet", "10.89.2.0/24")
INTERNET_GATEWAY = "10.89.2.1"
"""The controller on the internet network: where the package cache answers."""
ENV_PORT_BASE = "PROVISIONER_LAB_SSH_PORT_BASE"
ENV_ADMIN_PASSWORD = "PROVISIONER_LAB_ADMIN_PASSWORD"
GENERATED = "Written by `provisioner lab up`; regenerated on every run, do not edit."
HOST_COMMANDS = ("podman", "runc", "debootstrap", "ssh-keygen", "tar")
TUN_DEVICE = Path("/dev/net/tun")
# inotify instances per systemd container (systemd, dbus, journald, ...) and for the host itself
INOTIFY_PER_CONTAINER = 7
INOTIFY_HOST_SLACK = 32
VAULT_SECRETS: dict[str, int] = {
    "vault_baseline_admin_password": 18,
    # meeting_server: Janus' admin key and coturn's shared secret (16-128 characters), the lab
    # comune's room PIN (6-64); token_urlsafe's alphabet is within what the role accepts.
    "vault_meeting_server_admin_key": 32,
    "vault_meeting_server_turn_secret": 32,
    "vault_meeting_room_pin": 12,
}
"""The lab vault's secrets and their size (bytes of randomness, ``secrets.token_urlsafe``)."""


@dataclass(frozen=True)
class LabHost:
    """One host of the lab comune."""

    name: str
    group: str
    port_offset: int
    networks: dict[str, str]
    tun: bool = False
    forwards: bool = False
    """Routes between its networks: podman sets ``net.ipv4.ip_forward=1`` at creation."""
    image: str = IMAGE

    @property
    def sysctls(self) -> dict[str, str]:
        """Sysctls its container needs from podman (it cannot set them itself)."""
        return dict(FORWARDING) if self.forwards else {}


FORWARDING = {"net.ipv4.ip_forward": "1"}
RD_GATEWAY_ADDRESS = "10.89.1.11"
"""lab-rd-gw's office address: comune_rd_gateway_address in inventory/lab (the .rdp files')."""
OWNER_LABEL = "provisioner.lab.owner"
"""Label on the lab's containers and networks: the state dir whose lab they are."""
MEETING = LabHost(
    "lab-meet", "meeting_servers", 40, {OFFICE.name: "10.89.1.40"}, image=IMAGE_BOOKWORM
)
"""The provider's meeting platform (role meeting_server: Janus, nginx, coturn) on Debian 12, with
the lab comune's room; its HTTPS certificate comes from the lab's own CA."""
MEETING_NAME = "meet.lab.provisioner.test"

FIXED_HOSTS: tuple[LabHost, ...] = (
    LabHost(
        "lab-vpn-gw",
        "vpn_gateways",
        1,
        {OFFICE.name: "10.89.1.10", INTERNET.name: "10.89.2.10"},
        tun=True,
        forwards=True,
    ),
    # tun=True also grants NET_ADMIN, which their nftables filters need.
    LabHost("lab-rd-gw", "rd_gateways", 2, {OFFICE.name: RD_GATEWAY_ADDRESS}, tun=True),
    LabHost("lab-desk-01", "office_desktops", 3, {OFFICE.name: "10.89.1.21"}, tun=True),
    MEETING,
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
"""The default lab: gateway, RD gateway, one desktop, the meeting platform, two laptops."""


INTRANET = LabHost("lab-intranet", "", 30, {OFFICE.name: "10.89.1.30"})
"""An existing office service of the comune (not managed): the VPN readiness target."""
_INTRANET_UNIT = "lab-intranet"
UNMANAGED = (INTRANET,)


def inotify_instances_needed(managed: int) -> int:
    """inotify instances a lab of ``managed`` hosts (plus the unmanaged ones) needs on the host."""
    return INOTIFY_PER_CONTAINER * (managed + len(UNMANAGED)) + INOTIFY_HOST_SLACK


HOME_LABEL = "provisioner.lab.home"
"""Label on a laptop that was sent home and on its home router."""
HOME_IMAGE = "localhost/provisioner-lab-home"
MAX_HOME = 79
"""Home routers take 10.89.2.21-99 on the internet side (laptops start at .101)."""
# The home router's filter: from the home LAN only the comune's public VPN endpoint and the
# package cache (standing for the Debian mirror on the internet) are reachable; replies come
# back through connection tracking; everything leaves masqueraded as the router's address.
_HOME_NFT = """\
table ip provisioner_home {{
  chain forward {{
    type filter hook forward priority filter; policy drop;
    ct state established,related accept
    iifname "home0" ip daddr {vpn} udp dport {port} accept
    iifname "home0" ip daddr {cache} tcp dport 3142 accept
  }}
  chain postrouting {{
    type nat hook postrouting priority srcnat;
    oifname "eth0" masquerade
  }}
}}
"""


def home_router(number: int) -> LabHost:
    """The NAT router of ``laptop-NN``'s home: on the internet side at 10.89.2.(20 + NN)."""
    return LabHost(
        f"home-{number:02d}", "", 0, {INTERNET.name: f"10.89.2.{20 + number}"}, forwards=True
    )


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
        self.dir = settings.state.lab
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

    def missing_images(self) -> list[str]:
        """The lab's images that are missing or were built by another recipe."""
        return [image for image in IMAGES if not self.podman.image_exists(image)]

    def ensure_images(self) -> dict[str, bool]:
        """Build each lab image (Debian 13, Debian 12) that is missing or of another recipe.

        Returns:
            Image -> whether it was built now.
        """
        missing = self.missing_images()
        for image in missing:
            self.podman.build_image(image, self.dir / "build", suite=IMAGES[image])
        return {image: image in missing for image in IMAGES}

    @property
    def owner(self) -> str:
        """This lab's identity: the state dir it belongs to (label on containers and networks)."""
        return str(self.settings.state_dir.resolve())

    def _owners(self) -> dict[str, list[str]]:
        """Owner (state dir, "" if unlabelled) -> the lab containers and networks it holds."""
        owners: dict[str, list[str]] = {}
        for name in self.podman.labelled(PREFIX):
            state = self.podman.state(name)
            if state is not None:
                owners.setdefault(state.labels.get(OWNER_LABEL, ""), []).append(name)
        for net in (OFFICE, INTERNET):
            labels = self.podman.network_labels(net.name)
            if labels is not None:
                owners.setdefault(labels.get(OWNER_LABEL, ""), []).append(f"network {net.name}")
        return owners

    @staticmethod
    def _alive(owner: str) -> bool:
        """A lab of another state dir is in use while that state dir still has its lab key."""
        return bool(owner) and (Path(owner) / "lab" / "id_ed25519").is_file()

    def _claim(self) -> list[str]:
        """Refuse a lab that belongs to another live state dir; remove one whose owner is gone.

        Returns the names removed (a lab left behind by a deleted state dir or an older version).

        Raises:
            InputError: another state dir's lab is up (exit 2, naming it); nothing is touched.
        """
        owners = self._owners()
        for owner, names in owners.items():
            if owner != self.owner and self._alive(owner):
                raise InputError(
                    f"the lab's containers and networks ({', '.join(names[:3])}"
                    f"{', ...' if len(names) > 3 else ''}) belong to the lab of state dir "
                    f"{owner}: use that state dir, or take it down first with "
                    f"`provisioner --state-dir {owner} lab down`"
                )
        # Simulated devices left running by a lab whose state dir is gone hold its ports.
        stop_orphans(lambda lab_dir: self._alive(str(Path(lab_dir).parent)))
        removed: list[str] = []
        for owner, names in owners.items():
            if owner == self.owner:
                continue
            for name in names:
                if not name.startswith("network "):
                    self.podman.remove(name)
                    removed.append(name)
            for net in (OFFICE, INTERNET):
                if f"network {net.name}" in names:
                    self.podman.remove_network(net.name)
                    removed.append(f"network {net.name}")
        return removed

    def preflight(self) -> list[str]:
        """Host settings the lab depends on, each checked; one line per problem (what to do).

        The list is in docs/ARCHITECTURE.md ("Host settings the lab depends on").
        """
        problems = [
            f"{cmd}: not installed (run `make setup`, or apt-get install {cmd})"
            for cmd in hoststate.missing_commands(HOST_COMMANDS)
        ]
        if not hoststate.is_char_device(TUN_DEVICE):
            problems.append(
                f"{TUN_DEVICE}: missing; the lab's WireGuard (wireguard-go) needs the TUN device "
                "(modprobe tun)"
            )
        for kind, name, wanted in (
            (resource.RLIMIT_NOFILE, "open files (nofile)", 1024),
            (resource.RLIMIT_NPROC, "processes (nproc)", 4096),
        ):
            hard = hoststate.hard_limit(kind)
            if 0 <= hard < wanted:
                problems.append(
                    f"hard limit of {name} is {hard}; lab/containers.conf gives each container "
                    f"{wanted}: raise it (ulimit -H, /etc/security/limits.conf) to at least that"
                )
        instances = hoststate.sysctl("fs.inotify.max_user_instances")
        needed = inotify_instances_needed(len(self.hosts))
        if instances is not None and int(instances) < needed:
            problems.append(
                f"fs.inotify.max_user_instances is {instances}; {len(self.hosts)} lab containers "
                f"with systemd need about {needed}: sysctl -w fs.inotify.max_user_instances="
                f"{needed}"
            )
        ours = {self.podman.network_interface(net.name) for net in (OFFICE, INTERNET)}
        for net in (OFFICE, INTERNET):
            wanted_net = ipaddress.IPv4Network(net.subnet)
            for routed, dev in hoststate.routed_networks():
                if dev not in ours and routed.overlaps(wanted_net):
                    problems.append(
                        f"the host routes {routed} through {dev}, which overlaps the lab's "
                        f"{net.name} ({net.subnet}): the lab's addresses would be unreachable"
                    )
        # Ports this lab's own containers publish (the unmanaged intranet and meeting platform
        # too: a second `lab up` must not call them busy).
        states = [self.podman.state(self.container(h)) for h in (*self.hosts, *UNMANAGED)]
        held = {
            int(p.rsplit(":", 1)[1])
            for state in states
            if state is not None and state.ports
            for p in state.ports.split(",")
        }
        wanted_ports = [self.port(h) for h in (*self.hosts, *UNMANAGED)]
        busy = [p for p in hoststate.ports_in_use(wanted_ports) if p not in held]
        if busy:
            problems.append(
                f"127.0.0.1 port(s) {', '.join(map(str, busy))} are held by another process; the "
                f"lab publishes its SSH ports there (or set {ENV_PORT_BASE})"
            )
        return problems

    def up(self, on_step: Callable[[str], None] | None = None) -> list[LabStatus]:
        """Build what is missing, start every lab container, write inventory/lab/.

        ``on_step`` hears what is being done (for a status line).

        Raises:
            InputError: the lab is up for another state dir (nothing is touched).
            ControllerError: a host setting the lab needs is missing (all of them named).
        """
        step = on_step or (lambda _text: None)
        step("checking the host")
        self._claim()
        problems = self.preflight()
        if problems:
            raise ControllerError("lab preflight: " + "; ".join(problems))
        aptcache.ensure()
        missing = self.missing_images()
        if missing:
            step(f"building {', '.join(missing)} (debootstrap, 1-2 minutes each)")
            self.ensure_images()
        step("starting containers")
        self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._ensure_key()
        for net in (OFFICE, INTERNET):
            self.podman.ensure_network(net, {OWNER_LABEL: self.owner})
        if self.resized:
            atomic_write(self.size_file, f"{self.laptops}\n", mode=0o600)
        wanted = {self.container(h) for h in (*self.hosts, *UNMANAGED)}
        for name in self.podman.labelled(PREFIX):
            if name.startswith(PREFIX + "laptop-") and name not in wanted:
                self.podman.remove(name)
        for host in (*self.hosts, *UNMANAGED):
            name = self.container(host)
            state = self.podman.state(name)
            if state is not None and _outdated(host, state):
                self.podman.remove(name)
                state = None
            if state is None:
                self.podman.run(self._spec(host), host.image)
            elif state.state != "running":
                number = int(host.name.rsplit("-", 1)[1]) if state.labels.get(HOME_LABEL) else 0
                if number:
                    self._ensure_home(number)  # after a reboot: router, namespace, link
                self.podman.start(name)
        self._check_forwarding()
        self._start_intranet()
        ca, platform = self._meeting_pki()
        gateway_cert = self._rd_gateway_pki(ca)
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
                # Known by address (the office path, and a task delegated to this host, which
                # keeps the delegating host's inventory_hostname) and by name: the tunnel path
                # from home checks the key under the name (HostKeyAlias, set by
                # plugins/inventory/provisioner_tunnel.py).
                known.append(f"{host.name},[127.0.0.1]:{self.port(host)} {kind} {blob}")
        atomic_write(self.known_hosts, "\n".join(known) + "\n", mode=0o600)
        step("writing the inventory")
        self._write_inventory(pubkey, ca, platform, gateway_cert)
        return self.status()

    @property
    def home_file(self) -> Path:
        """The lab's laptops that are at home (their numbers)."""
        return self.dir / "home.json"

    def at_home(self) -> list[int]:
        """Numbers of the laptops sent home."""
        try:
            return sorted(int(n) for n in json.loads(self.home_file.read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError):
            return []

    def _laptop(self, name: str) -> tuple[LabHost, int]:
        host = next((h for h in self.hosts if h.name == name and h.group == "endpoints"), None)
        if host is None:
            laptops = [h.name for h in self.hosts if h.group == "endpoints"]
            raise InputError(f"{name!r} is no laptop of the lab ({', '.join(laptops)})")
        number = int(name.rsplit("-", 1)[1])
        if number > MAX_HOME:
            raise InputError(f"{name}: only laptop-01..{MAX_HOME:02d} can be sent home")
        return host, number

    def send_home(self, name: str, on_step: Callable[[str], None] | None = None) -> str:
        """Move a laptop home: behind a NAT router, reachable only through its tunnel.

        The laptop keeps its disk (the container is committed and started again, as a laptop
        is switched off at the office and on at home) but loses its published SSH port and its
        place on the lab's networks: its only link goes to its home router, which lets it reach
        the comune's public VPN endpoint and nothing else of the lab. Returns what was done.

        Raises:
            InputError: not a lab laptop, or its container is not running.
        """
        step = on_step or (lambda _text: None)
        host, number = self._laptop(name)
        container = self.container(host)
        state = self.podman.state(container)
        if state is None or state.state != "running":
            raise InputError(f"{name}: its container {container} is not running (lab up first)")
        if state.labels.get(HOME_LABEL):
            return f"{name} is at home already"
        step("starting the home router")
        self._ensure_home(number)
        step(f"moving {name} home")
        image = f"{HOME_IMAGE}:{name}"
        self.podman.commit(container, image)
        self.podman.remove(container)
        self.podman.run(self._home_spec(host, number), image)
        self.podman.wait_for_unit(container, "multi-user.target", timeout=120)
        atomic_write(self.home_file, json.dumps([*self.at_home(), number]), mode=0o600)
        return f"{name} is at home: behind NAT, reachable only through its tunnel"

    def back_to_office(self, name: str) -> str:
        """Bring a laptop back to the office network (its SSH port published again)."""
        host, number = self._laptop(name)
        container = self.container(host)
        state = self.podman.state(container)
        if state is None or not state.labels.get(HOME_LABEL):
            return f"{name} is at the office already"
        image = f"{HOME_IMAGE}:{name}"
        self.podman.commit(container, image)
        self.podman.remove(container)
        self.podman.run(self._spec(host), image)
        self.podman.remove(self.container(home_router(number)))
        netns.delete(self._home_netns(number))
        self.podman.wait_for_unit(container, "multi-user.target", timeout=120)
        home = [n for n in self.at_home() if n != number]
        atomic_write(self.home_file, json.dumps(home), mode=0o600)
        return f"{name} is back at the office"

    def _home_netns(self, number: int) -> str:
        return f"prov-lab-home-{number:02d}"

    def _home_spec(self, host: LabHost, number: int) -> ContainerSpec:
        return ContainerSpec(
            self.container(host),
            host.name,
            None,
            {},
            host.tun,
            labels={OWNER_LABEL: self.owner, HOME_LABEL: "1"},
            extra_hosts={MEETING_NAME: MEETING.networks[OFFICE.name]},
            netns=netns.path(self._home_netns(number)),
        )

    def _ensure_home(self, number: int) -> None:
        """The home router of laptop ``number`` runs with its NAT; the home namespace is wired."""
        router = home_router(number)
        name = self.container(router)
        state = self.podman.state(name)
        if state is None:
            self.podman.run(
                ContainerSpec(
                    name,
                    router.name,
                    None,
                    router.networks,
                    labels={OWNER_LABEL: self.owner, HOME_LABEL: "1"},
                    sysctls=router.sysctls,
                    cap_net_admin=True,
                ),
                IMAGE,
            )
        elif state.state != "running":
            self.podman.start(name)
        self.podman.wait_for_unit(name, "multi-user.target", timeout=120)
        rules = _HOME_NFT.format(
            vpn=FIXED_HOSTS[0].networks[INTERNET.name], port=51820, cache=INTERNET_GATEWAY
        )
        self.podman.exec(
            name,
            [
                "sh",
                "-c",
                "command -v nft >/dev/null || { apt-get update -qq && "
                "DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nftables >/dev/null; }; "
                "nft delete table ip provisioner_home 2>/dev/null; nft -f -",
            ],
            stdin=rules,
        )
        space = self._home_netns(number)
        netns.create(space)
        if not netns.link_up(space, "eth0"):
            netns.veth(
                netns=space,
                inner="eth0",
                inner_address=f"192.168.{number}.10/24",
                gateway=f"192.168.{number}.1",
                router_pid=self.podman.pid(name),
                outer="home0",
                outer_address=f"192.168.{number}.1/24",
            )

    def status(self) -> list[LabStatus]:
        """State of every lab container."""
        return [
            LabStatus(h, self.container(h), self.port(h), self.podman.state(self.container(h)))
            for h in self.hosts
        ]

    def down(self) -> list[str]:
        """Remove this state dir's lab: devices, containers and networks (the image stays).

        A lab of another state dir that is still in use is left alone (its names are not
        returned); one whose state dir is gone is removed too.
        """
        GearServer(self.dir).stop()
        owners = self._owners()
        mine = [
            name
            for owner, names in owners.items()
            if owner == self.owner or not self._alive(owner)
            for name in names
        ]
        for name in mine:
            if not name.startswith("network "):
                self.podman.remove(name)
        for net in (OFFICE, INTERNET):
            if f"network {net.name}" in mine:
                self.podman.remove_network(net.name)
        for number in self.at_home():
            netns.delete(self._home_netns(number))
            self.podman.remove_image(f"{HOME_IMAGE}:laptop-{number:02d}")
        self.home_file.unlink(missing_ok=True)
        return [name for name in mine if not name.startswith("network ")]

    def _spec(self, host: LabHost) -> ContainerSpec:
        """The container of a lab host at the office (its SSH port published)."""
        return ContainerSpec(
            self.container(host),
            host.name,
            self.port(host),
            host.networks,
            host.tun,
            labels={OWNER_LABEL: self.owner},
            # The laptops find the meeting platform by name, as a comune's DNS would tell them.
            extra_hosts=(
                {MEETING_NAME: MEETING.networks[OFFICE.name]} if host.group == "endpoints" else {}
            ),
            sysctls=host.sysctls,
        )

    def _check_forwarding(self) -> None:
        """Every container that routes forwards: podman gave it the sysctl at creation."""
        for host in self.hosts:
            if not host.forwards:
                continue
            name = self.container(host)
            value = self.podman.exec(name, ["cat", "/proc/sys/net/ipv4/ip_forward"]).strip()
            if value != "1":
                raise ControllerError(
                    f"{name}: net.ipv4.ip_forward is {value} inside the container although it was "
                    "created with --sysctl net.ipv4.ip_forward=1; remove it (`provisioner lab "
                    "down`) and run `provisioner lab up` again"
                )

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
            atomic_write(files["ca.key"], ca.key_pem, mode=0o600)
            atomic_write(files["platform.key"], platform.key_pem, mode=0o600)
            atomic_write(files["platform.pem"], platform.cert_pem, mode=0o600)
            atomic_write(files["ca.pem"], ca.cert_pem, mode=0o600)
        read = {name: path.read_text(encoding="utf-8") for name, path in files.items()}
        return (
            pki.Issued(read["ca.pem"], read["ca.key"]),
            pki.Issued(read["platform.pem"], read["platform.key"]),
        )

    def _rd_gateway_pki(self, ca: pki.Issued) -> pki.Issued:
        """The RD gateway's certificate from the lab CA (RSA: FreeRDP's proxy), made once.

        Its name is the gateway's office address, which the laptops connect to; the laptops
        trust the lab CA (comune_rd_gateway_ca_certificate), so the RDP readiness verifies it.
        """
        cert, key = self.meeting_dir / "rd-gateway.pem", self.meeting_dir / "rd-gateway.key"
        if not (
            cert.exists() and key.exists() and pki.issued_by(cert.read_text(encoding="utf-8"), ca)
        ):
            issued = pki.issue_server(ca, RD_GATEWAY_ADDRESS, RD_GATEWAY_ADDRESS, rsa_bits=3072)
            atomic_write(key, issued.key_pem, mode=0o600)
            atomic_write(cert, issued.cert_pem, mode=0o600)
        return pki.Issued(cert.read_text(encoding="utf-8"), key.read_text(encoding="utf-8"))

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

    def _write_inventory(
        self, pubkey: str, ca: pki.Issued, platform: pki.Issued, gateway_cert: pki.Issued
    ) -> None:
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
        }
        _write_generated(all_dir / "lab_connection.yml", connection)
        self._write_vault(all_dir / "vault.yml")
        meeting = {
            # The lab's own CA signed the meeting platform's certificate: the laptops trust it.
            "comune_meeting_ca_certificate": ca.cert_pem,
        }
        _write_generated(all_dir / "lab_meeting.yml", meeting)
        self._write_meeting_server(
            self.inventory_dir / "group_vars" / "meeting_servers.yml", platform
        )
        self._write_rd_gateway(all_dir / "lab_rdp.yml", ca, gateway_cert)
        # One simulated router/firewall per vendor (netmiko over SSH on 127.0.0.1, no container).
        groups["network_devices"] = {
            "hosts": start_lab_gear(
                self.dir, self.inventory_dir, self.port_base, vault_password(self.settings) or ""
            )
        }
        _write_generated(self.inventory_dir / "hosts.yml", hosts_doc)

    def _write_certificate(self, stem: str, issued: pki.Issued) -> tuple[str, str]:
        """``files/<stem>.crt`` and ``files/<stem>.key`` (vault-encrypted) in the inventory.

        Returns:
            Their paths relative to the inventory directory.
        """
        files = self.inventory_dir / "files"
        atomic_write(files / f"{stem}.crt", issued.cert_pem, mode=0o600)
        password = vault_password(self.settings)
        assert password is not None  # _write_vault made one
        # Ansible's copy (and file lookup) decrypts it on the way; it is never plain text here.
        atomic_write(files / f"{stem}.key", vault.encrypt(issued.key_pem, password), mode=0o600)
        return f"files/{stem}.crt", f"files/{stem}.key"

    def _write_meeting_server(self, path: Path, platform: pki.Issued) -> None:
        """Role meeting_server's inputs on lab-meet: the platform's name and certificate (key
        vault-encrypted), the vault's admin key and TURN secret, the lab comune's room."""
        cert, key = self._write_certificate("meeting-server", platform)
        values = {
            "meeting_server_name": MEETING_NAME,
            # inventory_dir: the run's copy of the inventory under the job queue too.
            "meeting_server_certificate_src": "{{ inventory_dir }}/" + cert,
            "meeting_server_private_key_src": "{{ inventory_dir }}/" + key,
            "meeting_server_admin_key": "{{ vault_meeting_server_admin_key }}",
            "meeting_server_turn_secret": "{{ vault_meeting_server_turn_secret }}",
            "meeting_server_rooms": [
                {
                    "id": "{{ comune_meeting_room }}",
                    "name": "{{ comune_name }}",
                    "pin": "{{ vault_meeting_room_pin }}",
                }
            ],
        }
        _write_generated(path, values)

    def _write_rd_gateway(self, path: Path, ca: pki.Issued, gateway_cert: pki.Issued) -> None:
        """The comune's RD gateway certificate (key vault-encrypted) and the CA that signed it."""
        cert, key = self._write_certificate("rd-gateway", gateway_cert)
        values = {
            "comune_rd_gateway_certificate": cert,
            "comune_rd_gateway_private_key": key,
            # The laptops trust it: the RDP readiness (and a clerk's client) verify the gateway.
            "comune_rd_gateway_ca_certificate": ca.cert_pem,
        }
        _write_generated(path, values)

    def _write_vault(self, path: Path) -> None:
        """The lab comune's secrets (``VAULT_SECRETS``), each made once and kept while the vault
        opens, so the admin password, the platform's keys and the room's PIN stay stable."""
        password = vault_password(self.settings)
        if password is None:
            password = secrets.token_urlsafe(24)
            target = self.settings.default_vault_password_file
            target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            atomic_write(target, password + "\n", mode=0o600)
        current: dict[str, Any] = {}
        plaintext = (
            vault.decrypt(path.read_text(encoding="utf-8"), password) if path.exists() else None
        )
        loaded = yaml.safe_load(plaintext) if plaintext else None
        if isinstance(loaded, dict):
            current = loaded
        values = dict(current)
        admin = os.environ.get(ENV_ADMIN_PASSWORD)
        if admin:
            values["vault_baseline_admin_password"] = admin
        for key, size in VAULT_SECRETS.items():
            if not values.get(key):
                values[key] = secrets.token_urlsafe(size)
        if values != current:
            atomic_write(path, vault.encrypt(yaml.safe_dump(values), password), mode=0o600)


def _outdated(host: LabHost, state: ContainerState) -> bool:
    """A container that cannot become what the lab wants without being created again."""
    # Created without the sysctls it needs (an older lab): it cannot be fixed inside.
    if any(state.sysctls.get(k) != v for k, v in host.sysctls.items()):
        return True
    # Of another image (lab-meet was a Debian 13 container before it ran Janus); a laptop at
    # home runs its own committed image.
    return bool(state.image) and state.image != host.image and not state.labels.get(HOME_LABEL)


@dataclass(frozen=True)
class LabStarted:
    """A lab that `lab up` started: its hosts and where its inventory was written."""

    hosts: list[LabStatus]
    inventory_dir: Path


def up(
    settings: Settings, laptops: int | None = None, on_step: Callable[[str], None] | None = None
) -> LabStarted:
    """Bring the lab comune up (image, containers, devices, inventory); see :meth:`Lab.up`."""
    lab = Lab(settings, laptops)
    return LabStarted(lab.up(on_step), lab.inventory_dir)


def _write_generated(path: Path, values: dict[str, Any]) -> None:
    """A lab inventory file, through the inventory writer (mode 0600: it names keys)."""
    write_document(path, document(values, header=[GENERATED]), mode=0o600)


def send_home(settings: Settings, laptop: str, on_step: Callable[[str], None] | None = None) -> str:
    """Move a lab laptop home, behind NAT (see :meth:`Lab.send_home`)."""
    return Lab(settings).send_home(laptop, on_step)


def back_to_office(settings: Settings, laptop: str) -> str:
    """Bring a lab laptop back to the office network (see :meth:`Lab.back_to_office`)."""
    return Lab(settings).back_to_office(laptop)
