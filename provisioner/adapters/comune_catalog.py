"""Name and province of every comune, read fast and kept while its settings files are unchanged.

The console's overview lists hundreds of comuni on every request; validating every inventory
for that would cost seconds. The catalog reads only ``group_vars/all/*.yml`` (C YAML loader,
Ansible's tags tolerated, no validation: a bad comune shows up when it is loaded for real) and
re-reads a comune only when the size or mtime of one of those files changed.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _TolerantLoader(_LOADER):  # type: ignore[misc]
    """Reads files holding ``!vault``/``!unsafe`` values (their values are not needed here)."""


_TolerantLoader.add_constructor("!vault", lambda loader, node: "")
_TolerantLoader.add_constructor("!unsafe", lambda loader, node: "")


@dataclass(frozen=True)
class ComuneFacts:
    """What the overview needs of a comune's settings."""

    slug: str
    name: str
    province: str
    istat_code: str


def _signature(directory: Path) -> tuple[tuple[str, int, int], ...]:
    try:
        entries = sorted(os.scandir(directory), key=lambda e: e.name)
    except OSError:
        return ()
    return tuple(
        (e.name, st.st_mtime_ns, st.st_size)
        for e in entries
        if e.name.endswith((".yml", ".yaml")) and e.is_file() and (st := e.stat())
    )


def _read(slug: str, directory: Path, signature: tuple[tuple[str, int, int], ...]) -> ComuneFacts:
    values: dict[str, Any] = {}
    for name, _mtime, _size in signature:
        try:
            data = yaml.load((directory / name).read_text(encoding="utf-8"), Loader=_TolerantLoader)
        except (OSError, UnicodeDecodeError, yaml.YAMLError):
            continue
        if isinstance(data, dict):
            values.update(data)
    return ComuneFacts(
        slug,
        str(values.get("comune_name") or slug),
        str(values.get("comune_province") or ""),
        str(values.get("comune_istat_code") or ""),
    )


class ComuneCatalog:
    """Facts of every comune under an inventory root, cached in memory by file signature."""

    def __init__(self, inventory_root: Path) -> None:
        self.root = inventory_root
        self._cache: dict[str, tuple[tuple[tuple[str, int, int], ...], ComuneFacts]] = {}
        self._lock = threading.Lock()

    def facts(self) -> list[ComuneFacts]:
        """Every comune (a directory under the root, as the inventory source sees it), by slug."""
        try:
            slugs = sorted(
                e.name for e in os.scandir(self.root) if e.is_dir() and not e.name.startswith(".")
            )
        except OSError:
            return []
        found = []
        with self._lock:
            for slug in slugs:
                directory = self.root / slug / "group_vars" / "all"
                signature = _signature(directory)
                cached = self._cache.get(slug)
                if cached is None or cached[0] != signature:
                    cached = (signature, _read(slug, directory, signature))
                    self._cache[slug] = cached
                found.append(cached[1])
            for gone in set(self._cache) - set(slugs):
                del self._cache[gone]
        return found
