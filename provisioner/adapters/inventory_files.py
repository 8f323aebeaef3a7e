"""Read a comune's Ansible YAML inventory directory into the typed model."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from provisioner.errors import InputError, InventoryError, InventoryProblem
from provisioner.models.inventory import (
    GROUPS,
    RENAMED_GROUPS,
    ComuneSettings,
    Host,
    Inventory,
    bundle_problems,
    meeting_problems,
    netgear_problems,
    rdp_problems,
)
from provisioner.names import did_you_mean

VAULT_HEADER = "$ANSIBLE_VAULT;"
_HOST_FIELDS = {"ansible_host", "ansible_port", "vpn_client_address", "provisioner_management"} | {
    name for name in Host.model_fields if name.startswith(("meeting_client_", "bundle_"))
}
_INVENTORY_SUFFIXES = (".yml", ".yaml")


class VaultValue(str):
    """An inline ``!vault`` value: opaque here, decrypted only by Ansible."""

    __slots__ = ()


class _Loader(yaml.SafeLoader):
    """Safe loader that accepts Ansible's ``!vault`` and ``!unsafe`` tags."""


_Loader.add_constructor("!vault", lambda loader, node: VaultValue(loader.construct_scalar(node)))  # type: ignore[arg-type]
_Loader.add_constructor("!unsafe", lambda loader, node: str(loader.construct_scalar(node)))  # type: ignore[arg-type]


_FAST_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class YamlDirectorySource:
    """Inventory source: ``<root>/<comune>/`` holding hosts files and ``group_vars/all/``."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def comunes(self) -> list[str]:
        """Names of the comuni that have an inventory directory."""
        if not self.root.is_dir():
            return []
        return sorted(
            p.name for p in self.root.iterdir() if p.is_dir() and not p.name.startswith(".")
        )

    def load(self, comune: str) -> Inventory:
        """Load and validate one comune.

        Raises:
            InputError: the comune does not exist (closest names suggested).
            InventoryError: any problem, each naming file, host and field.
        """
        directory = self.root / comune
        if not directory.is_dir():
            hint = did_you_mean(comune, self.comunes())
            raise InputError(f"{directory}: no inventory for comune {comune!r}{hint}")
        return _Reader(directory, comune).read()

    def vpn_pools(self, exclude: str) -> dict[str, ipaddress.IPv4Network]:
        """VPN pool of every other comune, reading only their ``group_vars/all`` files."""
        pools: dict[str, ipaddress.IPv4Network] = {}
        for name in self.comunes():
            if name == exclude:
                continue
            for path in sorted((self.root / name / "group_vars" / "all").glob("*.y*ml")):
                try:
                    data = yaml.load(path.read_text(encoding="utf-8"), Loader=_FAST_LOADER)
                    pools[name] = ipaddress.IPv4Network(data["comune_vpn_pool"])
                except (OSError, yaml.YAMLError, KeyError, TypeError, ValueError):
                    continue
                break
        return pools


class _Reader:
    def __init__(self, directory: Path, comune: str) -> None:
        self.directory = directory
        self.comune = comune
        self.problems: list[InventoryProblem] = []
        self.hosts: dict[str, dict[str, Any]] = {}
        self.vault_files: list[str] = []
        self.origin: dict[str, Path] = {}

    def rel(self, path: Path) -> str:
        try:
            return str(path.relative_to(self.directory.parent.parent))
        except ValueError:
            return str(path)

    def problem(self, path: Path, message: str, *, field: str = "", host: str = "") -> None:
        self.problems.append(InventoryProblem(self.rel(path), message, field=field, host=host))

    def parse(self, path: Path) -> Any:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            self.problem(path, f"cannot read: {exc}")
            return None
        if text.lstrip().startswith(VAULT_HEADER):
            self.vault_files.append(self.rel(path))
            return None
        try:
            return yaml.load(text, Loader=_Loader)
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            where = f"line {mark.line + 1} column {mark.column + 1}: " if mark else ""
            self.problem(path, f"YAML syntax error: {where}{exc.problem or exc}")
        except yaml.YAMLError as exc:
            self.problem(path, f"YAML syntax error: {exc}")
        return None

    def read(self) -> Inventory:
        files = sorted(
            p for p in self.directory.iterdir() if p.is_file() and p.suffix in _INVENTORY_SUFFIXES
        )
        if not files:
            self.problem(self.directory, "no hosts file (*.yml) in the inventory directory")
        for path in files:
            data = self.parse(path)
            if data is not None:
                self.read_hosts_file(path, data)
        settings_data, settings_files = self.read_group_vars()
        self.read_host_vars()
        settings = self.validate_settings(settings_data, settings_files)
        hosts = self.validate_hosts()
        if settings is not None:
            self.cross_check(settings, hosts, settings_files)
        if self.problems or settings is None:
            raise InventoryError(self.problems)
        try:
            return Inventory(
                comune=self.comune,
                directory=str(self.directory),
                settings=settings,
                hosts=hosts,
                vault_files=tuple(self.vault_files),
                origins={k: self.rel(v) for k, v in self.origin.items()},
            )
        except ValidationError as exc:
            first = settings_files[0] if settings_files else self.directory
            raise InventoryError(
                [InventoryProblem(self.rel(first), e["msg"]) for e in exc.errors()]
            ) from exc

    def read_hosts_file(self, path: Path, data: Any) -> None:
        if not isinstance(data, dict) or set(data) != {"all"}:
            self.problem(path, "must be a YAML inventory with a single top-level key 'all'")
            return
        root = data["all"] or {}
        if not isinstance(root, dict):
            self.problem(path, "must be a mapping", field="all")
            return
        for key in root:
            if key not in {"children", "hosts", "vars"}:
                self.problem(path, f"unknown key {key!r} (children, hosts, vars)", field="all")
        if root.get("hosts"):
            for name in root["hosts"]:
                self.problem(
                    path,
                    f"host must belong to one of the groups {', '.join(GROUPS)}",
                    host=str(name),
                )
        if root.get("vars"):
            self.problem(
                path, "put comune settings in group_vars/all/, not in all.vars", field="all.vars"
            )
        children = root.get("children") or {}
        if not isinstance(children, dict):
            self.problem(path, "must be a mapping of groups", field="all.children")
            return
        for group, body in children.items():
            if group in RENAMED_GROUPS:
                self.problem(
                    path,
                    f"group {group!r} is now called {RENAMED_GROUPS[group]!r}: rename it here "
                    f"(and group_vars/{group}/ to group_vars/{RENAMED_GROUPS[group]}/)",
                    field=f"all.children.{group}",
                )
                continue
            if group not in GROUPS:
                hint = did_you_mean(str(group), GROUPS, n=1, style=" (did you mean {}?)")
                self.problem(
                    path,
                    f"unknown group {group!r}{hint}; allowed: {', '.join(GROUPS)}",
                    field=f"all.children.{group}",
                )
                continue
            self.read_group(path, str(group), body, (str(group),))

    def read_group(self, path: Path, group: str, body: Any, lineage: tuple[str, ...]) -> None:
        field = "all.children." + ".children.".join(lineage)
        if body is None:
            return
        if not isinstance(body, dict):
            self.problem(path, "group must be a mapping", field=field)
            return
        for key in body:
            if key not in {"hosts", "children", "vars"}:
                self.problem(path, f"unknown key {key!r} (hosts, children, vars)", field=field)
        hosts = body.get("hosts") or {}
        if not isinstance(hosts, dict):
            self.problem(path, "hosts must be a mapping of host names", field=f"{field}.hosts")
            hosts = {}
        for name, raw_vars in hosts.items():
            hvars = raw_vars or {}
            if not isinstance(hvars, dict):
                self.problem(path, "host variables must be a mapping", host=str(name))
                continue
            entry = self.hosts.setdefault(
                str(name),
                {"name": str(name), "groups": [], "source": self.rel(path), "variables": {}},
            )
            for g in lineage:
                if g not in entry["groups"]:
                    entry["groups"].append(g)
            for key, value in hvars.items():
                if key in _HOST_FIELDS:
                    entry[key] = value
                else:
                    entry["variables"][key] = value
        children = body.get("children") or {}
        if not isinstance(children, dict):
            self.problem(path, "children must be a mapping of groups", field=f"{field}.children")
            children = {}
        for child, child_body in children.items():
            self.read_group(path, str(child), child_body, (*lineage, str(child)))

    def read_group_vars(self) -> tuple[dict[str, Any], list[Path]]:
        merged: dict[str, Any] = {}
        files: list[Path] = []
        base = self.directory / "group_vars"
        candidates = [base / "all.yml", base / "all.yaml"]
        all_dir = base / "all"
        if all_dir.is_dir():
            candidates += sorted(p for p in all_dir.iterdir() if p.suffix in _INVENTORY_SUFFIXES)
        for path in candidates:
            if not path.is_file():
                continue
            data = self.parse(path)
            if data is None:
                continue
            if not isinstance(data, dict):
                self.problem(path, "group variables must be a mapping")
                continue
            files.append(path)
            for key, value in data.items():
                if str(key).startswith("comune_"):
                    merged.setdefault("__origin__", {})[key] = path
                merged[key] = value
        if base.is_dir():
            for path in sorted(base.iterdir()):
                stem = path.stem if path.is_file() else path.name
                if stem in RENAMED_GROUPS:
                    self.problem(
                        path,
                        f"group {stem!r} is now called {RENAMED_GROUPS[stem]!r}: rename this to "
                        f"group_vars/{RENAMED_GROUPS[stem]}",
                    )
                elif stem != "all" and stem not in GROUPS:
                    self.problem(path, f"group_vars for unknown group {stem!r}")
        return merged, files

    def read_host_vars(self) -> None:
        base = self.directory / "host_vars"
        if not base.is_dir():
            return
        for path in sorted(base.iterdir()):
            name = path.stem if path.is_file() else path.name
            if name not in self.hosts:
                self.problem(path, "host_vars for a host that is in no group", host=name)
                continue
            files = (
                [path]
                if path.is_file()
                else sorted(p for p in path.iterdir() if p.suffix in _INVENTORY_SUFFIXES)
            )
            for file in files:
                if file.suffix not in _INVENTORY_SUFFIXES:
                    continue
                data = self.parse(file)
                if data is None:
                    continue
                if not isinstance(data, dict):
                    self.problem(file, "host variables must be a mapping", host=name)
                    continue
                entry = self.hosts[name]
                for key, value in data.items():
                    if key in _HOST_FIELDS:
                        entry[key] = value
                        entry.setdefault("origin", {})[key] = self.rel(file)
                    else:
                        entry["variables"][key] = value

    def validate_settings(self, data: dict[str, Any], files: list[Path]) -> ComuneSettings | None:
        origin: dict[str, Path] = data.pop("__origin__", {})
        self.origin = origin
        fallback = files[0] if files else self.directory / "group_vars" / "all"
        settings_data = {k: v for k, v in data.items() if str(k).startswith("comune_")}
        if not files and not self.vault_files:
            self.problem(fallback, "missing: comune settings (comune_name, comune_istat_code, ...)")
            return None
        try:
            return ComuneSettings(**settings_data)
        except ValidationError as exc:
            for err in exc.errors():
                key = str(err["loc"][0]) if err["loc"] else ""
                where = origin.get(key, fallback)
                message = (
                    "missing (required)"
                    if err["type"] == "missing"
                    else err["msg"].removeprefix("Value error, ")
                )
                if err["type"] == "extra_forbidden":
                    message = "unknown comune setting"
                if "input" in err and err["type"] not in {"missing", "extra_forbidden"}:
                    message = f"{message} (got {err['input']!r})"
                self.problem(where, message, field=key)
            return None

    def validate_hosts(self) -> dict[str, Host]:
        hosts: dict[str, Host] = {}
        for name, entry in self.hosts.items():
            origin: dict[str, str] = entry.pop("origin", {})
            try:
                hosts[name] = Host(**{**entry, "groups": tuple(entry["groups"]), "origins": origin})
                for key, message in netgear_problems(hosts[name]) + bundle_problems(hosts[name]):
                    path = self.directory.parent.parent / origin.get(key, entry["source"])
                    self.problem(path, message, field=key, host=name)
            except ValidationError as exc:
                for err in exc.errors():
                    key = str(err["loc"][0]) if err["loc"] else ""
                    path = self.directory.parent.parent / origin.get(key, entry["source"])
                    value = f" (got {err['input']!r})" if "input" in err else ""
                    message = err["msg"].removeprefix("Value error, ")
                    if key == "name":
                        message = "invalid host name (letters, digits, '-' and '.')"
                    self.problem(path, message + value, field=key, host=name)
        return hosts

    def cross_check(
        self, settings: ComuneSettings, hosts: dict[str, Host], files: list[Path]
    ) -> None:
        fallback = files[0] if files else self.directory

        def where(key: str) -> Path:
            return self.origin.get(key, fallback)

        if settings.comune_slug != self.comune:
            self.problem(
                where("comune_slug"),
                f"{settings.comune_slug!r} does not match the directory name {self.comune!r}",
                field="comune_slug",
            )
        terminator = hosts.get(settings.comune_vpn_terminator)
        if terminator is None:
            self.problem(
                where("comune_vpn_terminator"),
                f"{settings.comune_vpn_terminator!r} is not a host of this inventory",
                field="comune_vpn_terminator",
            )
        elif not {"vpn_gateways", "network_devices"} & set(terminator.groups):
            self.problem(
                where("comune_vpn_terminator"),
                f"{terminator.name!r} must be in group vpn_gateways or network_devices",
                field="comune_vpn_terminator",
            )
        manager = settings.comune_management_host
        if manager is not None and not {"vpn_gateways", "rd_gateways", "office_desktops"} & set(
            hosts[manager].groups if manager in hosts else ()
        ):
            self.problem(
                where("comune_management_host"),
                f"{manager!r} must be a Linux office host of this inventory (group vpn_gateways, "
                "rd_gateways or office_desktops): the endpoints are managed through it over SSH",
                field="comune_management_host",
            )
        for net in settings.comune_office_networks:
            if net.overlaps(settings.comune_vpn_pool):
                self.problem(
                    where("comune_office_networks"),
                    f"office network {net} overlaps the VPN pool {settings.comune_vpn_pool}",
                    field="comune_office_networks",
                )
        groups = {name: host.groups for name, host in hosts.items()}
        for key, message in rdp_problems(settings, groups, self.directory):
            self.problem(where(key), message, field=key)
        for host in hosts.values():
            for field, message in meeting_problems(settings, host):
                # The file that sets the field, else the one that asks for the package.
                meeting = [v for k, v in host.origins.items() if k.startswith("meeting_client_")]
                source = host.origins.get(field) or next(iter(meeting), host.source)
                self.problem(
                    self.directory.parent.parent / source, message, field=field, host=host.name
                )
