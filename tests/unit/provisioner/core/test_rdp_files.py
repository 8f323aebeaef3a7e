"""Per-user .rdp files: content, location, all-or-nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from provisioner.core import rdp_files
from provisioner.models.inventory import ComuneSettings
from tests.unit.fakes import SETTINGS

RDP: dict[str, Any] = {
    "comune_rd_gateway_address": "192.168.10.11",
    "comune_vpn_allowed_services": [
        {"name": "intranet", "address": "192.168.10.30", "port": 80, "proto": "tcp"},
        {"name": "rdp-gateway", "address": "192.168.10.11/32", "port": 3389},
        {"name": "rdp-gateway-2", "address": "192.168.10.11/32", "port": 3390},
    ],
    "comune_rdp_desktops": [{"name": "pc-anagrafe-01", "address": "192.168.10.21"}],
    "comune_rdp_users": [
        {"name": "mrossi", "desktop": "pc-anagrafe-01", "port": 3389},
        {"name": "lbianchi", "desktop": "pc-anagrafe-01", "port": 3390},
    ],
}


def test_one_file_per_user_with_the_users_listener(tmp_path: Path) -> None:
    written = rdp_files.write(ComuneSettings(**{**SETTINGS, **RDP}), tmp_path)

    assert written == [tmp_path / "rdp" / "mrossi.rdp", tmp_path / "rdp" / "lbianchi.rdp"]
    text = written[1].read_bytes().decode("ascii")
    lines = text.split("\r\n")
    assert lines[0] == "full address:s:192.168.10.11:3390"
    assert lines[1] == "username:s:lbianchi"
    # NLA works at neither hop through the FreeRDP proxy: the file must not require it.
    assert "enablecredsspsupport:i:0" in lines
    assert text.endswith("\r\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rdp"]


def test_rewrite_replaces_the_folder(tmp_path: Path) -> None:
    (tmp_path / "rdp").mkdir()
    (tmp_path / "rdp" / "old-user.rdp").write_text("stale", encoding="ascii")

    rdp_files.write(ComuneSettings(**{**SETTINGS, **RDP}), tmp_path)

    assert sorted(p.name for p in (tmp_path / "rdp").iterdir()) == ["lbianchi.rdp", "mrossi.rdp"]


def test_no_users_no_files(tmp_path: Path) -> None:
    assert rdp_files.write(ComuneSettings(**SETTINGS), tmp_path) == []
    assert list(tmp_path.iterdir()) == []


def test_nothing_half_written_on_failure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    original = rdp_files.render

    def render_then_fail(gateway: Any, user: Any) -> str:
        calls.append(user.name)
        if len(calls) == 2:
            raise OSError("disk full")
        return original(gateway, user)

    monkeypatch.setattr(rdp_files, "render", render_then_fail)

    with pytest.raises(OSError, match="disk full"):
        rdp_files.write(ComuneSettings(**{**SETTINGS, **RDP}), tmp_path)

    assert list(tmp_path.iterdir()) == []
