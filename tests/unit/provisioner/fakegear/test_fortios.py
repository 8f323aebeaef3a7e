"""Simulated FortiGate: tables and datasources, workspace transactions, VIPs and policies."""

from __future__ import annotations

import time

import pytest

from provisioner.fakegear.base import Packet, Session, UndecidableError
from provisioner.fakegear.fortios import FortiDevice, tokens

WAN_IP = "203.0.113.3"
INTERNET = "198.51.100.7"


def run(device: FortiDevice, *lines: str, session: Session | None = None) -> list[str]:
    session = session or Session()
    return [device.handle(session, line) for line in lines]


def publish(
    fgt: FortiDevice,
    name: str,
    *,
    proto: str = "tcp",
    ext: int,
    mapped: int,
    service_port: int,
    srcaddr: str = '"all"',
    session: Session | None = None,
) -> list[str]:
    lines = [
        "config firewall service custom",
        f'edit "{name}"',
        f"set {proto}-portrange {service_port}",
        "next",
        "end",
        "config firewall vip",
        f'edit "{name}"',
        f"set extip {WAN_IP}",
        'set mappedip "10.89.1.11"',
        'set extintf "wan1"',
        "set portforward enable",
        f"set protocol {proto}",
        f"set extport {ext}",
        f"set mappedport {mapped}",
        "next",
        "end",
        "config firewall policy",
        "edit 9000",
        f'set name "{name}"',
        'set srcintf "wan1"',
        'set dstintf "internal"',
        "set action accept",
        f"set srcaddr {srcaddr}",
        f'set dstaddr "{name}"',
        'set schedule "always"',
        f'set service "{name}"',
        "next",
        "end",
    ]
    return run(fgt, *lines, session=session)


def test_tables_edit_set_delete_and_errors() -> None:
    fgt = FortiDevice("fgt")
    session = Session()
    assert fgt.handle(session, "config firewall vip") == ""
    assert fgt.prompt(session) == "fgt (vip) # "
    assert fgt.handle(session, 'edit "provisioner-rd"') == ""
    assert fgt.prompt(session) == "fgt (provisioner-rd) # "
    assert fgt.handle(session, "set extip 203.0.113.3") == ""
    assert fgt.handle(session, "set extip 203.0.113.300") == (
        "value parse error before '203.0.113.300'\nCommand fail. Return code -8"
    )
    assert fgt.handle(session, "set bogus 1") == (
        "command parse error before 'bogus'\nCommand fail. Return code -61"
    )
    assert fgt.handle(session, "end") == ""
    assert fgt.show("firewall vip") == (
        'config firewall vip\n    edit "provisioner-rd"\n        set extip 203.0.113.3\n'
        "    next\nend"
    )
    assert run(fgt, "config firewall vip", 'delete "nope"')[1].startswith("entry not found")
    assert run(fgt, "config firewall vip", 'delete "provisioner-rd"', "end") == ["", "", ""]
    assert fgt.show("firewall vip") == "config firewall vip\nend"


def test_names_are_stored_quoted_as_fortios_shows_them() -> None:
    fgt = FortiDevice("fgt")
    run(fgt, "config firewall address", "edit x", "set subnet 198.51.100.0/24", "end")
    run(fgt, "config firewall policy", "edit 5", "set srcaddr all x", "end")
    assert 'edit "x"\n        set subnet 198.51.100.0 255.255.255.0\n' in fgt.show()
    assert '    edit 5\n        set srcaddr "all" "x"\n' in fgt.show()
    assert tokens("\"a b\" c 'd'") == ["a b", "c", "d"]


def test_datasources_are_checked_and_used_objects_cannot_be_deleted() -> None:
    fgt = FortiDevice("fgt")
    out = run(fgt, "config firewall policy", "edit 9000", 'set dstaddr "nope"', 'set srcintf "x"')
    assert out[2].startswith("entry not found in datasource")
    assert out[3].startswith("entry not found in datasource")
    publish(fgt, "rd", ext=3389, mapped=3389, service_port=3389)
    assert run(fgt, "config firewall vip", 'delete "rd"')[1] == (
        "entry is used\nCommand fail. Return code -23"
    )


# --------------------------------------------------------------------------- workspace mode


def test_a_transaction_is_invisible_until_commit_and_abort_discards_it() -> None:
    fgt = FortiDevice("fgt")
    before = fgt.snapshot()
    session, other = Session(), Session()
    assert run(fgt, "execute config-transaction start", session=session) == [""]
    publish(fgt, "rd", ext=3389, mapped=3389, service_port=3389, session=session)
    assert fgt.snapshot() == before
    assert 'edit "rd"' in run(fgt, "show firewall vip", session=session)[0]
    assert 'edit "rd"' not in run(fgt, "show firewall vip", session=other)[0]
    assert run(fgt, "execute config-transaction commit", session=session) == [""]
    assert 'edit "rd"' in fgt.show("firewall vip")
    committed = fgt.snapshot()
    run(
        fgt,
        "execute config-transaction start",
        "config firewall policy",
        "delete 9000",
        "end",
        "execute config-transaction abort",
        session=session,
    )
    assert fgt.snapshot() == committed


def test_an_object_in_a_transaction_is_locked_for_others() -> None:
    fgt = FortiDevice("fgt")
    holder, other = Session(), Session()
    run(fgt, "execute config-transaction start", "config firewall vip", 'edit "rd"', session=holder)
    out = run(fgt, "config firewall vip", 'edit "rd"', session=other)
    assert out[1] == "rd is being configured in config transaction id=" + out[1].split("=")[1]
    assert "Command fail" in out[1]


def test_a_lost_sessions_transaction_is_discarded_at_its_idle_timeout() -> None:
    fgt = FortiDevice("fgt")
    fgt.minute = 0.2
    before = fgt.snapshot()
    lost = Session()
    run(fgt, "execute config-transaction start 1", session=lost)
    publish(fgt, "rd", ext=3389, mapped=3389, service_port=3389, session=lost)
    fgt.session_ended(lost)
    assert fgt.snapshot() == before
    assert "config transaction" in run(fgt, "config firewall vip", 'edit "rd"')[1]  # still locked
    time.sleep(0.35)
    assert run(fgt, "config firewall vip", 'edit "rd"', "end") == ["", "", ""]
    assert fgt.locks == {}


# --------------------------------------------------------------------------- packets


def test_a_vip_with_its_policy_publishes_and_the_rest_of_the_wan_is_denied() -> None:
    fgt = FortiDevice("fgt")
    rdp = Packet(INTERNET, WAN_IP, "tcp", 3389, "wan1")
    assert fgt.evaluate(rdp).verdict == "drop"  # local-in: 3389 is not in allowaccess
    publish(fgt, "rd", ext=3389, mapped=3389, service_port=3389)
    decision = fgt.evaluate(rdp)
    assert (decision.verdict, decision.rule) == ("accept", "policy 9000 rd")
    assert decision.translated_to(rdp) == ("10.89.1.11", 3389)
    assert decision.out_interface == "internal"
    to_lan = fgt.evaluate(Packet(INTERNET, "10.89.1.20", "tcp", 445, "wan1"))
    assert (to_lan.verdict, to_lan.rule) == ("drop", "policy 0 (implicit deny)")
    assert fgt.evaluate(Packet("10.89.1.50", "192.0.2.1", "tcp", 443, "internal")).accepted


def test_the_policy_service_is_matched_against_the_mapped_port() -> None:
    # Fortinet KB: publishing 443 as 3389 needs a policy service of 3389, not of 443.
    external = FortiDevice("fgt")
    publish(external, "rd", ext=443, mapped=3389, service_port=443)
    packet = Packet(INTERNET, WAN_IP, "tcp", 443, "wan1")
    assert external.evaluate(packet).rule == "policy 0 (implicit deny)"
    mapped = FortiDevice("fgt")
    publish(mapped, "rd", ext=443, mapped=3389, service_port=3389)
    assert mapped.evaluate(packet).translated_to(packet) == ("10.89.1.11", 3389)


def test_source_addresses_restrict_a_published_port() -> None:
    fgt = FortiDevice("fgt")
    run(
        fgt,
        "config firewall address",
        'edit "office"',
        "set subnet 198.51.100.0 255.255.255.0",
        "end",
    )
    publish(fgt, "rd", ext=3389, mapped=3389, service_port=3389, srcaddr='"office"')
    assert fgt.evaluate(Packet(INTERNET, WAN_IP, "tcp", 3389, "wan1")).accepted
    other = fgt.evaluate(Packet("192.0.2.9", WAN_IP, "tcp", 3389, "wan1"))
    assert (other.verdict, other.rule) == ("drop", "policy 0 (implicit deny)")


def test_a_vip_no_policy_names_translates_nothing() -> None:
    fgt = FortiDevice("fgt")
    publish(fgt, "rd", ext=3389, mapped=3389, service_port=3389)
    run(fgt, "config firewall policy", "delete 9000", "end")
    decision = fgt.evaluate(Packet(INTERNET, WAN_IP, "tcp", 3389, "wan1"))
    assert (decision.verdict, decision.local) == ("drop", True)


def test_deny_policies_see_vip_traffic_only_with_match_vip() -> None:
    fgt = FortiDevice("fgt")
    deny = [
        "config firewall policy",
        "edit 5",
        'set srcintf "wan1"',
        'set dstintf "internal"',
        "set action deny",
        'set srcaddr "all"',
        'set dstaddr "all"',
        'set schedule "always"',
        'set service "ALL"',
        "end",
        "config firewall policy",
        "move 5 before 9000",
        "end",
    ]
    publish(fgt, "rd", ext=3389, mapped=3389, service_port=3389)
    assert run(fgt, *deny)[-2] == ""
    assert list(fgt.tables["firewall policy"]) == ["1", "5", "9000"]
    packet = Packet(INTERNET, WAN_IP, "tcp", 3389, "wan1")
    assert fgt.evaluate(packet).rule == "policy 9000 rd"
    run(fgt, "config firewall policy", "edit 5", "set match-vip enable", "end")
    assert fgt.evaluate(packet).rule == "policy 5"


def test_local_in_follows_allowaccess() -> None:
    fgt = FortiDevice("fgt")
    assert fgt.evaluate(Packet(INTERNET, WAN_IP, "tcp", 443, "wan1")).accepted
    assert fgt.evaluate(Packet(INTERNET, WAN_IP, "udp", 51820, "wan1")).verdict == "drop"


def test_address_groups_are_not_modelled_so_no_decision() -> None:
    fgt = FortiDevice("fgt")
    fgt.tables["firewall policy"]["1"] = [
        (k, '"grp"' if k == "srcaddr" else v) for k, v in fgt.tables["firewall policy"]["1"]
    ]
    with pytest.raises(UndecidableError, match="grp"):
        fgt.evaluate(Packet("10.89.1.50", "192.0.2.1", "tcp", 443, "internal"))
