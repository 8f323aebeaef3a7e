"""The typed inventory: field validators and cross-checks of the models themselves."""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest
from pydantic import ValidationError

from provisioner.models.inventory import (
    BUNDLES,
    GROUPS,
    PLAY_GROUPS,
    ComuneSettings,
    Host,
    Inventory,
    meeting_problems,
)
from tests.unit.fakes import SETTINGS, SLUG


def _settings(**overrides: Any) -> ComuneSettings:
    return ComuneSettings(**{**SETTINGS, **overrides})


def _error_fields(exc: ValidationError) -> list[str]:
    return [str(e["loc"][0]) for e in exc.errors()]


def test_groups_are_the_documented_six_plays_target_and_bundles() -> None:
    assert PLAY_GROUPS == (
        "endpoints",
        "office_desktops",
        "vpn_gateways",
        "rd_gateways",
        "meeting_servers",
        "network_devices",
    )
    assert (*PLAY_GROUPS, BUNDLES) == GROUPS and BUNDLES == "bundles"


def test_valid_settings_are_typed() -> None:
    s = _settings()

    assert s.comune_istat_code == "024058"
    assert s.comune_vpn_pool == ipaddress.IPv4Network("10.77.0.0/24")
    assert s.comune_office_networks == [ipaddress.IPv4Network("192.168.10.0/24")]
    assert s.comune_dns_servers == [ipaddress.IPv4Address("192.168.10.1")]
    assert s.comune_vpn_listen_port == 51820


def test_settings_defaults() -> None:
    minimal = {
        k: v
        for k, v in SETTINGS.items()
        if k not in {"comune_province", "comune_vpn_listen_port", "comune_dns_servers"}
    }

    s = ComuneSettings(**minimal)

    assert s.comune_province == ""
    assert s.comune_vpn_listen_port == 51820
    assert s.comune_dns_servers == []


def test_comune_name_is_stripped_and_required() -> None:
    assert _settings(comune_name="  Comune di Castelnuovo ").comune_name == "Comune di Castelnuovo"
    with pytest.raises(ValidationError) as info:
        _settings(comune_name="   ")
    assert _error_fields(info.value) == ["comune_name"]


@pytest.mark.parametrize("value", [24058, 999001])
def test_istat_code_as_number_is_refused_with_a_hint(value: int) -> None:
    with pytest.raises(ValidationError) as info:
        _settings(comune_istat_code=value)

    assert _error_fields(info.value) == ["comune_istat_code"]
    assert "quoted 6-digit string" in info.value.errors()[0]["msg"]


@pytest.mark.parametrize("value", ["24058", "0240580", "02405a"])
def test_istat_code_must_be_six_digits(value: str) -> None:
    with pytest.raises(ValidationError) as info:
        _settings(comune_istat_code=value)

    assert _error_fields(info.value) == ["comune_istat_code"]


@pytest.mark.parametrize(
    "endpoint",
    ["vpn.castelnuovo.example.it:51820", "203.0.113.10:1", "[2001:db8::1]:65535", "gw:443"],
)
def test_valid_vpn_endpoints(endpoint: str) -> None:
    assert _settings(comune_vpn_public_endpoint=endpoint).comune_vpn_public_endpoint == endpoint


@pytest.mark.parametrize(
    ("endpoint", "needle"),
    [
        ("vpn.example.it", "must be host:port"),
        (":51820", "must be host:port"),
        ("vpn.example.it:70000", "invalid port '70000'"),
        ("vpn.example.it:0", "invalid port '0'"),
        ("vpn.example.it:http", "invalid port 'http'"),
        ("10.0.0.300:51820", "not a valid IP address or DNS name"),
    ],
)
def test_invalid_vpn_endpoints(endpoint: str, needle: str) -> None:
    with pytest.raises(ValidationError) as info:
        _settings(comune_vpn_public_endpoint=endpoint)

    assert _error_fields(info.value) == ["comune_vpn_public_endpoint"]
    assert needle in info.value.errors()[0]["msg"]


@pytest.mark.parametrize(
    "url",
    [
        "http://meet.castelnuovo.example.it",
        "meet.castelnuovo.example.it",
        "https://",
        "https://meet example.it",
    ],
)
def test_meeting_url_must_be_https(url: str) -> None:
    with pytest.raises(ValidationError) as info:
        _settings(comune_meeting_url=url)

    assert _error_fields(info.value) == ["comune_meeting_url"]


def test_unknown_comune_key_is_refused() -> None:
    with pytest.raises(ValidationError) as info:
        _settings(comune_vpn_poool="10.0.0.0/24")

    assert info.value.errors()[0]["type"] == "extra_forbidden"
    assert _error_fields(info.value) == ["comune_vpn_poool"]


def test_office_networks_need_at_least_one() -> None:
    with pytest.raises(ValidationError) as info:
        _settings(comune_office_networks=[])

    assert _error_fields(info.value) == ["comune_office_networks"]


def test_network_with_host_bits_is_refused() -> None:
    with pytest.raises(ValidationError) as info:
        _settings(comune_vpn_pool="10.77.0.1/24")

    assert _error_fields(info.value) == ["comune_vpn_pool"]


@pytest.mark.parametrize("address", ["192.168.10.21", "2001:db8::21", "pc-01.example.it", "pc-01"])
def test_host_addresses(address: str) -> None:
    host = Host(name="pc-01", groups=("office_desktops",), ansible_host=address, source="h.yml")

    assert host.address == address


@pytest.mark.parametrize("address", ["10.0.0.300", "10.0.0", "-pc", "pc_01", "a b"])
def test_invalid_host_addresses(address: str) -> None:
    with pytest.raises(ValidationError) as info:
        Host(name="pc-01", groups=("office_desktops",), ansible_host=address, source="h.yml")

    assert _error_fields(info.value) == ["ansible_host"]


def test_host_address_falls_back_to_name_and_port_range() -> None:
    host = Host(name="pc-01", groups=("office_desktops",), source="h.yml")
    assert host.address == "pc-01"

    with pytest.raises(ValidationError) as info:
        Host(name="pc-01", groups=(), ansible_port=70000, source="h.yml")
    assert _error_fields(info.value) == ["ansible_port"]


def test_host_name_must_be_a_host_name() -> None:
    with pytest.raises(ValidationError) as info:
        Host(name="pc_anagrafe", groups=(), source="h.yml")

    assert _error_fields(info.value) == ["name"]


def _host(name: str, *groups: str) -> Host:
    return Host(name=name, groups=groups, source="inventory/castelnuovo/hosts.yml")


def test_inventory_groups_hosts_in_name_order() -> None:
    inv = Inventory(
        comune=SLUG,
        directory="/x",
        settings=_settings(),
        hosts={
            "pc-b": _host("pc-b", "office_desktops"),
            "pc-a": _host("pc-a", "office_desktops"),
            "gw-vpn-01": _host("gw-vpn-01", "vpn_gateways"),
        },
    )

    assert [h.name for h in inv.group("office_desktops")] == ["pc-a", "pc-b"]
    assert [h.name for h in inv.group("vpn_gateways")] == ["gw-vpn-01"]
    assert inv.group("network_devices") == []


def test_inventory_refuses_slug_not_matching_directory() -> None:
    with pytest.raises(ValidationError, match="comune_slug 'castelnuovo' does not match directory"):
        Inventory(comune="montebello", directory="/x", settings=_settings(), hosts={})


# --- meeting software ---------------------------------------------------------------------------

SHA = "a" * 64


def test_meeting_defaults_are_browser_chromium_apt() -> None:
    s = _settings()

    assert s.comune_meeting_mode == "browser"
    assert s.comune_meeting_browser == "chromium"
    assert s.comune_meeting_package_source == "apt"
    assert s.comune_meeting_extra_origins == []
    assert s.comune_meeting_ca_certificate == ""


def test_meeting_platform_defaults_to_generic_without_a_room() -> None:
    s = _settings()

    assert (s.comune_meeting_platform, s.comune_meeting_room) == ("generic", "")


def test_janus_platform_takes_the_room_its_url_names() -> None:
    s = _settings(
        comune_meeting_platform="janus",
        comune_meeting_room="lab",
        comune_meeting_url="https://meet.lab.provisioner.test/riunioni/lab/",
    )

    assert (s.comune_meeting_platform, s.comune_meeting_room) == ("janus", "lab")


@pytest.mark.parametrize(
    ("overrides", "needle"),
    [
        ({"comune_meeting_room": ""}, "comune_meeting_room is required"),
        (
            {"comune_meeting_url": "https://meet.lab.provisioner.test/riunioni/other/"},
            "is not the page of room 'lab'",
        ),
        ({"comune_meeting_url": "https://meet.lab.provisioner.test"}, "/riunioni/lab/"),
    ],
)
def test_janus_platform_needs_a_room_and_its_page(overrides: dict[str, str], needle: str) -> None:
    values = {
        "comune_meeting_platform": "janus",
        "comune_meeting_room": "lab",
        "comune_meeting_url": "https://meet.lab.provisioner.test/riunioni/lab/",
        **overrides,
    }

    with pytest.raises(ValidationError, match=needle):
        _settings(**values)


@pytest.mark.parametrize("room", ["Lab", "-lab", "lab room", "lab_1", "x" * 64, 'a"b'])
def test_room_id_carries_only_what_janus_config_can(room: str) -> None:
    with pytest.raises(ValidationError) as exc:
        _settings(comune_meeting_platform="janus", comune_meeting_room=room)

    assert _error_fields(exc.value)[0] == "comune_meeting_room"


def test_unknown_meeting_platform_is_refused() -> None:
    with pytest.raises(ValidationError) as exc:
        _settings(comune_meeting_platform="jitsi")

    assert _error_fields(exc.value) == ["comune_meeting_platform"]


def test_meeting_url_error_says_https() -> None:
    with pytest.raises(ValidationError) as info:
        _settings(comune_meeting_url="http://meet.castelnuovo.example.it")

    message = info.value.errors()[0]["msg"]
    assert "'http://meet.castelnuovo.example.it' must be an https:// URL" in message
    assert "\n" not in message


@pytest.mark.parametrize(
    ("origin", "expected"),
    [
        ("https://media.example.it", "https://media.example.it"),
        ("https://media.example.it:8443/", "https://media.example.it:8443"),
    ],
)
def test_extra_origins_accept_origins(origin: str, expected: str) -> None:
    assert _settings(comune_meeting_extra_origins=[origin]).comune_meeting_extra_origins == [
        expected
    ]


@pytest.mark.parametrize(
    ("origin", "needle"),
    [
        ("https://media.example.it/sala", "without path, query or fragment"),
        ("https://media.example.it?room=1", "without path, query or fragment"),
        ("https://media.example.it/#x", "without path, query or fragment"),
        ("http://media.example.it", "must be an https:// URL"),
        ("https://media.example.it:99999", "invalid port"),
    ],
)
def test_extra_origins_refuse_non_origins(origin: str, needle: str) -> None:
    with pytest.raises(ValidationError) as info:
        _settings(comune_meeting_extra_origins=[origin])

    assert _error_fields(info.value) == ["comune_meeting_extra_origins"]
    assert needle in info.value.errors()[0]["msg"]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("comune_meeting_mode", "webapp"),
        ("comune_meeting_browser", "opera"),
        ("comune_meeting_package_source", "ftp"),
        ("comune_meeting_package_checksum", "abc123"),
        ("comune_meeting_package_name", "bad name"),
        ("comune_meeting_ca_certificate", "not a certificate"),
    ],
)
def test_meeting_fields_refuse_bad_values(field: str, value: str) -> None:
    with pytest.raises(ValidationError) as info:
        _settings(**{field: value})

    assert _error_fields(info.value) == [field]


def test_unknown_mode_names_the_choices() -> None:
    with pytest.raises(ValidationError) as info:
        _settings(comune_meeting_mode="webapp")

    assert "'browser' or 'package'" in info.value.errors()[0]["msg"]


def test_package_from_url_needs_its_checksum() -> None:
    with pytest.raises(ValidationError) as info:
        _settings(
            comune_meeting_mode="package",
            comune_meeting_package_source="url",
            comune_meeting_package_url="https://pkg.example.it/client.deb",
        )

    assert "comune_meeting_package_checksum (SHA-256) is required" in str(info.value)


def test_package_from_url_with_checksum_is_accepted() -> None:
    s = _settings(
        comune_meeting_mode="package",
        comune_meeting_package_source="url",
        comune_meeting_package_url="https://pkg.example.it/client.deb",
        comune_meeting_package_checksum=SHA,
    )

    assert s.comune_meeting_package_checksum == SHA


def _endpoint(**meeting: Any) -> Host:
    return Host(name="laptop-01", groups=("endpoints",), source="hosts.yml", **meeting)


def test_host_meeting_overrides_are_typed_and_checked() -> None:
    assert _endpoint(meeting_client_mode="package").meeting_client_mode == "package"
    with pytest.raises(ValidationError) as info:
        _endpoint(meeting_client_mode="zoom")
    assert _error_fields(info.value) == ["meeting_client_mode"]


def test_host_package_from_url_without_checksum_is_a_problem() -> None:
    host = _endpoint(
        meeting_client_mode="package",
        meeting_client_package_source="url",
        meeting_client_package_url="https://pkg.example.it/client.deb",
    )

    assert meeting_problems(_settings(), host) == [
        (
            "meeting_client_package_checksum",
            "meeting_client_package_checksum (SHA-256) is required with "
            "meeting_client_package_source url",
        )
    ]


def test_host_package_from_url_takes_the_comune_checksum() -> None:
    settings = _settings(
        comune_meeting_package_url="https://pkg.example.it/client.deb",
        comune_meeting_package_checksum=SHA,
    )
    host = _endpoint(meeting_client_mode="package", meeting_client_package_source="url")

    assert meeting_problems(settings, host) == []
    assert meeting_problems(_settings(), _endpoint()) == []
