"""RouterOS: managed items by comment tag, remediation against `/export terse`."""

from __future__ import annotations

from provisioner.gear import remediate
from provisioner.gear.routeros import parse_export, parse_props, quote

KEY_1 = "xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg="
KEY_2 = "TrMvSoP4jYQlY6RIzBgbssQqY3vxI2Pi+y71lOWWXX0="
KEY_3 = "hHnB7bvtXGbbzs1LbwXzqPn1uQ3t5kGKbSc4HYN8fH8="

RUNNING = f"""# 2026-11-26 09:00:00 by RouterOS 7.16.2
# software id = 7XQ1-ABCD
#
# model = RB5009UG+S+
/interface bridge add admin-mac=48:A9:8A:00:00:01 auto-mac=no comment=defconf name=bridge
/interface wireguard add comment=provisioner:wireguard listen-port=51820 name=wg-provisioner
/interface wireguard add comment="site to site" listen-port=13231 name=wg-s2s
/interface wireguard peers add allowed-address=10.77.0.2/32 comment=provisioner:peer:laptop-01 interface=wg-provisioner public-key="{KEY_1}"
/interface wireguard peers add allowed-address=10.77.0.9/32 comment=provisioner:peer:old-laptop interface=wg-provisioner public-key="{KEY_3}"
/interface wireguard peers add allowed-address=192.168.50.0/24 comment="branch office" interface=wg-s2s public-key="{KEY_2}"
/ip address add address=192.168.88.1/24 comment=defconf interface=bridge network=192.168.88.0
/ip address add address=10.77.0.1/24 comment=provisioner:wireguard-address interface=wg-provisioner
/ip firewall filter add action=accept chain=input comment="defconf: accept established,related,untracked" connection-state=established,related,untracked
/ip firewall filter add action=accept chain=input comment=provisioner:wireguard-input dst-port=51820 protocol=udp
/ip firewall nat add action=masquerade chain=srcnat comment="defconf: masquerade" ipsec-policy=out,none out-interface-list=WAN
/system identity set name=municipio-gw
"""

INTENDED = f"""/interface wireguard add comment=provisioner:wireguard listen-port=51820 name=wg-provisioner
/ip address add address=10.77.0.1/24 comment=provisioner:wireguard-address interface=wg-provisioner
/interface wireguard peers add allowed-address=10.77.0.3/32 comment=provisioner:peer:laptop-01 interface=wg-provisioner public-key="{KEY_1}"
/interface wireguard peers add allowed-address=10.77.0.4/32 comment=provisioner:peer:laptop-02 interface=wg-provisioner public-key="{KEY_2}"
/ip firewall filter add action=accept chain=input comment=provisioner:wireguard-input dst-port=51820 protocol=udp
/ip firewall nat add action=dst-nat chain=dstnat comment=provisioner:dst-nat:rd-gateway dst-port=3389 in-interface=ether1 protocol=tcp to-addresses=10.89.1.11 to-ports=3389
"""


def test_only_tagged_items_are_managed() -> None:
    items = parse_export(RUNNING, "provisioner")
    assert [i.comment for i in items] == [
        "provisioner:wireguard",
        "provisioner:peer:laptop-01",
        "provisioner:peer:old-laptop",
        "provisioner:wireguard-address",
        "provisioner:wireguard-input",
    ]


def test_remediation_removes_stale_sets_changed_adds_new_in_dependency_order() -> None:
    plan = remediate("mikrotik_routeros", RUNNING, INTENDED, "provisioner")
    assert plan.commands == (
        '/interface wireguard peers remove [find where comment="provisioner:peer:old-laptop"]',
        '/interface wireguard peers set [find where comment="provisioner:peer:laptop-01"] '
        "allowed-address=10.77.0.3/32",
        "/interface wireguard peers add allowed-address=10.77.0.4/32 "
        "comment=provisioner:peer:laptop-02 interface=wg-provisioner "
        f'public-key="{KEY_2}"',
        "/ip firewall nat add action=dst-nat chain=dstnat comment=provisioner:dst-nat:rd-gateway "
        "dst-port=3389 in-interface=ether1 protocol=tcp to-addresses=10.89.1.11 to-ports=3389",
    )


def test_no_change_when_managed_items_match_whatever_else_differs() -> None:
    plan = remediate("mikrotik_routeros", RUNNING, RUNNING.replace("bridge", "bridge1"), "provisioner")
    assert plan.commands == ()
    assert not plan.changed


def test_dropped_property_is_remove_then_add() -> None:
    running = "/ip firewall filter add action=accept chain=input comment=provisioner:x dst-port=1 log=yes protocol=udp\n"
    intended = "/ip firewall filter add action=accept chain=input comment=provisioner:x dst-port=1 protocol=udp\n"
    plan = remediate("mikrotik_routeros", running, intended, "provisioner")
    assert plan.commands == (
        '/ip firewall filter remove [find where comment="provisioner:x"]',
        "/ip firewall filter add action=accept chain=input comment=provisioner:x dst-port=1 protocol=udp",
    )


def test_everything_managed_is_removed_when_nothing_is_intended() -> None:
    plan = remediate("mikrotik_routeros", RUNNING, "", "provisioner")
    assert plan.commands == (
        '/ip firewall filter remove [find where comment="provisioner:wireguard-input"]',
        '/interface wireguard peers remove [find where comment="provisioner:peer:laptop-01"]',
        '/interface wireguard peers remove [find where comment="provisioner:peer:old-laptop"]',
        '/ip address remove [find where comment="provisioner:wireguard-address"]',
        '/interface wireguard remove [find where comment="provisioner:wireguard"]',
    )


def test_quoting_round_trips() -> None:
    assert quote("ether1") == "ether1"
    assert quote('say "hi" $x') == '"say \\"hi\\" \\$x"'
    assert parse_props('comment="a b" name=x') == {"comment": "a b", "name": "x"}
