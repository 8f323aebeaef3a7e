"""Simulated Cisco IOS 15: modes, static NAT, extended ACLs, confirmed change, packet decisions.

Written from Cisco's documentation, independently of ``provisioner.gear``.

CLI: exec and config modes, interface and named-ACL sub-modes, ``show running-config`` (extended
ACL entries without sequence numbers, static port-forward NAT lines printed with ``extendable``),
``write memory``. ACL entries are numbered 10, 20 ... (``ip access-list resequence``).

Configuration Rollback Confirmed Change (Cisco, "Configuration Replace and Configuration
Rollback"; "Configuration Rollback Confirmed Change"): needs ``archive`` / ``path``;
``configure terminal revert timer <1-120>`` archives the running configuration and enters config
mode; unless ``configure confirm`` comes within the timer, the archived configuration is put
back (the timer does not depend on the session that started it); ``configure revert now`` puts
it back at once; ``show archive config rollback timer`` shows a pending timer. ``minute`` is the
length of a minute in seconds (tests shorten it). Messages the documentation does not give
verbatim (no archive path, a second timer, no pending rollback) are this simulator's wording.

Packet decisions (Cisco, "NAT Order of Operation"): from an ``ip nat outside`` interface to an
``ip nat inside`` one: the input ACL of the arrival interface (``ip access-group … in``) on the
original addresses, then NAT outside-to-inside (``ip nat inside source static [tcp|udp] local
lport interface X|global gport`` and one-to-one static), then routing, then the output ACL of the
exit interface on the translated addresses. An ACL applies only where an interface binds it; a
bound ACL that does not exist permits everything; an existing one is first match with an implicit
``deny ip any any``. ACL entries: ``permit|deny`` ip/tcp/udp/icmp, ``any``/``host``/address and
wildcard, ``eq``/``neq``/``lt``/``gt``/``range`` ports, ``established``. A packet to one of the
router's own addresses that no NAT rewrites is the router's: ssh (22) answers when a vty line
allows it; anything else is closed. Source NAT (``overload``) is not evaluated (it changes no
accept/drop decision).
"""

from __future__ import annotations

import copy
import ipaddress
import re
import threading
import time
from dataclasses import dataclass, field

from provisioner.fakegear.base import (
    Decision,
    FakeDevice,
    Packet,
    Session,
    config_file,
    valid_ip,
    valid_port,
)

_RANK = (
    ("version", 0),
    ("hostname", 1),
    ("username", 2),
    ("archive", 3),
    ("interface", 4),
    ("ip nat", 6),
    ("ip route", 7),
    ("ip access-list", 8),
    ("line", 9),
)
_NAT_PORT = re.compile(
    r"^ip nat inside source static (?P<proto>tcp|udp) (?P<local>\S+) (?P<lport>\S+) "
    r"(?:interface (?P<intf>\S+)|(?P<glob>\d+\.\d+\.\d+\.\d+)) (?P<gport>\S+)(?: extendable)?$"
)
_NAT_HOST = re.compile(
    r"^ip nat inside source static (?P<local>\d+\.\d+\.\d+\.\d+) (?P<glob>\d+\.\d+\.\d+\.\d+)$"
)
_ACE = re.compile(r"^(?:(?P<seq>\d+) )?(?P<entry>(?:permit|deny) (?:ip|tcp|udp|icmp) .+)$")
_IF_LINE = re.compile(
    r"^(?:no )?(?:ip nat (?:inside|outside)|ip address \S+ \S+|description .+|shutdown|"
    r"ip access-group \S+ (?:in|out))$"
)
_INVALID = "% Invalid input detected at '^' marker."
# IOS prints some well-known ports by name in ACL entries.
_PORT_NAMES = {"www": 80, "domain": 53, "smtp": 25, "ftp": 21, "telnet": 23, "pop3": 110}


@dataclass
class _Block:
    header: str
    children: list[str] = field(default_factory=list)
    seqs: list[int] = field(default_factory=list)  # ACL sequence numbers (ACL blocks only)


class IosDevice(FakeDevice):
    """Cisco IOS branch router with an office LAN behind NAT overload."""

    device_type = "cisco_ios"

    def __init__(
        self, hostname: str, config: str | None = None, *, host_key_seed: bytes | None = None
    ) -> None:
        super().__init__(hostname, host_key_seed=host_key_seed)
        self.blocks: list[_Block] = []
        self.minute = 60.0
        self.archive: list[_Block] | None = None
        self.revert_due: float | None = None
        self._timer: threading.Timer | None = None
        self.load(config if config is not None else default_ios_config(hostname))
        self.startup = self.config()

    def load(self, text: str) -> None:
        """Replace the configuration with ``text`` (running-config form)."""
        self.blocks = []
        for raw in text.splitlines():
            line = raw.rstrip()
            if not line or line.startswith("!") or line == "end":
                continue
            if line.startswith(" ") and self.blocks:
                block = self.blocks[-1]
                block.children.append(line.strip())
                if block.header.startswith("ip access-list"):
                    block.seqs.append(len(block.children) * 10)
            elif not line.startswith(("Building configuration", "Current configuration")):
                self.blocks.append(_Block(line))

    def prompt(self, session: Session) -> str:
        suffix = {
            "exec": "#",
            "config": "(config)#",
            "if": "(config-if)#",
            "archive": "(config-archive)#",
        }
        return self.hostname + suffix.get(session.mode, "(config-ext-nacl)#")

    def config(self) -> str:
        body: list[str] = []
        for index, block in enumerate(self.blocks):
            previous = self.blocks[index - 1] if index else None
            if previous is not None and (
                block.children or previous.children or _rank(previous.header) != _rank(block.header)
            ):
                body.append("!")
            body.append(block.header)
            body.extend(f" {child}" for child in block.children)
        text = "!\n" + "\n".join(body) + "\n!\nend\n"
        return f"Building configuration...\n\nCurrent configuration : {len(text)} bytes\n{text}"

    # ----------------------------------------------------------------- confirmed change

    def _archive_path(self) -> str | None:
        block = self._find("archive")
        if block is None:
            return None
        return next((c.split()[1] for c in block.children if c.startswith("path ")), None)

    def _start_revert_timer(self, minutes: int) -> str | None:
        path = self._archive_path()
        if path is None:
            return "% Rollback Confirmed Change: archive path is not configured"
        if self.revert_due is not None:
            return "% Rollback Confirmed Change: a revert timer is already running"
        self.archive = copy.deepcopy(self.blocks)
        self.revert_due = time.monotonic() + minutes * self.minute
        self._timer = threading.Timer(minutes * self.minute, self._expired)
        self._timer.daemon = True
        self._timer.start()
        return f"Rollback Confirmed Change: Backing up current running config to {path}-1"

    def _expired(self) -> None:
        with self.lock:
            if self.revert_due is not None and time.monotonic() >= self.revert_due - 0.01:
                self._revert()

    def _revert(self) -> None:
        if self.archive is not None:
            self.blocks = copy.deepcopy(self.archive)
        self._cancel_timer()

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = None
        self.revert_due = None
        self.archive = None

    # ----------------------------------------------------------------- CLI

    def _find(self, header: str) -> _Block | None:
        return next((b for b in self.blocks if b.header == header), None)

    def _insert(self, block: _Block) -> None:
        rank = _rank(block.header)
        index = len(self.blocks)
        for i, existing in enumerate(self.blocks):
            if _rank(existing.header) > rank:
                index = i
                break
        self.blocks.insert(index, block)

    def _invalid(self, session: Session) -> str:
        return " " * len(self.prompt(session)) + "^\n" + _INVALID

    def run(self, session: Session, line: str) -> str:
        if line in self.rejected:
            return self._invalid(session)
        if session.mode == "exec":
            return self._exec(session, line)
        for mode, handler in (("acl", self._acl), ("if", self._interface), ("archive", self._arch)):
            if session.mode == mode:
                out = handler(session, line)
                if out is not None:
                    return out
        if line == "end":
            session.mode, session.path = "exec", []
            return ""
        if line == "exit":
            session.mode, session.path = ("config" if session.mode != "config" else "exec"), []
            return ""
        # A global command typed in a sub-mode leaves the sub-mode, as on IOS.
        out = self._global(session, line)
        return self._invalid(session) if out is None else out

    def _exec(self, session: Session, line: str) -> str:
        enter = "Enter configuration commands, one per line.  End with CNTL/Z."
        if line in {"configure terminal", "conf t"}:
            session.mode = "config"
            return enter
        timer = re.fullmatch(r"configure terminal revert timer (\d+)", line)
        if timer:
            minutes = int(timer.group(1))
            if not 1 <= minutes <= 120:
                return self._invalid(session)
            out = self._start_revert_timer(minutes)
            if out is None or out.startswith("%"):
                return out or ""
            session.mode = "config"
            return f"{out}\n{enter}"
        if line == "configure confirm":
            self._cancel_timer()
            return ""
        if line == "configure revert now":
            if self.revert_due is None:
                return "% No Rollback Confirmed Change pending"
            self._revert()
            return "Rollback Done"
        if line == "show archive config rollback timer":
            if self.revert_due is None:
                return "% No Rollback Confirmed Change pending"
            left = max(0, int(self.revert_due - time.monotonic()))
            return f"Timer type: revert timer\nTime remaining: {left} seconds"
        if line in {"show running-config", "show run"}:
            return self.config().rstrip("\n")
        if line in {"terminal length 0", "terminal width 511", "enable", ""}:
            return ""
        if line in {"write memory", "write mem", "copy running-config startup-config"}:
            self.startup = self.config()
            return "Building configuration...\n[OK]"
        if line == "show version":
            return f"Cisco IOS Software, Version 15.9(3)M9\n{self.hostname} uptime is 1 day"
        if line in {"exit", "logout", "quit"}:
            session.closed = True
            return ""
        return self._invalid(session)

    def _global(self, session: Session, line: str) -> str | None:
        words = line.split()
        if words[:1] == ["hostname"] and len(words) == 2:
            self.hostname = words[1]
            self.blocks = [b for b in self.blocks if not b.header.startswith("hostname ")]
            self._insert(_Block(line))
            session.mode = "config"
            return ""
        if words == ["archive"]:
            if self._find("archive") is None:
                self._insert(_Block("archive"))
            session.mode, session.path = "archive", ["archive"]
            return ""
        if words[:1] == ["interface"] and len(words) == 2:
            if self._find(line) is None:
                return self._invalid(session)
            session.mode, session.path = "if", [line]
            return ""
        if words[:3] == ["ip", "access-list", "extended"] and len(words) == 4:
            if self._find(line) is None:
                self._insert(_Block(line))
            session.mode, session.path = "acl", [line]
            return ""
        if words[:4] == ["no", "ip", "access-list", "extended"] and len(words) == 5:
            self.blocks = [b for b in self.blocks if b.header != line.removeprefix("no ")]
            session.mode = "config"
            return ""
        if words[:3] == ["ip", "access-list", "resequence"] and len(words) == 6:
            session.mode = "config"
            block = self._find(f"ip access-list extended {words[3]}")
            if block is None:
                return f"% Access list {words[3]} does not exist"
            start, step = int(words[4]), int(words[5])
            block.seqs = [start + i * step for i in range(len(block.children))]
            return ""
        if line.startswith(("ip nat ", "no ip nat ")):
            session.mode = "config"
            return self._nat(session, line)
        return None

    def _arch(self, session: Session, line: str) -> str | None:
        block = self._find("archive")
        words = line.split()
        if block is None or not words or words[0] not in {"path", "maximum"} or len(words) != 2:
            return None
        block.children = [c for c in block.children if not c.startswith(words[0] + " ")]
        block.children.append(line)
        return ""

    def _nat(self, session: Session, line: str) -> str:
        negate = line.startswith("no ")
        text = line.removeprefix("no ")
        match = _NAT_PORT.match(text)
        if not match or match["intf"] is None:
            return self._invalid(session)
        if not (
            valid_ip(match["local"]) and valid_port(match["lport"]) and valid_port(match["gport"])
        ):
            return self._invalid(session)
        if self._find(f"interface {match['intf']}") is None:
            return self._invalid(session)
        canonical = text.removesuffix(" extendable") + " extendable"
        existing = self._find(canonical)
        if negate:
            if existing is None:
                return "% Translation not found"
            self.blocks.remove(existing)
            return ""
        if existing is not None:
            return ""
        for block in self.blocks:
            other = _NAT_PORT.match(block.header)
            if other and (other["proto"], other["intf"], other["gport"]) == (
                match["proto"],
                match["intf"],
                match["gport"],
            ):
                return f"% similar static entry ({other['local']}) already exists"
        self._insert(_Block(canonical))
        return ""

    def _acl(self, session: Session, line: str) -> str | None:
        block = self._find(session.path[0])
        if block is None:
            return None
        words = line.split()
        if words[:1] == ["no"] and len(words) >= 2:
            rest = line.removeprefix("no ")
            match = _ACE.match(rest)
            seq = int(words[1]) if words[1].isdigit() else None
            for i, (child, number) in enumerate(zip(block.children, block.seqs, strict=True)):
                if number == seq or (seq is None and match and child == match["entry"]):
                    del block.children[i], block.seqs[i]
                    return ""
            return "% Entry not found" if match or seq is not None else self._invalid(session)
        if words[:1] == ["remark"]:
            block.children.append(line)
            block.seqs.append((block.seqs[-1] if block.seqs else 0) + 10)
            return ""
        match = _ACE.match(line)
        if not match:
            return None
        try:
            _Ace.parse(match["entry"])
        except ValueError:
            return self._invalid(session)
        seq = int(match["seq"]) if match["seq"] else (block.seqs[-1] if block.seqs else 0) + 10
        if seq in block.seqs:
            return "% Duplicate sequence number"
        if match["entry"] in block.children:
            return "% Duplicate entry"
        index = sum(1 for s in block.seqs if s < seq)
        block.children.insert(index, match["entry"])
        block.seqs.insert(index, seq)
        return ""

    def _interface(self, session: Session, line: str) -> str | None:
        block = self._find(session.path[0])
        if block is None or not _IF_LINE.match(line):
            return None
        text = line.removeprefix("no ")
        if text.startswith("ip access-group "):
            direction = text.split()[-1]
            block.children = [
                c
                for c in block.children
                if not (c.startswith("ip access-group ") and c.endswith(f" {direction}"))
            ]
        else:
            block.children = [c for c in block.children if c != text]
        if not line.startswith("no "):
            block.children.append(line)
        return ""

    # ----------------------------------------------------------------- packet decisions

    def evaluate(self, packet: Packet) -> Decision:
        with self.lock:
            return self._decide(packet)

    def _interfaces(self) -> dict[str, _Block]:
        return {
            b.header.split()[1]: b
            for b in self.blocks
            if b.header.startswith("interface ") and "shutdown" not in b.children
        }

    @staticmethod
    def _child(block: _Block, prefix: str) -> str | None:
        return next((c for c in block.children if c.startswith(prefix)), None)

    def _address(self, block: _Block) -> ipaddress.IPv4Interface | None:
        line = self._child(block, "ip address ")
        if line is None:
            return None
        _, _, address, mask = line.split()
        return ipaddress.IPv4Interface(f"{address}/{mask}")

    def _acl_verdict(self, name: str, src: str, dst: str, packet: Packet, dport: int | None) -> str:
        block = self._find(f"ip access-list extended {name}")
        if block is None:
            return "permit"  # an ACL that does not exist filters nothing
        for entry in block.children:
            if entry.startswith("remark"):
                continue
            ace = _Ace.parse(entry)
            if ace.matches(packet.proto, src, dst, dport, packet.state):
                return f"{ace.action}:{entry}"
        return "deny:implicit deny at the end of " + name

    def _bound(self, interface: str, direction: str) -> str | None:
        """The ACL an interface binds in ``direction`` (``ip access-group NAME in|out``)."""
        block = self._interfaces().get(interface)
        for child in block.children if block else []:
            if child.startswith("ip access-group ") and child.endswith(f" {direction}"):
                return child.split()[2]
        return None

    def _decide(self, packet: Packet) -> Decision:
        interfaces = self._interfaces()
        if packet.in_interface not in interfaces:
            raise ValueError(f"{self.hostname} has no interface {packet.in_interface}")
        acl_in = self._bound(packet.in_interface, "in")
        if acl_in is not None:
            verdict = self._acl_verdict(acl_in, packet.src, packet.dst, packet, packet.dport)
            if not verdict.startswith("permit"):
                return Decision("drop", f"{acl_in} in: {verdict[5:]}", packet.dst, packet.dport)
        dst, dport, nat = packet.dst, packet.dport, ""
        if "ip nat outside" in interfaces[packet.in_interface].children:
            dst, dport, nat = self._outside_to_inside(packet)
        own = {str(a.ip) for b in interfaces.values() if (a := self._address(b)) is not None}
        if dst in own:
            if packet.proto == "tcp" and dport == 22 and self._ssh_allowed():
                return Decision("accept", "ssh to the router", dst, dport, None, True)
            if packet.proto == "icmp":
                return Decision("accept", "icmp to the router", dst, dport, None, True)
            return Decision(
                "closed", f"no service on {packet.proto}/{dport}", dst, dport, None, True
            )
        out = self._route(dst)
        if out is None:
            return Decision("drop", "no route", dst, dport)
        acl_out = self._bound(out, "out")
        if acl_out is not None:
            verdict = self._acl_verdict(acl_out, packet.src, dst, packet, dport)
            if not verdict.startswith("permit"):
                return Decision("drop", f"{acl_out} out: {verdict[5:]}", dst, dport, out)
        return Decision("accept", nat or "routed", dst, dport, out)

    def _ssh_allowed(self) -> bool:
        return any(
            b.header.startswith("line vty")
            and any(c in {"transport input ssh", "transport input all"} for c in b.children)
            for b in self.blocks
        )

    def _outside_to_inside(self, packet: Packet) -> tuple[str, int | None, str]:
        interfaces = self._interfaces()
        for block in self.blocks:
            port = _NAT_PORT.match(block.header)
            if port:
                if port["intf"] is not None:
                    where = interfaces.get(port["intf"])
                    address = self._address(where) if where else None
                    glob = str(address.ip) if address else None
                else:
                    glob = port["glob"]
                if (packet.proto, packet.dst, packet.dport) == (
                    port["proto"],
                    glob,
                    int(port["gport"]),
                ):
                    return port["local"], int(port["lport"]), block.header
            host = _NAT_HOST.match(block.header)
            if host and host["glob"] == packet.dst:
                return host["local"], packet.dport, block.header
        return packet.dst, packet.dport, ""

    def _route(self, dst: str) -> str | None:
        target = ipaddress.IPv4Address(dst)
        best: tuple[int, str] | None = None
        connected: list[tuple[ipaddress.IPv4Network, str]] = []
        for name, block in self._interfaces().items():
            address = self._address(block)
            if address is not None:
                connected.append((address.network, name))
        for network, name in connected:
            if target in network and (best is None or network.prefixlen > best[0]):
                best = (network.prefixlen, name)
        for block in self.blocks:
            words = block.header.split()
            if words[:2] != ["ip", "route"] or len(words) != 5:
                continue
            network = ipaddress.IPv4Network(f"{words[2]}/{words[3]}")
            if target in network and (best is None or network.prefixlen > best[0]):
                gateway = ipaddress.IPv4Address(words[4])
                via = next((n for net, n in connected if gateway in net), None)
                if via is not None:
                    best = (network.prefixlen, via)
        return best[1] if best else None


@dataclass(frozen=True)
class _Ace:
    """One extended ACL entry, parsed for matching."""

    action: str
    proto: str
    src: tuple[int, int]
    dst: tuple[int, int]
    ports: tuple[str, tuple[int, ...]] | None
    established: bool

    @staticmethod
    def parse(entry: str) -> _Ace:
        words = entry.split()
        action, proto = words[0], words[1]
        rest = words[2:]
        src, rest = _address_words(rest)
        if proto in {"tcp", "udp"} and rest and rest[0] in {"eq", "neq", "lt", "gt", "range"}:
            raise ValueError("source ports are not modelled")
        dst, rest = _address_words(rest)
        ports: tuple[str, tuple[int, ...]] | None = None
        if rest and rest[0] in {"eq", "neq", "lt", "gt", "range"}:
            if proto not in {"tcp", "udp"}:
                raise ValueError("ports need tcp or udp")
            count = 2 if rest[0] == "range" else 1
            if rest[0] == "eq":
                count = sum(1 for w in rest[1:] if w.isdigit() or w in _PORT_NAMES)
            numbers = tuple(_port(w) for w in rest[1 : 1 + count])
            if not numbers:
                raise ValueError("port expected")
            ports = (rest[0], numbers)
            rest = rest[1 + count :]
        established = False
        if rest and rest[0] == "established":
            if proto != "tcp":
                raise ValueError("established needs tcp")
            established = True
            rest = rest[1:]
        if rest not in ([], ["log"], ["log-input"]):
            raise ValueError(f"not modelled: {' '.join(rest)}")
        return _Ace(action, proto, src, dst, ports, established)

    def matches(self, proto: str, src: str, dst: str, dport: int | None, state: str) -> bool:
        if self.proto not in {"ip", proto}:
            return False
        if not (_in(src, self.src) and _in(dst, self.dst)):
            return False
        if self.established and state == "new":
            return False
        if self.ports is None:
            return True
        if dport is None:
            return False
        op, numbers = self.ports
        if op == "eq":
            return dport in numbers
        if op == "neq":
            return dport not in numbers
        if op == "lt":
            return dport < numbers[0]
        if op == "gt":
            return dport > numbers[0]
        return numbers[0] <= dport <= numbers[1]


def _address_words(words: list[str]) -> tuple[tuple[int, int], list[str]]:
    """(address, wildcard) of ``any`` / ``host A`` / ``A W``, and the words after it."""
    if not words:
        raise ValueError("address expected")
    if words[0] == "any":
        return (0, 0xFFFFFFFF), words[1:]
    if words[0] == "host" and len(words) > 1:
        return (int(ipaddress.IPv4Address(words[1])), 0), words[2:]
    if len(words) > 1:
        return (
            int(ipaddress.IPv4Address(words[0])),
            int(ipaddress.IPv4Address(words[1])),
        ), words[2:]
    raise ValueError("address expected")


def _in(address: str, spec: tuple[int, int]) -> bool:
    value, wildcard = spec
    return (int(ipaddress.IPv4Address(address)) & ~wildcard) == (value & ~wildcard)


def _port(word: str) -> int:
    if word in _PORT_NAMES:
        return _PORT_NAMES[word]
    if not valid_port(word):
        raise ValueError(word)
    return int(word)


def _rank(header: str) -> int:
    for prefix, rank in _RANK:
        if header.startswith(prefix):
            return rank
    return 5


def default_ios_config(hostname: str) -> str:
    """A small but realistic branch router configuration."""
    return config_file("cisco_ios.cfg").replace("{hostname}", hostname)
