"""Edit a comune's YAML inventory keeping comments and layout (ruamel round-trip), atomically."""

from __future__ import annotations

import io
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, TaggedScalar
from ruamel.yaml.scalarstring import DoubleQuotedScalarString

from provisioner.adapters.files import atomic_write
from provisioner.errors import InputError
from provisioner.models.inventory import BUNDLES

HOSTS_FILE = "hosts.yml"
"""Where new hosts go when the comune has no hosts file defining their group yet."""
GROUP_FILES = {BUNDLES: "bundles.yml"}
"""Groups whose first host starts a hosts file of its own: bundles' devices are written by
`bundle create` and `inventory import`, while `lab up` regenerates the lab's hosts.yml."""

_SUFFIXES = (".yml", ".yaml")


def round_trip_yaml() -> YAML:
    """A ruamel round-trip instance in the project's style (2-space maps, indented lists)."""
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.width = 4096
    return yaml


@dataclass
class CurrentHost:
    """A host as the files define it now: groups (with lineage), files and merged variables."""

    name: str
    groups: list[str] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)
    variables: dict[str, Any] = field(default_factory=dict)


class InventoryWriter:
    """Staged edits of one comune directory; nothing touches disk before :meth:`commit`.

    Hosts files are the ``*.yml`` at the top of the directory (``all: children: <group>:
    hosts:``); host variables live inline there or in ``host_vars/<host>.yml``. Edits keep
    every comment and key order of the files they touch.
    """

    def __init__(self, comune_dir: Path) -> None:
        self.dir = comune_dir
        self._yaml = round_trip_yaml()
        self._docs: dict[Path, Any] = {}
        self._dirty: set[Path] = set()
        self._deleted: set[Path] = set()
        self._entry_files: dict[str, Path] = {}
        self._parents: dict[str, Any] = {}
        self._explicit_start: set[Path] = set()
        self._removed_dirs: set[Path] = set()
        self._read_text: dict[Path, str | None] = {}

    # --- reading ---------------------------------------------------------------------------

    def hosts_files(self) -> list[Path]:
        """Top-level inventory files, sorted (the loader reads them in this order)."""
        on_disk = (
            {p for p in self.dir.iterdir() if p.is_file() and p.suffix in _SUFFIXES}
            if self.dir.is_dir()
            else set()
        )
        staged = {p for p, doc in self._docs.items() if p.parent == self.dir and doc is not None}
        return sorted((on_disk | staged) - self._deleted)

    def host_vars_file(self, host: str) -> Path:
        """``host_vars/<host>.yml`` (or an existing ``.yaml``)."""
        base = self.dir / "host_vars"
        for suffix in _SUFFIXES:
            candidate = base / f"{host}{suffix}"
            if candidate.exists():
                return candidate
        return base / f"{host}.yml"

    def host_vars_files(self, host: str) -> list[Path]:
        """Existing host_vars of ``host``: ``host_vars/<host>.yml`` and/or ``host_vars/<host>/*``.

        In Ansible's load order (the file, then the directory's files sorted), later wins.
        """
        files = [p for p in (self.host_vars_file(host),) if p.is_file()]
        directory = self.dir / "host_vars" / host
        if directory.is_dir():
            files += sorted(p for p in directory.iterdir() if p.is_file())
        return [p for p in files if p not in self._deleted]

    def _doc(self, path: Path, *, default: Any = None) -> Any:
        if path in self._docs:
            return self._docs[path]
        if path.exists() and path not in self._deleted:
            try:
                text = path.read_text(encoding="utf-8")
                self._read_text[path] = text
                data = self._yaml.load(text)
            except Exception as exc:  # ruamel raises many unrelated types
                raise InputError(f"{path}: cannot parse YAML: {exc}") from None
            if _has_document_start(text):
                self._explicit_start.add(path)
        else:
            data = default
            self._read_text[path] = None
            self._explicit_start.add(path)
        self._docs[path] = data
        return data

    @staticmethod
    def _walk(body: Any, lineage: tuple[str, ...]) -> Any:
        """Yield (lineage, hosts mapping) for a group and its children."""
        if not isinstance(body, dict):
            return
        hosts = body.get("hosts")
        if isinstance(hosts, dict):
            yield lineage, hosts
        children = body.get("children")
        if isinstance(children, dict):
            for child, child_body in children.items():
                yield from InventoryWriter._walk(child_body, (*lineage, str(child)))

    def _groups_of(self, path: Path) -> Any:
        doc = self._doc(path)
        if not isinstance(doc, dict) or not isinstance(doc.get("all"), dict):
            return
        children = doc["all"].get("children")
        if isinstance(children, dict):
            for group, body in children.items():
                yield from self._walk(body, (str(group),))

    def hosts_of(self, path: Path) -> list[str]:
        """The hosts one hosts file lists, in any group."""
        return [str(name) for _, hosts in self._groups_of(path) for name in hosts]

    def current_hosts(self) -> dict[str, CurrentHost]:
        """Every host of the staged state with its groups and effective variables.

        Host variables from ``host_vars/`` win over inline ones, as in Ansible.
        """
        found: dict[str, CurrentHost] = {}
        for path in self.hosts_files():
            for lineage, hosts in self._groups_of(path):
                for name, hvars in hosts.items():
                    entry = found.setdefault(str(name), CurrentHost(str(name)))
                    for group in lineage:
                        if group not in entry.groups:
                            entry.groups.append(group)
                    if path not in entry.files:
                        entry.files.append(path)
                    if isinstance(hvars, dict):
                        entry.variables.update(hvars)
        for name, entry in found.items():
            for path in self.host_vars_files(name):
                data = self._doc(path) if path.suffix in _SUFFIXES else None
                if isinstance(data, dict):
                    entry.variables.update(data)
        return found

    # --- editing ---------------------------------------------------------------------------

    def set_host(self, name: str, group: str, variables: Mapping[str, Any]) -> None:
        """Put ``name`` in top-level ``group`` and set its variables (``None`` removes a key).

        The host stays in the file that already lists it in ``group``; otherwise it is added
        to the first hosts file that has ``group``, else to ``hosts.yml`` (``bundles.yml`` for
        group ``bundles``, see :data:`GROUP_FILES`). A variable already
        set in ``host_vars/<name>.yml`` is updated there (it would win over an inline one).
        """
        entry = self._find_entry(name, group) or self._add_entry(name, group)
        entry_file = self._entry_files[name]
        host_vars = [
            (path, doc)
            for path in self.host_vars_files(name)
            if path.suffix in _SUFFIXES and isinstance(doc := self._doc(path), dict)
        ]
        for key, value in variables.items():
            holders = [(path, doc) for path, doc in host_vars if key in doc]
            if value is None:
                for path, doc in holders:
                    del doc[key]
                    self._dirty.add(path)
                if key in entry:
                    del entry[key]
                    self._dirty.add(entry_file)
            elif holders:
                # The last file that sets it wins in Ansible: update that one.
                path, doc = holders[-1]
                if not _same(doc[key], value):
                    doc[key] = value
                    self._dirty.add(path)
            elif not _same(entry.get(key), value):
                entry[key] = value
                self._dirty.add(entry_file)
        if not entry:
            # `name:` rather than `name: {}`, as people write it.
            self._parents[name][name] = None

    def set_host_vars(self, name: str, variables: Mapping[str, Any], note: str = "") -> Path:
        """Set variables in ``host_vars/<name>.yml`` (comments, ``!vault`` values kept).

        ``note`` becomes the comment heading a file created here. Returns the file.
        """
        path = self.host_vars_file(name)
        doc = self._doc(path, default=None)
        if doc is None:
            doc = CommentedMap()
            if note:
                doc.yaml_set_start_comment(comment_text(note))
            self._docs[path] = doc
        if not isinstance(doc, dict):
            raise InputError(f"{path}: not a mapping of host variables")
        for key, value in variables.items():
            if not _same(doc.get(key), value):
                doc[key] = value
                self._dirty.add(path)
        return path

    def _find_entry(self, name: str, group: str) -> CommentedMap | None:
        for path in self.hosts_files():
            for lineage, hosts in self._groups_of(path):
                if lineage == (group,) and name in hosts:
                    if not isinstance(hosts[name], dict):
                        hosts[name] = CommentedMap()
                    self._entry_files[name] = path
                    self._parents[name] = hosts
                    return hosts[name]  # type: ignore[no-any-return]
        return None

    def _add_entry(self, name: str, group: str) -> CommentedMap:
        target = self.dir / GROUP_FILES.get(group, HOSTS_FILE)
        for path in self.hosts_files():
            if any(lineage == (group,) for lineage, _ in self._groups_of(path)):
                target = path
                break
        doc = self._doc(target, default=None)
        if doc is None:
            doc = CommentedMap({"all": CommentedMap({"children": CommentedMap()})})
            self._docs[target] = doc
        if not isinstance(doc, dict) or not isinstance(doc.get("all") or {}, dict):
            raise InputError(f"{target}: not a YAML inventory (all: children: <group>: hosts:)")
        children = _block(_block(doc, "all"), "children")
        hosts = _block(_block(children, group), "hosts")
        hosts[name] = CommentedMap()
        self._entry_files[name] = target
        self._parents[name] = hosts
        self._dirty.add(target)
        return hosts[name]  # type: ignore[no-any-return]

    def remove_from_groups(self, name: str, keep: str | None = None) -> list[str]:
        """Remove ``name`` from every group (except top-level ``keep``); return the groups."""
        removed: list[str] = []
        for path in self.hosts_files():
            for lineage, hosts in self._groups_of(path):
                if name in hosts and lineage != (keep,):
                    del hosts[name]
                    removed.append(".".join(lineage))
                    self._dirty.add(path)
        return removed

    def remove_host(self, name: str) -> dict[str, Any]:
        """Stage the removal of ``name`` from every group and of its ``host_vars`` file.

        Returns:
            ``{"host", "groups", "files", "host_vars_files", "host_vars"}``: the groups it was
            in (dotted lineage), the hosts files edited, the host_vars files deleted and the
            variables they held (e.g. ``vpn_client_address``, to free).

        Raises:
            InputError: no hosts file lists ``name``.
        """
        current = self.current_hosts().get(name)
        if current is None:
            raise InputError(f"{self.dir}: host {name!r} is in no group of this inventory")
        groups = self.remove_from_groups(name)
        hv_files = self.host_vars_files(name)
        hv_dir = self.dir / "host_vars" / name
        if hv_dir.is_dir():
            self._removed_dirs.add(hv_dir)
        host_vars: dict[str, Any] = {}
        for path in hv_files:
            data = self._doc(path) if path.suffix in _SUFFIXES else None
            if isinstance(data, dict):
                host_vars.update(_plain(data))
            self._deleted.add(path)
            self._docs[path] = None
        return {
            "host": name,
            "groups": groups,
            "files": [str(p) for p in current.files],
            "host_vars_files": [str(p) for p in hv_files],
            "host_vars": host_vars,
        }

    # --- output ----------------------------------------------------------------------------

    def dump(self, data: Any, *, explicit_start: bool = True) -> str:
        """YAML text of a document in this writer's style (``---`` first if asked)."""
        buffer = io.StringIO()
        self._yaml.explicit_start = explicit_start
        self._yaml.dump(data, buffer)
        return buffer.getvalue()

    def pending(self) -> dict[Path, str | None]:
        """Files the staged edits change: new text, or ``None`` for a deletion."""
        changes: dict[Path, str | None] = dict.fromkeys(sorted(self._deleted))
        for path in sorted(self._dirty - self._deleted):
            changes[path] = self.dump(self._docs[path], explicit_start=path in self._explicit_start)
        return changes

    def stage_into(self, other_dir: Path) -> None:
        """Apply the pending changes to a copy of the comune directory (for validation)."""
        if self.dir.is_dir():
            shutil.copytree(self.dir, other_dir, dirs_exist_ok=True)
        for path, text in self.pending().items():
            target = other_dir / path.relative_to(self.dir)
            if text is None:
                target.unlink(missing_ok=True)
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(text, encoding="utf-8")
        for directory in self._removed_dirs:
            shutil.rmtree(other_dir / directory.relative_to(self.dir), ignore_errors=True)

    def commit(self) -> list[Path]:
        """Write every pending change atomically (file by file); return the files touched.

        Raises:
            InputError: a file changed on disk since this writer read it (nothing written).
        """
        for path, text in self._read_text.items():
            now = path.read_text(encoding="utf-8") if path.is_file() else None
            if now != text:
                raise InputError(f"{path}: changed on disk meanwhile; nothing written, re-run")
        touched: list[Path] = []
        for path, text in self.pending().items():
            if text is None:
                path.unlink(missing_ok=True)
            else:
                atomic_write(path, text)
            touched.append(path)
        for directory in sorted(self._removed_dirs):
            if directory.is_dir() and not any(directory.iterdir()):
                directory.rmdir()
                touched.append(directory)
        self._dirty.clear()
        self._deleted.clear()
        self._removed_dirs.clear()
        return touched


def comment_text(text: str) -> str:
    """``text`` fit for a YAML comment: one line, no control characters.

    Text from outside (ISTAT names, asset cells) may carry line breaks; in a comment they would
    start a line of YAML of their own.
    """
    return " ".join("".join(c if c.isprintable() else " " for c in text).split())


def quoted(value: str) -> str:
    """A string written double-quoted: read back as the same string by any YAML reader."""
    return cast(str, DoubleQuotedScalarString(value))


def unsafe(value: str) -> TaggedScalar:
    """A string Ansible never templates (``!unsafe``): free text from asset lists or users."""
    return TaggedScalar(value, style='"', tag="!unsafe")


def document(
    values: Mapping[str, Any],
    *,
    header: Sequence[str] = (),
    comments: Mapping[str, str] | None = None,
) -> CommentedMap:
    """A YAML mapping to write: ``header`` comment lines first, a comment line before keys."""
    data = CommentedMap(values)
    if header:
        data.yaml_set_start_comment("\n".join(comment_text(line) for line in header))
    for key, text in (comments or {}).items():
        data.yaml_set_comment_before_after_key(key, before=comment_text(text))
    return data


def write_document(path: Path, data: Any, *, mode: int | None = None) -> Path:
    """Write a whole generated YAML file (``---`` first), atomically; ``mode`` as atomic_write."""
    yaml = round_trip_yaml()
    yaml.explicit_start = True
    buffer = io.StringIO()
    yaml.dump(data, buffer)
    return atomic_write(path, buffer.getvalue(), mode=mode)


def write_host_vars(comune_dir: Path, host: str, variables: Mapping[str, Any], note: str) -> Path:
    """Set ``variables`` in ``host_vars/<host>.yml`` of a comune and write it; return the file."""
    writer = InventoryWriter(comune_dir)
    path = writer.set_host_vars(host, variables, note)
    writer.commit()
    return path


def _same(old: Any, new: Any) -> bool:
    """Whether a value in a file equals the value to write, tags (``!unsafe``) included."""

    def key(value: Any) -> Any:
        return (str(value.tag), value.value) if isinstance(value, TaggedScalar) else value

    return bool(key(old) == key(new))


def _has_document_start(text: str) -> bool:
    """Whether the first non-comment line is ``---`` (kept on rewrite)."""
    for line in text.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            return stripped.startswith("---")
    return False


def _block(parent: Any, key: str) -> Any:
    """``parent[key]`` as a mapping in block style (created if missing or null)."""
    if parent.get(key) is None:
        parent[key] = CommentedMap()
    child = parent[key]
    if isinstance(child, CommentedMap):
        # A skeleton's `children: {}` would otherwise grow as one long flow-style line.
        child.fa.set_block_style()
    return child


def _plain(data: Any) -> Any:
    """ruamel containers as plain dicts/lists (for results handed to other layers)."""
    if isinstance(data, dict):
        return {str(k): _plain(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_plain(v) for v in data]
    return data


def remove_host(comune_dir: Path, host: str) -> dict[str, Any]:
    """Remove ``host`` from every group of the comune's hosts files and delete its host_vars.

    Comments and layout of the edited files are kept; each file is replaced atomically.

    Returns:
        What was removed (see :meth:`InventoryWriter.remove_host`).

    Raises:
        InputError: the host is in no group.
    """
    writer = InventoryWriter(comune_dir)
    removed = writer.remove_host(host)
    writer.commit()
    return removed
