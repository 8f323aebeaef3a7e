"""Simulated Cisco IOS: CLI, confirmed change (revert timer), bound ACLs and static NAT."""

from __future__ import annotations

import time

import pytest

from provisioner.fakegear.base import Packet, Session
from provisioner.fakegear.ios import IosDevice

WAN_IP = "203.0.113.2"
INTERNET = "198.51.100.7"
NAT_WG = "ip nat inside source static udp 10.89.1.10 51820 interface GigabitEthernet0/0 51820"
NAT_RDP = "ip nat inside source static tcp 10.89.1.11 3389 interface GigabitEthernet0/0 3389"


def run(device: IosDevice, *lines: str, session: Session | None = None) -> list[str]:
    session = session or Session()
    return [device.handle(session, line) for line in lines]


def test_config_mode_changes_running_config_and_write_memory_saves() -> None:
    ios = IosDevice("edge")
    before = ios.config()
    out = run(
        ios,
        "configure terminal",
        "ip access-list extended PROVISIONER-EDGE-IN",
        "10 permit udp any any eq 51820",
        "exit",
        NAT_WG,
        "end",
    )
    assert out[1:] == ["", "", "", "", ""]
    running = ios.config()
    assert f"{NAT_WG} extendable\n" in running
    assert "ip access-list extended PROVISIONER-EDGE-IN\n permit udp any any eq 51820\n" in running
    assert ios.startup == before
    assert run(ios, "write memory") == ["Building configuration...\n[OK]"]
    assert ios.startup == running


def test_invalid_line_gives_the_real_message_and_changes_nothing() -> None:
    ios = IosDevice("edge")
    before = ios.config()
    out = run(
        ios,
        "configure terminal",
        "ip nat inside source static udp 10.89.1.300 1 interface GigabitEthernet0/0 1",
        "bogus command",
        "ip access-list extended X",
        "permit tcp any any eq 70000",
    )
    assert out[1].endswith("^\n% Invalid input detected at '^' marker.")
    assert out[2].endswith("% Invalid input detected at '^' marker.")
    assert out[4].endswith("% Invalid input detected at '^' marker.")
    after = ios.config()
    assert "10.89.1.300" not in after
    assert "70000" not in after
    assert (
        after.split("ip access-list extended X")[0].split("\n", 3)[3]
        == (before.split("line vty")[0].split("\n", 3)[3])
    )


def test_acl_sequence_numbers_and_resequence() -> None:
    ios = IosDevice("edge")
    session = Session()
    run(
        ios,
        "configure terminal",
        "ip access-list extended A",
        "permit tcp any any eq 1",
        "permit tcp any any eq 2",
        session=session,
    )
    assert ios.handle(session, "no 10") == ""
    assert ios.handle(session, "no 10") == "% Entry not found"
    assert ios.handle(session, "5 permit tcp any any eq 3") == ""
    assert (
        "ip access-list extended A\n permit tcp any any eq 3\n permit tcp any any eq 2\n"
        in ios.config()
    )
    assert ios.handle(session, "ip access-list resequence A 10 10") == ""
    assert ios.prompt(session) == "edge(config)#"  # a global command leaves the ACL mode
    assert ios.handle(session, "ip access-list extended A") == ""
    assert ios.handle(session, "no 20 permit tcp any any eq 2") == ""
    assert "ip access-list extended A\n permit tcp any any eq 3\n!" in ios.config()


def test_interface_binds_one_acl_per_direction() -> None:
    ios = IosDevice("edge")
    run(
        ios,
        "configure terminal",
        "interface GigabitEthernet0/0",
        "ip access-group A in",
        "ip access-group B in",
        "ip access-group C out",
    )
    assert " ip nat outside\n ip access-group B in\n ip access-group C out\n" in ios.config()


def test_rejects_a_chosen_line() -> None:
    ios = IosDevice("edge")
    ios.reject("ip access-list extended X")
    out = run(ios, "configure terminal", "ip access-list extended X")
    assert out[1].endswith("% Invalid input detected at '^' marker.")
    assert "access-list extended X" not in ios.config()


# --------------------------------------------------------------------------- confirmed change


def test_unconfirmed_change_is_reverted_when_the_timer_runs_out() -> None:
    ios = IosDevice("edge")
    ios.minute = 0.2
    before = ios.config()
    out = run(ios, "configure terminal revert timer 1", NAT_WG, "end")
    assert out[0].startswith("Rollback Confirmed Change: Backing up current running config to")
    assert NAT_WG in ios.config()
    assert "Time remaining" in run(ios, "show archive config rollback timer")[0]
    time.sleep(0.4)
    assert ios.config() == before
    assert run(ios, "show archive config rollback timer") == [
        "% No Rollback Confirmed Change pending"
    ]


def test_confirm_keeps_the_change_and_revert_now_undoes_it_at_once() -> None:
    ios = IosDevice("edge")
    ios.minute = 0.2
    run(ios, "configure terminal revert timer 1", NAT_WG, "end", "configure confirm")
    time.sleep(0.4)
    assert NAT_WG in ios.config()
    kept = ios.config()
    run(ios, "configure terminal revert timer 1", NAT_RDP, "end")
    assert run(ios, "configure revert now") == ["Rollback Done"]
    assert ios.config() == kept
    assert run(ios, "configure revert now") == ["% No Rollback Confirmed Change pending"]


def test_revert_timer_needs_an_archive_path_and_only_one_runs() -> None:
    ios = IosDevice("edge")
    ios.load(ios.config().replace("archive\n path flash:archive\n maximum 14\n", ""))
    session = Session()
    assert (
        "archive path is not configured"
        in run(ios, "configure terminal revert timer 1", session=session)[0]
    )
    assert ios.prompt(session) == "edge#"
    other = IosDevice("edge2")
    run(other, "configure terminal revert timer 5", "end")
    assert "already running" in run(other, "configure terminal revert timer 5")[0]


# --------------------------------------------------------------------------- packets


def published(acl: list[str] | None, *nat: str) -> IosDevice:
    ios = IosDevice("edge")
    lines = ["configure terminal", *nat]
    if acl is not None:
        lines += ["ip access-list extended EDGE", *acl, "interface GigabitEthernet0/0"]
        lines += ["ip access-group EDGE in", "end"]
    run(ios, *lines)
    return ios


def test_static_nat_translates_from_outside_and_unpublished_ports_are_the_routers() -> None:
    ios = published(None, NAT_WG)
    wg = Packet(INTERNET, WAN_IP, "udp", 51820, "GigabitEthernet0/0")
    decision = ios.evaluate(wg)
    assert decision.accepted
    assert decision.translated_to(wg) == ("10.89.1.10", 51820)
    assert decision.out_interface == "GigabitEthernet0/1"
    rdp = ios.evaluate(Packet(INTERNET, WAN_IP, "tcp", 3389, "GigabitEthernet0/0"))
    assert (rdp.verdict, rdp.local) == ("closed", True)
    assert ios.evaluate(Packet(INTERNET, WAN_IP, "tcp", 22, "GigabitEthernet0/0")).accepted


def test_an_acl_filters_only_where_an_interface_binds_it() -> None:
    ios = published(None, NAT_RDP)
    run(ios, "configure terminal", "ip access-list extended EDGE", "permit udp any any eq 51820")
    rdp = Packet(INTERNET, WAN_IP, "tcp", 3389, "GigabitEthernet0/0")
    assert ios.evaluate(rdp).accepted  # defined, not bound: filters nothing
    run(ios, "configure terminal", "interface GigabitEthernet0/0", "ip access-group EDGE in")
    decision = ios.evaluate(rdp)
    assert (decision.verdict, decision.rule) == (
        "drop",
        "EDGE in: implicit deny at the end of EDGE",
    )


def test_acl_entries_first_match_with_sources_wildcards_and_established() -> None:
    ios = published(
        [
            "permit udp any any eq 51820",
            "permit tcp 198.51.100.0 0.0.0.255 any eq 3389",
            "deny tcp any any eq 3389",
            "permit tcp any any established",
            "permit ip any any",
        ],
        NAT_RDP,
    )
    allowed = ios.evaluate(Packet(INTERNET, WAN_IP, "tcp", 3389, "GigabitEthernet0/0"))
    assert allowed.accepted
    assert allowed.dst == "10.89.1.11"
    other = ios.evaluate(Packet("192.0.2.9", WAN_IP, "tcp", 3389, "GigabitEthernet0/0"))
    assert (other.verdict, other.rule) == ("drop", "EDGE in: deny tcp any any eq 3389")
    web_reply = Packet("192.0.2.9", "10.89.1.50", "tcp", 50000, "GigabitEthernet0/0", "established")
    assert ios.evaluate(web_reply).rule == "routed"


def test_a_bound_acl_that_does_not_exist_permits_everything() -> None:
    ios = IosDevice("edge")
    run(ios, "configure terminal", "interface GigabitEthernet0/0", "ip access-group NOPE in")
    assert ios.evaluate(Packet(INTERNET, WAN_IP, "tcp", 22, "GigabitEthernet0/0")).accepted


def test_output_acl_sees_the_translated_destination() -> None:
    ios = published(None, NAT_RDP)
    run(
        ios,
        "configure terminal",
        "ip access-list extended LAN-OUT",
        "deny tcp any host 10.89.1.11 eq 3389",
        "permit ip any any",
        "interface GigabitEthernet0/1",
        "ip access-group LAN-OUT out",
    )
    decision = ios.evaluate(Packet(INTERNET, WAN_IP, "tcp", 3389, "GigabitEthernet0/0"))
    assert (decision.verdict, decision.rule) == (
        "drop",
        "LAN-OUT out: deny tcp any host 10.89.1.11 eq 3389",
    )


def test_unknown_interface_is_an_error_of_the_test() -> None:
    with pytest.raises(ValueError, match="no interface"):
        IosDevice("edge").evaluate(Packet(INTERNET, WAN_IP, "tcp", 22, "Dialer0"))
