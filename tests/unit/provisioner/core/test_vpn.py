"""VPN addressing: checks before anything runs, stable allocation, exhaustion."""

from __future__ import annotations

import datetime
import ipaddress
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from provisioner.adapters.inventory_files import YamlDirectorySource
from provisioner.adapters.inventory_writer import write_host_vars
from provisioner.core import vpn
from provisioner.errors import InventoryError
from provisioner.models.inventory import Inventory
from tests.unit.fakes import GROUP_HOSTS, SLUG, ComuneFiles


def _load(root: Path, slug: str = SLUG) -> Inventory:
    return YamlDirectorySource(root).load(slug)


def _with_endpoints(n: int, **extra: dict[str, Any]) -> dict[str, dict[str, dict[str, Any]]]:
    hosts = {g: dict(h) for g, h in GROUP_HOSTS.items()}
    hosts["endpoints"] = {
        f"laptop-{i:02d}": {"ansible_host": f"192.0.2.{i}"} for i in range(1, n + 1)
    }
    for name, values in extra.items():
        hosts["endpoints"][name] = {**hosts["endpoints"].get(name, {}), **values}
    return hosts


def _lines(exc: pytest.ExceptionInfo[InventoryError]) -> list[str]:
    return exc.value.lines()


def test_plan_gives_lowest_free_addresses_skipping_the_gateway(
    inventory_root: Path, make_comune: Callable[..., ComuneFiles]
) -> None:
    make_comune(hosts=_with_endpoints(3, **{"laptop-02": {"vpn_client_address": "10.77.0.2"}}))
    plan = vpn.plan(_load(inventory_root))
    assert plan.new == {
        "laptop-01": ipaddress.IPv4Address("10.77.0.3"),
        "laptop-03": ipaddress.IPv4Address("10.77.0.4"),
    }
    assert plan.addresses["laptop-02"] == ipaddress.IPv4Address("10.77.0.2")


def test_recorded_addresses_are_stable_and_a_new_endpoint_gets_one_more(
    inventory_root: Path, make_comune: Callable[..., ComuneFiles]
) -> None:
    make_comune(hosts=_with_endpoints(2))
    source = YamlDirectorySource(inventory_root)
    first = vpn.plan(source.load(SLUG))
    for host, address in first.new.items():
        write_host_vars(inventory_root / SLUG, host, {vpn.ADDRESS_VAR: str(address)}, "test")
    again = vpn.plan(source.load(SLUG))
    assert again.new == {}
    assert again.addresses == first.addresses

    make_comune(hosts=_with_endpoints(3))  # a third endpoint joins; host_vars stay
    third = vpn.plan(source.load(SLUG))
    assert third.new == {"laptop-03": ipaddress.IPv4Address("10.77.0.4")}
    assert {h: third.addresses[h] for h in first.addresses} == first.addresses


def test_set_host_vars_merges_with_existing_variables(
    inventory_root: Path, make_comune: Callable[..., ComuneFiles]
) -> None:
    make_comune(hosts=_with_endpoints(1))
    path = inventory_root / SLUG / "host_vars" / "laptop-01.yml"
    path.parent.mkdir()
    path.write_text(
        "# kept\nassigned_user: mario.rossi\n"
        "secret: !vault |\n  $ANSIBLE_VAULT;1.1;AES256\n  6162\n"
    )
    write_host_vars(inventory_root / SLUG, "laptop-01", {vpn.ADDRESS_VAR: "10.77.0.9"}, "note")
    assert path.read_text().startswith("# kept\n") and "secret: !vault |" in path.read_text()
    host = _load(inventory_root).hosts["laptop-01"]
    assert host.vpn_client_address == ipaddress.IPv4Address("10.77.0.9")
    assert host.variables["assigned_user"] == "mario.rossi"
    assert host.origins[vpn.ADDRESS_VAR] == f"inventory/{SLUG}/host_vars/laptop-01.yml"


def test_pool_exhaustion_names_the_pool(
    inventory_root: Path, make_comune: Callable[..., ComuneFiles]
) -> None:
    # plan() on its own (check() would refuse this inventory first)
    make_comune(settings={"comune_vpn_pool": "10.77.0.0/30"}, hosts=_with_endpoints(2))
    with pytest.raises(InventoryError) as exc:
        vpn.plan(_load(inventory_root))
    assert _lines(exc) == [
        f"inventory/{SLUG}/group_vars/all/comune.yml: comune_vpn_pool: "
        "VPN pool 10.77.0.0/30 is exhausted: no free address for laptop-02"
    ]


def test_pool_too_small_is_refused_before_anything(
    inventory_root: Path, make_comune: Callable[..., ComuneFiles]
) -> None:
    make_comune(settings={"comune_vpn_pool": "10.77.0.0/30"}, hosts=_with_endpoints(2))
    with pytest.raises(InventoryError) as exc:
        vpn.check(_load(inventory_root), {})
    line = _lines(exc)[0]
    assert line.startswith(f"inventory/{SLUG}/group_vars/all/comune.yml: comune_vpn_pool: ")
    assert "has room for 1 endpoints and bundles, the comune has 2" in line


def test_overlapping_pools_between_comuni(
    inventory_root: Path, make_comune: Callable[..., ComuneFiles]
) -> None:
    make_comune()
    make_comune("montebello", settings={"comune_vpn_pool": "10.77.0.128/25"})
    source = YamlDirectorySource(inventory_root)
    with pytest.raises(InventoryError) as exc:
        vpn.check(source.load(SLUG), source.vpn_pools(exclude=SLUG))
    assert "overlaps the pool 10.77.0.128/25 of comune 'montebello'" in _lines(exc)[0]


@pytest.mark.parametrize(
    ("address", "message"),
    [
        ("10.99.0.5", "10.99.0.5 is outside the VPN pool 10.77.0.0/24"),
        ("10.77.0.1", "10.77.0.1 is the gateway's tunnel address"),
        ("10.77.0.255", "10.77.0.255 is outside the VPN pool"),
    ],
)
def test_endpoint_address_problems_name_host_and_field(
    inventory_root: Path, make_comune: Callable[..., ComuneFiles], address: str, message: str
) -> None:
    make_comune(hosts=_with_endpoints(1, **{"laptop-01": {"vpn_client_address": address}}))
    with pytest.raises(InventoryError) as exc:
        vpn.check(_load(inventory_root), {})
    assert _lines(exc) == [
        f"inventory/{SLUG}/hosts.yml: host laptop-01: vpn_client_address: {message}"
        + ("" if message.endswith(("address", "/24")) else " 10.77.0.0/24")
    ]


def test_duplicate_address_names_both_hosts(
    inventory_root: Path, make_comune: Callable[..., ComuneFiles]
) -> None:
    make_comune(
        hosts=_with_endpoints(
            2,
            **{
                "laptop-01": {"vpn_client_address": "10.77.0.7"},
                "laptop-02": {"vpn_client_address": "10.77.0.7"},
            },
        )
    )
    with pytest.raises(InventoryError) as exc:
        vpn.check(_load(inventory_root), {})
    assert _lines(exc) == [
        f"inventory/{SLUG}/hosts.yml: host laptop-02: vpn_client_address: "
        "10.77.0.7 is already used by laptop-01"
    ]


def test_malformed_address_is_an_inventory_error(
    inventory_root: Path, make_comune: Callable[..., ComuneFiles]
) -> None:
    make_comune(hosts=_with_endpoints(1, **{"laptop-01": {"vpn_client_address": "10.77.0.300"}}))
    with pytest.raises(InventoryError) as exc:
        _load(inventory_root)
    assert _lines(exc)[0].startswith(
        f"inventory/{SLUG}/hosts.yml: host laptop-01: vpn_client_address: "
    )


def test_endpoints_without_a_readiness_service_are_refused_when_a_run_starts(
    inventory_root: Path, make_comune: Callable[..., ComuneFiles]
) -> None:
    from tests.unit.fakes import DROP  # noqa: PLC0415

    make_comune(hosts=_with_endpoints(1), settings={"comune_vpn_readiness_service": DROP})
    inventory = _load(inventory_root)
    vpn.check(inventory, {})  # the inventory itself is valid: hosts come before services
    with pytest.raises(InventoryError, match="comune_vpn_readiness_service: the endpoints' VPN"):
        vpn.check_readiness(inventory)


KEY = "xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg="


def _bundle(address: str, **extra: Any) -> dict[str, Any]:
    return {
        "vpn_client_address": address,
        "bundle_user": "mrossi",
        "bundle_public_key": KEY,
        "bundle_created": "2026-12-01T10:00:00+00:00",
        **extra,
    }


def test_bundles_hold_addresses_of_the_pool_like_endpoints(
    inventory_root: Path, make_comune: Callable[..., ComuneFiles]
) -> None:
    hosts = _with_endpoints(2, **{"laptop-01": {"vpn_client_address": "10.77.0.2"}})
    hosts["bundles"] = {"pc-rossi": _bundle("10.77.0.3"), "pc-casa": {}}
    make_comune(hosts=hosts)
    inventory = _load(inventory_root)

    vpn.check(inventory, {})
    allocation = vpn.plan(inventory)

    # laptop-02 skips the bundle's address; the imported device (no bundle yet) holds none.
    assert {h: str(a) for h, a in allocation.new.items()} == {"laptop-02": "10.77.0.4"}
    assert [h.name for h in vpn.peers(inventory)] == ["laptop-01", "laptop-02", "pc-rossi"]
    # A new bundle takes the lowest free one; laptop-02 then gets the next at enable.
    assert str(vpn.free_address(inventory, "pc-new", datetime.date(2026, 12, 2))) == "10.77.0.4"


def test_an_address_held_by_an_endpoint_and_a_bundle_is_refused(
    inventory_root: Path, make_comune: Callable[..., ComuneFiles]
) -> None:
    hosts = _with_endpoints(1, **{"laptop-01": {"vpn_client_address": "10.77.0.2"}})
    hosts["bundles"] = {"pc-rossi": _bundle("10.77.0.2")}
    make_comune(hosts=hosts)

    with pytest.raises(InventoryError) as exc:
        vpn.check(_load(inventory_root), {})

    assert _lines(exc) == [
        f"inventory/{SLUG}/hosts.yml: host pc-rossi: vpn_client_address: 10.77.0.2 is already "
        "used by laptop-01"
    ]


def test_a_full_pool_names_the_expired_bundles_to_revoke(
    inventory_root: Path, make_comune: Callable[..., ComuneFiles]
) -> None:
    hosts = _with_endpoints(0)
    hosts["bundles"] = {
        f"pc-{n}": _bundle(f"10.77.0.{n}", bundle_expires="2026-11-30") for n in (2, 3)
    }
    hosts["bundles"]["pc-4"] = _bundle("10.77.0.4")
    make_comune(settings={"comune_vpn_pool": "10.77.0.0/29"}, hosts=hosts)
    inventory = _load(inventory_root)
    # /29: .2-.6 for peers; two more free
    assert str(vpn.free_address(inventory, "pc-x", datetime.date(2026, 12, 2))) == "10.77.0.5"
    hosts["bundles"].update({"pc-5": _bundle("10.77.0.5"), "pc-6": _bundle("10.77.0.6")})
    make_comune(settings={"comune_vpn_pool": "10.77.0.0/29"}, hosts=hosts)

    with pytest.raises(InventoryError) as exc:
        vpn.free_address(_load(inventory_root), "pc-x", datetime.date(2026, 12, 2))

    assert _lines(exc)[0].endswith(
        "VPN pool 10.77.0.0/29 is full: no free address for pc-x (5 in use, 0 kept for endpoints "
        "not enrolled yet); expired bundles to revoke: pc-2, pc-3"
    )
