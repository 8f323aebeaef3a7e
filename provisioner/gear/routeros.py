"""RouterOS 7 remediation: items tagged by the tool's comment, compared against `/export terse`."""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass

# Paths in dependency order: an item is added after what it refers to and removed before it.
PATH_ORDER: tuple[str, ...] = (
    "/interface wireguard",
    "/ip address",
    "/interface wireguard peers",
    "/ip firewall filter",
    "/ip firewall nat",
)
_ADD = re.compile(r"^(?P<path>/[a-z0-9 -]+?) add (?P<props>.*)$")
# A value RouterOS prints bare; anything else is quoted (as `/export` does).
_BARE = re.compile(r"^[A-Za-z0-9_.:/,@+*-]+$")


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
    """A value as RouterOS prints and accepts it."""
    if _BARE.match(value):
        return value
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$")
    return f'"{escaped}"'


def render_props(props: dict[str, str]) -> str:
    """``key=value`` pairs in name order, quoted where needed."""
    return " ".join(f"{k}={quote(v)}" for k, v in sorted(props.items()))


def parse_props(text: str) -> dict[str, str]:
    """Parse ``key=value key="quoted value"`` into a dict.

    Raises:
        ValueError: a token is not ``key=value`` or quoting is unbalanced.
    """
    props: dict[str, str] = {}
    for token in shlex.split(text, posix=True):
        key, sep, value = token.partition("=")
        if not sep or not key:
            raise ValueError(f"expected key=value, got {token!r}")
        props[key] = value
    return props


def parse_export(text: str, tag: str) -> list[Item]:
    """The items of an ``/export terse`` whose comment carries ``tag`` (unmanaged ones ignored)."""
    items: list[Item] = []
    for raw in text.splitlines():
        line = raw.strip()
        match = _ADD.match(line)
        if not match:
            continue
        try:
            props = parse_props(match["props"])
        except ValueError:
            continue
        if is_managed(props.get("comment", ""), tag):
            items.append(Item(match["path"], tuple(sorted(props.items()))))
    return items


def is_managed(comment: str, tag: str) -> bool:
    """Whether a comment marks an item as the tool's (``tag`` or ``tag:<id>``)."""
    return comment == tag or comment.startswith(tag + ":")


def _rank(path: str) -> int:
    return PATH_ORDER.index(path) if path in PATH_ORDER else len(PATH_ORDER)


def _find(comment: str) -> str:
    # Always quoted: in a `find` expression a bare word may be read as a variable or operator.
    escaped = comment.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$")
    return f'[find where comment="{escaped}"]'


def remediate(running: str, intended: str, tag: str) -> list[str]:
    """Commands that turn the managed items of ``running`` into those of ``intended``.

    Items are identified by (path, comment). Managed items missing from ``intended`` are removed
    (dependents first), new ones added (dependencies first), changed ones ``set`` - or removed and
    re-added when a property must disappear, since RouterOS cannot unset every property.
    """
    have = {(i.path, i.comment): i for i in parse_export(running, tag)}
    want = {(i.path, i.comment): i for i in parse_export(intended, tag)}
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
        if old == new:
            continue
        if set(old) - set(new):
            removes.append(key)
            adds.append(item)
        else:
            sets.append((item, {k: v for k, v in new.items() if old.get(k) != v}))
    commands = [
        f"{path} remove {_find(comment)}"
        for path, comment in sorted(removes, key=lambda k: -_rank(k[0]))
    ]
    commands += [
        f"{item.path} set {_find(item.comment)} {render_props(changed)}"
        for item, changed in sorted(sets, key=lambda s: _rank(s[0].path))
    ]
    commands += [
        f"{item.path} add {render_props(item.prop_map())}"
        for item in sorted(adds, key=lambda i: _rank(i.path))
    ]
    return commands


def scoped(text: str, tag: str) -> str:
    """The managed items of a configuration, canonical (for diffs and comparisons)."""
    items = sorted(parse_export(text, tag), key=lambda i: (_rank(i.path), i.comment))
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
