"""Stateful simulated devices: config lines change the running config, show/export reflect it."""

from __future__ import annotations

import ipaddress
import re
import shlex
import threading
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from provisioner.gear import routeros as ros

CONFIGS = Path(__file__).parent / "configs"
"""Starting configurations of the simulated devices (realistic, small)."""


@dataclass
class Session:
    """One SSH session's position in the CLI (modes are per session, config is per device)."""

    mode: str = "exec"
    path: list[str] = field(default_factory=list)
    closed: bool = False


class FakeDevice(ABC):
    """A device: its configuration, its CLI, and lines it is told to reject."""

    device_type: str = ""
    username_suffix: str = ""

    def __init__(self, hostname: str, config: str | None = None) -> None:
        self.hostname = hostname
        self.lock = threading.Lock()
        self.rejected: set[str] = set()
        self.received: list[str] = []

    def reject(self, line: str) -> None:
        """Make the device refuse ``line`` (exact text) with its vendor's error."""
        self.rejected.add(line.strip())

    def handle(self, session: Session, line: str) -> str:
        """Run one CLI line; return what the device prints."""
        with self.lock:
            self.received.append(line)
            if not line.strip():
                return ""
            return self.run(session, line.strip())

    @abstractmethod
    def run(self, session: Session, line: str) -> str:
        """Vendor CLI."""

    @abstractmethod
    def prompt(self, session: Session) -> str:
        """The prompt for the session's mode."""

    @abstractmethod
    def config(self) -> str:
        """The running configuration as the device prints it."""


def _config_file(name: str) -> str:
    return (CONFIGS / name).read_text(encoding="utf-8")


def _valid_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _valid_port(text: str) -> bool:
    return text.isdigit() and 1 <= int(text) <= 65535


# --------------------------------------------------------------------------- Cisco IOS

_IOS_RANK = (
    ("version", 0),
    ("hostname", 1),
    ("username", 2),
    ("interface", 3),
    ("ip nat", 5),
    ("ip route", 6),
    ("ip access-list", 7),
    ("line", 9),
)
_IOS_NAT = re.compile(
    r"^ip nat inside source static (?P<proto>tcp|udp) (?P<local>\S+) (?P<lport>\S+) "
    r"interface (?P<intf>\S+) (?P<gport>\S+)(?: extendable)?$"
)
_IOS_ACE = re.compile(r"^(?:(?P<seq>\d+) )?(?P<entry>(?:permit|deny) (?:ip|tcp|udp|icmp) .+)$")
_IOS_IF_LINE = re.compile(
    r"^(?:no )?(?:ip nat (?:inside|outside)|ip address \S+ \S+|description .+|shutdown|"
    r"ip access-group \S+ (?:in|out))$"
)
_INVALID_IOS = "% Invalid input detected at '^' marker."


@dataclass
class _IosBlock:
    header: str
    children: list[str] = field(default_factory=list)
    seqs: list[int] = field(default_factory=list)  # ACL sequence numbers (ACL blocks only)


class IosDevice(FakeDevice):
    """Cisco IOS: exec/config/interface/ACL modes, static NAT, extended ACLs, write memory."""

    device_type = "cisco_ios"

    def __init__(self, hostname: str, config: str | None = None) -> None:
        super().__init__(hostname)
        self.blocks: list[_IosBlock] = []
        self.startup = ""
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
                self.blocks.append(_IosBlock(line))

    def prompt(self, session: Session) -> str:
        suffix = {"exec": "#", "config": "(config)#", "if": "(config-if)#"}
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

    def _find(self, header: str) -> _IosBlock | None:
        return next((b for b in self.blocks if b.header == header), None)

    def _insert(self, block: _IosBlock) -> None:
        rank = _rank(block.header)
        index = len(self.blocks)
        for i, existing in enumerate(self.blocks):
            if _rank(existing.header) > rank:
                index = i
                break
        self.blocks.insert(index, block)

    def _invalid(self, session: Session) -> str:
        return " " * len(self.prompt(session)) + "^\n" + _INVALID_IOS

    def run(self, session: Session, line: str) -> str:
        if line in self.rejected:
            return self._invalid(session)
        if session.mode == "exec":
            return self._exec(session, line)
        if session.mode == "acl":
            out = self._acl(session, line)
            if out is not None:
                return out
        if session.mode == "if":
            out = self._interface(session, line)
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
        if line in {"configure terminal", "conf t"}:
            session.mode = "config"
            return "Enter configuration commands, one per line.  End with CNTL/Z."
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
            self._insert(_IosBlock(line))
            session.mode = "config"
            return ""
        if words[:1] == ["interface"] and len(words) == 2:
            if self._find(line) is None:
                return self._invalid(session)
            session.mode, session.path = "if", [line]
            return ""
        if words[:3] == ["ip", "access-list", "extended"] and len(words) == 4:
            if self._find(line) is None:
                self._insert(_IosBlock(line))
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

    def _nat(self, session: Session, line: str) -> str:
        negate = line.startswith("no ")
        match = _IOS_NAT.match(line.removeprefix("no "))
        if not match:
            return self._invalid(session)
        if not (
            _valid_ip(match["local"])
            and _valid_port(match["lport"])
            and _valid_port(match["gport"])
        ):
            return self._invalid(session)
        if self._find(f"interface {match['intf']}") is None:
            return self._invalid(session)
        canonical = line.removeprefix("no ").removesuffix(" extendable") + " extendable"
        existing = self._find(canonical)
        if negate:
            if existing is None:
                return "% Translation not found"
            self.blocks.remove(existing)
            return ""
        if existing is not None:
            return ""
        for block in self.blocks:
            other = _IOS_NAT.match(block.header)
            if other and (other["proto"], other["intf"], other["gport"]) == (
                match["proto"],
                match["intf"],
                match["gport"],
            ):
                return f"% similar static entry ({other['local']}) already exists"
        self._insert(_IosBlock(canonical))
        return ""

    def _acl(self, session: Session, line: str) -> str | None:
        block = self._find(session.path[0])
        if block is None:
            return None
        words = line.split()
        if words[:1] == ["no"] and len(words) >= 2:
            rest = line.removeprefix("no ")
            match = _IOS_ACE.match(rest)
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
        match = _IOS_ACE.match(line)
        if not match:
            return None
        ports = re.findall(r" eq (\S+)", match["entry"])
        if any(not _valid_port(p) for p in ports):
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
        if block is None or not _IOS_IF_LINE.match(line):
            return None
        text = line.removeprefix("no ")
        block.children = [c for c in block.children if c != text]
        if not line.startswith("no "):
            block.children.append(line)
        return ""


def _rank(header: str) -> int:
    for prefix, rank in _IOS_RANK:
        if header.startswith(prefix):
            return rank
    return 4


def default_ios_config(hostname: str) -> str:
    """A small but realistic branch router configuration."""
    return _config_file("cisco_ios.cfg").replace("{hostname}", hostname)


# --------------------------------------------------------------------------- FortiOS

_FORTI_SCHEMA: dict[str, dict[str, str]] = {
    "system interface": {
        "ip": "text",
        "allowaccess": "text",
        "type": "text",
        "vdom": "text",
        "alias": "text",
        "role": "text",
    },
    "firewall address": {"subnet": "text", "type": "text", "comment": "text"},
    "firewall service custom": {
        "tcp-portrange": "port",
        "udp-portrange": "port",
        "category": "text",
        "comment": "text",
    },
    "firewall vip": {
        "extip": "ip",
        "mappedip": "ip",
        "extintf": "intf",
        "portforward": "enable",
        "protocol": "proto",
        "extport": "port",
        "mappedport": "port",
        "comment": "text",
    },
    "firewall policy": {
        "name": "text",
        "srcintf": "intf",
        "dstintf": "intf",
        "action": "action",
        "srcaddr": "text",
        "dstaddr": "text",
        "schedule": "text",
        "service": "text",
        "nat": "enable",
        "logtraffic": "text",
        "comments": "text",
    },
}
_FORTI_FAIL = "Command fail. Return code"


class FortiDevice(FakeDevice):
    """FortiOS 7: ``config``/``edit``/``set``/``next``/``end`` tables, ``show`` per table."""

    device_type = "fortinet"

    def __init__(self, hostname: str, config: str | None = None) -> None:
        super().__init__(hostname)
        self.tables: dict[str, dict[str, list[tuple[str, str]]]] = {}
        self.load(config if config is not None else default_forti_config())

    def load(self, text: str) -> None:
        """Replace the configuration with ``text`` (``show`` form)."""
        self.tables = {}
        table: dict[str, list[tuple[str, str]]] | None = None
        entry: list[tuple[str, str]] | None = None
        for raw in text.splitlines():
            line = raw.strip()
            if line.startswith("config "):
                table = self.tables.setdefault(line.removeprefix("config "), {})
            elif line.startswith("edit ") and table is not None:
                entry = table.setdefault(line.removeprefix("edit "), [])
            elif line.startswith("set ") and entry is not None:
                key, _, value = line.removeprefix("set ").partition(" ")
                entry.append((key, value))
            elif line == "next":
                entry = None
            elif line == "end":
                table = None

    def prompt(self, session: Session) -> str:
        if not session.path:
            return f"{self.hostname} # "
        label = session.path[-1].strip('"') if len(session.path) > 1 else session.path[0]
        return f"{self.hostname} ({label.split()[-1]}) # "

    def show(self, section: str | None = None) -> str:
        """``show`` output, whole or for one table."""
        out: list[str] = []
        # Every table exists on FortiOS (possibly empty); printed in a fixed order.
        for name in _FORTI_SCHEMA:
            entries = self.tables.get(name, {})
            if section is not None and name != section:
                continue
            out.append(f"config {name}")
            for key, values in entries.items():
                out.append(f"    edit {key}")
                out.extend(f"        set {k} {v}" for k, v in values)
                out.append("    next")
            out.append("end")
        return "\n".join(out)

    def config(self) -> str:
        return self.show() + "\n"

    def _fail(self, token: str, code: int = -61) -> str:
        return f"command parse error before '{token}'\n{_FORTI_FAIL} {code}"

    def run(self, session: Session, line: str) -> str:
        if line in self.rejected:
            value = line.split(" ", 2)[-1]
            return (
                f"node_check_object fail! for {line.split(' ')[1] if ' ' in line else line} "
                f"{value}\n\nvalue parse error before '{value}'\n{_FORTI_FAIL} -651"
            )
        if not line:
            return ""
        if not session.path:
            return self._root(session, line)
        if len(session.path) == 1:
            return self._table(session, line)
        return self._entry(session, line)

    def _root(self, session: Session, line: str) -> str:
        if line == "get system status | grep Virtual":
            return "Virtual domain configuration: disable"
        if line == "get system status | grep Version":
            return "Version: FortiGate-VM64 v7.4.3,build2573,240201 (GA.F)"
        if line == "get system status":
            return (
                "Version: FortiGate-VM64 v7.4.3,build2573,240201 (GA.F)\n"
                f"Hostname: {self.hostname}\nVirtual domain configuration: disable"
            )
        if line == "get system console":
            return "output              : standard"
        if line == "show":
            return self.show()
        if line.startswith("show "):
            section = line.removeprefix("show ")
            if section not in _FORTI_SCHEMA:
                return self._fail(section.split()[-1])
            return self.show(section)
        if line.startswith("config "):
            section = line.removeprefix("config ")
            if section == "system console":
                session.path = [section]
                return ""
            if section not in _FORTI_SCHEMA:
                return self._fail(section.split()[-1])
            self.tables.setdefault(section, {})
            session.path = [section]
            return ""
        if line in {"exit", "quit"}:
            session.closed = True
            return ""
        return f"Unknown action 0\n{_FORTI_FAIL} -1"

    def _table(self, session: Session, line: str) -> str:
        section = session.path[0]
        table = self.tables.setdefault(section, {})
        words = line.split(" ", 1)
        if line == "end":
            session.path = []
            return ""
        if section == "system console":  # only netmiko's paging setup lands here
            return ""
        if words[0] == "edit" and len(words) == 2:
            key = words[1]
            if section == "firewall policy" and not key.isdigit():
                return self._fail(key, -3)
            if section != "firewall policy" and not key.startswith('"'):
                key = f'"{key}"'
            table.setdefault(key, [])
            session.path = [section, key]
            return ""
        if words[0] == "delete" and len(words) == 2:
            key = words[1] if words[1] in table else f'"{words[1]}"'
            if key not in table:
                return f"entry not found in datasource\n\n{self._fail(words[1], -3)}"
            referenced = any(
                v.strip('"') == key.strip('"')
                for name, entries in self.tables.items()
                if name == "firewall policy"
                for values in entries.values()
                for k, v in values
                if k in {"dstaddr", "service"}
            )
            if referenced and section != "firewall policy":
                return f"entry is used\n{_FORTI_FAIL} -23"
            del table[key]
            return ""
        if line == "show":
            return self.show(section)
        return self._fail(words[0])

    def _entry(self, session: Session, line: str) -> str:
        section, key = session.path
        values = self.tables[section].setdefault(key, [])
        if line in {"next", "end"}:
            session.path = [] if line == "end" else [section]
            return ""
        if section == "system console":
            return ""
        words = line.split(" ", 2)
        schema = _FORTI_SCHEMA[section]
        if words[0] == "unset" and len(words) == 2:
            if words[1] not in schema:
                return self._fail(words[1])
            values[:] = [(k, v) for k, v in values if k != words[1]]
            return ""
        if words[0] != "set" or len(words) < 3:
            return self._fail(words[0])
        name, value = words[1], words[2]
        kind = schema.get(name)
        if kind is None:
            return self._fail(name)
        if not _forti_value_ok(kind, value.strip('"')):
            return f"value parse error before '{value}'\n{_FORTI_FAIL} -8"
        for i, (k, _) in enumerate(values):
            if k == name:
                values[i] = (name, value)
                return ""
        values.append((name, value))
        return ""


def _forti_value_ok(kind: str, value: str) -> bool:
    checks: dict[str, Any] = {
        "ip": _valid_ip,
        "port": _valid_port,
        "enable": lambda v: v in {"enable", "disable"},
        "proto": lambda v: v in {"tcp", "udp", "sctp", "icmp"},
        "action": lambda v: v in {"accept", "deny", "ipsec"},
        "intf": lambda v: bool(re.match(r"^[A-Za-z0-9_.-]+$", v)),
    }
    check = checks.get(kind)
    return True if check is None else bool(check(value))


def default_forti_config() -> str:
    """A small FortiGate configuration: two ports and the usual policy."""
    return _config_file("fortinet.conf")


# --------------------------------------------------------------------------- RouterOS

_ROS_SCHEMA: dict[str, set[str]] = {
    "/interface wireguard": {"name", "listen-port", "comment", "mtu", "disabled"},
    "/interface wireguard peers": {
        "interface",
        "public-key",
        "allowed-address",
        "comment",
        "endpoint-address",
        "endpoint-port",
        "persistent-keepalive",
        "disabled",
    },
    "/ip address": {"address", "interface", "comment", "network", "disabled"},
    "/ip firewall filter": {
        "chain",
        "action",
        "protocol",
        "dst-port",
        "src-address",
        "dst-address",
        "in-interface",
        "out-interface",
        "in-interface-list",
        "connection-state",
        "comment",
        "disabled",
        "log",
    },
    "/ip firewall nat": {
        "chain",
        "action",
        "protocol",
        "dst-port",
        "src-address",
        "dst-address",
        "in-interface",
        "out-interface",
        "to-addresses",
        "to-ports",
        "comment",
        "disabled",
    },
}
_ROS_REQUIRED = {
    "/interface wireguard": {"name"},
    "/interface wireguard peers": {"interface", "public-key"},
    "/ip address": {"address", "interface"},
    "/ip firewall filter": {"chain"},
    "/ip firewall nat": {"chain"},
}
_ROS_FIND = re.compile(r'^\[\s*find(?: where)? comment=(?P<comment>"(?:[^"\\]|\\.)*"|\S+)\s*\]\s*')
_ROS_CMD = re.compile(r"^(?P<path>/[a-z /-]*?) (?P<verb>add|set|remove|print)(?: (?P<rest>.*))?$")
_WG_KEY = re.compile(r"^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw480]=$")


class RouterOsDevice(FakeDevice):
    """RouterOS 7: menu paths with add/set/remove, ``/export terse``, identity."""

    device_type = "mikrotik_routeros"
    # netmiko logs in as ``<user>+ct511w4098h`` (console options), as RouterOS expects.
    username_suffix = "+ct511w4098h"

    def __init__(self, hostname: str, config: str | None = None) -> None:
        super().__init__(hostname)
        self.items: dict[str, list[dict[str, str]]] = {}
        self.ethernet = ("ether1", "ether2", "ether3")
        self.load(config if config is not None else default_ros_config())

    def load(self, text: str) -> None:
        """Replace the configuration with ``text`` (``/export terse`` form)."""
        self.items = {path: [] for path in _ROS_SCHEMA}
        for raw in text.splitlines():
            match = _ROS_CMD.match(raw.strip())
            if match and match["verb"] == "add" and match["path"] in self.items:
                self.items[match["path"]].append(ros.parse_props(match["rest"] or ""))

    def prompt(self, session: Session) -> str:
        return f"[admin@{self.hostname}] > "

    def config(self) -> str:
        lines = ["# RouterOS 7.16.2", "# software id = FAKE-GEAR", "#", "# model = CHR"]
        for path in _ROS_SCHEMA:
            lines.extend(f"{path} add {ros.render_props(props)}" for props in self.items[path])
        lines.append(f"/system identity set name={ros.quote(self.hostname)}")
        return "\n".join(lines) + "\n"

    def _bad(self, line: str, column: int) -> str:
        return f"expected end of command (line 1 column {column})"

    def run(self, session: Session, line: str) -> str:
        if line in self.rejected:
            return "failure: configuration change refused by device policy"
        if not line:
            return ""
        if line in {"/export terse", "/export terse hide-sensitive", "export terse"}:
            return self.config().rstrip("\n")
        if line in {"quit", "/quit"}:
            session.closed = True
            return ""
        if line == "/system identity print":
            return f"  name: {self.hostname}"
        match = _ROS_CMD.match(line)
        if not match or match["path"] not in _ROS_SCHEMA:
            word = line.split(maxsplit=1)[0]
            return f"bad command name {word.strip('/').split('/')[-1]} (line 1 column 2)"
        path, verb, rest = match["path"], match["verb"], match["rest"] or ""
        items = self.items[path]
        if verb == "print":
            return "\n".join(f"{i:2} {ros.render_props(p)}" for i, p in enumerate(items))
        target: list[dict[str, str]] = items
        if verb in {"set", "remove"}:
            find = _ROS_FIND.match(rest)
            if not find:
                return self._bad(line, len(path) + len(verb) + 3)
            comment = shlex.split(find["comment"])[0] if find["comment"] else ""
            target = [p for p in items if p.get("comment") == comment]
            rest = rest[find.end() :]
        try:
            props = ros.parse_props(rest)
        except ValueError:
            return self._bad(line, len(line))
        if verb == "remove":
            if rest.strip():
                return self._bad(line, len(line) - len(rest) + 1)
            self.items[path] = [p for p in items if p not in target]
            return ""
        unknown = [k for k in props if k not in _ROS_SCHEMA[path]]
        if unknown:
            return self._bad(line, line.index(unknown[0] + "=") + 1)
        if verb == "add":
            missing = _ROS_REQUIRED[path] - set(props)
            if missing:
                return f"failure: {sorted(missing)[0]} not specified"
        for current in target if verb == "set" else [{}]:
            merged = {**current, **props}
            error = self._check(path, merged, exclude=current if verb == "set" else None)
            if error:
                return error
        if verb == "add":
            items.append(props)
        else:
            for current in target:
                current.update(props)
        return ""

    def _interfaces(self) -> set[str]:
        return set(self.ethernet) | {p["name"] for p in self.items["/interface wireguard"]}

    def _check(self, path: str, props: dict[str, str], exclude: dict[str, str] | None) -> str:
        others = [p for p in self.items[path] if p is not exclude]
        for key in ("interface", "in-interface", "out-interface"):
            if key in props and props[key] not in self._interfaces():
                return f"input does not match any value of {key}"
        for key in ("address", "allowed-address", "src-address", "dst-address"):
            if key in props:
                try:
                    ipaddress.ip_interface(props[key])
                except ValueError:
                    return f"invalid value for argument {key}"
        for key in ("listen-port", "dst-port", "to-ports"):
            if key in props and not _valid_port(props[key]):
                return f"invalid value for argument {key}"
        if path == "/interface wireguard peers":
            if not _WG_KEY.match(props.get("public-key", "")):
                return "invalid value for argument public-key"
            if any(p.get("public-key") == props["public-key"] for p in others):
                return "failure: already have peer with such public key"
        if path == "/interface wireguard" and any(p["name"] == props["name"] for p in others):
            return "failure: already have interface with such name"
        return ""


def default_ros_config() -> str:
    """RouterOS defconf-like configuration of a small office router."""
    return _config_file("mikrotik_routeros.rsc")


DEVICE_CLASSES: dict[str, type[FakeDevice]] = {
    "mikrotik_routeros": RouterOsDevice,
    "cisco_ios": IosDevice,
    "fortinet": FortiDevice,
}
