"""Intended configuration per vendor from the Jinja2 templates."""

from __future__ import annotations

from typing import Any

import jinja2
import pytest

from provisioner.gear import remediate, render_intended

KEY = "xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg="


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
        "forwards": [
            {
                "name": "wireguard",
                "proto": "udp",
                "port": 51820,
                "to_address": "10.89.1.10",
                "to_port": 51820,
            },
        ],
    }
    base.update(overrides)
    return base


def test_routeros_concentrator() -> None:
    text = render_intended("mikrotik_routeros", intent(role="vpn_concentrator", forwards=[]))
    assert text == (
        "/interface wireguard add comment=provisioner:wireguard listen-port=51820 "
        "name=wg-provisioner\n"
        "/ip address add address=10.77.0.1/24 comment=provisioner:wireguard-address "
        "interface=wg-provisioner\n"
        "/interface wireguard peers add allowed-address=10.77.0.2/32 "
        "comment=provisioner:peer:laptop-01 interface=wg-provisioner "
        f'public-key="{KEY}"\n'
        "/ip firewall filter add action=accept chain=input comment=provisioner:wireguard-input "
        "dst-port=51820 protocol=udp\n"
        "/ip firewall filter add action=accept chain=forward "
        "comment=provisioner:forward:intranet dst-address=10.89.1.30/32 dst-port=80 "
        "protocol=tcp src-address=10.77.0.0/24\n"
    )


def test_routeros_edge_nat_has_only_dst_nat() -> None:
    text = render_intended("mikrotik_routeros", intent())
    assert text == (
        "/ip firewall nat add action=dst-nat chain=dstnat comment=provisioner:dst-nat:wireguard "
        "dst-port=51820 in-interface=ether1 protocol=udp to-addresses=10.89.1.10 "
        "to-ports=51820\n"
    )


def test_ios_edge_nat() -> None:
    text = render_intended("cisco_ios", intent(wan_interface="GigabitEthernet0/0"))
    assert text == (
        "ip nat inside source static udp 10.89.1.10 51820 interface GigabitEthernet0/0 51820 "
        "extendable\n"
        "ip access-list extended PROVISIONER-EDGE-IN\n"
        " permit udp any any eq 51820\n"
    )


def test_fortios_udp_vip_says_protocol_and_policy_uses_the_base_id() -> None:
    text = render_intended("fortinet", intent(wan_interface="wan1", policy_base=7000))
    assert '    edit "provisioner-wireguard"\n        set udp-portrange 51820\n' in text
    assert "        set protocol udp\n" in text
    assert "    edit 7000\n" in text


@pytest.mark.parametrize("device_type", ["mikrotik_routeros", "cisco_ios", "fortinet"])
def test_rendered_config_is_its_own_fixed_point(device_type: str) -> None:
    text = render_intended(device_type, intent(role="vpn_concentrator"))
    assert remediate(device_type, text, text, "provisioner").commands == ()


def test_missing_value_is_an_error_not_an_empty_line() -> None:
    broken = intent()
    del broken["wan_interface"]
    with pytest.raises(jinja2.UndefinedError):
        render_intended("cisco_ios", broken)
