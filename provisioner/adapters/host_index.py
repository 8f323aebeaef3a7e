"""Which comune a host belongs to, without loading every comune's inventory.

The helpdesk names one host among thousands (hundreds of comuni x tens of hosts). Loading and
validating every inventory to find it costs seconds; this index keeps, per comune, the host names
of its hosts files and the files' size and modification time. A lookup stats the hosts files
(cheap), re-reads only the comuni whose files changed (names only, C YAML loader, no validation)
and rewrites the index atomically. The index is a cache: deleting it costs one rebuild.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from provisioner.adapters.files import atomic_write

_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_SUFFIXES = (".yml", ".yaml")
_VERSION = 1


class _NamesLoader(_LOADER):  # type: ignore[misc]
    """Fast loader that tolerates Ansible's ``!vault``/``!unsafe`` tags (values are not needed)."""


_NamesLoader.add_constructor("!vault", lambda loader, node: "")
_NamesLoader.add_constructor("!unsafe", lambda loader, node: "")


@dataclass(frozen=True)
class Lookup:
    """Result of looking a host up: the comuni that have it, or the closest names."""

    host: str
    comuni: tuple[str, ...]
    all_hosts: dict[str, tuple[str, ...]]


def _signature(directory: Path) -> list[list[Any]]:
    sig: list[list[Any]] = []
    try:
        entries = sorted(os.scandir(directory), key=lambda e: e.name)
    except OSError:
        return sig
    for entry in entries:
        if entry.is_file() and entry.name.endswith(_SUFFIXES) and not entry.name.startswith("."):
            st = entry.stat()
            sig.append([entry.name, st.st_mtime_ns, st.st_size])
    return sig


def _walk(body: Any, names: set[str]) -> None:
    if not isinstance(body, dict):
        return
    hosts = body.get("hosts")
    if isinstance(hosts, dict):
        names.update(str(h) for h in hosts)
    children = body.get("children")
    if isinstance(children, dict):
        for child in children.values():
            _walk(child, names)


def _host_names(directory: Path, sig: list[list[Any]]) -> list[str]:
    names: set[str] = set()
    for name, _mtime, _size in sig:
        try:
            data = yaml.load((directory / name).read_text(encoding="utf-8"), Loader=_NamesLoader)
        except (OSError, UnicodeDecodeError, yaml.YAMLError):
            continue  # the full load of that comune reports the problem, with its line
        if isinstance(data, dict):
            _walk(data.get("all"), names)
    return sorted(names)


class HostIndex:
    """``<state_dir>/host-index.json``: comune -> (hosts files signature, host names)."""

    def __init__(self, inventory_root: Path, index_file: Path) -> None:
        self.root = inventory_root
        self.path = index_file

    def _read(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        if not isinstance(data, dict) or data.get("version") != _VERSION:
            return {}
        if data.get("root") != str(self.root.resolve()):
            return {}
        comuni = data.get("comuni")
        return comuni if isinstance(comuni, dict) else {}

    def refresh(self) -> dict[str, tuple[str, ...]]:
        """Bring the index up to date; return comune -> host names."""
        cached = self._read()
        fresh: dict[str, Any] = {}
        dirty = False
        try:
            dirs = sorted(
                e.name for e in os.scandir(self.root) if e.is_dir() and not e.name.startswith(".")
            )
        except OSError:
            dirs = []
        for comune in dirs:
            directory = self.root / comune
            sig = _signature(directory)
            entry = cached.get(comune)
            if isinstance(entry, dict) and entry.get("sig") == sig:
                fresh[comune] = entry
                continue
            fresh[comune] = {"sig": sig, "hosts": _host_names(directory, sig)}
            dirty = True
        if dirty or set(fresh) != set(cached):
            self._write(fresh)
        return {comune: tuple(entry["hosts"]) for comune, entry in fresh.items()}

    def _write(self, comuni: dict[str, Any]) -> None:
        payload = {"version": _VERSION, "root": str(self.root.resolve()), "comuni": comuni}
        # A read-only state dir only costs the next lookup a rebuild.
        with contextlib.suppress(OSError):
            atomic_write(self.path, json.dumps(payload, separators=(",", ":")))

    def find(self, host: str) -> Lookup:
        """The comuni whose hosts files name ``host`` (usually one)."""
        index = self.refresh()
        return Lookup(host, tuple(c for c, hosts in index.items() if host in hosts), index)
