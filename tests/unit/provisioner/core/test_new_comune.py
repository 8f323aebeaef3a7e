"""new-comune: skeleton from ISTAT's list, lowest free VPN pool, refusals."""

from __future__ import annotations

import csv
import io
import ipaddress
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from provisioner.adapters.inventory_files import YamlDirectorySource
from provisioner.config import Settings, load_settings
from provisioner.core.importer import import_assets
from provisioner.core.new_comune import allocate_pool, new_comune
from provisioner.errors import InputError, InventoryError
from tests.unit.fakes import ComuneFiles
from tests.unit.provisioner.assets import ISTAT_FIXTURE, csv_bytes, snapshot

Net = ipaddress.IPv4Network


def test_allocate_takes_the_lowest_free_pool() -> None:
    plan = Net("10.77.0.0/16")
    used = {"a": Net("10.77.0.0/24"), "b": Net("10.77.2.0/24"), "c": Net("10.77.3.128/25")}

    assert allocate_pool(plan, 24, used) == Net("10.77.1.0/24")
    assert allocate_pool(plan, 24, {**used, "d": Net("10.77.1.0/24")}) == Net("10.77.4.0/24")
    assert allocate_pool(plan, 24, {}) == Net("10.77.0.0/24")


def test_allocate_exhausted_plan_is_a_clear_error() -> None:
    plan = Net("10.77.0.0/23")
    used = {"a": Net("10.77.0.0/24"), "b": Net("10.77.1.0/25")}

    with pytest.raises(InputError) as err:
        allocate_pool(plan, 24, used)

    assert str(err.value) == (
        "VPN address plan 10.77.0.0/23 is exhausted: all 2 /24 pools are taken (2 comuni use "
        "it); widen vpn_address_plan in the config"
    )
    with pytest.raises(InputError, match="larger than the address plan"):
        allocate_pool(plan, 16, {})


def test_new_comune_writes_a_skeleton_with_a_free_pool(
    settings: Settings, comune: ComuneFiles
) -> None:
    created = new_comune(
        settings,
        "Sant Angelo di Piove di Sacco",
        istat_file=ISTAT_FIXTURE,
        office_networks=["192.168.50.0/24"],
    )

    assert created.slug == "sant-angelo-di-piove-di-sacco"
    assert created.pool == Net("10.64.0.0/24")  # the default plan 10.64.0.0/12 starts there
    assert created.unread_pools == ()
    assert sorted(p.name for p in settings.inventory_dir.iterdir()) == [
        "castelnuovo",
        "sant-angelo-di-piove-di-sacco",
    ]
    text = (created.directory / "group_vars/all/comune.yml").read_text(encoding="utf-8")
    assert 'comune_name: "Sant\'Angelo di Piove di Sacco"\n' in text
    assert 'comune_istat_code: "028082"\n' in text
    assert 'comune_province: "PD"\n' in text
    assert "comune_vpn_pool: 10.64.0.0/24\n" in text
    source = YamlDirectorySource(settings.inventory_dir)
    assert source.vpn_pools(exclude="")["sant-angelo-di-piove-di-sacco"] == created.pool

    # Skeleton alone: the only thing missing is the terminator, which the import brings.
    with pytest.raises(InventoryError, match="'gw-vpn-01' is not a host of this inventory"):
        source.load(created.slug)
    assets = settings.inventory_dir.parent / "assets.csv"
    assets.write_bytes(
        csv_bytes(
            [
                "gw-vpn-01;192.168.50.1;Debian 13;;CED;gateway",
                "laptop-sindaco;DHCP;Windows 11;Niccolò D'Alò;Giunta;portatile",
            ],
            encoding="cp1252",
        )
    )
    import_assets(settings, assets, created.slug)
    inventory = source.load(created.slug)
    assert inventory.settings.comune_name == "Sant'Angelo di Piove di Sacco"
    assert inventory.settings.comune_istat_code == "028082"
    assert sorted(inventory.hosts) == ["gw-vpn-01", "laptop-sindaco"]

    second = new_comune(settings, "028105", istat_file=ISTAT_FIXTURE)
    assert (second.slug, second.pool) == ("vo", Net("10.64.1.0/24"))
    assert second.todo[0] == "set comune_office_networks in group_vars/all/comune.yml"


def test_refusals_write_nothing(
    settings: Settings, make_comune: Callable[..., ComuneFiles], tmp_path: Path
) -> None:
    make_comune("vo")
    before = snapshot(settings.inventory_dir)

    with pytest.raises(InputError, match=r"comune 'vo' already exists \(Vò \(PD, 028105\)\)"):
        new_comune(settings, "Vò", istat_file=ISTAT_FIXTURE)
    with pytest.raises(InputError, match="ambiguous: Samone"):
        new_comune(settings, "samone", istat_file=ISTAT_FIXTURE)
    with pytest.raises(InputError, match=r"overlaps the allocated VPN pool 10\.64\.0\.0/24"):
        new_comune(settings, "Padova", istat_file=ISTAT_FIXTURE, office_networks=["10.64.0.0/16"])
    with pytest.raises(InputError, match="ISTAT list of comuni not found; download"):
        new_comune(settings, "Padova", istat_file=tmp_path / "missing.csv")
    full = settings.model_copy(update={"vpn_address_plan": Net("10.77.0.0/24")})
    with pytest.raises(InputError, match="is exhausted"):
        new_comune(full, "Padova", istat_file=ISTAT_FIXTURE)

    assert snapshot(settings.inventory_dir) == before
    assert [p.name for p in settings.inventory_dir.iterdir()] == ["vo"]  # no staging leftovers


def test_default_plan_holds_4096_comuni(settings: Settings) -> None:
    plan = Settings().vpn_address_plan
    assert plan == Net("10.64.0.0/12")
    assert 2 ** (settings.vpn_pool_prefix - plan.prefixlen) >= 4096
    used = {f"c{i}": pool for i, pool in enumerate(list(plan.subnets(new_prefix=24))[:4095])}
    assert allocate_pool(plan, 24, used) == Net("10.79.255.0/24")


def test_address_plan_comes_from_config_then_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "config.toml"
    config.write_text('vpn_address_plan = "10.200.0.0/16"\nvpn_pool_prefix = 25\n', "utf-8")
    assert load_settings(config).vpn_address_plan == Net("10.200.0.0/16")
    assert load_settings(config).vpn_pool_prefix == 25

    monkeypatch.setenv("PROVISIONER_VPN_ADDRESS_PLAN", "10.300.0.0/16")
    with pytest.raises(InputError, match="environment PROVISIONER_VPN_ADDRESS_PLAN: "):
        load_settings(config)


def test_a_hostile_istat_row_becomes_quoted_text_never_yaml(
    settings: Settings, tmp_path: Path
) -> None:
    # A cell with a line break (the CSV reader keeps them inside quotes) that would become a
    # group variable running a command on the controller, if written raw into a comment.
    hostile = 'Veneto\nansible_ssh_common_args: -o ProxyCommand="touch /tmp/pwned" #'
    rows = list(csv.reader(io.StringIO(ISTAT_FIXTURE.read_bytes().decode("cp1252")), delimiter=";"))
    row = next(r for r in rows if "028105" in r)
    row[10] = hostile  # Denominazione Regione
    row[6] = "Vò\nansible_connection: local"  # Denominazione in italiano
    out = io.StringIO()
    csv.writer(out, delimiter=";", lineterminator="\r\n").writerows([rows[0], row])
    istat_file = tmp_path / "istat.csv"
    istat_file.write_bytes(out.getvalue().encode("cp1252"))

    created = new_comune(settings, "028105", istat_file=istat_file)

    written = {
        path: yaml.safe_load(path.read_text(encoding="utf-8"))
        for path in created.directory.rglob("*.yml")
    }
    keys = {key for doc in written.values() for key in doc}
    assert "ansible_ssh_common_args" not in keys and "ansible_connection" not in keys
    comune = written[created.directory / "group_vars/all/comune.yml"]
    assert comune["comune_name"] == "Vò\nansible_connection: local"  # kept as text, quoted
