"""Group `bundles`: devices that get an enrolment bundle, never a run; one line per problem."""

from __future__ import annotations

import datetime
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from provisioner.adapters.inventory_files import YamlDirectorySource
from provisioner.adapters.inventory_writer import InventoryWriter
from provisioner.errors import InventoryError
from tests.unit.fakes import GROUP_HOSTS, ComuneFiles

MakeComune = Callable[..., ComuneFiles]
KEY = "xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg="
ISSUED = {
    "vpn_client_address": "10.77.0.20",
    "bundle_user": "mrossi",
    "bundle_desktop": "pc-anagrafe-01",
    "bundle_public_key": KEY,
    "bundle_created": "2026-12-02T09:30:00+00:00",
    "bundle_expires": "2027-03-31",
}


def _with(make_comune: MakeComune, groups: dict[str, dict[str, Any]]) -> ComuneFiles:
    hosts = {g: dict(h) for g, h in GROUP_HOSTS.items()}
    for group, members in groups.items():
        hosts.setdefault(group, {}).update(members)
    return make_comune(hosts=hosts)


def _problems(files: ComuneFiles) -> list[str]:
    with pytest.raises(InventoryError) as info:
        YamlDirectorySource(files.root).load(files.slug)
    return [f"{p.host}: {p.field}: {p.message}" for p in info.value.problems]


def test_issued_and_imported_devices_load(make_comune: MakeComune) -> None:
    files = _with(
        make_comune, {"bundles": {"pc-rossi": ISSUED, "pc-casa": {"asset_os": "Windows 11"}}}
    )

    inventory = YamlDirectorySource(files.root).load(files.slug)

    rossi, casa = inventory.hosts["pc-rossi"], inventory.hosts["pc-casa"]
    assert rossi.is_bundle and rossi.issued and not casa.issued
    assert rossi.bundle_expires == datetime.date(2027, 3, 31)
    assert rossi.expired(datetime.date(2027, 4, 1)) and not rossi.expired(
        datetime.date(2027, 3, 31)
    )
    assert not casa.expired(datetime.date(2099, 1, 1))


@pytest.mark.parametrize(
    ("groups", "problem"),
    [
        (
            {"bundles": {"laptop-sindaco": {}}},
            "laptop-sindaco: groups: a bundle's device is in no other group (also in endpoints): "
            "it is not managed over SSH",
        ),
        (
            {"bundles": {"pc-rossi": {**ISSUED, "ansible_host": "192.168.10.50"}}},
            "pc-rossi: ansible_host: a bundle's device is not managed over SSH: remove it",
        ),
        (
            {"bundles": {"pc-rossi": {**ISSUED, "ansible_user": "admin"}}},
            "pc-rossi: ansible_user: a bundle's device is not managed over SSH: remove it",
        ),
        (
            {"bundles": {"pc-rossi": {**ISSUED, "bundle_user": None}}},
            "pc-rossi: bundle_user: missing: an issued bundle records it (bundle create writes it)",
        ),
        (
            {"bundles": {"pc-rossi": {"vpn_client_address": "10.77.0.20"}}},
            "pc-rossi: vpn_client_address: a tunnel address without bundle_public_key (not issued)",
        ),
        (
            {"endpoints": {"laptop-x": {"bundle_user": "mrossi"}}},
            "laptop-x: bundle_user: only a host of group bundles has bundle fields",
        ),
    ],
    ids=["also-endpoint", "ssh-address", "ssh-user", "no-user", "address-no-key", "not-bundle"],
)
def test_each_problem_of_a_device_is_one_line(
    make_comune: MakeComune, groups: dict[str, dict[str, Any]], problem: str
) -> None:
    for members in groups.values():
        for values in members.values():
            for key in [k for k, v in values.items() if v is None]:
                del values[key]
    assert _problems(_with(make_comune, groups)) == [problem]


def test_a_public_key_must_be_a_wireguard_key(make_comune: MakeComune) -> None:
    files = _with(make_comune, {"bundles": {"pc-rossi": {**ISSUED, "bundle_public_key": "abc="}}})
    assert _problems(files) == [
        "pc-rossi: bundle_public_key: not a WireGuard key (base64 of 32 bytes) (got 'abc=')"
    ]


def test_a_new_device_starts_bundles_yml_which_lab_up_never_rewrites(
    make_comune: MakeComune,
) -> None:
    files = make_comune()
    writer = InventoryWriter(files.dir)
    writer.set_host("pc-rossi", "bundles", {})
    writer.set_host_vars("pc-rossi", {"asset_os": "Windows 11"}, "note")
    writer.commit()

    document = yaml.safe_load((files.dir / "bundles.yml").read_text(encoding="utf-8"))
    assert document == {"all": {"children": {"bundles": {"hosts": {"pc-rossi": None}}}}}
    assert "pc-rossi" not in files.hosts_file.read_text(encoding="utf-8")
    assert YamlDirectorySource(Path(files.root)).load(files.slug).hosts["pc-rossi"].is_bundle
