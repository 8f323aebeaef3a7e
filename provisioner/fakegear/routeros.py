"""Simulated MikroTik RouterOS 7: console, ``/export terse``, safe mode, packet decisions.

Written from MikroTik's documentation, independently of ``provisioner.gear`` (which it must not
import): its own reading of the console language, its own export.

Console (RouterOS scripting manual): a line holds commands separated by ``;``; ``key=value``
arguments, values bare or in double quotes with the escapes ``\\" \\\\ \\n \\r \\t \\$ \\? \\_
\\a \\b \\f \\v`` and ``\\XX`` (two upper-case hex digits); ``[...]`` is command substitution
(``find where``, ``:pick``). Items have internal ids (``*1``, ``*2`` ...); ``add place-before=``
inserts before an item. ``/export`` prints only set values, in property-name order, and hides
sensitive ones (WireGuard private keys) as RouterOS 7 does; ``/user`` is not part of an export.

Safe mode (RouterOS manual, "Configuration Management"): Ctrl-X takes it ("[Safe Mode taken]",
the prompt shows ``<SAFE>``); Ctrl-X again keeps the changes and leaves it; Ctrl-D leaves the
session and undoes them; so does the end of the session without ``/quit`` (a lost connection:
RouterOS notices a closed TCP connection at once, a silent loss at its TCP timeout of 9 minutes,
here at once); ``/quit`` keeps them. Every change made while safe mode is held, from any session,
is undone. Another session pressing Ctrl-X is asked "Hijacking Safe Mode from someone -
unroll/release/don't take it [u/r/d]". The history keeps 100 actions: one more and the session
leaves safe mode with nothing undone.

Packet decisions (RouterOS manual, "Packet Flow", "Filter", "NAT"): a WireGuard interface only
passes packets whose source is in a peer's ``allowed-address`` (cryptokey routing); the first
packet of a connection goes through ``dstnat`` (first match, ``dst-nat``/``redirect``/``accept``,
``jump``/``return``); then routing: to one of the router's addresses goes to the ``input`` chain,
otherwise ``forward`` (out-interface by longest prefix over connected networks and static
routes); filter chains are first match in order, non-terminal actions (``passthrough``, ``log``,
``fasttrack-connection``, ``add-*-to-address-list``) fall through, ``jump``/``return`` between
chains, and a built-in chain with no match accepts. Matchers: protocol, src/dst address (prefix,
range, ``!``), address lists, src/dst port (list, range), in/out interface and interface list,
connection-state, connection-nat-state, ipsec-policy (nothing here is IPsec), dst-address-type
``local``. A rule using any other matcher makes the decision raise: no silent wrong answer.
Source NAT is not evaluated (it changes no accept/drop decision). A packet accepted to the router
itself reaches a service only if one listens (the ``/ip service`` defaults of RouterOS 7, the
WireGuard listen ports).

The simulator carries no traffic: a peer's last handshake is whatever a test sets with
:meth:`RouterOsDevice.set_handshake`, or, for a simulator running in another process (the lab),
over SSH with the simulator-only command ``/fakegear peer-handshake public-key=<key>
seconds-ago=<n>|never`` (see :func:`provisioner.fakegear.lab.set_simulated_handshake`).
"""

from __future__ import annotations

import base64
import copy
import ipaddress
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from provisioner.fakegear.base import (
    Decision,
    FakeDevice,
    Packet,
    Session,
    UndecidableError,
    config_file,
    valid_port,
)

Item = dict[str, str]
"""One configuration item: its properties; ``.id`` is its internal id (``*1F``)."""

# Menus in the order `/export` prints them; per menu: settable properties, the required ones and
# the sensitive ones (hidden unless `show-sensitive`).
MENUS: dict[str, tuple[frozenset[str], frozenset[str], frozenset[str]]] = {
    "/interface bridge": (
        frozenset({"name", "admin-mac", "auto-mac", "comment", "disabled", "protocol-mode"}),
        frozenset({"name"}),
        frozenset(),
    ),
    "/interface wireguard": (
        frozenset({"name", "listen-port", "mtu", "private-key", "comment", "disabled"}),
        frozenset({"name"}),
        frozenset({"private-key"}),
    ),
    "/interface list": (
        frozenset({"name", "comment", "include", "exclude"}),
        frozenset({"name"}),
        frozenset(),
    ),
    "/interface bridge port": (
        frozenset({"bridge", "interface", "comment", "disabled"}),
        frozenset({"bridge", "interface"}),
        frozenset(),
    ),
    "/interface list member": (
        frozenset({"interface", "list", "comment", "disabled"}),
        frozenset({"interface", "list"}),
        frozenset(),
    ),
    "/interface wireguard peers": (
        frozenset(
            {
                "interface",
                "public-key",
                "allowed-address",
                "endpoint-address",
                "endpoint-port",
                "persistent-keepalive",
                "preshared-key",
                "comment",
                "disabled",
            }
        ),
        frozenset({"interface", "public-key"}),
        frozenset({"preshared-key"}),
    ),
    "/ip address": (
        frozenset({"address", "interface", "network", "comment", "disabled"}),
        frozenset({"address", "interface"}),
        frozenset(),
    ),
    "/ip firewall address-list": (
        frozenset({"list", "address", "comment", "disabled"}),
        frozenset({"list", "address"}),
        frozenset(),
    ),
    "/ip firewall filter": (
        frozenset(
            {
                "chain",
                "action",
                "protocol",
                "src-address",
                "dst-address",
                "src-address-list",
                "dst-address-list",
                "src-port",
                "dst-port",
                "in-interface",
                "out-interface",
                "in-interface-list",
                "out-interface-list",
                "connection-state",
                "connection-nat-state",
                "ipsec-policy",
                "dst-address-type",
                "hw-offload",
                "jump-target",
                "reject-with",
                "comment",
                "disabled",
                "log",
                "log-prefix",
            }
        ),
        frozenset({"chain"}),
        frozenset(),
    ),
    "/ip firewall nat": (
        frozenset(
            {
                "chain",
                "action",
                "protocol",
                "src-address",
                "dst-address",
                "src-address-list",
                "dst-address-list",
                "src-port",
                "dst-port",
                "in-interface",
                "out-interface",
                "in-interface-list",
                "out-interface-list",
                "ipsec-policy",
                "dst-address-type",
                "jump-target",
                "to-addresses",
                "to-ports",
                "comment",
                "disabled",
                "log",
                "log-prefix",
            }
        ),
        frozenset({"chain"}),
        frozenset(),
    ),
    "/ip route": (
        frozenset({"dst-address", "gateway", "distance", "comment", "disabled"}),
        frozenset({"gateway"}),
        frozenset(),
    ),
    "/user": (
        frozenset({"name", "group", "password", "comment", "disabled", "address"}),
        frozenset({"name", "group"}),
        frozenset({"password"}),
    ),
}
NOT_EXPORTED = frozenset({"/user"})
"""RouterOS `/export` does not carry users."""
READ_ONLY = {
    "/interface wireguard": ("public-key", "running"),
    "/interface wireguard peers": ("last-handshake", "rx", "tx"),
}
VERBS = frozenset({"add", "set", "remove", "print", "get", "find", "export"})
ETHERNET = ("ether1", "ether2", "ether3", "ether4", "ether5")
# RouterOS 7 `/ip service` defaults that are enabled: ftp, ssh, telnet, winbox, www, api.
TCP_SERVICES = frozenset({21, 22, 23, 80, 8291, 8728})
SAFE_MODE_HISTORY = 100
SIMULATOR_ONLY = "/fakegear peer-handshake "
"""A console command only the simulator has (see :meth:`RouterOsDevice._simulated_handshake`)."""
HIJACK = "Hijacking Safe Mode from someone - unroll/release/don't take it [u/r/d]: "
_WG_KEY_CHARS = re.compile(r"^[A-Za-z0-9+/]{43}=$")
_ESCAPES = {
    '"': '"',
    "\\": "\\",
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "$": "$",
    "?": "?",
    "_": " ",
    "a": "\a",
    "b": "\b",
    "f": "\f",
    "v": "\v",
}
_BARE_EXPORT = re.compile(r"^[A-Za-z0-9_.:/,@+*!-]+$")


class ConsoleError(Exception):
    """A line RouterOS refuses; the message is what the console prints."""


# --------------------------------------------------------------------------- console language


@dataclass(frozen=True)
class Word:
    """One argument: ``key`` is set for ``key=value``; ``expr`` holds ``[...]`` when the value
    is a command substitution."""

    key: str | None
    value: str
    expr: str | None = None


def split_commands(line: str) -> list[str]:
    """Commands of a console line: ``;`` outside quotes and brackets ends a command."""
    out: list[str] = []
    current: list[str] = []
    depth = 0
    quoted = False
    escaped = False
    for char in line:
        if escaped:
            escaped = False
        elif quoted and char == "\\":
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif not quoted and char == "[":
            depth += 1
        elif not quoted and char == "]":
            depth -= 1
        elif not quoted and depth == 0 and char == ";":
            out.append("".join(current))
            current = []
            continue
        current.append(char)
    if quoted:
        raise ConsoleError("syntax error (unterminated string)")
    out.append("".join(current))
    return [c.strip() for c in out if c.strip()]


def unescape(body: str) -> str:
    """The text of a double-quoted string (without its quotes)."""
    out: list[str] = []
    i = 0
    while i < len(body):
        char = body[i]
        if char == "$":
            raise ConsoleError(f"syntax error (variable in string at column {i + 1})")
        if char != "\\":
            out.append(char)
            i += 1
            continue
        nxt = body[i + 1 : i + 2]
        if nxt in _ESCAPES:
            out.append(_ESCAPES[nxt])
            i += 2
        elif re.fullmatch(r"[0-9A-F]{2}", body[i + 1 : i + 3]):
            out.append(chr(int(body[i + 1 : i + 3], 16)))
            i += 3
        else:
            raise ConsoleError(f"syntax error (bad escape at column {i + 1})")
    return "".join(out)


def words(command: str) -> list[Word]:
    """The arguments of one command."""
    result: list[Word] = []
    i = 0
    n = len(command)
    while i < n:
        if command[i].isspace():
            i += 1
            continue
        key: str | None = None
        match = re.match(r"[A-Za-z0-9.-]+=", command[i:])
        if match and not command[i:].startswith(("[", '"')):
            key = match.group(0)[:-1]
            i += len(match.group(0))
        value: list[str] = []
        expr: str | None = None
        while i < n and not command[i].isspace():
            char = command[i]
            if char == '"':
                end = i + 1
                while end < n and command[end] != '"':
                    end += 2 if command[end] == "\\" else 1
                if end >= n:
                    raise ConsoleError("syntax error (unterminated string)")
                value.append(unescape(command[i + 1 : end]))
                i = end + 1
            elif char == "[":
                end = _closing_bracket(command, i)
                expr = command[i + 1 : end].strip()
                i = end + 1
            elif char in "$?":
                raise ConsoleError(f"expected end of command (line 1 column {i + 1})")
            else:
                value.append(char)
                i += 1
        result.append(Word(key, "".join(value), expr))
    return result


def _closing_bracket(text: str, start: int) -> int:
    depth = 0
    quoted = False
    i = start
    while i < len(text):
        char = text[i]
        if quoted:
            if char == "\\":
                i += 1
            elif char == '"':
                quoted = False
        elif char == '"':
            quoted = True
        elif char == "[":
            depth += 1
        elif char == "]":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    raise ConsoleError("syntax error (missing ])")


def export_value(value: str) -> str:
    """A value as `/export` prints it: bare when plain, else quoted with RouterOS escapes."""
    if value and _BARE_EXPORT.match(value):
        return value
    out: list[str] = []
    for char in value:
        if char in '"\\$?':
            out.append("\\" + char)
        elif char == "\n":
            out.append("\\n")
        elif char == "\r":
            out.append("\\r")
        elif char == "\t":
            out.append("\\t")
        elif ord(char) < 0x20 or ord(char) >= 0x7F:
            out.extend(f"\\{b:02X}" for b in char.encode())
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def format_duration(seconds: float) -> str:
    """A RouterOS time interval as ``print`` shows it (``1w2d3h4m5s``)."""
    whole = int(seconds)
    parts = []
    for unit, size in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60)):
        if whole >= size:
            parts.append(f"{whole // size}{unit}")
            whole %= size
    if whole or not parts:
        parts.append(f"{whole}s")
    return "".join(parts)


# --------------------------------------------------------------------------- the device


class RouterOsDevice(FakeDevice):
    """RouterOS 7 with its default configuration (defconf) readdressed for a comune office."""

    device_type = "mikrotik_routeros"
    # netmiko logs in as ``<user>+ct511w4098h`` (console options), as RouterOS expects.
    username_suffix = "+ct511w4098h"

    def __init__(
        self, hostname: str, config: str | None = None, *, host_key_seed: bytes | None = None
    ) -> None:
        super().__init__(hostname, host_key_seed=host_key_seed)
        self.tables: dict[str, list[Item]] = {}
        self.next_id = 1
        self.identity = hostname
        self.handshakes: dict[str, float] = {}
        self.safe_owner: Session | None = None
        self.safe_snapshot: dict[str, Any] | None = None
        self.safe_actions = 0
        self.load(config if config is not None else config_file("mikrotik_routeros.rsc"))

    # ----------------------------------------------------------------- state

    def load(self, text: str) -> None:
        """Replace the configuration by running ``text`` (an export) on an empty router."""
        self.tables = {path: [] for path in MENUS}
        self.next_id = 1
        session = Session()
        for raw in text.splitlines():
            line = raw.strip()
            if line and not line.startswith("#"):
                output = self._line(session, line)
                if output:
                    raise ValueError(f"starting configuration line refused: {line}: {output}")

    def _state(self) -> dict[str, Any]:
        return {
            "tables": copy.deepcopy(self.tables),
            "next_id": self.next_id,
            "identity": self.identity,
        }

    def snapshot(self) -> dict[str, Any]:
        """Everything the configuration holds, users included (for byte-for-byte comparisons)."""
        with self.lock:
            return self._state()

    def _restore(self, state: dict[str, Any]) -> None:
        self.tables = copy.deepcopy(state["tables"])
        self.next_id = state["next_id"]
        self.identity = state["identity"]

    def set_handshake(self, public_key: str, at: float | None) -> None:
        """Pretend the peer with ``public_key`` completed a handshake at ``at`` (epoch; None:
        never). The simulator carries no WireGuard traffic; tests decide what happened."""
        with self.lock:
            if at is None:
                self.handshakes.pop(public_key, None)
            else:
                self.handshakes[public_key] = at

    def prompt(self, session: Session) -> str:
        if session.vendor.get("hijack"):
            return HIJACK
        marker = "<SAFE>" if self.safe_owner is session else ">"
        return f"[admin@{self.identity}] {marker} "

    def config(self) -> str:
        return self.export(sensitive=False)

    def export(self, *, sensitive: bool) -> str:
        """``/export terse`` (``show-sensitive`` when ``sensitive``)."""
        lines = ["# RouterOS 7.16.2", "# software id = FAKE-GEAR", "#", "# model = CHR"]
        for path, (_, _, secret) in MENUS.items():
            if path in NOT_EXPORTED:
                continue
            for item in self.tables[path]:
                props = {
                    k: v
                    for k, v in item.items()
                    if not k.startswith(".") and (sensitive or k not in secret)
                }
                rendered = " ".join(f"{k}={export_value(v)}" for k, v in sorted(props.items()))
                lines.append(f"{path} add {rendered}".rstrip())
        lines.append(f"/system identity set name={export_value(self.identity)}")
        return "\n".join(lines) + "\n"

    # ----------------------------------------------------------------- sessions

    def session_ended(self, session: Session) -> None:
        with self.lock:
            if self.safe_owner is session:
                if not session.closed or session.vendor.get("undo_on_exit"):
                    self._restore(self.safe_snapshot or self._state())
                self._leave_safe_mode()

    def _leave_safe_mode(self) -> None:
        self.safe_owner = None
        self.safe_snapshot = None
        self.safe_actions = 0

    def _changed(self) -> str:
        """Count one action in the safe-mode history; past its size, safe mode ends unrolled."""
        if self.safe_owner is None:
            return ""
        self.safe_actions += 1
        if self.safe_actions > SAFE_MODE_HISTORY:
            self._leave_safe_mode()
            return "[Safe Mode released: history full, changes kept]"
        return ""

    def _key(self, session: Session, key: str) -> str:
        if session.vendor.get("hijack"):
            session.vendor.pop("hijack")
            answer = key.lower()
            if answer == "u":
                self._restore(self.safe_snapshot or self._state())
            if answer in {"u", "r"}:
                self.safe_owner = session
                self.safe_snapshot = self._state()
                self.safe_actions = 0
                return "[Safe Mode taken]"
            return ""
        if key == "\x18":
            if self.safe_owner is session:
                self._leave_safe_mode()
                return "[Safe Mode released]"
            if self.safe_owner is not None:
                session.vendor["hijack"] = True
                return ""
            self.safe_owner = session
            self.safe_snapshot = self._state()
            self.safe_actions = 0
            return "[Safe Mode taken]"
        if key == "\x04":
            if self.safe_owner is session:
                session.vendor["undo_on_exit"] = True
            session.closed = True
            return ""
        return ""  # Ctrl-C: abandons the line being typed

    def run(self, session: Session, line: str) -> str:
        if session.vendor.get("hijack") or line in {"\x18", "\x04", "\x03"}:
            return self._key(session, line)
        if line in self.rejected:
            return "failure: configuration change refused by device policy"
        return self._line(session, line)

    def _line(self, session: Session, line: str) -> str:
        try:
            outputs = [self._command(session, c) for c in split_commands(line)]
        except ConsoleError as exc:
            return str(exc)
        return "\n".join(o for o in outputs if o)

    # ----------------------------------------------------------------- commands

    def _command(self, session: Session, command: str) -> str:
        if command in {"quit", "/quit"}:
            session.closed = True
            return ""
        if command.startswith(SIMULATOR_ONLY):
            return self._simulated_handshake(command.removeprefix(SIMULATOR_ONLY))
        args = words(command)
        if not args or not args[0].value.startswith("/"):
            first = args[0].value if args else command
            raise ConsoleError(f"bad command name {first.strip('/:')} (line 1 column 1)")
        path_words: list[str] = []
        rest = args
        for index, word in enumerate(args):
            if word.key is None and word.expr is None and word.value.strip("/") in VERBS:
                rest = args[index:]
                break
            path_words.extend(p for p in word.value.split("/") if p)
        else:
            rest = []
        path = "/" + " ".join(path_words)
        if not rest:
            raise ConsoleError(f"bad command name {path_words[-1]} (line 1 column 2)")
        verb, params = rest[0].value.strip("/"), rest[1:]
        if path == "/" and verb == "export":
            return self._export(params)
        if path == "/system identity":
            return self._identity(verb, params)
        if path not in MENUS:
            raise ConsoleError(f"bad command name {path_words[-1]} (line 1 column 2)")
        handler: dict[str, Callable[[str, list[Word]], str]] = {
            "add": self._add,
            "set": self._set,
            "remove": self._remove,
            "print": self._print,
        }
        if verb not in handler:
            raise ConsoleError(f"bad command name {verb} (line 1 column 2)")
        return handler[verb](path, params)

    def _simulated_handshake(self, rest: str) -> str:
        """Not RouterOS: lets a lab test running the simulator in another process set a peer's
        last handshake (``public-key=<key> seconds-ago=<n>|never``), since no traffic flows."""
        props = {w.key: w.value for w in words(rest) if w.key}
        key, ago = props.get("public-key", ""), props.get("seconds-ago", "")
        if not key or not (ago.isdigit() or ago == "never"):
            raise ConsoleError("expected public-key=<key> seconds-ago=<n>|never")
        self.set_handshake(key, None if ago == "never" else time.time() - int(ago))
        return ""

    def _export(self, params: list[Word]) -> str:
        flags = {w.value for w in params}
        if not flags <= {"terse", "show-sensitive", "hide-sensitive"}:
            raise ConsoleError("expected end of command (line 1 column 9)")
        return self.export(sensitive="show-sensitive" in flags).rstrip("\n")

    def _identity(self, verb: str, params: list[Word]) -> str:
        if verb == "print":
            return f"  name: {self.identity}"
        if verb == "set" and len(params) == 1 and params[0].key == "name":
            self.identity = params[0].value
            return self._changed()
        raise ConsoleError("expected end of command (line 1 column 18)")

    def _props(self, path: str, params: list[Word]) -> dict[str, str]:
        allowed = MENUS[path][0]
        props: dict[str, str] = {}
        for word in params:
            if word.key is None:
                raise ConsoleError(f"expected end of command (at {word.value!r})")
            if word.key not in allowed:
                raise ConsoleError(f"expected end of command (unknown argument {word.key})")
            if word.expr is not None:
                raise ConsoleError(f"invalid value for argument {word.key}")
            props[word.key] = word.value
        return props

    def _add(self, path: str, params: list[Word]) -> str:
        place = next((w for w in params if w.key == "place-before"), None)
        props = self._props(path, [w for w in params if w.key != "place-before"])
        missing = sorted(MENUS[path][1] - set(props))
        if missing:
            raise ConsoleError(f"failure: {missing[0]} not specified")
        table = self.tables[path]
        index = len(table)
        if place is not None:
            ids = self._ids(path, place)
            if len(ids) != 1:
                raise ConsoleError("invalid value for argument place-before")
            index = next(i for i, item in enumerate(table) if item[".id"] == ids[0])
        item = self._complete(path, props)
        self._check(path, item, others=table)
        item[".id"] = f"*{self.next_id:X}"
        self.next_id += 1
        table.insert(index, item)
        return self._changed()

    def _set(self, path: str, params: list[Word]) -> str:
        if not params or params[0].key not in {None, "numbers"}:
            raise ConsoleError("expected end of command (missing item)")
        ids = self._ids(path, params[0])
        props = self._props(path, params[1:])
        table = self.tables[path]
        for item in table:
            if item[".id"] in ids:
                merged = self._complete(path, {**item, **props})
                self._check(path, merged, others=[o for o in table if o is not item])
        for item in table:
            if item[".id"] in ids:
                item.update(props)
        return self._changed() if ids else ""

    def _remove(self, path: str, params: list[Word]) -> str:
        if len(params) != 1 or params[0].key not in {None, "numbers"}:
            raise ConsoleError("expected end of command (remove takes the items only)")
        ids = self._ids(path, params[0])
        self.tables[path] = [item for item in self.tables[path] if item[".id"] not in ids]
        return self._changed() if ids else ""

    def _print(self, path: str, params: list[Word]) -> str:
        """``print [terse|detail] [proplist=a,b] [where <conditions>]``."""
        proplist: list[str] | None = None
        conditions: list[Word] = []
        seen_where = False
        for word in params:
            if seen_where:
                conditions.append(word)
            elif word.key is None and word.value == "where":
                seen_where = True
            elif word.key == "proplist":
                proplist = word.value.split(",")
            elif word.key is not None or word.value not in {"terse", "detail", "without-paging"}:
                raise ConsoleError(f"expected end of command (print {word.value})")
        lines = []
        selected = self._select(path, conditions)
        for number, item in enumerate(self.tables[path]):
            if item not in selected:
                continue
            shown = self._shown(path, item)
            names = proplist if proplist is not None else sorted(shown)
            values = " ".join(f"{k}={export_value(shown[k])}" for k in names if k in shown)
            lines.append(f"{number:2}    {values}")
        return "\n".join(lines)

    def _shown(self, path: str, item: Item) -> dict[str, str]:
        shown = {k: v for k, v in item.items() if not k.startswith(".")}
        for secret in MENUS[path][2]:
            shown.pop(secret, None)
        if path == "/interface wireguard":
            shown["public-key"] = item[".public-key"]
        if path == "/interface wireguard peers":
            shown["rx"] = shown["tx"] = "0"
            at = self.handshakes.get(item.get("public-key", ""))
            if at is not None:
                shown["last-handshake"] = format_duration(max(0.0, time.time() - at))
        return shown

    # ----------------------------------------------------------------- item references

    def _ids(self, path: str, word: Word) -> list[str]:
        if word.expr is not None:
            result = self._evaluate(path, word.expr)
            return result if isinstance(result, list) else [result]
        if re.fullmatch(r"\*[0-9A-F]+", word.value):
            if not any(item[".id"] == word.value for item in self.tables[path]):
                raise ConsoleError("no such item")
            return [word.value]
        raise ConsoleError("no such item (numbers need a print in this session)")

    def _evaluate(self, path: str, expr: str) -> list[str] | str:
        args = words(expr)
        if not args:
            raise ConsoleError("syntax error (empty [])")
        head = args[0].value
        if head == ":pick" and len(args) == 3 and args[1].expr is not None:
            listed = self._evaluate(path, args[1].expr)
            items = listed if isinstance(listed, list) else [listed]
            index = int(args[2].value)
            return items[index] if index < len(items) else []
        target = path
        if head.startswith("/") and head.strip("/") != "find":
            target = "/" + " ".join(p for p in head.split("/") if p)
            args = args[1:]
            while args and args[0].key is None and args[0].value not in VERBS:
                target += " " + args[0].value
                args = args[1:]
            if target not in MENUS:
                raise ConsoleError(f"bad command name {target} (line 1 column 2)")
            head = args[0].value if args else ""
        if head.strip("/") != "find":
            raise ConsoleError(f"bad command name {head} (line 1 column 2)")
        conditions = [w for w in args[1:] if not (w.key is None and w.value == "where")]
        return [item[".id"] for item in self._select(target, conditions)]

    def _select(self, path: str, conditions: list[Word]) -> list[Item]:
        tests: list[Callable[[Item], bool]] = []
        for word in conditions:
            if word.key is None and word.value in {"and", "&&"}:
                continue
            if word.key is None:
                raise ConsoleError(f"expected end of command (condition {word.value!r})")
            key, value = word.key, word.value

            def test(item: Item, key: str = key, value: str = value) -> bool:
                return self._shown(path, item).get(key, "") == value

            tests.append(test)
        return [item for item in self.tables[path] if all(t(item) for t in tests)]

    # ----------------------------------------------------------------- validation

    def _interfaces(self) -> set[str]:
        names = set(ETHERNET)
        names |= {i["name"] for i in self.tables["/interface bridge"]}
        names |= {i["name"] for i in self.tables["/interface wireguard"]}
        return names

    def _complete(self, path: str, props: Item) -> Item:
        item = dict(props)
        if path == "/ip address" and "address" in item and "network" not in item:
            try:
                item["network"] = str(
                    ipaddress.ip_interface(item["address"]).network.network_address
                )
            except ValueError as exc:
                raise ConsoleError("invalid value for argument address") from exc
        if path == "/interface wireguard" and ".public-key" not in item:
            private = (
                X25519PrivateKey.from_private_bytes(base64.b64decode(item["private-key"]))
                if item.get("private-key")
                else X25519PrivateKey.generate()
            )
            raw = private.private_bytes(
                serialization.Encoding.Raw,
                serialization.PrivateFormat.Raw,
                serialization.NoEncryption(),
            )
            public = private.public_key().public_bytes(
                serialization.Encoding.Raw, serialization.PublicFormat.Raw
            )
            item["private-key"] = base64.b64encode(raw).decode()
            item[".public-key"] = base64.b64encode(public).decode()
        return item

    def _check(self, path: str, item: Item, others: list[Item]) -> None:
        interfaces = self._interfaces()
        for key in ("interface", "in-interface", "out-interface", "bridge"):
            value = item.get(key, "").removeprefix("!")
            if key in item and value not in interfaces:
                raise ConsoleError(f"input does not match any value of {key}")
        lists = {i["name"] for i in self.tables["/interface list"]} | {"all", "none"}
        for key in ("list", "in-interface-list", "out-interface-list"):
            listed = item.get(key, "").removeprefix("!")
            if path != "/ip firewall address-list" and key in item and listed not in lists:
                raise ConsoleError(f"input does not match any value of {key}")
        for key in ("address", "allowed-address", "network", "gateway", "to-addresses"):
            if key in item:
                for part in item[key].split(","):
                    try:
                        ipaddress.ip_interface(part)
                    except ValueError as exc:
                        raise ConsoleError(f"invalid value for argument {key}") from exc
        for key in ("src-address", "dst-address", "dst-address-list", "src-address-list"):
            if key.endswith("-address") and key in item:
                try:
                    _address_test(item[key])
                except ValueError as exc:
                    raise ConsoleError(f"invalid value for argument {key}") from exc
        for key in ("listen-port", "endpoint-port"):
            if key in item and not valid_port(item[key]):
                raise ConsoleError(f"invalid value for argument {key}")
        for key in ("dst-port", "src-port", "to-ports"):
            if key in item:
                try:
                    _port_test(item[key])
                except ValueError as exc:
                    raise ConsoleError(f"invalid value for argument {key}") from exc
        if path == "/interface wireguard peers":
            key = item.get("public-key", "")
            if not _WG_KEY_CHARS.match(key) or len(base64.b64decode(key)) != 32:
                raise ConsoleError("invalid value for argument public-key")
            if any(o.get("public-key") == key for o in others):
                raise ConsoleError("failure: already have peer with such public key")
        named = {"/interface wireguard", "/interface bridge", "/interface list", "/user"}
        if path in named and any(o.get("name") == item["name"] for o in others):
            raise ConsoleError("failure: already have such name")

    # ----------------------------------------------------------------- packet decisions

    def evaluate(self, packet: Packet) -> Decision:
        with self.lock:
            return self._decide(packet)

    def _enabled(self, path: str) -> list[Item]:
        return [i for i in self.tables[path] if i.get("disabled", "no") != "yes"]

    def _lists_of(self, interface: str) -> set[str]:
        found = {"all"}
        for member in self._enabled("/interface list member"):
            if member["interface"] == interface:
                found.add(member["list"])
        return found

    def _local_addresses(self) -> set[ipaddress.IPv4Address | ipaddress.IPv6Address]:
        own = {ipaddress.ip_interface(a["address"]).ip for a in self._enabled("/ip address")}
        return own | {ipaddress.ip_address("127.0.0.1")}

    def _route(self, dst: str) -> str | None:
        target = ipaddress.ip_address(dst)
        best: tuple[int, str] | None = None
        connected = [
            (ipaddress.ip_interface(a["address"]).network, a["interface"])
            for a in self._enabled("/ip address")
        ]
        for network, interface in connected:
            if target in network and (best is None or network.prefixlen > best[0]):
                best = (network.prefixlen, interface)
        for route in self._enabled("/ip route"):
            network = ipaddress.ip_network(route.get("dst-address", "0.0.0.0/0"))
            if target not in network or (best is not None and best[0] >= network.prefixlen):
                continue
            gateway = ipaddress.ip_address(route["gateway"])
            via = next((i for n, i in connected if gateway in n), None)
            if via is not None:
                best = (network.prefixlen, via)
        return best[1] if best else None

    def _decide(self, packet: Packet) -> Decision:
        if packet.in_interface not in self._interfaces():
            raise ValueError(f"{self.hostname} has no interface {packet.in_interface}")
        wireguard = {w["name"] for w in self._enabled("/interface wireguard")}
        if packet.in_interface in wireguard:
            peers = [
                p
                for p in self._enabled("/interface wireguard peers")
                if p["interface"] == packet.in_interface
            ]
            source = ipaddress.ip_address(packet.src)
            if not any(
                source in ipaddress.ip_network(a, strict=False)
                for p in peers
                for a in p.get("allowed-address", "").split(",")
                if a
            ):
                return Decision(
                    "drop",
                    "wireguard: no peer's allowed-address holds the source",
                    packet.dst,
                    packet.dport,
                )
        dst, dport, nat_rule = packet.dst, packet.dport, ""
        if packet.state == "new":
            dst, dport, nat_rule = self._dstnat(packet)
        ctx = _Context(packet, dst, dport, dstnat=bool(nat_rule), lists=self._lists_of)
        local = ipaddress.ip_address(dst) in self._local_addresses()
        out = None if local else self._route(dst)
        if not local and out is None:
            return Decision("drop", "no route", dst, dport)
        ctx.out_interface = out
        chain = "input" if local else "forward"
        verdict, rule = self._chain(chain, ctx, "/ip firewall filter", depth=0)
        if verdict is None:
            verdict, rule = "accept", f"chain {chain}: no rule matched (built-in chains accept)"
        if verdict != "accept":
            return Decision("drop", rule, dst, dport, out, local)
        if local and not self._listens(packet.proto, dport):
            return Decision(
                "closed",
                f"{rule}; nothing listens on {packet.proto}/{dport}",
                dst,
                dport,
                None,
                True,
            )
        return Decision("accept", rule, dst, dport, out, local)

    def _listens(self, proto: str, port: int | None) -> bool:
        if proto == "icmp":
            return True
        if proto == "tcp":
            return port in TCP_SERVICES
        return any(
            str(port) == w.get("listen-port", "13231")
            for w in self._enabled("/interface wireguard")
        )

    def _dstnat(self, packet: Packet) -> tuple[str, int | None, str]:
        ctx = _Context(packet, packet.dst, packet.dport, dstnat=False, lists=self._lists_of)
        rules = self._enabled("/ip firewall nat")
        found = self._walk("dstnat", ctx, rules, depth=0)
        if found is None or found[0].get("action") not in {"dst-nat", "redirect"}:
            return packet.dst, packet.dport, ""
        rule = found[0]
        dst = packet.dst
        if rule["action"] == "dst-nat" and rule.get("to-addresses"):
            dst = rule["to-addresses"].split("-")[0].split("/")[0]
        elif rule["action"] == "redirect":
            dst = next(
                (
                    str(ipaddress.ip_interface(a["address"]).ip)
                    for a in self._enabled("/ip address")
                    if a["interface"] == packet.in_interface
                ),
                packet.dst,
            )
        ports = rule.get("to-ports")
        dport = int(ports.split("-")[0]) if ports else packet.dport
        return dst, dport, _label(rule)

    def _walk(
        self, chain: str, ctx: _Context, rules: list[Item], depth: int
    ) -> tuple[Item, str] | None:
        """First terminal rule of ``chain`` (following jumps), or None to fall off the end."""
        if depth > 16:
            raise UndecidableError("jump depth over 16")
        for rule in rules:
            if rule["chain"] != chain or not _matches(rule, ctx):
                continue
            action = rule.get("action", "accept")
            if action in {
                "passthrough",
                "log",
                "fasttrack-connection",
                "add-src-to-address-list",
                "add-dst-to-address-list",
            }:
                continue
            if action == "return":
                return None
            if action == "jump":
                found = self._walk(rule["jump-target"], ctx, rules, depth + 1)
                if found is not None:
                    return found
                continue
            return rule, action
        return None

    def _chain(self, chain: str, ctx: _Context, path: str, depth: int) -> tuple[str | None, str]:
        found = self._walk(chain, ctx, self._enabled(path), depth)
        if found is None:
            return None, ""
        rule, action = found
        verdict = "accept" if action == "accept" else "drop"
        if action not in {"accept", "drop", "reject", "tarpit"}:
            raise UndecidableError(f"filter action {action}")
        return verdict, _label(rule)


@dataclass
class _Context:
    packet: Packet
    dst: str
    dport: int | None
    dstnat: bool
    lists: Callable[[str], set[str]]
    out_interface: str | None = None


def _label(rule: Item) -> str:
    return rule.get("comment") or f"{rule['chain']} {rule.get('action', 'accept')} {rule['.id']}"


def _negated(value: str) -> tuple[bool, str]:
    return (True, value[1:]) if value.startswith("!") else (False, value)


def _address_test(value: str) -> Callable[[str], bool]:
    negate, text = _negated(value)
    if "-" in text:
        low, high = (ipaddress.IPv4Address(p) for p in text.split("-", 1))
        return lambda a: negate != (low <= ipaddress.IPv4Address(a) <= high)
    network = ipaddress.ip_network(text, strict=False)
    return lambda a: negate != (ipaddress.ip_address(a) in network)


def _port_test(value: str) -> Callable[[int | None], bool]:
    negate, text = _negated(value)
    ranges: list[tuple[int, int]] = []
    for part in text.split(","):
        low, _, high = part.partition("-")
        if not valid_port(low) or (high and not valid_port(high)):
            raise ValueError(value)
        ranges.append((int(low), int(high or low)))
    return lambda p: negate != (p is not None and any(a <= p <= b for a, b in ranges))


_IGNORED = frozenset(
    {
        ".id",
        "chain",
        "action",
        "comment",
        "disabled",
        "log",
        "log-prefix",
        "jump-target",
        "to-addresses",
        "to-ports",
        "hw-offload",
        "reject-with",
    }
)


def _matches(rule: Item, ctx: _Context) -> bool:
    packet = ctx.packet
    for key, value in rule.items():
        if key in _IGNORED:
            continue
        negate, text = _negated(value)
        if key == "protocol":
            ok = packet.proto == text
        elif key == "src-address":
            ok = _address_test(value)(packet.src)
            negate = False
        elif key == "dst-address":
            ok = _address_test(value)(ctx.dst)
            negate = False
        elif key in {"dst-port", "src-port"}:
            if packet.proto not in {"tcp", "udp"}:
                return False
            if key == "src-port":
                raise UndecidableError("src-port (packets here carry no source port)")
            ok = _port_test(value)(ctx.dport)
            negate = False
        elif key == "in-interface":
            ok = packet.in_interface == text
        elif key == "out-interface":
            ok = ctx.out_interface == text
        elif key == "in-interface-list":
            ok = text in ctx.lists(packet.in_interface)
        elif key == "out-interface-list":
            ok = ctx.out_interface is not None and text in ctx.lists(ctx.out_interface)
        elif key == "connection-state":
            ok = packet.state in text.split(",")
        elif key == "connection-nat-state":
            ok = ctx.dstnat if text == "dstnat" else False
        elif key == "ipsec-policy":
            ok = text.split(",")[-1] == "none"
        elif key == "dst-address-type":
            if text != "local":
                raise UndecidableError(f"dst-address-type={value}")
            ok = ctx.out_interface is None
        else:
            raise UndecidableError(f"{key}={value}")
        if negate == ok:
            return False
    return True
