"""Remote desktop settings: the user -> desktop mapping, listener ports, certificate files."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from provisioner.adapters.inventory_files import YamlDirectorySource
from provisioner.errors import ExitCode, InventoryError, InventoryProblem
from provisioner.models.inventory import ComuneSettings, rdp_problems
from tests.unit.fakes import SETTINGS, ComuneFiles

MakeComune = Callable[..., ComuneFiles]

DESKTOPS = [
    {"name": "pc-anagrafe-01", "address": "192.168.10.21"},
    {"name": "pc-tributi-01", "address": "192.168.10.22", "port": 3390},
]
USERS = [
    {"name": "mrossi", "desktop": "pc-anagrafe-01", "port": 3389, "endpoint": "laptop-sindaco"},
    {"name": "lbianchi", "desktop": "pc-tributi-01", "port": 3390},
]
RDP = {
    "comune_rd_gateway_address": "192.168.10.11",
    "comune_vpn_allowed_services": [
        {"name": "intranet", "address": "192.168.10.30", "port": 80, "proto": "tcp"},
        {"name": "rdp-gateway", "address": "192.168.10.11/32", "port": 3389},
        {"name": "rdp-gateway-2", "address": "192.168.10.0/24", "port": 3390, "proto": "tcp"},
    ],
    "comune_rdp_desktops": DESKTOPS,
    "comune_rdp_users": USERS,
}
GROUPS: dict[str, tuple[str, ...]] = {
    "pc-anagrafe-01": ("office_desktops",),
    "pc-tributi-01": ("office_desktops",),
    "gw-rd-01": ("rd_gateways",),
    "laptop-sindaco": ("endpoints",),
}


def _settings(**overrides: Any) -> ComuneSettings:
    return ComuneSettings(**{**SETTINGS, **RDP, **overrides})


def _problems(files: ComuneFiles) -> list[InventoryProblem]:
    with pytest.raises(InventoryError) as info:
        YamlDirectorySource(files.root).load(files.slug)
    assert info.value.exit_code == ExitCode.BAD_INPUT
    return info.value.problems


def test_mapping_is_typed() -> None:
    s = _settings()

    assert s.comune_rd_gateway_address == ipaddress.IPv4Address("192.168.10.11")
    assert [(u.name, u.desktop, u.port, u.endpoint) for u in s.comune_rdp_users] == [
        ("mrossi", "pc-anagrafe-01", 3389, "laptop-sindaco"),
        ("lbianchi", "pc-tributi-01", 3390, None),
    ]
    assert s.comune_rdp_desktops[0].port == 3389
    assert s.comune_rdp_desktops[1].address == ipaddress.IPv4Address("192.168.10.22")


def test_sound_mapping_has_no_problem(tmp_path: Path) -> None:
    assert rdp_problems(_settings(), GROUPS, tmp_path) == []


def test_no_remote_desktop_at_all_is_fine(tmp_path: Path) -> None:
    assert rdp_problems(ComuneSettings(**SETTINGS), GROUPS, tmp_path) == []


@pytest.mark.parametrize(
    ("user", "field"),
    [
        ({"name": "Mario Rossi", "desktop": "pc-anagrafe-01", "port": 3389}, "name"),
        ({"name": "mrossi", "desktop": "pc anagrafe", "port": 3389}, "desktop"),
        ({"name": "mrossi", "desktop": "pc-anagrafe-01", "port": 80}, "port"),
        ({"name": "mrossi", "desktop": "pc-anagrafe-01", "port": 3389, "extra": 1}, "extra"),
    ],
)
def test_malformed_user_is_rejected(user: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as info:
        _settings(comune_rdp_users=[user])

    assert [e["loc"][:3] for e in info.value.errors()] == [("comune_rdp_users", 0, field)]


def test_gateway_address_must_be_ipv4() -> None:
    with pytest.raises(ValidationError) as info:
        _settings(comune_rd_gateway_address="rdgw.example.it")

    assert info.value.errors()[0]["loc"] == ("comune_rd_gateway_address",)


def test_user_mapped_to_unknown_desktop(tmp_path: Path) -> None:
    users = [{"name": "mrossi", "desktop": "pc-ragioneria-09", "port": 3389}]

    assert rdp_problems(_settings(comune_rdp_users=users), GROUPS, tmp_path) == [
        (
            "comune_rdp_users",
            "user 'mrossi' is mapped to desktop 'pc-ragioneria-09', "
            "which is not in comune_rdp_desktops",
        )
    ]


def test_desktop_not_in_office_desktops(tmp_path: Path) -> None:
    desktops = [*DESKTOPS, {"name": "gw-rd-01", "address": "192.168.10.11"}]

    assert rdp_problems(_settings(comune_rdp_desktops=desktops), GROUPS, tmp_path) == [
        ("comune_rdp_desktops", "desktop 'gw-rd-01' is not a host of group office_desktops")
    ]


def test_two_users_on_one_port(tmp_path: Path) -> None:
    users = [USERS[0], {**USERS[1], "port": 3389}]

    assert rdp_problems(_settings(comune_rdp_users=users), GROUPS, tmp_path) == [
        (
            "comune_rdp_users",
            "users 'mrossi' and 'lbianchi' share gateway port 3389 (one fixed listener per user)",
        )
    ]


def test_user_listed_twice_and_endpoint_not_an_endpoint(tmp_path: Path) -> None:
    users = [USERS[0], {**USERS[0], "port": 3390, "endpoint": "pc-tributi-01"}]

    assert rdp_problems(_settings(comune_rdp_users=users), GROUPS, tmp_path) == [
        ("comune_rdp_users", "user 'mrossi' is listed twice"),
        (
            "comune_rdp_users",
            "user 'mrossi': endpoint 'pc-tributi-01' is not a host of group endpoints",
        ),
    ]


def test_user_port_not_allowed_through_the_vpn(tmp_path: Path) -> None:
    services = [
        {"name": "intranet", "address": "192.168.10.30", "port": 80},
        {"name": "rdp-gateway", "address": "192.168.10.11/32", "port": 3389},
    ]
    settings = _settings(comune_vpn_allowed_services=services)

    assert rdp_problems(settings, GROUPS, tmp_path) == [
        (
            "comune_vpn_allowed_services",
            "user 'lbianchi': gateway port 192.168.10.11:3390/tcp is not allowed through the VPN",
        )
    ]


def test_users_need_the_gateway_address(tmp_path: Path) -> None:
    assert rdp_problems(_settings(comune_rd_gateway_address=None), GROUPS, tmp_path) == [
        ("comune_rd_gateway_address", "missing: required when comune_rdp_users is set")
    ]


def test_missing_certificate_file(tmp_path: Path) -> None:
    (tmp_path / "rdgw.key").write_text("key", encoding="utf-8")
    settings = _settings(
        comune_rd_gateway_certificate="rdgw.crt", comune_rd_gateway_private_key="rdgw.key"
    )

    assert rdp_problems(settings, GROUPS, tmp_path) == [
        ("comune_rd_gateway_certificate", f"file not found: {tmp_path / 'rdgw.crt'}")
    ]


def test_certificate_without_key(tmp_path: Path) -> None:
    (tmp_path / "rdgw.crt").write_text("cert", encoding="utf-8")
    settings = _settings(comune_rd_gateway_certificate="rdgw.crt")

    assert rdp_problems(settings, GROUPS, tmp_path) == [
        ("comune_rd_gateway_private_key", "the certificate and its private key go together")
    ]


def test_certificate_and_key_present(tmp_path: Path) -> None:
    for name in ("rdgw.crt", "rdgw.key"):
        (tmp_path / name).write_text(name, encoding="utf-8")
    settings = _settings(
        comune_rd_gateway_certificate="rdgw.crt", comune_rd_gateway_private_key="rdgw.key"
    )

    assert rdp_problems(settings, GROUPS, tmp_path) == []


def test_a_ca_needs_the_comunes_certificate(tmp_path: Path) -> None:
    from provisioner.adapters import pki  # noqa: PLC0415

    ca = pki.make_ca("Comune CA").cert_pem

    assert rdp_problems(_settings(comune_rd_gateway_ca_certificate=ca), GROUPS, tmp_path) == [
        (
            "comune_rd_gateway_ca_certificate",
            "a CA without comune_rd_gateway_certificate: the gateway's self-signed certificate "
            "would not verify against it",
        )
    ]
    with pytest.raises(ValidationError):
        _settings(comune_rd_gateway_ca_certificate="not a PEM")


# --- through the loader: one line naming the file and the field, before any host is touched ---


def test_loader_reports_unknown_desktop_with_file_and_field(make_comune: MakeComune) -> None:
    users = [{"name": "mrossi", "desktop": "pc-ragioneria-09", "port": 3389}]
    files = make_comune(settings={**RDP, "comune_rdp_users": users})

    problems = [p for p in _problems(files) if p.field == "comune_rdp_users"]

    assert len(problems) == 1
    assert problems[0].file == files.rel(files.settings_file)
    assert "'pc-ragioneria-09', which is not in comune_rdp_desktops" in str(problems[0])


def test_loader_reports_shared_port(make_comune: MakeComune) -> None:
    users = [USERS[0], {**USERS[1], "port": 3389}]
    files = make_comune(settings={**RDP, "comune_rdp_users": users})

    (problem,) = [p for p in _problems(files) if p.field == "comune_rdp_users"]

    assert problem.message.startswith("users 'mrossi' and 'lbianchi' share gateway port 3389")


def test_loader_reports_missing_certificate(make_comune: MakeComune) -> None:
    settings = {
        **RDP,
        "comune_rd_gateway_certificate": "certs/rdgw.crt",
        "comune_rd_gateway_private_key": "certs/rdgw.key",
    }
    files = make_comune(settings=settings)

    problems = _problems(files)

    assert {p.field for p in problems} == {
        "comune_rd_gateway_certificate",
        "comune_rd_gateway_private_key",
    }
    assert all(p.file == files.rel(files.settings_file) for p in problems)
    assert all("file not found: " in p.message for p in problems)


def test_loader_accepts_the_mapping_and_certificate(make_comune: MakeComune) -> None:
    settings = {
        **RDP,
        "comune_rd_gateway_certificate": "certs/rdgw.crt",
        "comune_rd_gateway_private_key": "certs/rdgw.key",
    }
    files = make_comune(settings=settings)
    (files.dir / "certs").mkdir()
    for name in ("rdgw.crt", "rdgw.key"):
        (files.dir / "certs" / name).write_text(name, encoding="utf-8")

    inventory = YamlDirectorySource(files.root).load(files.slug)

    assert [u.name for u in inventory.settings.comune_rdp_users] == ["mrossi", "lbianchi"]
