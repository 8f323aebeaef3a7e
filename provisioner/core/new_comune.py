"""Create a comune's inventory skeleton from ISTAT's list, with its own VPN pool."""

from __future__ import annotations

import ipaddress
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from provisioner.adapters.history import History
from provisioner.adapters.inventory_files import YamlDirectorySource
from provisioner.adapters.inventory_writer import document, quoted, write_document
from provisioner.config import Settings
from provisioner.core import istat
from provisioner.errors import InputError
from provisioner.names import slugify

DEFAULT_TERMINATOR = "gw-vpn-01"


@dataclass(frozen=True)
class NewComune:
    """A created comune skeleton and what the technician still has to fill."""

    slug: str
    directory: Path
    comune: istat.IstatComune
    pool: ipaddress.IPv4Network
    files: tuple[str, ...]
    todo: tuple[str, ...]
    unread_pools: tuple[str, ...]
    """Comuni whose VPN pool could not be read (their pools were not considered)."""


def allocate_pool(
    plan: ipaddress.IPv4Network, prefix: int, used: dict[str, ipaddress.IPv4Network]
) -> ipaddress.IPv4Network:
    """The lowest /``prefix`` of ``plan`` that overlaps no pool in ``used``.

    Raises:
        InputError: the prefix does not fit the plan, or every pool of the plan is taken.
    """
    if prefix < plan.prefixlen:
        raise InputError(
            f"vpn_pool_prefix /{prefix} is larger than the address plan {plan}; "
            "set vpn_pool_prefix >= the plan's prefix"
        )
    taken = list(used.values())
    for candidate in plan.subnets(new_prefix=prefix):
        if not any(candidate.overlaps(pool) for pool in taken):
            return candidate
    inside = sum(1 for pool in taken if pool.overlaps(plan))
    raise InputError(
        f"VPN address plan {plan} is exhausted: all {2 ** (prefix - plan.prefixlen)} /{prefix} "
        f"pools are taken ({inside} comuni use it); widen vpn_address_plan in the config"
    )


def _settings_doc(
    entry: istat.IstatComune,
    slug: str,
    pool: ipaddress.IPv4Network,
    settings: Settings,
    *,
    office_networks: Sequence[ipaddress.IPv4Network],
    public_endpoint: str,
    meeting_url: str,
    terminator: str,
    source: Path,
) -> Any:
    """``group_vars/all/comune.yml``: every value from ISTAT's file quoted, comments one line."""
    values: dict[str, Any] = {
        "comune_name": quoted(entry.name),
        "comune_slug": slug,
        "comune_istat_code": quoted(entry.code),
        "comune_province": quoted(entry.province),
        "comune_vpn_pool": str(pool),
        "comune_vpn_listen_port": 51820,
        "comune_vpn_public_endpoint": quoted(public_endpoint),
        "comune_vpn_terminator": quoted(terminator),
    }
    if office_networks:
        values["comune_office_networks"] = [str(net) for net in office_networks]
    values |= {
        "comune_meeting_url": quoted(meeting_url),
        "comune_dns_servers": [],
        "comune_vpn_allowed_services": [],
    }
    comments = {
        "comune_istat_code": "ISTAT code: a string, its leading zeros matter.",
        "comune_vpn_pool": (
            f"From the provider's address plan {settings.vpn_address_plan}; never reuse it."
        ),
        "comune_vpn_terminator": (
            "The host (group vpn_gateways or network_devices) that terminates the tunnels."
        ),
        "comune_meeting_url": (
            "TODO: comune_office_networks, the office LAN(s) behind the terminator (required), "
            "e.g. [192.168.1.0/24]"
            if not office_networks
            else ""
        ),
        "comune_vpn_allowed_services": (
            "What the VPN pool may reach on the office side; nothing else passes the gateway."
        ),
    }
    return document(
        values,
        header=[
            f"{entry.name} ({entry.province}, {entry.region}): created by",
            f"`provisioner inventory new-comune` from {source.name}.",
        ],
        comments={k: v for k, v in comments.items() if v},
    )


def _hosts_doc(entry: istat.IstatComune, slug: str) -> Any:
    return document(
        {"all": {"children": {}}},
        header=[
            f"Hosts of {entry.name}: add them with",
            f"  provisioner inventory import <assets.csv|.xlsx> --comune {slug}",
        ],
    )


def new_comune(
    settings: Settings,
    query: str,
    *,
    istat_file: Path | None = None,
    office_networks: Sequence[str] = (),
    public_endpoint: str | None = None,
    meeting_url: str | None = None,
    terminator: str = DEFAULT_TERMINATOR,
) -> NewComune:
    """Create ``inventory/<slug>/`` for the comune named or coded by ``query``.

    Writes ``hosts.yml`` (no hosts yet) and ``group_vars/all/comune.yml`` with the official
    name, ISTAT code, province and the lowest free VPN pool of the provider's plan. The
    directory appears at once (built aside, then renamed) under a lock, so two technicians
    never get the same pool.

    Raises:
        InputError: no ISTAT file, unknown/ambiguous comune, directory exists, plan exhausted,
            bad office network.
    """
    path = istat_file or settings.istat_file
    if path is None or not path.is_file():
        shown = path or "no --istat-file"
        raise InputError(
            f"{shown}: ISTAT list of comuni not found; download {istat.ISTAT_URL} and pass "
            "--istat-file (or set istat_file in the config)"
        )
    entry = istat.find(istat.read(path), query)
    slug = slugify(entry.name)
    directory = settings.comune_dir(slug)
    if directory.exists():
        raise InputError(
            f"{directory}: comune {slug!r} already exists ({entry.label()}); nothing changed"
        )
    networks: list[ipaddress.IPv4Network] = []
    for raw in office_networks:
        try:
            networks.append(ipaddress.IPv4Network(raw))
        except ValueError as exc:
            raise InputError(f"--office-network {raw!r}: {exc}") from None
    source = YamlDirectorySource(settings.inventory_dir)
    settings.inventory_dir.mkdir(parents=True, exist_ok=True)
    with History(settings.state).lock("_new-comune"):
        if directory.exists():  # created while we waited for the lock
            raise InputError(f"{directory}: comune {slug!r} already exists; nothing changed")
        used = source.vpn_pools(exclude="")
        unread = tuple(c for c in source.comunes() if c not in used)
        pool = allocate_pool(settings.vpn_address_plan, settings.vpn_pool_prefix, used)
        for net in networks:
            if net.overlaps(pool):
                raise InputError(f"--office-network {net} overlaps the allocated VPN pool {pool}")
        settings_doc = _settings_doc(
            entry,
            slug,
            pool,
            settings,
            office_networks=networks,
            public_endpoint=public_endpoint or f"vpn.{slug}.{settings.provider_domain}:51820",
            meeting_url=meeting_url or f"https://meet.{settings.provider_domain}/{slug}",
            terminator=terminator,
            source=path,
        )
        staging = Path(tempfile.mkdtemp(prefix=f".new-{slug}-", dir=settings.inventory_dir))
        try:
            write_document(staging / "group_vars" / "all" / "comune.yml", settings_doc)
            write_document(staging / "hosts.yml", _hosts_doc(entry, slug))
            staging.chmod(0o755)
            staging.rename(directory)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    todo = [f"import the hosts, incl. the VPN terminator {terminator!r}"]
    if not networks:
        todo.insert(0, "set comune_office_networks in group_vars/all/comune.yml")
    return NewComune(
        slug=slug,
        directory=directory,
        comune=entry,
        pool=pool,
        files=(str(directory / "hosts.yml"), str(directory / "group_vars/all/comune.yml")),
        todo=tuple(todo),
        unread_pools=unread,
    )
