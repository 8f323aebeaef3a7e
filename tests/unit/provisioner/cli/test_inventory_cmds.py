"""`provisioner inventory import` and `inventory new-comune` through typer's CliRunner."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from typer.testing import Result

from provisioner.errors import ExitCode
from tests.unit.fakes import SLUG, ComuneFiles
from tests.unit.provisioner.assets import (
    BAD_ROWS,
    CLEAN_ROWS,
    ISTAT_FIXTURE,
    csv_bytes,
    snapshot,
)

Cli = Callable[..., Result]
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
GATEWAY_ONLY = {"vpn_gateways": {"gw-vpn-01": {"ansible_host": "203.0.113.10"}}}


def _lines(text: str) -> list[str]:
    return [line for line in _ANSI.sub("", text).splitlines() if line.strip()]


def test_import_bad_rows_exit_2_one_line_each_nothing_written(
    cli: Cli, make_comune: Callable[..., ComuneFiles], inventory_root: Path, tmp_path: Path
) -> None:
    make_comune(hosts=GATEWAY_ONLY)
    path = tmp_path / "assets.csv"
    path.write_bytes(csv_bytes(BAD_ROWS, bom=True))
    before = snapshot(inventory_root)

    result = cli("inventory", "import", str(path), "--comune", SLUG)

    assert result.exit_code == ExitCode.BAD_INPUT
    assert _lines(result.stderr) == [
        f"error: {path}: line 4: host laptop-vicesindaco: ip: '192.168.10.300' is not an IP "
        "address (or DHCP)",
        f"error: {path}: line 5: host pc-anagrafe-01: name: duplicate host 'pc-anagrafe-01' "
        "(first at line 3)",
        f"error: {path}: line 6: host stampante-01: kind: unknown kind 'stampante'; allowed: "
        "laptop, desktop, gateway, device",
    ]
    assert snapshot(inventory_root) == before


def test_import_dry_run_then_import_then_validate(
    cli: Cli, make_comune: Callable[..., ComuneFiles], inventory_root: Path, tmp_path: Path
) -> None:
    files = make_comune(hosts=GATEWAY_ONLY)
    path = tmp_path / "assets.csv"
    path.write_bytes(csv_bytes(CLEAN_ROWS, encoding="cp1252"))
    before = snapshot(inventory_root)

    dry = cli("inventory", "import", str(path), "--comune", SLUG, "--dry-run")

    assert dry.exit_code == 0, dry.output
    out = _lines(dry.stdout)
    assert out[0] == f"{path} (cp1252, ';') -> inventory/{SLUG}"
    assert any(re.search(r"added\s+│\s+laptop-sindaco\s+│\s+bundles\s+│\s+2", x) for x in out)
    assert any(re.search(r"added\s+│\s+laptop-ragioneria\s+│\s+endpoints\s+│\s+5", x) for x in out)
    assert any(re.search(r"changed\s+│\s+gw-vpn-01\s+│\s+vpn_gateways\s+│\s+7", x) for x in out)
    # The dry run says which rows become bundles' devices (Windows here) and what to do.
    bundles = next(x for x in out if x.startswith("bundle devices"))
    assert f"`provisioner bundle create {SLUG} --user <user> --name <device>`" in bundles
    assert bundles.endswith(": laptop-sindaco, pc-anagrafe-01, pc-tributi-02")
    assert out[-1] == (
        "dry run: 5 added, 1 changed, 0 unchanged; inventory valid after import; nothing written"
    )
    assert snapshot(inventory_root) == before

    real = cli("inventory", "import", str(path), "--comune", SLUG)

    assert real.exit_code == 0, real.output
    assert _lines(real.stdout)[-3:] == [
        "ok 5 added, 1 changed, 0 unchanged; inventory valid; wrote:",
        f"  {files.dir / 'bundles.yml'}",
        f"  {files.hosts_file}",
    ]
    validate = cli("inventory", "validate", SLUG)
    assert validate.exit_code == 0, validate.output
    assert "6 hosts valid" in validate.stdout
    assert "Niccolò D'Alò" in (files.dir / "bundles.yml").read_text(encoding="utf-8")


def test_import_conflicts_exit_2_and_force_overwrites(
    cli: Cli, comune: ComuneFiles, inventory_root: Path, tmp_path: Path
) -> None:
    path = tmp_path / "assets.csv"
    path.write_bytes(csv_bytes(["pc-anagrafe-01;192.168.10.99;Debian 13;;Anagrafe;desktop"]))
    before = snapshot(inventory_root)

    for extra in ((), ("--dry-run",)):
        result = cli("inventory", "import", str(path), "--comune", SLUG, *extra)
        assert result.exit_code == ExitCode.BAD_INPUT
        assert _lines(result.stderr) == [
            f"error: 1 host(s) differ from inventory/{SLUG}; nothing written (check the file, or "
            "re-run with --force to overwrite):",
            f"error: {path}: line 2: host pc-anagrafe-01: ansible_host 192.168.10.21 -> "
            "192.168.10.99",
        ]
        assert snapshot(inventory_root) == before

    forced = cli("inventory", "import", str(path), "--comune", SLUG, "--force")
    assert forced.exit_code == 0, forced.output
    assert "192.168.10.99" in comune.hosts_file.read_text(encoding="utf-8")
    assert cli("inventory", "validate", SLUG).exit_code == 0


def test_new_comune_then_import(cli: Cli, inventory_root: Path, tmp_path: Path) -> None:
    result = cli(
        "inventory",
        "new-comune",
        "Vò",
        "--istat-file",
        str(ISTAT_FIXTURE),
        "--office-network",
        "192.168.50.0/24",
    )

    assert result.exit_code == 0, result.output
    assert _lines(result.stdout)[0] == (
        f"created {inventory_root / 'vo'}: Vò (PD), ISTAT 028105, VPN pool 10.64.0.0/24"
    )
    path = tmp_path / "assets.csv"
    path.write_bytes(csv_bytes(["gw-vpn-01;192.168.50.1;Debian 13;;CED;gateway"], bom=True))
    assert cli("inventory", "import", str(path), "--comune", "vo").exit_code == 0
    validate = cli("inventory", "validate", "vo")
    assert validate.exit_code == 0, validate.output
    assert _lines(validate.stdout) == ["ok Vò (vo): 1 hosts valid"]

    again = cli("inventory", "new-comune", "028105", "--istat-file", str(ISTAT_FIXTURE))
    assert again.exit_code == ExitCode.BAD_INPUT
    assert _lines(again.stderr) == [
        f"error: {inventory_root / 'vo'}: comune 'vo' already exists (Vò (PD, 028105)); "
        "nothing changed"
    ]


def test_new_comune_ambiguous_and_unknown(cli: Cli, inventory_root: Path) -> None:
    ambiguous = cli("inventory", "new-comune", "Samone", "--istat-file", str(ISTAT_FIXTURE))
    unknown = cli("inventory", "new-comune", "Padva", "--istat-file", str(ISTAT_FIXTURE))

    assert (ambiguous.exit_code, unknown.exit_code) == (ExitCode.BAD_INPUT, ExitCode.BAD_INPUT)
    assert _lines(ambiguous.stderr) == [
        "error: 'Samone' is ambiguous: Samone (TO, 001235), Samone (TN, 022165); give the "
        "ISTAT code instead of the name"
    ]
    assert _lines(unknown.stderr) == [
        "error: no comune named 'Padva'; closest: Padova (PD, 028060)"
    ]
    assert list(inventory_root.iterdir()) == []
