"""What every simulated device shares: sessions, the CLI entry point, injected faults, packets."""

from __future__ import annotations

import hashlib
import io
import ipaddress
import secrets
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

import paramiko  # type: ignore[import-untyped]
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

CONFIGS = Path(__file__).parent / "configs"
"""Starting configurations of the simulated devices (realistic, small)."""


@dataclass
class Session:
    """One SSH session's position in the CLI (modes are per session, config is per device)."""

    mode: str = "exec"
    path: list[str] = field(default_factory=list)
    closed: bool = False
    """The client logged out (``quit``/``exit``): the session ended cleanly."""
    cut: bool = False
    """The device decided to lose this connection (an injected fault)."""
    drop: Callable[[], None] | None = None
    """Set by the SSH server: closes the TCP connection at once, as a network failure would."""
    vendor: dict[str, Any] = field(default_factory=dict)
    """Per-session vendor state (RouterOS safe mode, FortiOS transaction, ...)."""


@dataclass(frozen=True)
class Packet:
    """The first packet of a connection, as it reaches the device.

    ``in_interface`` is the layer-3 interface it arrives on (a RouterOS bridge, not its port; the
    WireGuard interface for a packet decrypted from a peer). ``state`` is the connection-tracking
    state the device would give it (``new`` for a first packet).
    """

    src: str
    dst: str
    proto: Literal["tcp", "udp", "icmp"]
    dport: int | None
    in_interface: str
    state: Literal["new", "established", "related", "invalid", "untracked"] = "new"


Verdict = Literal["accept", "drop", "closed"]


@dataclass(frozen=True)
class Decision:
    """What the device does with a packet.

    ``accept``: forwarded out of ``out_interface`` to ``dst``:``dport`` (after any destination NAT),
    or delivered to a service the device itself runs. ``drop``: a rule or policy (named in
    ``rule``) discards it. ``closed``: it is addressed to the device itself, nothing filters it,
    but no service listens there (the device answers with a reset/unreachable).
    """

    verdict: Verdict
    rule: str
    dst: str
    dport: int | None
    out_interface: str | None = None
    local: bool = False

    @property
    def accepted(self) -> bool:
        """Whether the packet gets where it was going (forwarded or to a listening service)."""
        return self.verdict == "accept"

    def translated_to(self, packet: Packet) -> tuple[str, int | None] | None:
        """The new destination when destination NAT rewrote it, else None."""
        if (self.dst, self.dport) != (packet.dst, packet.dport):
            return (self.dst, self.dport)
        return None


def host_key(seed: bytes, name: str) -> paramiko.PKey:
    """A device's Ed25519 SSH host key, derived from a lab seed and its name (stable, no file).

    The lab keeps one random seed in its vault; every restart of the simulators derives the same
    keys, so the recorded known_hosts entries stay valid.
    """
    raw = hashlib.blake2b(name.encode(), key=seed[:64], digest_size=32).digest()
    private = Ed25519PrivateKey.from_private_bytes(raw)
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    ).decode()
    return paramiko.Ed25519Key(file_obj=io.StringIO(pem))


def known_hosts_line(host: str, port: int, key: paramiko.PKey) -> str:
    """The OpenSSH known_hosts line of a device (``[host]:port`` when the port is not 22)."""
    where = host if port == 22 else f"[{host}]:{port}"
    return f"{where} {key.get_name()} {key.get_base64()}"


class UndecidableError(Exception):
    """A rule uses something the simulator does not model: it refuses to guess a decision."""


class FakeDevice(ABC):
    """A device: its configuration, its CLI, its packet decisions, and faults to inject."""

    device_type: ClassVar[str] = ""
    username_suffix: ClassVar[str] = ""

    def __init__(self, hostname: str, *, host_key_seed: bytes | None = None) -> None:
        self.hostname = hostname
        # Re-entrant: device timers (IOS revert, FortiOS transaction expiry) run under it too.
        self.lock = threading.RLock()
        self.rejected: set[str] = set()
        self.cut_after_lines: set[str] = set()
        self.received: list[str] = []
        self.auth_attempts: list[str] = []
        """User names of password attempts that reached the device (never the password)."""
        self.silent_loss = False
        """When the device cuts a connection, it does not notice the session is gone (a network
        failure without FIN or RST): the session lingers until :meth:`session_ended` is called,
        as a real device waits for its TCP timeout."""
        self.lingering: list[Session] = []
        self.host_key = host_key(host_key_seed or secrets.token_bytes(32), hostname)

    def reject(self, line: str) -> None:
        """Make the device refuse ``line`` (exact text) with its vendor's error."""
        self.rejected.add(line.strip())

    def cut_after(self, line: str) -> None:
        """Lose the connection of the session that sends ``line``, right after applying it."""
        self.cut_after_lines.add(line.strip())

    def handle(self, session: Session, line: str) -> str:
        """Run what the client typed; return what the device prints.

        A newline or carriage return ends a line on every console: text holding one is several
        lines, run one after the other (this is how a newline smuggled into a value injects).
        """
        outputs = []
        with self.lock:
            for physical in line.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
                self.received.append(physical)
                text = physical.strip()
                if not text or session.closed or session.cut:
                    continue
                outputs.append(self.run(session, text))
                if text in self.cut_after_lines:
                    session.cut = True
        return "\n".join(o for o in outputs if o)

    def session_ended(self, session: Session) -> None:  # noqa: B027 - most vendors ignore it
        """The SSH session is gone: cleanly (``session.closed``) or not. Vendors react here."""

    @abstractmethod
    def run(self, session: Session, line: str) -> str:
        """Vendor CLI."""

    @abstractmethod
    def prompt(self, session: Session) -> str:
        """The prompt for the session's mode."""

    @abstractmethod
    def config(self) -> str:
        """The running configuration as the device prints it."""

    @abstractmethod
    def evaluate(self, packet: Packet) -> Decision:
        """What the running configuration does with ``packet``."""


def config_file(name: str) -> str:
    """A starting configuration shipped with the simulators."""
    return (CONFIGS / name).read_text(encoding="utf-8")


def valid_ip(text: str) -> bool:
    """Whether ``text`` is an IP address."""
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def valid_port(text: str) -> bool:
    """Whether ``text`` is a TCP/UDP port number."""
    return text.isdigit() and 1 <= int(text) <= 65535
