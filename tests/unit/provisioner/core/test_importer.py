"""Asset-list import: every bad row with its line, nothing written, conflicts, merge, validation."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import openpyxl
import pytest
import yaml

from provisioner.adapters.inventory_files import YamlDirectorySource
from provisioner.adapters.inventory_writer import write_host_vars
from provisioner.config import Settings
from provisioner.core.importer import import_assets
from provisioner.errors import AssetListError, ConflictError, InputError, InventoryError
from tests.unit.fakes import SLUG, ComuneFiles
from tests.unit.provisioner.assets import BAD_ROWS, CLEAN_ROWS, csv_bytes, snapshot

GATEWAY_ONLY = {"vpn_gateways": {"gw-vpn-01": {"ansible_host": "203.0.113.10"}}}


@pytest.fixture
def gateway_comune(make_comune: Callable[..., ComuneFiles]) -> ComuneFiles:
    """Comune castelnuovo with only its VPN gateway, and a comment in hosts.yml."""
    files = make_comune(hosts=GATEWAY_ONLY)
    files.hosts_file.write_text(
        "# Castelnuovo: keep this comment\n" + files.hosts_file.read_text(encoding="utf-8"),
        encoding="utf-8",
    )
    return files


def _write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_bad_rows_each_reported_with_its_line_and_nothing_written(
    settings: Settings, gateway_comune: ComuneFiles, tmp_path: Path
) -> None:
    path = _write(tmp_path, "assets.csv", csv_bytes(BAD_ROWS, bom=True))
    before = snapshot(settings.inventory_dir)

    with pytest.raises(AssetListError) as err:
        import_assets(settings, path, SLUG)

    assert err.value.lines() == [
        f"{path}: line 4: host laptop-vicesindaco: ip: '192.168.10.300' is not an IP address "
        "(or DHCP)",
        f"{path}: line 5: host pc-anagrafe-01: name: duplicate host 'pc-anagrafe-01' (first at "
        "line 3)",
        f"{path}: line 6: host stampante-01: kind: unknown kind 'stampante'; allowed: laptop, "
        "desktop, gateway, device",
    ]
    assert snapshot(settings.inventory_dir) == before
    assert not settings.state_dir.exists()


def test_clean_list_with_bom_semicolons_and_accents_imports_and_validates(
    settings: Settings, gateway_comune: ComuneFiles, tmp_path: Path
) -> None:
    path = _write(tmp_path, "assets.csv", csv_bytes(CLEAN_ROWS, bom=True))

    result = import_assets(settings, path, SLUG)

    assert (result.encoding, result.delimiter) == ("utf-8-sig", ";")
    # Windows laptops and desktops get bundles: never a Debian-managed group.
    assert [(h.name, h.group, h.line) for h in result.added] == [
        ("laptop-sindaco", "bundles", 2),
        ("pc-anagrafe-01", "bundles", 3),
        ("pc-tributi-02", "bundles", 4),
        ("laptop-ragioneria", "endpoints", 5),
        ("sw-piano-terra", "network_devices", 6),
    ]
    assert result.bundles == ("laptop-sindaco", "pc-anagrafe-01", "pc-tributi-02")
    # The gateway gains its asset data; filling unset variables is no conflict.
    assert [h.name for h in result.changed] == ["gw-vpn-01"]
    assert result.written == (
        str(gateway_comune.dir / "bundles.yml"),
        str(gateway_comune.hosts_file),
    )
    inventory = YamlDirectorySource(settings.inventory_dir).load(SLUG)  # = inventory validate
    sindaco = inventory.hosts["laptop-sindaco"]
    assert sindaco.groups == ("bundles",) and not sindaco.issued
    assert sindaco.ansible_host is None  # not reached over SSH (and DHCP anyway)
    assert sindaco.variables == {
        "asset_os": "Windows 11",
        "asset_user": "Niccolò D'Alò",
        "asset_office": "Segreteria del Sindaco",
    }
    # A bundle's device keeps its office address as information, not as a connection.
    anagrafe = inventory.hosts["pc-anagrafe-01"]
    assert (anagrafe.ansible_host, anagrafe.variables["asset_ip"]) == (None, "192.168.10.21")
    tributi = inventory.hosts["pc-tributi-02"]
    assert tributi.variables["asset_user"] == "Andrea Dell'Orto"
    assert tributi.variables["asset_office"] == "Ufficio Tributi; sportello"
    assert inventory.hosts["laptop-ragioneria"].variables["asset_user"] == "Zoë Perù"
    text = gateway_comune.hosts_file.read_text(encoding="utf-8")
    assert text.startswith("# Castelnuovo: keep this comment\n")


@pytest.mark.parametrize(
    ("encoding", "bom", "sep"),
    [("cp1252", False, ";"), ("utf-8", False, ","), ("utf-8", True, "\t")],
    ids=["windows-1252", "utf-8-comma", "utf-8-bom-tab"],
)
def test_encodings_and_delimiters_keep_accents_and_apostrophes(
    settings: Settings,
    gateway_comune: ComuneFiles,
    tmp_path: Path,
    encoding: str,
    bom: bool,
    sep: str,
) -> None:
    path = _write(
        tmp_path, "assets.csv", csv_bytes(CLEAN_ROWS, encoding=encoding, bom=bom, sep=sep)
    )

    result = import_assets(settings, path, SLUG)

    assert result.delimiter == sep
    assert result.encoding == ("utf-8-sig" if bom else encoding)
    hosts = YamlDirectorySource(settings.inventory_dir).load(SLUG).hosts
    assert hosts["laptop-sindaco"].variables["asset_user"] == "Niccolò D'Alò"
    assert hosts["pc-anagrafe-01"].variables["asset_user"] == "Lucia Favà"


def test_xlsx_rows_are_numbered_like_the_spreadsheet(
    settings: Settings, gateway_comune: ComuneFiles, tmp_path: Path
) -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "Inventario"
    sheet.append(["Hostname", "IP", "OS", "Utente", "Ufficio", "Tipo"])
    sheet.append(["laptop-sindaco", "DHCP", "Windows 11", "Niccolò D'Alò", "Giunta", "laptop"])
    sheet.append([])
    sheet.append(["pc-01", "10.0.0.999", "Windows 11", "", "", "desktop"])
    path = tmp_path / "assets.xlsx"
    book.save(path)

    with pytest.raises(AssetListError) as err:
        import_assets(settings, path, SLUG)

    assert err.value.lines() == [
        f"{path} [Inventario]: row 4: host pc-01: ip: '10.0.0.999' is not an IP address (or DHCP)"
    ]

    sheet["B4"] = "192.168.10.30"
    book.save(path)
    result = import_assets(settings, path, SLUG)

    assert [h.name for h in result.added] == ["laptop-sindaco", "pc-01"]
    hosts = YamlDirectorySource(settings.inventory_dir).load(SLUG).hosts
    assert hosts["laptop-sindaco"].variables["asset_user"] == "Niccolò D'Alò"


def test_conflicts_are_listed_and_stop_the_import_unless_forced(
    settings: Settings, comune: ComuneFiles, tmp_path: Path
) -> None:
    rows = [
        "pc-anagrafe-01;192.168.10.99;Debian 13;Lucia Favà;Anagrafe;desktop",
        "laptop-sindaco;DHCP;Debian 13;Niccolò D'Alò;Giunta;desktop",
        "pc-tributi-01;192.168.10.22;;;;desktop",
        "laptop-nuovo;dhcp;;;;laptop",
    ]
    path = _write(tmp_path, "assets.csv", csv_bytes(rows))
    before = snapshot(settings.inventory_dir)

    with pytest.raises(ConflictError) as err:
        import_assets(settings, path, SLUG)

    assert err.value.lines()[1:] == [
        f"{path}: line 2: host pc-anagrafe-01: ansible_host 192.168.10.21 -> 192.168.10.99",
        f"{path}: line 3: host laptop-sindaco: group endpoints -> office_desktops; ansible_host "
        "laptop-sindaco.castelnuovo.example.it -> DHCP (no address)",
    ]
    assert "nothing written" in err.value.lines()[0]
    assert snapshot(settings.inventory_dir) == before

    # The dry run with --force shows the plan and still writes nothing.
    plan = import_assets(settings, path, SLUG, dry_run=True, force=True)
    assert [h.name for h in plan.added] == ["laptop-nuovo"]
    assert [h.name for h in plan.unchanged] == ["pc-tributi-01"]
    assert [h.name for h in plan.changed] == ["pc-anagrafe-01", "laptop-sindaco"]
    assert plan.written == ()
    assert snapshot(settings.inventory_dir) == before

    import_assets(settings, path, SLUG, force=True)
    inventory = YamlDirectorySource(settings.inventory_dir).load(SLUG)
    assert inventory.hosts["pc-anagrafe-01"].ansible_host == "192.168.10.99"
    assert inventory.hosts["pc-anagrafe-01"].ansible_port == 22  # untouched
    assert inventory.hosts["laptop-sindaco"].groups == ("office_desktops",)
    assert inventory.hosts["laptop-sindaco"].ansible_host is None
    assert inventory.hosts["laptop-nuovo"].groups == ("endpoints",)


def test_reimporting_the_same_list_changes_nothing(
    settings: Settings, gateway_comune: ComuneFiles, tmp_path: Path
) -> None:
    path = _write(tmp_path, "assets.csv", csv_bytes(CLEAN_ROWS))
    import_assets(settings, path, SLUG)
    before = snapshot(settings.inventory_dir)

    again = import_assets(settings, path, SLUG)

    assert (again.added, again.changed, again.written) == ((), (), ())
    assert len(again.unchanged) == len(CLEAN_ROWS)
    assert snapshot(settings.inventory_dir) == before


def test_address_of_another_host_in_the_inventory_is_a_row_error(
    settings: Settings, comune: ComuneFiles, tmp_path: Path
) -> None:
    path = _write(tmp_path, "assets.csv", csv_bytes(["pc-nuovo;192.168.10.21;;;;desktop"]))

    with pytest.raises(AssetListError) as err:
        import_assets(settings, path, SLUG)

    assert err.value.lines() == [
        f"{path}: line 2: host pc-nuovo: ip: IP 192.168.10.21 is already the address of host "
        f"'pc-anagrafe-01' in {SLUG}"
    ]


def test_merged_inventory_that_would_be_invalid_is_not_written(
    settings: Settings, gateway_comune: ComuneFiles, tmp_path: Path
) -> None:
    # The VPN terminator moves to the desktops group: the comune would lose its gateway.
    rows = ["gw-vpn-01;203.0.113.10;;;;desktop"]
    path = _write(tmp_path, "assets.csv", csv_bytes(rows))
    before = snapshot(settings.inventory_dir)

    with pytest.raises(InventoryError) as err:
        import_assets(settings, path, SLUG, force=True)

    assert err.value.lines() == [
        "after the import: the inventory would be invalid; nothing written. Fix these first",
        f"inventory/{SLUG}/group_vars/all/comune.yml: comune_vpn_terminator: 'gw-vpn-01' must "
        "be in group vpn_gateways or network_devices",
    ]
    assert snapshot(settings.inventory_dir) == before


def test_missing_columns_and_unknown_comune(
    settings: Settings, comune: ComuneFiles, tmp_path: Path
) -> None:
    path = tmp_path / "assets.csv"
    path.write_text("Hostname;Utente\npc-01;Anna\n", encoding="utf-8")

    with pytest.raises(AssetListError) as err:
        import_assets(settings, path, SLUG)
    assert [line.split(" (one of")[0] for line in err.value.lines()] == [
        f"{path}: line 1: missing column for 'ip'",
        f"{path}: line 1: missing column for 'kind'",
    ]

    with pytest.raises(InputError, match="no inventory for comune 'castelnuvo'; did you mean"):
        import_assets(settings, path, "castelnuvo")


def test_host_vars_values_are_updated_where_they_live(
    settings: Settings, comune: ComuneFiles, tmp_path: Path
) -> None:
    host_vars = comune.dir / "host_vars" / "pc-tributi-01.yml"
    host_vars.parent.mkdir()
    host_vars.write_text("# pinned by the helpdesk\nansible_host: 192.168.10.122\n", "utf-8")
    path = _write(tmp_path, "assets.csv", csv_bytes(["pc-tributi-01;192.168.10.123;;;;desktop"]))

    import_assets(settings, path, SLUG, force=True)

    assert host_vars.read_text(encoding="utf-8") == (
        "# pinned by the helpdesk\nansible_host: 192.168.10.123\n"
    )
    hosts_doc = yaml.safe_load(comune.hosts_file.read_text(encoding="utf-8"))
    inline = hosts_doc["all"]["children"]["office_desktops"]["hosts"]["pc-tributi-01"]
    assert inline["ansible_host"] == "192.168.10.22"  # shadowed, as before: untouched


def test_addresses_may_swap_between_hosts_the_file_describes(
    settings: Settings, comune: ComuneFiles, tmp_path: Path
) -> None:
    rows = ["pc-anagrafe-01;192.168.10.22;;;;desktop", "pc-tributi-01;192.168.10.21;;;;desktop"]
    path = _write(tmp_path, "assets.csv", csv_bytes(rows))

    result = import_assets(settings, path, SLUG, force=True)

    hosts = YamlDirectorySource(settings.inventory_dir).load(SLUG).hosts
    assert (hosts["pc-anagrafe-01"].ansible_host, hosts["pc-tributi-01"].ansible_host) == (
        "192.168.10.22",
        "192.168.10.21",
    )
    assert result.not_in_file == ("gw-rd-01", "gw-vpn-01", "laptop-sindaco", "sw-core-01")


def test_name_differing_only_in_case_is_a_row_error(
    settings: Settings, comune: ComuneFiles, tmp_path: Path
) -> None:
    path = _write(tmp_path, "assets.csv", csv_bytes(["PC-Anagrafe-01;192.168.10.21;;;;desktop"]))

    with pytest.raises(AssetListError) as err:
        import_assets(settings, path, SLUG)

    assert err.value.lines() == [
        f"{path}: line 2: host PC-Anagrafe-01: ip: IP 192.168.10.21 is already the address of "
        f"host 'pc-anagrafe-01' in {SLUG}",
        f"{path}: line 2: host PC-Anagrafe-01: name: differs only in case from host "
        f"'pc-anagrafe-01' of {SLUG}; use that name",
    ]


def test_free_text_cells_are_written_unsafe_so_ansible_never_templates_them(
    settings: Settings, gateway_comune: ComuneFiles, tmp_path: Path
) -> None:
    jinja = "{{ lookup('ansible.builtin.pipe', 'touch /tmp/pwned') }}"
    path = _write(
        tmp_path, "assets.csv", csv_bytes([f"pc-x;10.0.0.50;Debian 13;{jinja};CED;desktop"])
    )

    import_assets(settings, path, SLUG)

    text = (settings.inventory_dir / SLUG / "hosts.yml").read_text(encoding="utf-8")
    assert f'asset_user: !unsafe "{jinja}"' in text
    assert 'asset_os: !unsafe "Debian 13"' in text
    host = YamlDirectorySource(settings.inventory_dir).load(SLUG).hosts["pc-x"]
    assert host.variables["asset_user"] == jinja


def test_windows_and_macos_laptops_and_desktops_become_bundle_devices(
    settings: Settings, gateway_comune: ComuneFiles, tmp_path: Path
) -> None:
    rows = [
        "pc-rossi-casa;192.168.1.20;Microsoft Windows 10 Pro;Mario Rossi;Anagrafe;portatile",
        "mac-giunta;DHCP;macOS Sonoma 14;Sara Verdi;Giunta;laptop",
        "imac-urp;192.168.10.60;Mac OS X 10.15;;URP;desktop",
        "laptop-ced;DHCP;Debian 13;;CED;laptop",
        # A router's own OS does not decide its group.
        "rb-ced;192.168.10.1;RouterOS 7 (Windows-free);;CED;device",
    ]
    path = _write(tmp_path, "assets.csv", csv_bytes(rows))

    plan = import_assets(settings, path, SLUG, dry_run=True)

    assert [(h.name, h.group) for h in plan.added] == [
        ("pc-rossi-casa", "bundles"),
        ("mac-giunta", "bundles"),
        ("imac-urp", "bundles"),
        ("laptop-ced", "endpoints"),
        ("rb-ced", "network_devices"),
    ]
    assert plan.bundles == ("pc-rossi-casa", "mac-giunta", "imac-urp")


def test_a_vpn_gateway_on_windows_is_a_row_error(
    settings: Settings, gateway_comune: ComuneFiles, tmp_path: Path
) -> None:
    path = _write(tmp_path, "assets.csv", csv_bytes(["gw-2;203.0.113.11;Windows Server;;;gateway"]))

    with pytest.raises(AssetListError) as err:
        import_assets(settings, path, SLUG)

    assert err.value.lines() == [
        f"{path}: line 2: host gw-2: os: a VPN gateway runs Debian (the roles manage it), not "
        "'Windows Server'"
    ]


def test_an_endpoint_found_to_run_windows_moves_to_bundles_only_with_force(
    settings: Settings, comune: ComuneFiles, tmp_path: Path
) -> None:
    write_host_vars(
        comune.dir,
        "laptop-sindaco",
        {"vpn_client_address": "10.77.0.9", "provisioner_management": "tunnel"},
        "note",
    )
    path = _write(tmp_path, "assets.csv", csv_bytes(["laptop-sindaco;DHCP;Windows 11;;;laptop"]))

    with pytest.raises(ConflictError) as err:
        import_assets(settings, path, SLUG)
    assert err.value.lines()[1] == (
        f"{path}: line 2: host laptop-sindaco: group endpoints -> bundles; ansible_host "
        "laptop-sindaco.castelnuovo.example.it -> unset; vpn_client_address "
        "'10.77.0.9' -> unset; provisioner_management 'tunnel' -> unset; ansible_port '2222' -> "
        "unset"
    )

    import_assets(settings, path, SLUG, force=True)

    device = YamlDirectorySource(settings.inventory_dir).load(SLUG).hosts["laptop-sindaco"]
    # Its old peer leaves the terminator at the next run; `bundle create` gives it a new one.
    assert device.groups == ("bundles",) and not device.issued
    assert (device.ansible_host, device.ansible_port, device.vpn_client_address) == (None,) * 3
