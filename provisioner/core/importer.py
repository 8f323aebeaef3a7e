"""Import a comune's asset list (CSV or .xlsx) into its inventory: validate all, then merge."""

from __future__ import annotations

import ipaddress
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter, ValidationError

from provisioner.adapters.history import History
from provisioner.adapters.inventory_files import YamlDirectorySource
from provisioner.adapters.inventory_writer import CurrentHost, InventoryWriter, unsafe
from provisioner.adapters.tables import Sheet, read_table
from provisioner.config import Settings
from provisioner.core import vpn
from provisioner.errors import (
    AssetListError,
    ConflictError,
    InputError,
    InventoryError,
    InventoryProblem,
)
from provisioner.models.inventory import BUNDLES, HostName
from provisioner.names import did_you_mean, fold

KIND_GROUPS: dict[str, str] = {
    "laptop": "endpoints",
    "desktop": "office_desktops",
    "gateway": "vpn_gateways",
    "device": "network_devices",
}
"""Asset kind -> inventory group."""

_KIND_ALIASES: dict[str, str] = {
    "laptop": "laptop",
    "portatile": "laptop",
    "notebook": "laptop",
    "desktop": "desktop",
    "fisso": "desktop",
    "pc fisso": "desktop",
    "postazione": "desktop",
    "workstation": "desktop",
    "gateway": "gateway",
    "gateway vpn": "gateway",
    "vpn gateway": "gateway",
    "device": "device",
    "dispositivo": "device",
    "apparato": "device",
    "apparato di rete": "device",
    "network device": "device",
}

FIELDS: dict[str, tuple[str, ...]] = {
    "name": (
        "nome",
        "hostname",
        "host",
        "host name",
        "nome host",
        "name",
        "nome pc",
        "nome macchina",
    ),
    "ip": ("ip", "indirizzo", "indirizzo ip", "ip address", "address", "ip dhcp", "ip o dhcp"),
    "os": ("os", "sistema operativo", "operating system", "so"),
    "user": ("utente", "user", "assigned user", "utente assegnato", "assegnatario", "dipendente"),
    "office": ("ufficio", "office", "settore"),
    "kind": ("tipo", "kind", "type", "tipologia", "categoria", "tipo dispositivo", "device type"),
}
"""Field -> accepted header names (Italian and English), compared accent- and case-blind."""

REQUIRED = ("name", "ip", "kind")

FOREIGN_OS = re.compile(r"\b(windows|win ?(7|8|10|11)|macos|mac ?os|os ?x|osx)\b")
"""Operating systems the roles do not manage (compared on the folded cell): a laptop or desktop
running one goes to group bundles (it gets an enrolment bundle), never to a Debian group."""
BUNDLE_KINDS = ("laptop", "desktop")
NOT_A_BUNDLE = {
    vpn.ADDRESS_VAR: None,
    "provisioner_management": None,
    "ansible_port": None,
}
"""What a host moved from a managed group into bundles loses: its place in the pool and how a run
reached it (a bundle's address and key come from `bundle create`)."""

ASSET_VARS = {"os": "asset_os", "user": "asset_user", "office": "asset_office"}
"""Informational asset fields -> host variable."""

_DHCP = {"dhcp", "dinamico", "dynamic"}
_HOST_NAME: TypeAdapter[str] = TypeAdapter(HostName)


@dataclass(frozen=True)
class AssetRow:
    """One valid asset: where it came from and what the inventory gets."""

    line: int
    name: str
    kind: str
    group: str
    address: str | None
    """IP address, or None for DHCP (Ansible then connects by name)."""
    variables: dict[str, str]


@dataclass(frozen=True)
class HostChange:
    """A host the import adds, changes or leaves as it is."""

    name: str
    group: str
    line: int
    changes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Difference:
    """One value the file gives a host that the inventory has otherwise (None: unset)."""

    field: str
    old: str | None
    new: str | None
    unset: str = "unset"
    """How a removed value reads (an address given as DHCP, a connection a bundle drops)."""

    @property
    def conflict(self) -> bool:
        """Filling a value the inventory does not set is no conflict; changing one is."""
        return self.old is not None

    def _show(self, value: str) -> str:
        return value if self.field in {"group", "ansible_host"} else repr(value)

    def __str__(self) -> str:
        old = "unset" if self.old is None else self._show(self.old)
        new = self.unset if self.new is None else self._show(self.new)
        return f"{self.field} {old} -> {new}"


@dataclass(frozen=True)
class ImportResult:
    """What an import did (or would do with ``--dry-run``)."""

    comune: str
    source: str
    encoding: str
    delimiter: str
    added: tuple[HostChange, ...]
    changed: tuple[HostChange, ...]
    unchanged: tuple[HostChange, ...]
    ignored_columns: tuple[str, ...]
    written: tuple[str, ...]
    dry_run: bool
    not_in_file: tuple[str, ...] = ()
    """Hosts of the inventory the file does not mention: kept as they are."""
    bundles: tuple[str, ...] = ()
    """Rows that go to group bundles (Windows or macOS): no run manages them; each gets an
    enrolment bundle (`provisioner bundle create`)."""


def _columns(table: Sheet) -> tuple[dict[str, int], list[str], list[InventoryProblem]]:
    aliases = {alias: name for name, names in FIELDS.items() for alias in names}
    columns: dict[str, int] = {}
    ignored: list[str] = []
    problems: list[InventoryProblem] = []
    where = f"{table.source}: {table.unit} 1"
    for index, cell in enumerate(table.header):
        name = aliases.get(fold(cell))
        if name is None:
            if cell:
                ignored.append(cell)
        elif name in columns:
            problems.append(InventoryProblem(where, f"two columns for {name!r}", field=cell))
        else:
            columns[name] = index
    for name in REQUIRED:
        if name not in columns:
            accepted = ", ".join(FIELDS[name])
            problems.append(
                InventoryProblem(where, f"missing column for {name!r} (one of: {accepted})")
            )
    return columns, ignored, problems


def parse_rows(table: Sheet) -> tuple[list[AssetRow], list[str], list[InventoryProblem]]:
    """Validate every row of an asset list; problems name file and line, host and field."""
    columns, ignored, problems = _columns(table)
    if problems:
        return [], ignored, problems
    rows: list[AssetRow] = []
    seen_names: dict[str, int] = {}
    seen_ips: dict[str, int] = {}
    for line, cells in table.rows:

        def cell(name: str, cells: tuple[str, ...] = cells) -> str:
            index = columns.get(name)
            return cells[index].strip() if index is not None and index < len(cells) else ""

        where = f"{table.source}: {table.unit} {line}"
        row_problems: list[InventoryProblem] = []
        name = cell("name")
        shown = name or "?"
        if not name:
            row_problems.append(InventoryProblem(where, "empty host name", field="name"))
        else:
            try:
                _HOST_NAME.validate_python(name)
            except ValidationError:
                row_problems.append(
                    InventoryProblem(
                        where,
                        f"invalid host name {name!r} (letters, digits, '-' and '.')",
                        field="name",
                    )
                )
            key = name.lower()
            if key in seen_names:
                row_problems.append(
                    InventoryProblem(
                        where,
                        f"duplicate host {name!r} (first at {table.unit} {seen_names[key]})",
                        host=shown,
                        field="name",
                    )
                )
            else:
                seen_names[key] = line
        raw_ip = cell("ip")
        address: str | None = None
        if not raw_ip:
            row_problems.append(
                InventoryProblem(
                    where, "empty IP address (write the address or DHCP)", host=shown, field="ip"
                )
            )
        elif fold(raw_ip) not in _DHCP:
            try:
                address = str(ipaddress.ip_address(raw_ip))
            except ValueError:
                row_problems.append(
                    InventoryProblem(
                        where, f"{raw_ip!r} is not an IP address (or DHCP)", host=shown, field="ip"
                    )
                )
            else:
                if address in seen_ips:
                    row_problems.append(
                        InventoryProblem(
                            where,
                            f"IP {address} already used at {table.unit} {seen_ips[address]}",
                            host=shown,
                            field="ip",
                        )
                    )
                else:
                    seen_ips[address] = line
        raw_kind = cell("kind")
        kind = _KIND_ALIASES.get(fold(raw_kind))
        if kind is None:
            hint = did_you_mean(fold(raw_kind), _KIND_ALIASES, n=1, style=" (did you mean {}?)")
            row_problems.append(
                InventoryProblem(
                    where,
                    f"unknown kind {raw_kind!r}{hint}; allowed: {', '.join(KIND_GROUPS)}",
                    host=shown,
                    field="kind",
                )
            )
        foreign = bool(FOREIGN_OS.search(fold(cell("os"))))
        if foreign and kind == "gateway":
            row_problems.append(
                InventoryProblem(
                    where,
                    f"a VPN gateway runs Debian (the roles manage it), not {cell('os')!r}",
                    host=shown,
                    field="os",
                )
            )
        problems.extend(row_problems)
        if row_problems or kind is None:
            continue
        variables = {var: cell(name) for name, var in ASSET_VARS.items() if cell(name)}
        group = BUNDLES if foreign and kind in BUNDLE_KINDS else KIND_GROUPS[kind]
        rows.append(AssetRow(line, name, kind, group, address, variables))
    if not table.rows and not problems:
        problems.append(InventoryProblem(f"{table.source}: {table.unit} 2", "no asset rows"))
    return rows, ignored, problems


def _desired(row: AssetRow, current: CurrentHost | None) -> dict[str, Any]:
    """The host variables a row gives (``None``: the variable is removed).

    A bundle's device is not reached over SSH: its address is recorded as ``asset_ip``; a host
    moved into bundles from a managed group loses its connection and pool variables.
    """
    if row.group != BUNDLES:
        return {"ansible_host": row.address, **row.variables}
    moved = current is not None and BUNDLES not in current.groups
    return {
        "ansible_host": None,
        "asset_ip": row.address,
        **row.variables,
        **(NOT_A_BUNDLE if moved else {}),
    }


def _differences(row: AssetRow, current: CurrentHost) -> list[Difference]:
    diffs: list[Difference] = []
    if row.group not in current.groups:
        top = [g for g in current.groups if g in (*KIND_GROUPS.values(), BUNDLES)]
        diffs.append(Difference("group", ",".join(top or current.groups), row.group))
    for key, value in _desired(row, current).items():
        raw = current.variables.get(key)
        old = None if raw is None else str(raw)
        if old != value:
            managed_dhcp = key == "ansible_host" and row.group != BUNDLES
            diffs.append(
                Difference(key, old, value, "DHCP (no address)" if managed_dhcp else "unset")
            )
    return diffs


def import_assets(
    settings: Settings, path: Path, comune: str, *, dry_run: bool = False, force: bool = False
) -> ImportResult:
    """Merge an asset list into ``inventory/<comune>/``: all rows valid or nothing written.

    Laptops and desktops running Windows or macOS go to group ``bundles`` (never a Debian
    group: no run reaches them); the result lists them.

    Existing hosts that the file describes differently are conflicts: listed, and the import
    stops unless ``force``. The merged inventory is validated (loader and VPN checks, as
    ``inventory validate``) in a temporary copy before any file is replaced; each file is then
    written atomically under the comune's lock.

    Raises:
        InputError: unknown comune or unreadable file.
        AssetListError: bad rows (each with file and line).
        ConflictError: the file disagrees with the inventory and ``force`` is not set.
        InventoryError: the merged inventory would be invalid (nothing written).
    """
    source = YamlDirectorySource(settings.inventory_dir)
    directory = settings.comune_dir(comune)
    if not directory.is_dir():
        hint = did_you_mean(comune, source.comunes())
        raise InputError(
            f"{directory}: no inventory for comune {comune!r}{hint} "
            "(create it with `provisioner inventory new-comune`)"
        )
    table = read_table(path)
    rows, ignored, problems = parse_rows(table)
    writer = InventoryWriter(directory)
    current = writer.current_hosts()
    owners = {
        str(address): h.name
        for h in current.values()
        if (address := h.variables.get("ansible_host") or h.variables.get("asset_ip")) is not None
    }
    in_file = {row.name for row in rows}
    by_lower = {name.lower(): name for name in current}
    for row in rows:
        where = f"{table.source}: {table.unit} {row.line}"
        owner = owners.get(row.address or "")
        # An address may move between hosts the file describes both (a swap), not otherwise.
        if owner is not None and owner != row.name and owner not in in_file:
            problems.append(
                InventoryProblem(
                    where,
                    f"IP {row.address} is already the address of host {owner!r} in {comune}",
                    host=row.name,
                    field="ip",
                )
            )
        known = by_lower.get(row.name.lower())
        if known is not None and known != row.name:
            problems.append(
                InventoryProblem(
                    where,
                    f"differs only in case from host {known!r} of {comune}; use that name",
                    host=row.name,
                    field="name",
                )
            )
    if problems:
        raise AssetListError(sorted(problems, key=_position))

    added: list[HostChange] = []
    changed: list[HostChange] = []
    unchanged: list[HostChange] = []
    conflicts: list[str] = []
    for row in rows:
        existing = current.get(row.name)
        if existing is None:
            added.append(HostChange(row.name, row.group, row.line))
            continue
        diffs = _differences(row, existing)
        if not diffs:
            unchanged.append(HostChange(row.name, row.group, row.line))
            continue
        changed.append(HostChange(row.name, row.group, row.line, tuple(str(d) for d in diffs)))
        hard = [str(d) for d in diffs if d.conflict]
        if hard:
            where = f"{table.source}: {table.unit} {row.line}: host {row.name}"
            conflicts.append(f"{where}: {'; '.join(hard)}")
    if conflicts and not force:
        raise ConflictError(
            f"{len(conflicts)} host(s) differ from inventory/{comune}; nothing written "
            "(check the file, or re-run with --force to overwrite):",
            conflicts,
        )

    for row in rows:
        existing = current.get(row.name)
        if existing is not None and row.group not in existing.groups:
            writer.remove_from_groups(row.name, keep=row.group)
        # Free text from the file is never templated by Ansible: written as !unsafe.
        writer.set_host(
            row.name,
            row.group,
            {
                k: unsafe(v) if k in ASSET_VARS.values() and v is not None else v
                for k, v in _desired(row, existing).items()
            },
        )
    _validate_staged(settings, writer, comune)
    written: list[str] = []
    if not dry_run and writer.pending():
        with History(settings.state).lock(comune):
            written = [str(p) for p in writer.commit()]
        # The files on disk must now pass exactly what `inventory validate` checks.
        source.load(comune)
    return ImportResult(
        comune=comune,
        source=table.source,
        encoding=table.encoding,
        delimiter=table.delimiter,
        added=tuple(added),
        changed=tuple(changed),
        unchanged=tuple(unchanged),
        ignored_columns=tuple(ignored),
        written=tuple(written),
        dry_run=dry_run,
        not_in_file=tuple(sorted(set(current) - in_file)),
        bundles=tuple(row.name for row in rows if row.group == BUNDLES),
    )


def _position(problem: InventoryProblem) -> tuple[int, str]:
    match = re.search(r" (\d+)$", problem.file)
    return (int(match.group(1)) if match else 0, problem.field)


def _validate_staged(settings: Settings, writer: InventoryWriter, comune: str) -> None:
    """Load the merged result from a temporary copy with the real loader and VPN checks."""
    with tempfile.TemporaryDirectory(prefix="provisioner-import-") as tmp:
        # Same relative layout as the real tree, so messages name inventory/<comune>/...
        root = Path(tmp) / settings.inventory_dir.name
        writer.stage_into(root / comune)
        try:
            inventory = YamlDirectorySource(root).load(comune)
            vpn.check(inventory, YamlDirectorySource(settings.inventory_dir).vpn_pools(comune))
        except InventoryError as exc:
            raise InventoryError(
                [
                    InventoryProblem(
                        "after the import",
                        "the inventory would be invalid; nothing written. Fix these first",
                    ),
                    *(_with_hint(problem, comune) for problem in exc.problems),
                ]
            ) from None


def _with_hint(problem: InventoryProblem, comune: str) -> InventoryProblem:
    """The problem, with how to fix it where an import typically causes it."""
    if problem.field == "comune_vpn_terminator" and "is not a host" in problem.message:
        gateway_kinds = "/".join(k for k, g in KIND_GROUPS.items() if g in {"vpn_gateways"})
        return InventoryProblem(
            problem.file,
            f"{problem.message}. Fix it one of three ways: add the gateway's row to the file "
            f"(kind {gateway_kinds}, or device for a router that terminates the VPN); or import "
            "the gateway first, from a file of its own; or name a host the comune has as "
            f"comune_vpn_terminator in inventory/{comune}/group_vars/all (`inventory "
            "new-comune --terminator <host>` sets it when the comune is created)",
            field=problem.field,
            host=problem.host,
        )
    return problem
