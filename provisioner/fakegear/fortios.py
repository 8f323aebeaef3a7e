"""Simulated FortiGate (FortiOS 7.4): tables, workspace transactions, VIPs and policies.

Written from Fortinet's documentation, independently of ``provisioner.gear``.

CLI: ``config <table>`` / ``edit <key>`` / ``set`` / ``unset`` / ``next`` / ``end`` /
``delete``; ``show [<table>]`` prints names quoted as FortiOS does (``set srcaddr "all"``).
References are checked as FortiOS checks its datasources: a policy naming an interface, address,
VIP or service that does not exist is refused ("entry not found in datasource"), an object a
policy uses cannot be deleted ("entry is used").

Workspace mode (FortiOS administration guide, "Workspace mode"; CLI reference
``execute config-transaction``): ``execute config-transaction start [<minutes 1-60>]`` opens a
transaction whose changes stay in the session's own CLI process, invisible to others and to the
traffic, until ``execute config-transaction commit``; ``abort`` discards them. An object edited in
a transaction is locked for every other session. A transaction idle for its timeout (default 5
minutes) is discarded, also when its session was lost - so a push cut halfway leaves the
running configuration as it was. ``minute`` is the length of a minute in seconds (tests shorten
it). The lock message is this simulator's wording (the guide gives none).

Packet decisions (profile-based NGFW mode; Fortinet KB "Virtual IP port forwarding order of
execution", "How to use virtual IPs with non-standard external ports", 6.4.3 release notes on
``match-vip``): destination NAT first - the first VIP in table order, among those some policy
names, whose external interface, external IP, protocol and external port match (and
``src-filter`` if set) rewrites the destination; then the route (connected subnets, static
routes) gives the outgoing interface; then policies in table order, first match, implicit deny
(policy 0). A policy matches on srcintf, dstintf, srcaddr (``all`` or address objects), dstaddr
(a VIP name matches the traffic that VIP translated, address objects the rest; a deny policy
matches translated traffic only with ``match-vip enable``), service - compared with the *mapped*
port, which is why a VIP publishing a port under another number needs a policy service of the
internal port - and the ``always`` schedule. Traffic to the FortiGate's own address that no VIP
translates is accepted only for what the interface's ``allowaccess`` lists. Anything else a rule
uses (address groups, negation, other schedules) makes the decision raise.
"""

from __future__ import annotations

import copy
import ipaddress
import itertools
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from provisioner.fakegear.base import (
    Decision,
    FakeDevice,
    Packet,
    Session,
    UndecidableError,
    Verdict,
    config_file,
    valid_ip,
    valid_port,
)

Entry = list[tuple[str, str]]
Tables = dict[str, dict[str, Entry]]

# Per table: field -> kind. `quoted` values print as "a" "b"; the others as typed.
SCHEMA: dict[str, dict[str, str]] = {
    "system interface": {
        "ip": "ipmask",
        "allowaccess": "words",
        "type": "word",
        "vdom": "quoted",
        "alias": "quoted",
        "role": "word",
    },
    "router static": {"dst": "ipmask", "gateway": "ip", "device": "quoted", "status": "enable"},
    "firewall address": {
        "subnet": "ipmask",
        "type": "word",
        "start-ip": "ip",
        "end-ip": "ip",
        "comment": "quoted",
    },
    "firewall service custom": {
        "protocol": "word",
        "tcp-portrange": "ports",
        "udp-portrange": "ports",
        "category": "quoted",
        "comment": "quoted",
    },
    "firewall vip": {
        "extip": "iprange",
        "mappedip": "quoted",
        "extintf": "quoted",
        "portforward": "enable",
        "protocol": "proto",
        "extport": "ports",
        "mappedport": "ports",
        "src-filter": "quoted",
        "comment": "quoted",
    },
    "firewall policy": {
        "name": "quoted",
        "status": "enable",
        "srcintf": "quoted",
        "dstintf": "quoted",
        "action": "action",
        "srcaddr": "quoted",
        "dstaddr": "quoted",
        "schedule": "quoted",
        "service": "quoted",
        "nat": "enable",
        "match-vip": "enable",
        "logtraffic": "word",
        "comments": "quoted",
    },
}
# Datasource checks: table field -> tables whose keys it may name (plus fixed names).
REFERENCES: dict[tuple[str, str], tuple[tuple[str, ...], frozenset[str]]] = {
    ("firewall policy", "srcintf"): (("system interface",), frozenset({"any"})),
    ("firewall policy", "dstintf"): (("system interface",), frozenset({"any"})),
    ("firewall policy", "srcaddr"): (("firewall address",), frozenset()),
    ("firewall policy", "dstaddr"): (("firewall address", "firewall vip"), frozenset()),
    ("firewall policy", "service"): (("firewall service custom",), frozenset()),
    ("firewall policy", "schedule"): ((), frozenset({"always"})),
    ("firewall vip", "extintf"): (("system interface",), frozenset({"any"})),
    ("router static", "device"): (("system interface",), frozenset()),
}
FAIL = "Command fail. Return code"
# What `allowaccess` opens on an interface: (protocol, port).
ACCESS = {
    "ping": ("icmp", None),
    "https": ("tcp", 443),
    "ssh": ("tcp", 22),
    "http": ("tcp", 80),
    "telnet": ("tcp", 23),
    "snmp": ("udp", 161),
    "fgfm": ("tcp", 541),
}
_WORD = re.compile(r"^[A-Za-z0-9_.:/-]+$")
_txn_ids = itertools.count(1)


def tokens(value: str) -> list[str]:
    """Words of a FortiOS value: blanks separate, ``"``/``'`` quote, ``\\`` escapes."""
    out: list[str] = []
    current: list[str] = []
    quote = ""
    started = False
    i = 0
    while i < len(value):
        char = value[i]
        if char == "\\" and i + 1 < len(value):
            current.append(value[i + 1])
            started = True
            i += 2
            continue
        if quote:
            if char == quote:
                quote = ""
            else:
                current.append(char)
        elif char in "\"'":
            quote = char
            started = True
        elif char.isspace():
            if started:
                out.append("".join(current))
                current, started = [], False
        else:
            current.append(char)
            started = True
        i += 1
    if quote:
        raise ValueError("unbalanced quotes")
    if started:
        out.append("".join(current))
    return out


def _quoted(words: list[str]) -> str:
    return " ".join('"' + w.replace("\\", "\\\\").replace('"', '\\"') + '"' for w in words)


@dataclass
class _Txn:
    """A workspace-mode transaction: its own copy of the tables and what it edited."""

    number: int
    tables: Tables
    minutes: int
    edited: set[tuple[str, str]] = field(default_factory=set)
    deadline: float = 0.0
    expired: bool = False
    timer: threading.Timer | None = None


class FortiDevice(FakeDevice):
    """FortiGate with a WAN and an internal port and the usual outbound policy."""

    device_type = "fortinet"

    def __init__(
        self, hostname: str, config: str | None = None, *, host_key_seed: bytes | None = None
    ) -> None:
        super().__init__(hostname, host_key_seed=host_key_seed)
        self.tables: Tables = {}
        self.locks: dict[tuple[str, str], int] = {}
        self.minute = 60.0
        self.load(config if config is not None else config_file("fortinet.conf"))

    def load(self, text: str) -> None:
        """Replace the configuration with ``text`` (``show`` form)."""
        self.tables = {name: {} for name in SCHEMA}
        table: dict[str, Entry] | None = None
        entry: Entry | None = None
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

    def snapshot(self) -> Tables:
        """The committed tables (what traffic sees), for comparisons."""
        with self.lock:
            return copy.deepcopy(self.tables)

    def prompt(self, session: Session) -> str:
        if not session.path:
            return f"{self.hostname} # "
        label = session.path[-1].strip('"') if len(session.path) > 1 else session.path[0]
        return f"{self.hostname} ({label.split()[-1]}) # "

    @staticmethod
    def render(tables: Tables, section: str | None = None) -> str:
        """``show`` output of ``tables``, whole or one table."""
        out: list[str] = []
        for name in SCHEMA:
            if section is not None and name != section:
                continue
            out.append(f"config {name}")
            for key, values in tables.get(name, {}).items():
                out.append(f"    edit {key}")
                out.extend(f"        set {k} {v}" for k, v in values)
                out.append("    next")
            out.append("end")
        return "\n".join(out)

    def show(self, section: str | None = None) -> str:
        """``show`` output of the committed configuration."""
        return self.render(self.tables, section)

    def config(self) -> str:
        return self.show() + "\n"

    # ----------------------------------------------------------------- transactions

    def _view(self, session: Session) -> Tables:
        txn: _Txn | None = session.vendor.get("txn")
        return txn.tables if txn is not None else self.tables

    def _touch(self, txn: _Txn) -> None:
        """Activity: the idle timeout starts again."""
        txn.deadline = time.monotonic() + txn.minutes * self.minute
        if txn.timer is not None:
            txn.timer.cancel()
        txn.timer = threading.Timer(txn.minutes * self.minute + 0.01, self._expire, (txn,))
        txn.timer.daemon = True
        txn.timer.start()

    def _expire(self, txn: _Txn) -> None:
        with self.lock:
            if time.monotonic() >= txn.deadline:
                self._release(txn)

    def _release(self, txn: _Txn) -> None:
        for key in [k for k, owner in self.locks.items() if owner == txn.number]:
            del self.locks[key]
        if txn.timer is not None:
            txn.timer.cancel()
        txn.expired = True

    def _commit(self, txn: _Txn) -> None:
        for section, key in sorted(txn.edited):
            mine = txn.tables.get(section, {})
            theirs = self.tables.setdefault(section, {})
            if key in mine:
                theirs[key] = copy.deepcopy(mine[key])
            else:
                theirs.pop(key, None)
        for section in {s for s, _ in txn.edited}:
            # Table order is evaluation order (policies): the transaction's order wins.
            theirs = self.tables[section]
            order = [k for k in txn.tables.get(section, {}) if k in theirs]
            order += [k for k in theirs if k not in order]
            self.tables[section] = {k: theirs[k] for k in order}
        self._release(txn)

    def _locked(self, session: Session, section: str, key: str) -> str:
        """An error when another transaction holds the object, else ''; locks it for ours."""
        owner = self.locks.get((section, key))
        txn: _Txn | None = session.vendor.get("txn")
        if owner is not None and (txn is None or owner != txn.number):
            name = key.strip('"')
            return f"{name} is being configured in config transaction id={owner}\n{FAIL} -7"
        if txn is not None:
            self.locks[(section, key)] = txn.number
            txn.edited.add((section, key))
        return ""

    def session_ended(self, session: Session) -> None:
        # A transaction outlives its session until its idle timeout, locks included (FortiOS:
        # "all changes are discarded when the session expires on Idle Timeout").
        session.vendor.pop("txn", None)

    # ----------------------------------------------------------------- CLI

    def _fail(self, token: str, code: int = -61) -> str:
        return f"command parse error before '{token}'\n{FAIL} {code}"

    def run(self, session: Session, line: str) -> str:
        txn: _Txn | None = session.vendor.get("txn")
        if txn is not None and txn.expired:
            # Back to direct changes, as FortiOS after "config transaction id=N has expired".
            session.vendor.pop("txn")
        elif txn is not None:
            self._touch(txn)
        if line in self.rejected:
            value = line.split(" ", 2)[-1]
            return (
                f"node_check_object fail! for {line.split(' ')[1] if ' ' in line else line} "
                f"{value}\n\nvalue parse error before '{value}'\n{FAIL} -651"
            )
        if not session.path:
            return self._root(session, line)
        if len(session.path) == 1:
            return self._table(session, line)
        return self._entry(session, line)

    def _execute(self, session: Session, line: str) -> str:
        words = line.split()
        txn: _Txn | None = session.vendor.get("txn")
        if words[:2] != ["execute", "config-transaction"] or len(words) not in {3, 4}:
            return f"Unknown action 0\n{FAIL} -1"
        action = words[2]
        if action == "start":
            minutes = int(words[3]) if len(words) == 4 and words[3].isdigit() else 5
            if txn is not None or not 1 <= minutes <= 60:
                return f"{self._fail(words[-1])}"
            txn = _Txn(next(_txn_ids), copy.deepcopy(self.tables), minutes)
            session.vendor["txn"] = txn
            self._touch(txn)
            return ""
        if txn is None or len(words) != 3 or action not in {"commit", "abort"}:
            return f"no config transaction is in progress\n{FAIL} -1"
        if action == "commit":
            self._commit(txn)
        else:
            self._release(txn)
        session.vendor.pop("txn")
        return ""

    def _root(self, session: Session, line: str) -> str:
        if line.startswith("execute "):
            return self._execute(session, line)
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
            return self.render(self._view(session))
        if line.startswith("show "):
            section = line.removeprefix("show ")
            if section not in SCHEMA:
                return self._fail(section.split()[-1])
            return self.render(self._view(session), section)
        if line.startswith("config "):
            section = line.removeprefix("config ")
            if section == "system console":
                session.path = [section]
                return ""
            if section not in SCHEMA:
                return self._fail(section.split()[-1])
            session.path = [section]
            return ""
        if line in {"exit", "quit"}:
            session.closed = True
            return ""
        return f"Unknown action 0\n{FAIL} -1"

    def _table(self, session: Session, line: str) -> str:
        section = session.path[0]
        if line == "end":
            session.path = []
            return ""
        if section == "system console":  # only netmiko's paging setup lands here
            return ""
        table = self._view(session).setdefault(section, {})
        words = line.split(" ", 1)
        if words[0] == "edit" and len(words) == 2:
            key = words[1]
            if section in {"firewall policy", "router static"}:
                if not key.isdigit():
                    return self._fail(key, -3)
                if key == "0":
                    key = str(max((int(k) for k in table), default=0) + 1)
            elif not key.startswith('"'):
                key = f'"{key}"'
            locked = self._locked(session, section, key)
            if locked:
                return locked
            table.setdefault(key, [])
            session.path = [section, key]
            return ""
        if words[0] == "delete" and len(words) == 2:
            key = words[1] if words[1] in table else f'"{words[1]}"'
            if key not in table:
                return f"entry not found in datasource\n\n{self._fail(words[1], -3)}"
            if self._used(self._view(session), section, key):
                return f"entry is used\n{FAIL} -23"
            locked = self._locked(session, section, key)
            if locked:
                return locked
            del table[key]
            return ""
        move = re.fullmatch(r"move (\S+) (before|after) (\S+)", line)
        if move and section == "firewall policy":
            return self._move(session, table, move.group(1), move.group(2), move.group(3))
        if line == "show":
            return self.render(self._view(session), section)
        return self._fail(words[0])

    def _move(
        self, session: Session, table: dict[str, Entry], key: str, where: str, other: str
    ) -> str:
        """``move <id> before|after <id>``: policies are evaluated in table order."""
        if key not in table or other not in table:
            return f"entry not found in datasource\n\n{self._fail(key, -3)}"
        locked = self._locked(session, "firewall policy", key)
        if locked:
            return locked
        keys = [k for k in table if k != key]
        keys.insert(keys.index(other) + (where == "after"), key)
        reordered = {k: table[k] for k in keys}
        table.clear()
        table.update(reordered)
        return ""

    @staticmethod
    def _used(tables: Tables, section: str, key: str) -> bool:
        name = key.strip('"')
        for (table, fld), (targets, _) in REFERENCES.items():
            if section not in targets:
                continue
            for values in tables.get(table, {}).values():
                for k, v in values:
                    if k == fld and name in tokens(v):
                        return True
        return False

    def _entry(self, session: Session, line: str) -> str:
        section, key = session.path
        if section == "system console":
            if line in {"next", "end"}:
                session.path = [] if line == "end" else [section]
            return ""
        tables = self._view(session)
        values = tables.setdefault(section, {}).setdefault(key, [])
        if line in {"next", "end"}:
            session.path = [] if line == "end" else [section]
            return ""
        words = line.split(" ", 2)
        schema = SCHEMA[section]
        if words[0] == "unset" and len(words) == 2:
            if words[1] not in schema:
                return self._fail(words[1])
            values[:] = [(k, v) for k, v in values if k != words[1]]
            return ""
        if words[0] != "set" or len(words) < 3:
            return self._fail(words[0])
        name = words[1]
        kind = schema.get(name)
        if kind is None:
            return self._fail(name)
        try:
            value = _canonical(kind, words[2])
        except ValueError:
            return f"value parse error before '{words[2]}'\n{FAIL} -8"
        missing = self._missing_reference(tables, section, name, value)
        if missing:
            return (
                f"entry not found in datasource\n\nvalue parse error before '{missing}'\n{FAIL} -3"
            )
        for i, (k, _) in enumerate(values):
            if k == name:
                values[i] = (name, value)
                return ""
        values.append((name, value))
        return ""

    @staticmethod
    def _missing_reference(tables: Tables, section: str, name: str, value: str) -> str:
        spec = REFERENCES.get((section, name))
        if spec is None:
            return ""
        targets, fixed = spec
        known = set(fixed)
        for target in targets:
            known |= {k.strip('"') for k in tables.get(target, {})}
        return next((w for w in tokens(value) if w not in known), "")

    # ----------------------------------------------------------------- packet decisions

    def evaluate(self, packet: Packet) -> Decision:
        with self.lock:
            return self._decide(packet)

    def _get(self, section: str, key: str, name: str, default: str = "") -> str:
        entry = self.tables.get(section, {}).get(key, [])
        return next((v for k, v in entry if k == name), default)

    def _interfaces(self) -> dict[str, ipaddress.IPv4Interface | None]:
        found: dict[str, ipaddress.IPv4Interface | None] = {}
        for key in self.tables.get("system interface", {}):
            ip = self._get("system interface", key, "ip")
            found[key.strip('"')] = ipaddress.IPv4Interface("/".join(ip.split())) if ip else None
        return found

    def _decide(self, packet: Packet) -> Decision:
        interfaces = self._interfaces()
        if packet.in_interface not in interfaces:
            raise ValueError(f"{self.hostname} has no interface {packet.in_interface}")
        vip, dst, dport = self._dnat(packet)
        own = {str(a.ip) for a in interfaces.values() if a is not None}
        if vip is None and dst in own:
            return self._local_in(packet)
        out = self._route(dst)
        if out is None:
            return Decision("drop", "no route", dst, dport)
        for key, entry in self.tables.get("firewall policy", {}).items():
            values = dict(entry)
            if values.get("status") == "disable":
                continue
            if self._policy_matches(values, packet, out, vip, dst, dport):
                label = f"policy {key} {' '.join(tokens(values.get('name', '')))}".rstrip()
                verdict: Verdict = "accept" if values.get("action") == "accept" else "drop"
                return Decision(verdict, label, dst, dport, out)
        return Decision("drop", "policy 0 (implicit deny)", dst, dport, out)

    def _local_in(self, packet: Packet) -> Decision:
        access = tokens(self._get("system interface", f'"{packet.in_interface}"', "allowaccess"))
        for name in access:
            if ACCESS.get(name) == (packet.proto, packet.dport if packet.proto != "icmp" else None):
                return Decision(
                    "accept", f"allowaccess {name}", packet.dst, packet.dport, None, True
                )
        return Decision(
            "drop",
            f"local-in: {packet.proto}/{packet.dport} not in allowaccess of {packet.in_interface}",
            packet.dst,
            packet.dport,
            None,
            True,
        )

    def _named_vips(self) -> set[str]:
        named: set[str] = set()
        for entry in self.tables.get("firewall policy", {}).values():
            named |= set(tokens(dict(entry).get("dstaddr", "")))
        return named

    def _dnat(self, packet: Packet) -> tuple[str | None, str, int | None]:
        named = self._named_vips()
        for key, entry in self.tables.get("firewall vip", {}).items():
            name = key.strip('"')
            if name not in named:
                continue  # a VIP no policy uses is never looked at
            values = dict(entry)
            extintf = tokens(values.get("extintf", '"any"'))
            if packet.in_interface not in extintf and "any" not in extintf:
                continue
            if not _in_range(values.get("extip", ""), packet.dst):
                continue
            if "src-filter" in values and not any(
                _in_range(f, packet.src) for f in tokens(values["src-filter"])
            ):
                continue
            mapped = tokens(values.get("mappedip", ""))[0].split("-")[0]
            if values.get("portforward") != "enable":
                return name, mapped, packet.dport
            if values.get("protocol", "tcp") != packet.proto or packet.dport is None:
                continue
            low, high = _range(values.get("extport", ""))
            if not low <= packet.dport <= high:
                continue
            mapped_low, _ = _range(values.get("mappedport", str(low)))
            return name, mapped, mapped_low + (packet.dport - low)
        return None, packet.dst, packet.dport

    def _route(self, dst: str) -> str | None:
        target = ipaddress.IPv4Address(dst)
        best: tuple[int, str] | None = None
        for name, address in self._interfaces().items():
            better = best is None or (address is not None and address.network.prefixlen > best[0])
            if address is not None and target in address.network and better:
                best = (address.network.prefixlen, name)
        for entry in self.tables.get("router static", {}).values():
            values = dict(entry)
            if values.get("status") == "disable":
                continue
            network = ipaddress.IPv4Network("/".join(values.get("dst", "0.0.0.0 0.0.0.0").split()))
            device = tokens(values.get("device", ""))
            if target in network and device and (best is None or network.prefixlen > best[0]):
                best = (network.prefixlen, device[0])
        return best[1] if best else None

    def _address_matches(self, name: str, address: str) -> bool:
        table = self.tables.get("firewall address", {})
        if f'"{name}"' not in table:
            if name == "all":
                return True
            raise UndecidableError(f"address {name} (groups are not modelled)")
        values = dict(table[f'"{name}"'])
        kind = values.get("type", "ipmask")
        if kind == "ipmask":
            subnet = values.get("subnet", "0.0.0.0 0.0.0.0")
            return ipaddress.IPv4Address(address) in ipaddress.IPv4Network(
                "/".join(subnet.split()), strict=False
            )
        if kind == "iprange":
            low = ipaddress.IPv4Address(values.get("start-ip", "0.0.0.0"))
            high = ipaddress.IPv4Address(values.get("end-ip", "0.0.0.0"))
            return low <= ipaddress.IPv4Address(address) <= high
        raise UndecidableError(f"address type {kind}")

    def _service_matches(self, names: list[str], proto: str, port: int | None) -> bool:
        for name in names:
            values = dict(self.tables.get("firewall service custom", {}).get(f'"{name}"', []))
            if not values:
                raise UndecidableError(f"service {name}")
            protocol = values.get("protocol", "TCP/UDP/SCTP")
            if protocol == "IP":
                return True
            if protocol == "ICMP":
                if proto == "icmp":
                    return True
                continue
            ranges = values.get(f"{proto}-portrange") if proto in {"tcp", "udp"} else None
            for spec in tokens(ranges or ""):
                low, high = _range(spec.split(":")[0])
                if port is not None and low <= port <= high:
                    return True
        return False

    def _policy_matches(
        self,
        values: dict[str, str],
        packet: Packet,
        out: str,
        vip: str | None,
        dst: str,
        dport: int | None,
    ) -> bool:
        for unsupported in ("srcaddr-negate", "dstaddr-negate", "service-negate"):
            if values.get(unsupported) == "enable":
                raise UndecidableError(unsupported)
        if tokens(values.get("schedule", '"always"')) != ["always"]:
            raise UndecidableError(f"schedule {values.get('schedule')}")
        srcintf, dstintf = tokens(values.get("srcintf", "")), tokens(values.get("dstintf", ""))
        if packet.in_interface not in srcintf and "any" not in srcintf:
            return False
        if out not in dstintf and "any" not in dstintf:
            return False
        if not any(self._address_matches(n, packet.src) for n in tokens(values.get("srcaddr", ""))):
            return False
        dstaddr = tokens(values.get("dstaddr", ""))
        vips = {k.strip('"') for k in self.tables.get("firewall vip", {})}
        if vip is not None:
            if vip not in dstaddr:
                deny_all = values.get("action") == "deny" and values.get("match-vip") == "enable"
                plain = [n for n in dstaddr if n not in vips]
                if not (deny_all and any(self._address_matches(n, dst) for n in plain)):
                    return False
        elif not any(self._address_matches(n, dst) for n in dstaddr if n not in vips):
            return False
        return self._service_matches(tokens(values.get("service", "")), packet.proto, dport)


def _range(spec: str) -> tuple[int, int]:
    low, _, high = spec.partition("-")
    return int(low), int(high or low)


def _in_range(spec: str, address: str) -> bool:
    if "/" in spec:
        return ipaddress.IPv4Address(address) in ipaddress.IPv4Network(spec, strict=False)
    low, _, high = spec.partition("-")
    target = ipaddress.IPv4Address(address)
    return ipaddress.IPv4Address(low) <= target <= ipaddress.IPv4Address(high or low)


def _canonical(kind: str, raw: str) -> str:
    """A value as FortiOS stores and shows it; ValueError when FortiOS would refuse it."""
    words = tokens(raw)
    if not words:
        raise ValueError(raw)
    if kind == "quoted":
        if any(ord(c) < 0x20 for w in words for c in w):
            raise ValueError(raw)
        return _quoted(words)
    if kind == "ip" and len(words) == 1 and valid_ip(words[0]):
        return words[0]
    if kind == "iprange" and len(words) == 1 and all(valid_ip(p) for p in words[0].split("-")):
        return words[0]
    if kind == "ipmask":
        if len(words) == 1 and "/" in words[0]:
            network = ipaddress.IPv4Interface(words[0])
            return f"{network.ip} {network.netmask}"
        if len(words) == 2 and valid_ip(words[0]) and valid_ip(words[1]):
            return " ".join(words)
    if kind == "ports" and all(
        all(valid_port(p) for p in w.split(":")[0].split("-")) for w in words
    ):
        return " ".join(words)
    checks: dict[str, Any] = {
        "enable": lambda w: w in {"enable", "disable"},
        "proto": lambda w: w in {"tcp", "udp", "sctp", "icmp"},
        "action": lambda w: w in {"accept", "deny", "ipsec"},
        "word": lambda w: bool(_WORD.match(w)),
    }
    if kind in checks and len(words) == 1 and checks[kind](words[0]):
        return words[0]
    if kind == "words" and all(_WORD.match(w) for w in words):
        return " ".join(words)
    raise ValueError(raw)
