"""Comment-preserving inventory edits: add/update hosts, remove_host, atomic writes."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from provisioner.adapters.inventory_files import YamlDirectorySource
from provisioner.adapters.inventory_writer import InventoryWriter, atomic_write, remove_host
from provisioner.errors import InputError
from tests.unit.fakes import SLUG, ComuneFiles

HOSTS = """\
---
# Castelnuovo: hosts kept by hand. Do not reorder.
all:
  children:
    vpn_gateways:
      hosts:
        gw-vpn-01:
          ansible_host: 203.0.113.10  # public address
    endpoints:
      hosts:
        laptop-sindaco:   # the mayor's laptop
          ansible_host: laptop-sindaco.castelnuovo.example.it
        laptop-giunta:
      children:
        endpoints_giunta:
          hosts:
            laptop-sindaco:
    office_desktops:
      hosts:
        pc-anagrafe-01:
          ansible_host: 192.168.10.21
"""


@pytest.fixture
def hand_written(comune: ComuneFiles) -> ComuneFiles:
    """Castelnuovo with a commented hosts.yml, nested group and a host_vars file."""
    comune.hosts_file.write_text(HOSTS, encoding="utf-8")
    host_vars = comune.dir / "host_vars" / "laptop-sindaco.yml"
    host_vars.parent.mkdir()
    host_vars.write_text("# allocated by enable\nvpn_client_address: 10.77.0.5\n", "utf-8")
    return comune


def test_remove_host_from_every_group_and_its_host_vars(hand_written: ComuneFiles) -> None:
    removed = remove_host(hand_written.dir, "laptop-sindaco")

    assert removed == {
        "host": "laptop-sindaco",
        "groups": ["endpoints", "endpoints.endpoints_giunta"],
        "files": [str(hand_written.hosts_file)],
        "host_vars_files": [str(hand_written.dir / "host_vars" / "laptop-sindaco.yml")],
        "host_vars": {"vpn_client_address": "10.77.0.5"},
    }
    assert not (hand_written.dir / "host_vars" / "laptop-sindaco.yml").exists()
    text = hand_written.hosts_file.read_text(encoding="utf-8")
    assert "laptop-sindaco" not in text
    assert text.startswith("---\n# Castelnuovo: hosts kept by hand. Do not reorder.\n")
    assert "ansible_host: 203.0.113.10  # public address\n" in text
    inventory = YamlDirectorySource(hand_written.root).load(SLUG)
    assert sorted(inventory.hosts) == ["gw-vpn-01", "laptop-giunta", "pc-anagrafe-01"]
    assert not list(hand_written.dir.rglob("*.tmp"))


def test_remove_host_with_a_host_vars_directory(hand_written: ComuneFiles) -> None:
    hv_dir = hand_written.dir / "host_vars" / "pc-anagrafe-01"
    hv_dir.mkdir()
    (hv_dir / "vpn.yml").write_text("vpn_client_address: 10.77.0.9\n", encoding="utf-8")
    (hv_dir / "asset.yml").write_text("asset_user: Lucia Favà\n", encoding="utf-8")

    removed = remove_host(hand_written.dir, "pc-anagrafe-01")

    assert removed["groups"] == ["office_desktops"]
    assert removed["host_vars_files"] == [str(hv_dir / "asset.yml"), str(hv_dir / "vpn.yml")]
    assert removed["host_vars"] == {
        "asset_user": "Lucia Favà",
        "vpn_client_address": "10.77.0.9",
    }
    assert not hv_dir.exists()
    assert "pc-anagrafe-01" not in YamlDirectorySource(hand_written.root).load(SLUG).hosts


def test_set_host_updates_the_host_vars_file_that_wins(hand_written: ComuneFiles) -> None:
    hv_dir = hand_written.dir / "host_vars" / "pc-anagrafe-01"
    hv_dir.mkdir()
    (hv_dir / "10-net.yml").write_text("ansible_host: 192.168.10.31\n", encoding="utf-8")
    (hv_dir / "20-net.yml").write_text("# override\nansible_host: 192.168.10.32\n", "utf-8")
    writer = InventoryWriter(hand_written.dir)
    assert writer.current_hosts()["pc-anagrafe-01"].variables["ansible_host"] == "192.168.10.32"

    writer.set_host("pc-anagrafe-01", "office_desktops", {"ansible_host": "192.168.10.33"})

    assert list(writer.pending()) == [hv_dir / "20-net.yml"]
    writer.commit()
    assert (hv_dir / "20-net.yml").read_text("utf-8") == "# override\nansible_host: 192.168.10.33\n"
    hosts = YamlDirectorySource(hand_written.root).load(SLUG).hosts
    assert hosts["pc-anagrafe-01"].ansible_host == "192.168.10.33"


def test_commit_refuses_files_changed_since_read(hand_written: ComuneFiles) -> None:
    writer = InventoryWriter(hand_written.dir)
    writer.set_host("laptop-nuovo", "endpoints", {})
    hand_written.hosts_file.write_text(HOSTS + "# edited by hand meanwhile\n", "utf-8")

    with pytest.raises(InputError, match=r"hosts\.yml: changed on disk meanwhile; nothing written"):
        writer.commit()

    assert hand_written.hosts_file.read_text("utf-8").endswith("meanwhile\n")


def test_remove_unknown_host_changes_nothing(hand_written: ComuneFiles) -> None:
    before = hand_written.hosts_file.read_bytes()

    with pytest.raises(InputError, match="host 'laptop-nessuno' is in no group"):
        remove_host(hand_written.dir, "laptop-nessuno")

    assert hand_written.hosts_file.read_bytes() == before


def test_set_host_adds_and_updates_keeping_comments_and_order(hand_written: ComuneFiles) -> None:
    writer = InventoryWriter(hand_written.dir)
    writer.set_host("laptop-giunta", "endpoints", {"asset_user": "Niccolò D'Alò"})
    writer.set_host("gw-vpn-01", "vpn_gateways", {"ansible_host": "203.0.113.11"})
    writer.set_host("sw-core-02", "network_devices", {"ansible_host": "192.168.10.3"})
    writer.set_host("laptop-nuovo", "endpoints", {"ansible_host": None})
    writer.set_host("laptop-sindaco", "endpoints", {"vpn_client_address": "10.77.0.6"})

    assert set(writer.pending()) == {
        hand_written.hosts_file,
        hand_written.dir / "host_vars" / "laptop-sindaco.yml",
    }
    assert not (hand_written.dir / "hosts.yml.tmp").exists()
    writer.commit()

    text = hand_written.hosts_file.read_text(encoding="utf-8")
    assert text == HOSTS.replace(
        "203.0.113.10  # public address", "203.0.113.11  # public address"
    ).replace(
        "        laptop-giunta:\n",
        "        laptop-giunta:\n          asset_user: Niccolò D'Alò\n        laptop-nuovo:\n",
    ) + (
        "    network_devices:\n      hosts:\n        sw-core-02:\n"
        "          ansible_host: 192.168.10.3\n"
    )
    host_vars = hand_written.dir / "host_vars" / "laptop-sindaco.yml"
    assert host_vars.read_text(encoding="utf-8") == (
        "# allocated by enable\nvpn_client_address: 10.77.0.6\n"
    )
    inventory = YamlDirectorySource(hand_written.root).load(SLUG)
    assert inventory.hosts["laptop-nuovo"].groups == ("endpoints",)
    assert str(inventory.hosts["laptop-sindaco"].vpn_client_address) == "10.77.0.6"


def test_new_hosts_file_is_created_when_the_comune_has_none(tmp_path: Path) -> None:
    comune_dir = tmp_path / "vo"
    comune_dir.mkdir()
    writer = InventoryWriter(comune_dir)
    writer.set_host("gw-vpn-01", "vpn_gateways", {"ansible_host": "192.168.50.1"})
    writer.commit()

    assert (comune_dir / "hosts.yml").read_text(encoding="utf-8") == (
        "---\nall:\n  children:\n    vpn_gateways:\n      hosts:\n        gw-vpn-01:\n"
        "          ansible_host: 192.168.50.1\n"
    )


def test_atomic_write_keeps_the_mode_and_leaves_no_temp_file(tmp_path: Path) -> None:
    path = tmp_path / "vault.yml"
    path.write_text("old\n", encoding="utf-8")
    path.chmod(0o600)

    atomic_write(path, "nuovo: Vò\n")

    assert path.read_text(encoding="utf-8") == "nuovo: Vò\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["vault.yml"]
