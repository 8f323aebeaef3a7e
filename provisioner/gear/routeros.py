"""RouterOS 7: the tool's items, identified by comment, against ``/export terse``; firewall order.

The tool owns items of a few menus whose comment is ``<tag>:<kind>`` with a kind that belongs to
that menu (``/interface wireguard peers``: ``peer:<name>``; ``/ip firewall filter``:
``wireguard-input``, ``forward:<name>``, ``forward-drop``; ...). Nothing else is read as the
tool's, whatever its comment says: an ``add`` of ``/user`` commented ``provisioner:x`` is
somebody else's item and is neither trusted nor touched.

Order matters in the filter table (first match): the tool's rules of a chain must come before
the first rule of that chain that is not the tool's and drops, rejects, tarpits or jumps (in
RouterOS's default configuration, ``defconf: drop invalid``), and in the forward chain its accepts
before its own drop of the rest of the pool. New rules are added with ``place-before=`` that rule;
a rule out of place is removed and added again in place.

RouterOS's console language is parsed and quoted here by hand: no library reads it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

# Paths in dependency order: an item is added after what it refers to and removed before it.
PATH_ORDER: tuple[str, ...] = (
    "/interface wireguard",
    "/ip address",
    "/interface wireguard peers",
    "/ip firewall filter",
    "/ip firewall nat",
)
# The kinds of item the tool owns in each path (the comment after "<tag>:").
KINDS: dict[str, re.Pattern[str]] = {
    "/interface wireguard": re.compile(r"wireguard"),
    "/ip address": re.compile(r"wireguard-address"),
    "/interface wireguard peers": re.compile(r"peer:[A-Za-z0-9._-]+"),
    "/ip firewall filter": re.compile(r"wireguard-input|forward:[A-Za-z0-9._-]+|forward-drop"),
    "/ip firewall nat": re.compile(r"dst-nat:[A-Za-z0-9._-]+(?::[0-9./]+)?"),
}
FILTER = "/ip firewall filter"
# Firewall actions that end a packet's way (or may: a jump) - the tool's rules go before them.
STOPPING = frozenset({"drop", "reject", "tarpit", "jump"})
_ADD = re.compile(r"^(?P<path>/[a-z0-9 -]+?) add (?P<props>.*)$")
# A value RouterOS prints bare; anything else is quoted (as `/export` does).
_BARE = re.compile(r"^[A-Za-z0-9_.:/,@+*!-]+$")
# key=value, the value bare or in double quotes (backslash escapes inside).
_PROP = re.compile(r'\s*([A-Za-z0-9.-]+)=("(?:[^"\\]|\\.)*"|[^\s"]*)(?=\s|$)')
_ESCAPES = {'"': '"', "\\": "\\", "n": "\n", "r": "\r", "t": "\t", "$": "$", "?": "?", "_": " "}
_ESCAPES |= {"a": "\a", "b": "\b", "f": "\f", "v": "\v"}
_QUOTE = {"\\": "\\\\", '"': '\\"', "$": "\\$", "?": "\\?", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


@dataclass(frozen=True)
class Item:
    """One configuration item: its menu path and its properties (``comment`` included)."""

    path: str
    props: tuple[tuple[str, str], ...]

    @property
    def comment(self) -> str:
        """The item's comment (its identity when managed)."""
        return dict(self.props).get("comment", "")

    def prop_map(self) -> dict[str, str]:
        """Properties as a dict."""
        return dict(self.props)


def quote(value: str) -> str:
    """A value as RouterOS accepts it on one console line.

    Bare when it is a plain token; otherwise in double quotes with the scripting manual's escapes
    (``\\\\ \\" \\$ \\? \\n \\r \\t``) and every other control or non-ASCII byte as ``\\XX``:
    a newline can never end the line early, ``$`` never substitutes, ``?`` never asks for help.
    """
    if _BARE.match(value):
        return value
    out: list[str] = []
    for char in value:
        if char in _QUOTE:
            out.append(_QUOTE[char])
        elif ord(char) < 0x20 or ord(char) >= 0x7F:
            out.extend(f"\\{byte:02X}" for byte in char.encode())
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def _unquote(body: str) -> str:
    raw = bytearray()
    i = 0
    while i < len(body):
        char = body[i]
        if char == "\\" and body[i + 1 : i + 2] in _ESCAPES:
            raw += _ESCAPES[body[i + 1]].encode()
            i += 2
        elif char == "\\" and re.fullmatch(r"[0-9A-F]{2}", body[i + 1 : i + 3]):
            raw.append(int(body[i + 1 : i + 3], 16))
            i += 3
        elif char == "\\":
            raise ValueError(f"bad escape in {body!r}")
        else:
            raw += char.encode()
            i += 1
    return raw.decode("utf-8", errors="replace")


def render_props(props: dict[str, str]) -> str:
    """``key=value`` pairs in name order, quoted where needed."""
    return " ".join(f"{k}={quote(v)}" for k, v in sorted(props.items()))


def parse_props(text: str) -> dict[str, str]:
    """Parse ``key=value key="quoted value"`` (RouterOS escapes) into a dict.

    Raises:
        ValueError: a token is not ``key=value`` or a quote is not closed.
    """
    props: dict[str, str] = {}
    for match in _PROP.finditer(text):
        key, value = match.group(1), match.group(2)
        props[key] = _unquote(value[1:-1]) if value.startswith('"') else value
    leftover = _PROP.sub("", text)
    if leftover.strip():
        raise ValueError(f"not key=value: {leftover.strip()!r}")
    return props


def parse_all(text: str) -> list[Item]:
    """Every ``add`` line of an export, in order (the firewall's order is the table's)."""
    items: list[Item] = []
    for raw in text.splitlines():
        match = _ADD.match(raw.strip())
        if not match:
            continue
        try:
            props = parse_props(match["props"])
        except ValueError:
            continue
        items.append(Item(match["path"], tuple(sorted(props.items()))))
    return items


def is_managed(item: Item, tag: str) -> bool:
    """Whether an item is the tool's: a managed path and a comment of a kind of that path."""
    kinds = KINDS.get(item.path)
    prefix = tag + ":"
    return (
        kinds is not None
        and item.comment.startswith(prefix)
        and kinds.fullmatch(item.comment.removeprefix(prefix)) is not None
    )


def parse_export(text: str, tag: str) -> list[Item]:
    """The tool's items of an ``/export terse`` (anything else is ignored)."""
    return [item for item in parse_all(text) if is_managed(item, tag)]


def _rank(path: str) -> int:
    return PATH_ORDER.index(path) if path in PATH_ORDER else len(PATH_ORDER)


def _find(comment: str) -> str:
    return f"[find where comment={quote_always(comment)}]"


def quote_always(value: str) -> str:
    """Quoted even when plain: in a ``find`` expression a bare word may read as a variable."""
    quoted = quote(value)
    return quoted if quoted.startswith('"') else f'"{value}"'


def _anchor_ref(anchor: Item, chain_rules: list[Item]) -> str:
    """A console expression for one rule that is not the tool's (within its chain)."""
    props = anchor.prop_map()
    chain = quote_always(props.get("chain", ""))
    if anchor.comment and sum(1 for i in chain_rules if i.comment == anchor.comment) == 1:
        return f"[find where chain={chain} and comment={quote_always(anchor.comment)}]"
    conditions = " and ".join(f"{k}={quote_always(v)}" for k, v in sorted(props.items()))
    if "comment" not in props:
        conditions += ' and comment=""'
    return f"[:pick [find where {conditions}] 0]"


def _is_drop(item: Item) -> bool:
    return item.prop_map().get("action") == "drop"


def _chain(item: Item) -> str:
    return item.prop_map().get("chain", "")


@dataclass(frozen=True)
class _Chain:
    """One filter chain as running: its rules in order and the first one the tool must precede."""

    rules: list[Item]
    anchor: Item | None

    def misplaced(self, tag: str) -> set[tuple[str, str]]:
        """The tool's rules after the anchor, or accepts after the tool's drop."""
        limit = self.rules.index(self.anchor) if self.anchor is not None else len(self.rules)
        ours = [(n, i) for n, i in enumerate(self.rules) if is_managed(i, tag)]
        first_drop = min((n for n, i in ours if _is_drop(i)), default=len(self.rules))
        return {
            (i.path, i.comment)
            for n, i in ours
            if n > limit or (not _is_drop(i) and n > first_drop)
        }


def _chains(everything: list[Item], chains: set[str], tag: str) -> dict[str, _Chain]:
    found = {}
    for chain in chains:
        rules = [i for i in everything if i.path == FILTER and _chain(i) == chain]
        anchor = next(
            (
                i
                for i in rules
                if not is_managed(i, tag) and i.prop_map().get("action", "accept") in STOPPING
            ),
            None,
        )
        found[chain] = _Chain(rules, anchor)
    return found


def remediate(running: str, intended: str, tag: str) -> list[str]:
    """Commands that turn the managed items of ``running`` into those of ``intended``.

    Items are identified by (path, comment). Managed items missing from ``intended`` are removed
    (dependents first), new ones added (dependencies first, firewall rules in place), changed
    ones ``set`` - or removed and added again when a property must disappear (RouterOS cannot
    unset every property) or a firewall rule is out of place.
    """
    everything = parse_all(running)
    have = {(i.path, i.comment): i for i in everything if is_managed(i, tag)}
    want = {(i.path, i.comment): i for i in parse_export(intended, tag)}
    chains = _chains(everything, {_chain(i) for i in want.values() if i.path == FILTER}, tag)
    misplaced = set().union(*(c.misplaced(tag) for c in chains.values()))
    removes: list[tuple[str, str]] = []
    adds: list[Item] = []
    sets: list[tuple[Item, dict[str, str]]] = []
    for key in have:
        if key not in want:
            removes.append(key)
    for key, item in want.items():
        current = have.get(key)
        if current is None:
            adds.append(item)
            continue
        old, new = current.prop_map(), item.prop_map()
        if key in misplaced or set(old) - set(new):
            removes.append(key)
            adds.append(item)
        elif old != new:
            sets.append((item, {k: v for k, v in new.items() if old.get(k) != v}))
    commands = [
        f"{path} remove {_find(comment)}"
        for path, comment in sorted(removes, key=lambda k: -_rank(k[0]))
    ]
    commands += [
        f"{item.path} set {_find(item.comment)} {render_props(changed)}"
        for item, changed in sorted(sets, key=lambda s: _rank(s[0].path))
    ]
    # Within the filter table a chain's accepts go in before its drop (both before the anchor).
    for item in sorted(adds, key=lambda i: (_rank(i.path), _is_drop(i))):
        where = _place(item, chains, have, set(removes))
        suffix = f" place-before={where}" if where else ""
        commands.append(f"{item.path} add {render_props(item.prop_map())}{suffix}")
    return commands


def _place(
    item: Item, chains: dict[str, _Chain], have: dict[tuple[str, str], Item], removed: set[Any]
) -> str:
    """Where a new filter rule goes: before the tool's drop of its chain if that stays, else
    before the chain's anchor, else at the end ('')."""
    if item.path != FILTER:
        return ""
    chain = chains[_chain(item)]
    if not _is_drop(item):
        stays = [
            key
            for key, i in have.items()
            if i.path == FILTER and _chain(i) == _chain(item) and _is_drop(i) and key not in removed
        ]
        if stays:
            return _find(stays[0][1])
    return _anchor_ref(chain.anchor, chain.rules) if chain.anchor is not None else ""


def managed_part(text: str, tag: str) -> str:
    """The managed items of a configuration, canonical, firewall rules in table order."""
    items = parse_export(text, tag)
    order = {id(i): n for n, i in enumerate(items)}
    items.sort(key=lambda i: (_rank(i.path), order[id(i)] if i.path == FILTER else 0, i.comment))
    return "".join(f"{i.path} add {render_props(i.prop_map())}\n" for i in items)


def carry_over(running: str, intended: str, tag: str, comments: set[str]) -> str:
    """``intended`` plus the running items whose comment is in ``comments``, unchanged.

    A peer whose endpoint published no public key in this run (offline, outside --limit) is
    neither removed nor changed: its running item is carried into the intended configuration.
    """
    present = {item.comment for item in parse_export(intended, tag)}
    kept = [
        f"{item.path} add {render_props(item.prop_map())}"
        for item in parse_export(running, tag)
        if item.comment in comments and item.comment not in present
    ]
    if not kept:
        return intended
    return intended.rstrip("\n") + "\n" + "\n".join(kept) + "\n"


# --------------------------------------------------------------------------- read-only status


def interface_key_command(tag: str) -> str:
    """Prints the public key of the tool's WireGuard interface (never the private key)."""
    return (
        "/interface wireguard print terse proplist=public-key "
        f"where comment={quote_always(tag + ':wireguard')}"
    )


def peers_command(interface: str) -> str:
    """Prints each peer's public key, addresses, time since its last handshake and comment."""
    return (
        "/interface wireguard peers print terse "
        "proplist=public-key,allowed-address,last-handshake,comment "
        f"where interface={quote_always(interface)}"
    )


def parse_print(text: str) -> list[dict[str, str]]:
    """Rows of ``print terse``: `` 0    key=value ...`` (flags, if any, are skipped)."""
    rows = []
    for line in text.splitlines():
        match = re.match(r"^\s*\d+\s+(?:[A-Z]+\s+)?(.*)$", line)
        if match and "=" in match.group(1):
            rows.append(parse_props(match.group(1)))
    return rows


def parse_duration(text: str) -> int:
    """Seconds of a RouterOS time interval: ``1w2d3h4m5s``, ``500ms``, or ``[Nd ]HH:MM:SS``.

    Raises:
        ValueError: not a RouterOS interval.
    """
    clock = re.fullmatch(r"(?:(\d+)d\s*)?(\d+):(\d\d):(\d\d)(?:\.\d+)?", text)
    if clock:
        days, hours, minutes, seconds = (int(g or 0) for g in clock.groups())
        return ((days * 24 + hours) * 60 + minutes) * 60 + seconds
    units = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1, "ms": 0}
    parts = re.findall(r"(\d+)(ms|w|d|h|m|s)", text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"not a RouterOS interval: {text!r}")
    return sum(int(n) * units[u] for n, u in parts)
