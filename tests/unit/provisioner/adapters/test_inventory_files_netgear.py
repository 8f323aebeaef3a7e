"""Hosts of group `network_devices`: device type, role and vault-only password, one line each."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from provisioner.adapters.inventory_files import YamlDirectorySource
from provisioner.errors import InventoryError, InventoryProblem
from tests.unit.fakes import GROUP_HOSTS, SLUG, ComuneFiles

MakeComune = Callable[..., ComuneFiles]


def _with_device(make_comune: MakeComune, **device: Any) -> ComuneFiles:
    """A valid comune plus one device; a value of None removes that variable."""
    base = {
        "ansible_host": "192.0.2.1",
        "netgear_device_type": "mikrotik_routeros",
        "netgear_role": "vpn_concentrator",
        "netgear_password": "{{ vault_netgear_password }}",
    }
    merged = {k: v for k, v in {**base, **device}.items() if v is not None}
    hosts = {**GROUP_HOSTS, "network_devices": {"router-01": merged}}
    return make_comune(hosts=hosts)


def _problems(files: ComuneFiles) -> list[InventoryProblem]:
    with pytest.raises(InventoryError) as info:
        YamlDirectorySource(files.root).load(files.slug)
    return info.value.problems


def test_sound_device_loads(make_comune: MakeComune) -> None:
    files = _with_device(make_comune)
    inv = YamlDirectorySource(files.root).load(files.slug)
    assert inv.group("network_devices")[0].variables["netgear_device_type"] == "mikrotik_routeros"


@pytest.mark.parametrize(
    ("device", "field", "message"),
    [
        (
            {"netgear_device_type": "juniper_junos"},
            "netgear_device_type",
            "'juniper_junos' is not one of mikrotik_routeros, cisco_ios, fortinet",
        ),
        (
            {"netgear_role": "router"},
            "netgear_role",
            "'router' is not one of vpn_concentrator, edge_nat",
        ),
        (
            {"netgear_device_type": "cisco_ios"},
            "netgear_role",
            "vpn_concentrator needs netgear_device_type mikrotik_routeros",
        ),
        (
            {"netgear_password": "hunter2"},
            "netgear_password",
            "must come from the vault ('{{ vault_... }}' or !vault), not plain text",
        ),
    ],
)
def test_problem_is_one_line_naming_file_host_and_field(
    make_comune: MakeComune, device: dict[str, Any], field: str, message: str
) -> None:
    files = _with_device(make_comune, **device)
    problems = _problems(files)
    assert [str(p) for p in problems] == [
        f"inventory/{SLUG}/hosts.yml: host router-01: {field}: {message}"
    ]
    assert "hunter2" not in str(problems[0])
