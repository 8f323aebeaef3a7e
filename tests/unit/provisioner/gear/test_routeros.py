"""RouterOS: managed items by comment tag, remediation against `/export terse`."""

from __future__ import annotations

from pathlib import Path

from provisioner.gear import remediate
from provisioner.gear.routeros import carry_over, parse_export, parse_props, quote

FIXTURES = Path(__file__).parent / "fixtures"
KEY_1 = "xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg="
KEY_2 = "TrMvSoP4jYQlY6RIzBgbssQqY3vxI2Pi+y71lOWWXX0="
KEY_3 = "hHnB7bvtXGbbzs1LbwXzqPn1uQ3t5kGKbSc4HYN8fH8="

RUNNING = (FIXTURES / "routeros_running.rsc").read_text(encoding="utf-8")

INTENDED = (FIXTURES / "routeros_intended.rsc").read_text(encoding="utf-8")


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
    plan = remediate(
        "mikrotik_routeros", RUNNING, RUNNING.replace("bridge", "bridge1"), "provisioner"
    )
    assert plan.commands == ()
    assert not plan.changed


def test_dropped_property_is_remove_then_add() -> None:
    rule = "/ip firewall filter add action=accept chain=input comment=provisioner:x dst-port=1"
    running = f"{rule} log=yes protocol=udp\n"
    intended = f"{rule} protocol=udp\n"
    plan = remediate("mikrotik_routeros", running, intended, "provisioner")
    assert plan.commands == (
        '/ip firewall filter remove [find where comment="provisioner:x"]',
        f"{rule} protocol=udp",
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


def test_a_peer_without_key_in_this_run_is_kept_unchanged() -> None:
    # old-laptop is not intended (no key published in this run): carried over, not removed
    intended = carry_over(RUNNING, INTENDED, "provisioner", {"provisioner:peer:old-laptop"})

    plan = remediate("mikrotik_routeros", RUNNING, intended, "provisioner")

    assert not any("old-laptop" in line for line in plan.commands)
    assert carry_over(RUNNING, INTENDED, "provisioner", set()) == INTENDED
    without = remediate("mikrotik_routeros", RUNNING, INTENDED, "provisioner")
    assert any("remove" in c and "old-laptop" in c for c in without.commands)
