"""RouterOS: the tool's items by path and comment kind, firewall placement, quoting, status."""

from __future__ import annotations

from pathlib import Path

import pytest

from provisioner.gear import remediate
from provisioner.gear.routeros import (
    carry_over,
    parse_duration,
    parse_export,
    parse_print,
    parse_props,
    quote,
)

FIXTURES = Path(__file__).parent / "fixtures"
KEY_2 = "TrMvSoP4jYQlY6RIzBgbssQqY3vxI2Pi+y71lOWWXX0="
RUNNING = (FIXTURES / "routeros_running.rsc").read_text(encoding="utf-8")
INTENDED = (FIXTURES / "routeros_intended.rsc").read_text(encoding="utf-8")
DEFCONF_INPUT = (
    '/ip firewall filter add action=accept chain=input comment="defconf: accept established,'
    'related,untracked" connection-state=established,related,untracked\n'
    '/ip firewall filter add action=drop chain=input comment="defconf: drop invalid" '
    "connection-state=invalid\n"
    '/ip firewall filter add action=drop chain=input comment="defconf: drop all not coming from '
    'LAN" in-interface-list=!LAN\n'
    '/ip firewall filter add action=drop chain=forward comment="defconf: drop invalid" '
    "connection-state=invalid\n"
)
WG_IN = (
    "/ip firewall filter add action=accept chain=input comment=provisioner:wireguard-input "
    "dst-port=51820 protocol=udp"
)
FWD = (
    "/ip firewall filter add action=accept chain=forward comment=provisioner:forward:rdp "
    "dst-address=10.89.1.11 dst-port=3389 in-interface=wg-p protocol=tcp src-address=10.77.0.0/24"
)
DROP = (
    "/ip firewall filter add action=drop chain=forward comment=provisioner:forward-drop "
    "in-interface=wg-p"
)


def test_only_items_of_managed_paths_and_kinds_are_the_tools() -> None:
    items = parse_export(RUNNING, "provisioner")
    assert [i.comment for i in items] == [
        "provisioner:wireguard",
        "provisioner:peer:laptop-01",
        "provisioner:peer:old-laptop",
        "provisioner:wireguard-address",
        "provisioner:wireguard-input",
    ]
    # `/user add comment=provisioner:x` and a filter rule commented like a peer are not ours.
    assert not any(i.path == "/user" or "smuggled" in i.comment for i in items)


def test_remediation_removes_stale_sets_changed_adds_new_in_dependency_order() -> None:
    plan = remediate("mikrotik_routeros", RUNNING, INTENDED, "provisioner")
    assert plan.commands == (
        '/interface wireguard peers remove [find where comment="provisioner:peer:old-laptop"]',
        '/interface wireguard peers set [find where comment="provisioner:peer:laptop-01"] '
        "allowed-address=10.77.0.3/32",
        "/interface wireguard peers add allowed-address=10.77.0.4/32 "
        "comment=provisioner:peer:laptop-02 interface=wg-provisioner "
        f'public-key="{KEY_2}"',
        "/ip firewall nat add action=dst-nat chain=dstnat "
        "comment=provisioner:dst-nat:rd-gateway:198.51.100.0/24 dst-port=3389 "
        "in-interface=ether1 protocol=tcp src-address=198.51.100.0/24 to-addresses=10.89.1.11 "
        "to-ports=3389",
    )
    assert not any("evil" in c or "smuggled" in c or "/user" in c for c in plan.commands)


def test_new_rules_go_before_the_first_drop_of_their_chain_accepts_before_the_pool_drop() -> None:
    plan = remediate("mikrotik_routeros", DEFCONF_INPUT, f"{WG_IN}\n{DROP}\n{FWD}\n", "provisioner")
    assert plan.commands == (
        f'{WG_IN} place-before=[find where chain="input" and comment="defconf: drop invalid"]',
        f'{FWD} place-before=[find where chain="forward" and comment="defconf: drop invalid"]',
        f'{DROP} place-before=[find where chain="forward" and comment="defconf: drop invalid"]',
    )


def test_a_rule_appended_after_the_drops_is_moved_and_then_left_alone() -> None:
    # What the tool used to do: the input accept after defconf's drops, never matching.
    appended = DEFCONF_INPUT + WG_IN + "\n"
    plan = remediate("mikrotik_routeros", appended, WG_IN + "\n", "provisioner")
    assert plan.commands == (
        '/ip firewall filter remove [find where comment="provisioner:wireguard-input"]',
        f'{WG_IN} place-before=[find where chain="input" and comment="defconf: drop invalid"]',
    )
    lines = DEFCONF_INPUT.splitlines()
    in_place = "\n".join([lines[0], WG_IN, *lines[1:]]) + "\n"
    assert remediate("mikrotik_routeros", in_place, WG_IN + "\n", "provisioner").commands == ()


def test_a_new_service_goes_before_the_pool_drop_already_in_place() -> None:
    running = "\n".join([FWD, DROP]) + "\n" + DEFCONF_INPUT
    other = FWD.replace("forward:rdp", "forward:files").replace("3389", "445")
    plan = remediate("mikrotik_routeros", running, f"{FWD}\n{other}\n{DROP}\n", "provisioner")
    assert plan.commands == (
        f'{other} place-before=[find where comment="provisioner:forward-drop"]',
    )


def test_an_anchor_without_a_unique_comment_is_picked_by_all_its_properties() -> None:
    running = "/ip firewall filter add action=drop chain=input in-interface=ether1\n"
    plan = remediate("mikrotik_routeros", running, WG_IN + "\n", "provisioner")
    assert plan.commands == (
        f'{WG_IN} place-before=[:pick [find where action="drop" and chain="input" and '
        'in-interface="ether1" and comment=""] 0]',
    )


def test_no_change_when_managed_items_match_whatever_else_differs() -> None:
    plan = remediate(
        "mikrotik_routeros", RUNNING, RUNNING.replace("bridge", "bridge1"), "provisioner"
    )
    assert plan.commands == ()


def test_dropped_property_is_remove_then_add() -> None:
    rule = "/ip firewall filter add action=accept chain=input comment=provisioner:x dst-port=1"
    rule = rule.replace("provisioner:x", "provisioner:wireguard-input")
    plan = remediate(
        "mikrotik_routeros",
        f"{rule} log=yes protocol=udp\n",
        f"{rule} protocol=udp\n",
        "provisioner",
    )
    assert plan.commands == (
        '/ip firewall filter remove [find where comment="provisioner:wireguard-input"]',
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


@pytest.mark.parametrize(
    ("value", "quoted"),
    [
        ("ether1", "ether1"),
        ('say "hi" $x', '"say \\"hi\\" \\$x"'),
        ("X\n/user add name=evil\nZ", '"X\\n/user add name=evil\\nZ"'),
        ("a?b\tc\rd", '"a\\?b\\tc\\rd"'),
        ("caffè\x07", '"caff\\C3\\A8\\07"'),
    ],
)
def test_quoting_keeps_every_value_on_one_line_and_round_trips(value: str, quoted: str) -> None:
    assert quote(value) == quoted
    assert "\n" not in quoted
    assert parse_props(f"comment={quoted} name=x") == {"comment": value, "name": "x"}


def test_a_peer_without_key_in_this_run_is_kept_unchanged() -> None:
    # old-laptop is not intended (no key published in this run): carried over, not removed
    intended = carry_over(RUNNING, INTENDED, "provisioner", {"provisioner:peer:old-laptop"})
    plan = remediate("mikrotik_routeros", RUNNING, intended, "provisioner")
    assert not any("old-laptop" in line for line in plan.commands)
    assert carry_over(RUNNING, INTENDED, "provisioner", set()) == INTENDED
    without = remediate("mikrotik_routeros", RUNNING, INTENDED, "provisioner")
    assert any("remove" in c and "old-laptop" in c for c in without.commands)


def test_print_and_durations_from_the_peer_table() -> None:
    rows = parse_print(
        ' 0    public-key="A+b=" last-handshake=1m15s comment=provisioner:peer:a\n'
        ' 1 X  public-key="C/d="\n'
    )
    assert rows == [
        {"public-key": "A+b=", "last-handshake": "1m15s", "comment": "provisioner:peer:a"},
        {"public-key": "C/d="},
    ]
    assert parse_duration("1w2d3h4m5s") == 788645
    assert parse_duration("00:01:10") == 70
    assert parse_duration("1d 02:00:00") == 93600
    assert parse_duration("850ms") == 0
    with pytest.raises(ValueError, match="interval"):
        parse_duration("soon")
