"""Intended configuration per vendor from the Jinja2 templates, after validating the intent."""

from __future__ import annotations

from typing import Any

import pytest

from provisioner.gear import remediate, render_intended
from provisioner.gear.errors import IntentError
from provisioner.gear.intent import wireguard_key_problem

KEY = "xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg="
HOSTILE = "X\n/user add comment=provisioner:x group=full name=evil password=pw\nZ"
WG_FORWARD = {
    "name": "wireguard",
    "proto": "udp",
    "port": 51820,
    "to_address": "10.89.1.10",
    "to_port": 51820,
    "sources": ["0.0.0.0/0"],
}
RD_FORWARD = {
    "name": "rd-gateway",
    "proto": "tcp",
    "port": 443,
    "to_address": "10.89.1.11",
    "to_port": 3389,
    "sources": ["198.51.100.0/24"],
}


def intent(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "tag": "provisioner",
        "role": "edge_nat",
        "wan_interface": "ether1",
        "lan_interface": "internal",
        "public_address": "203.0.113.3",
        "policy_base": 9000,
        "wireguard": {
            "interface": "wg-provisioner",
            "listen_port": 51820,
            "pool": "10.77.0.0/24",
            "peers": [{"name": "laptop-01", "public_key": KEY, "address": "10.77.0.2"}],
        },
        "services": [{"name": "intranet", "address": "10.89.1.30/32", "port": 80, "proto": "tcp"}],
        "forwards": [WG_FORWARD],
    }
    base.update(overrides)
    return base


def test_routeros_concentrator_drops_the_pool_except_its_services() -> None:
    text = render_intended("mikrotik_routeros", intent(role="vpn_concentrator", forwards=[]))
    assert text == (
        "/interface wireguard add comment=provisioner:wireguard listen-port=51820 "
        "name=wg-provisioner\n"
        "/ip address add address=10.77.0.1/24 comment=provisioner:wireguard-address "
        "interface=wg-provisioner network=10.77.0.0\n"
        "/interface wireguard peers add allowed-address=10.77.0.2/32 "
        "comment=provisioner:peer:laptop-01 interface=wg-provisioner "
        f'public-key="{KEY}"\n'
        "/ip firewall filter add action=accept chain=input comment=provisioner:wireguard-input "
        "dst-port=51820 protocol=udp\n"
        "/ip firewall filter add action=accept chain=forward "
        "comment=provisioner:forward:intranet dst-address=10.89.1.30 dst-port=80 "
        "in-interface=wg-provisioner protocol=tcp src-address=10.77.0.0/24\n"
        "/ip firewall filter add action=drop chain=forward comment=provisioner:forward-drop "
        "in-interface=wg-provisioner\n"
    )


def test_routeros_dst_nat_per_source_and_unrestricted_only_for_everyone() -> None:
    text = render_intended("mikrotik_routeros", intent(forwards=[WG_FORWARD, RD_FORWARD]))
    assert text == (
        "/ip firewall nat add action=dst-nat chain=dstnat "
        "comment=provisioner:dst-nat:rd-gateway:198.51.100.0/24 dst-port=443 in-interface=ether1 "
        "protocol=tcp src-address=198.51.100.0/24 to-addresses=10.89.1.11 to-ports=3389\n"
        "/ip firewall nat add action=dst-nat chain=dstnat comment=provisioner:dst-nat:wireguard "
        "dst-port=51820 in-interface=ether1 protocol=udp to-addresses=10.89.1.10 "
        "to-ports=51820\n"
    )


def test_ios_binds_its_acl_on_the_wan_and_filters_the_published_ports_by_source() -> None:
    text = render_intended(
        "cisco_ios", intent(wan_interface="GigabitEthernet0/0", forwards=[WG_FORWARD, RD_FORWARD])
    )
    assert text == (
        "ip nat inside source static tcp 10.89.1.11 3389 interface GigabitEthernet0/0 443 "
        "extendable\n"
        "ip nat inside source static udp 10.89.1.10 51820 interface GigabitEthernet0/0 51820 "
        "extendable\n"
        "ip access-list extended PROVISIONER-EDGE-IN\n"
        " permit tcp 198.51.100.0 0.0.0.255 any eq 443\n"
        " deny tcp any any eq 443\n"
        " permit udp any any eq 51820\n"
        " permit ip any any\n"
        "interface GigabitEthernet0/0\n"
        " ip access-group PROVISIONER-EDGE-IN in\n"
    )
    assert render_intended("cisco_ios", intent(forwards=[])) == ""  # no empty ACL bound


def test_fortios_restricts_sources_and_serves_the_mapped_port() -> None:
    text = render_intended("fortinet", intent(wan_interface="wan1", forwards=[RD_FORWARD]))
    assert (
        '    edit "provisioner-src-198.51.100.0_24"\n'
        "        set subnet 198.51.100.0 255.255.255.0\n"
    ) in text
    assert '    edit "provisioner-rd-gateway"\n        set tcp-portrange 3389\n' in text
    assert '        set srcaddr "provisioner-src-198.51.100.0_24"\n' in text
    assert 'set srcaddr "all"' not in text


def test_fortios_udp_vip_says_protocol_and_policy_uses_the_base_id() -> None:
    text = render_intended("fortinet", intent(wan_interface="wan1", policy_base=7000))
    assert '    edit "provisioner-wireguard"\n        set udp-portrange 51820\n' in text
    assert "        set protocol udp\n" in text
    assert "    edit 7000\n" in text
    assert 'set srcaddr "all"' in text  # WireGuard: open to everyone, written out


@pytest.mark.parametrize(
    ("device_type", "role"),
    [
        ("mikrotik_routeros", "vpn_concentrator"),
        ("cisco_ios", "edge_nat"),
        ("fortinet", "edge_nat"),
    ],
)
def test_rendered_config_is_its_own_fixed_point(device_type: str, role: str) -> None:
    forwards = [RD_FORWARD] if role == "vpn_concentrator" else [WG_FORWARD, RD_FORWARD]
    text = render_intended(device_type, intent(role=role, forwards=forwards))
    assert remediate(device_type, text, text, "provisioner").commands == ()


def test_a_concentrator_never_forwards_its_own_wireguard_port() -> None:
    with pytest.raises(IntentError, match="concentrator's own WireGuard port udp/51820"):
        render_intended("mikrotik_routeros", intent(role="vpn_concentrator"))


@pytest.mark.parametrize("device_type", ["mikrotik_routeros", "cisco_ios", "fortinet"])
def test_a_hostile_public_key_is_refused_naming_the_host_for_every_vendor(device_type: str) -> None:
    peers = [{"name": "laptop-07", "public_key": HOSTILE, "address": "10.77.0.7"}]
    hostile = intent(role="vpn_concentrator")
    hostile["wireguard"] = {**hostile["wireguard"], "peers": peers}
    with pytest.raises(IntentError, match=r"host 'laptop-07': its WireGuard public key"):
        render_intended(device_type, hostile)


@pytest.mark.parametrize(
    ("key", "problem"),
    [
        (HOSTILE, "must be 44 characters of base64 ending in '='"),
        ("!" * 43 + "=", "is not base64"),
        (KEY[:-1] + "A", "must be 44 characters of base64 ending in '='"),
        ("AAAA" * 10 + "AA==", "does not decode to 32 bytes"),
    ],
)
def test_anything_but_base64_of_32_bytes_is_not_a_wireguard_key(key: str, problem: str) -> None:
    assert wireguard_key_problem(key) == problem
    assert wireguard_key_problem(KEY) == ""


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("wan_interface", "ether1\n/user add name=x", "wan_interface"),
        ("tag", "Provisioner", "tag"),
        ("services", [{"name": "a b", "address": "10.0.0.1", "port": 1, "proto": "tcp"}], "name"),
        ("forwards", [{**RD_FORWARD, "sources": []}], "sources"),
        ("forwards", [{**RD_FORWARD, "to_address": "10.89.1.300"}], "to_address"),
    ],
)
def test_every_value_is_validated_before_a_template_sees_it(
    field: str, value: Any, message: str
) -> None:
    with pytest.raises(IntentError, match=message):
        render_intended("cisco_ios", intent(**{field: value}))


def test_a_missing_value_is_an_error_not_an_empty_line() -> None:
    broken = intent()
    del broken["wan_interface"]
    with pytest.raises(IntentError, match="wan_interface"):
        render_intended("cisco_ios", broken)
