"""Simulated devices' CLI: lines change state, show/export reflect it, errors are the vendor's."""

from __future__ import annotations

from provisioner.fakegear.devices import FortiDevice, IosDevice, RouterOsDevice, Session

KEY = "xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg="


def run(device: IosDevice | FortiDevice | RouterOsDevice, *lines: str) -> list[str]:
    session = Session()
    return [device.handle(session, line) for line in lines]


def test_ios_config_mode_changes_running_config_and_write_memory_saves() -> None:
    ios = IosDevice("edge")
    before = ios.config()
    out = run(
        ios,
        "configure terminal",
        "ip access-list extended PROVISIONER-EDGE-IN",
        "10 permit udp any any eq 51820",
        "exit",
        "ip nat inside source static udp 10.89.1.10 51820 interface GigabitEthernet0/0 51820",
        "end",
    )
    assert out[1:] == ["", "", "", "", ""]
    running = ios.config()
    assert (
        "ip nat inside source static udp 10.89.1.10 51820 interface GigabitEthernet0/0 51820 "
        "extendable\n" in running
    )
    assert "ip access-list extended PROVISIONER-EDGE-IN\n permit udp any any eq 51820\n" in running
    assert ios.startup == before
    assert run(ios, "write memory") == ["Building configuration...\n[OK]"]
    assert ios.startup == running


def test_ios_invalid_line_gives_the_real_message_and_changes_nothing() -> None:
    ios = IosDevice("edge")
    before = ios.config()
    out = run(
        ios,
        "configure terminal",
        "ip nat inside source static udp 10.89.1.300 1 interface GigabitEthernet0/0 1",
        "bogus command",
    )
    assert out[1].endswith("^\n% Invalid input detected at '^' marker.")
    assert out[2].endswith("% Invalid input detected at '^' marker.")
    assert ios.config() == before


def test_ios_acl_sequence_numbers_and_resequence() -> None:
    ios = IosDevice("edge")
    session = Session()
    for line in [
        "configure terminal",
        "ip access-list extended A",
        "permit tcp any any eq 1",
        "permit tcp any any eq 2",
    ]:
        ios.handle(session, line)
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


def test_ios_rejects_a_chosen_line() -> None:
    ios = IosDevice("edge")
    ios.reject("ip access-list extended X")
    assert run(ios, "configure terminal", "ip access-list extended X")[1].endswith(
        "% Invalid input detected at '^' marker."
    )
    assert "access-list extended X" not in ios.config()


def test_fortios_tables_edit_set_delete_and_errors() -> None:
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


def test_fortios_object_in_use_cannot_be_deleted() -> None:
    fgt = FortiDevice("fgt")
    run(
        fgt,
        "config firewall vip",
        'edit "v"',
        "set extip 1.2.3.4",
        "end",
        "config firewall policy",
        "edit 9000",
        'set dstaddr "v"',
        "end",
    )
    assert run(fgt, "config firewall vip", 'delete "v"')[1] == (
        "entry is used\nCommand fail. Return code -23"
    )


def test_routeros_add_set_remove_by_comment_and_export() -> None:
    ros = RouterOsDevice("gw")
    out = run(
        ros,
        "/interface wireguard add comment=provisioner:wireguard listen-port=51820 name=wg-p",
        "/interface wireguard peers add allowed-address=10.77.0.2/32 "
        f'comment=provisioner:peer:a interface=wg-p public-key="{KEY}"',
        '/interface wireguard peers set [find where comment="provisioner:peer:a"] '
        "allowed-address=10.77.0.3/32",
    )
    assert out == ["", "", ""]
    export = ros.config()
    assert export.startswith("# RouterOS 7.16.2\n")
    assert (
        "/interface wireguard peers add allowed-address=10.77.0.3/32 comment=provisioner:peer:a "
        f'interface=wg-p public-key="{KEY}"\n'
    ) in export
    assert run(
        ros, '/interface wireguard peers remove [find where comment="provisioner:peer:a"]'
    ) == [""]
    assert "peers add" not in ros.config()


def test_routeros_errors_are_routeros_errors() -> None:
    ros = RouterOsDevice("gw")
    before = ros.config()
    assert run(ros, "/interface wireguard peers add interface=nope public-key=x") == [
        "input does not match any value of interface"
    ]
    assert run(ros, "/ip firewall filter add chain=input colour=red") == [
        "expected end of command (line 1 column 37)"
    ]
    assert run(ros, "/interface wireguard frobnicate")[0].startswith("bad command name")
    ros.reject("/ip firewall filter add chain=input")
    assert run(ros, "/ip firewall filter add chain=input") == [
        "failure: configuration change refused by device policy"
    ]
    assert ros.config() == before
