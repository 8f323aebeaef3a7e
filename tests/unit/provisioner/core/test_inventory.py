"""Inventory use cases: loading through settings and resolving --limit."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from provisioner.config import Settings
from provisioner.core.inventory import check_limit, comunes, load
from provisioner.errors import ExitCode, InputError, InventoryError
from provisioner.models.inventory import Inventory
from tests.unit.fakes import ALL_HOSTS, GROUP_HOSTS, SLUG, ComuneFiles


@pytest.fixture
def inventory(settings: Settings, comune: ComuneFiles) -> Inventory:
    return load(settings, comune.slug)


def test_load_and_comunes_use_the_settings_inventory_dir(
    settings: Settings, make_comune: Callable[..., ComuneFiles]
) -> None:
    make_comune()
    make_comune("montebello")

    assert comunes(settings) == [SLUG, "montebello"]
    assert sorted(load(settings, "montebello").hosts) == ALL_HOSTS


def test_load_raises_inventory_errors(
    settings: Settings, make_comune: Callable[..., ComuneFiles]
) -> None:
    make_comune(settings={"comune_vpn_terminator": "nowhere"})

    with pytest.raises(InventoryError):
        load(settings, SLUG)


@pytest.mark.parametrize(
    "limit",
    [
        None,
        "",
        "gw-vpn-01",
        "pc-anagrafe-01,pc-tributi-01",
        "vpn_gateways",
        "office_desktops:network_devices",
        "all",
        "all:!endpoints",
        "office_desktops:&rd_gateways",
        "pc-*",
        "*.castelnuovo.example.it",
        "~pc-(anagrafe|tributi)-0[0-9]",
        "office_desktops[0]",
        "@/tmp/enable.retry",
        "gw-vpn-01,",
    ],
)
def test_known_names_and_patterns_pass(inventory: Inventory, limit: str | None) -> None:
    check_limit(inventory, limit)


@pytest.mark.parametrize(
    ("limit", "name", "hint"),
    [
        ("pc-anagrafe-1", "pc-anagrafe-1", "did you mean pc-anagrafe-01"),
        ("gw-vpn-01,laptop-sindac", "laptop-sindac", "did you mean laptop-sindaco"),
        ("vpn_gateway", "vpn_gateway", "did you mean vpn_gateways"),
        ("all:!office_desktop", "office_desktop", "did you mean office_desktops"),
    ],
)
def test_unknown_name_suggests(inventory: Inventory, limit: str, name: str, hint: str) -> None:
    with pytest.raises(InputError) as info:
        check_limit(inventory, limit)

    assert info.value.exit_code == ExitCode.BAD_INPUT
    message = str(info.value)
    assert message.startswith(f"--limit: {name!r} is no host or group of comune {SLUG!r}")
    assert hint in message


def test_unknown_name_without_close_match(inventory: Inventory) -> None:
    with pytest.raises(InputError) as info:
        check_limit(inventory, "zzzzzz")

    assert "did you mean" not in str(info.value)


def test_nested_child_group_is_a_valid_limit(settings: Settings, comune: ComuneFiles) -> None:
    comune.hosts_file.write_text(
        "all:\n  children:\n    vpn_gateways:\n      hosts:\n        gw-vpn-01:\n"
        "    endpoints:\n      children:\n        laptops_giunta:\n          hosts:\n"
        "            laptop-sindaco:\n",
        encoding="utf-8",
    )
    inventory = load(settings, SLUG)
    assert "laptops_giunta" in inventory.hosts["laptop-sindaco"].groups

    check_limit(inventory, "laptops_giunta")


@pytest.mark.parametrize("limit", ["pc-casa-rossi", "gw-vpn-01,pc-casa-rossi", "bundles"])
def test_a_limit_never_reaches_a_bundles_device(
    settings: Settings, make_comune: Callable[..., ComuneFiles], limit: str
) -> None:
    make_comune(hosts={**GROUP_HOSTS, "bundles": {"pc-casa-rossi": {}}})
    inventory = load(settings, SLUG)

    with pytest.raises(InputError, match=r"is a bundle's device \(group bundles\): no run"):
        check_limit(inventory, limit)
    check_limit(inventory, "all:!pc-casa-rossi")  # excluding one is harmless
