"""Simulated RouterOS: console language, export, safe mode and packet decisions on defconf."""

from __future__ import annotations

import time

import pytest

from provisioner.fakegear.base import Packet, Session, UndecidableError
from provisioner.fakegear.routeros import RouterOsDevice, format_duration

KEY = "xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg="
WAN_IP = "203.0.113.4"
INTERNET = "198.51.100.7"
WG = "/interface wireguard add comment=provisioner:wireguard listen-port=51820 name=wg-p"
PEER = (
    "/interface wireguard peers add allowed-address=10.77.0.2/32 comment=provisioner:peer:a "
    f'interface=wg-p public-key="{KEY}"'
)
WG_INPUT = (
    "/ip firewall filter add action=accept chain=input comment=provisioner:wg-in "
    "dst-port=51820 protocol=udp"
)


def run(device: RouterOsDevice, *lines: str, session: Session | None = None) -> list[str]:
    session = session or Session()
    return [device.handle(session, line) for line in lines]


def filter_comments(device: RouterOsDevice, chain: str) -> list[str]:
    return [
        item.get("comment", "")
        for item in device.tables["/ip firewall filter"]
        if item["chain"] == chain
    ]


# --------------------------------------------------------------------------- console


def test_add_set_remove_by_find_and_export_in_property_order() -> None:
    ros = RouterOsDevice("gw")
    assert run(
        ros,
        WG,
        PEER,
        '/interface wireguard peers set [find where comment="provisioner:peer:a"] '
        "allowed-address=10.77.0.3/32",
    ) == ["", "", ""]
    export = ros.config()
    assert export.startswith("# RouterOS 7.16.2\n")
    assert (
        "/interface wireguard peers add allowed-address=10.77.0.3/32 comment=provisioner:peer:a "
        f'interface=wg-p public-key="{KEY}"\n'
    ) in export
    # The interface's private key is sensitive: RouterOS 7 exports hide it unless asked.
    assert "private-key" not in export
    assert "private-key=" in ros.export(sensitive=True)
    assert run(ros, '/interface wireguard peers remove [find where comment="provisioner:peer:a"]')
    assert "peers add" not in ros.config()


def test_address_network_is_filled_in_and_exported() -> None:
    ros = RouterOsDevice("gw")
    run(ros, WG, "/ip address add address=10.77.0.1/24 comment=x interface=wg-p")
    assert "/ip address add address=10.77.0.1/24 comment=x interface=wg-p network=10.77.0.0\n" in (
        ros.config()
    )


def test_quoted_values_take_routeros_escapes_and_export_escapes_them_back() -> None:
    ros = RouterOsDevice("gw")
    run(ros, r'/ip firewall filter add chain=input comment="a \"b\" \\ \$x \?y\_z\n\41"')
    line = next(x for x in ros.config().splitlines() if 'chain=input comment="a' in x)
    assert ros.tables["/ip firewall filter"][-1]["comment"] == 'a "b" \\ $x ?y z\nA'
    assert line.endswith(r'comment="a \"b\" \\ \$x \?y z\nA"')


@pytest.mark.parametrize(
    ("line", "error"),
    [
        ("/interface wireguard peers add interface=nope public-key=x", "input does not match"),
        ("/ip firewall filter add chain=input colour=red", "expected end of command"),
        ("/interface wireguard frobnicate", "bad command name"),
        ('/ip firewall filter add chain=input comment="$x"', "syntax error"),
        ("/ip firewall filter add chain=input comment=a?", "expected end of command"),
        ('/ip firewall filter add chain=input comment="open', "syntax error"),
    ],
)
def test_refused_lines_print_routeros_errors_and_change_nothing(line: str, error: str) -> None:
    ros = RouterOsDevice("gw")
    before = ros.snapshot()
    assert error in run(ros, line)[0]
    assert ros.snapshot() == before


def test_a_newline_ends_the_line_so_a_smuggled_one_injects_a_command() -> None:
    # Why quoting must escape newlines: the console runs what follows as a command of its own.
    ros = RouterOsDevice("gw")
    run(
        ros,
        WG,
        '/interface wireguard peers add interface=wg-p public-key="X\n'
        '/user add comment=provisioner:x group=full name=evil password=pw\nZ"',
    )
    assert [u["name"] for u in ros.tables["/user"]] == ["evil"]
    assert "evil" not in ros.config()  # and /export does not show users


def test_semicolon_separates_commands_outside_quotes() -> None:
    ros = RouterOsDevice("gw")
    run(ros, '/ip firewall filter add chain=input comment="a;b"; /system identity set name=x')
    assert ros.identity == "x"
    assert ros.tables["/ip firewall filter"][-1]["comment"] == "a;b"


def test_place_before_needs_exactly_one_item_and_inserts_there() -> None:
    ros = RouterOsDevice("gw")
    # Both chains have a "defconf: drop invalid": ambiguous.
    ambiguous = WG_INPUT + ' place-before=[find where comment="defconf: drop invalid"]'
    assert run(ros, ambiguous) == ["invalid value for argument place-before"]
    unique = WG_INPUT + ' place-before=[find where chain=input and comment="defconf: drop invalid"]'
    picked = (
        "/ip firewall filter add action=accept chain=input comment=picked protocol=tcp "
        "dst-port=80 place-before=[:pick [find where chain=input and action=drop] 0]"
    )
    assert run(ros, unique, picked) == ["", ""]
    assert filter_comments(ros, "input")[:4] == [
        "defconf: accept established,related,untracked",
        "provisioner:wg-in",
        "picked",
        "defconf: drop invalid",
    ]


def test_print_terse_with_proplist_and_where() -> None:
    ros = RouterOsDevice("gw")
    run(ros, WG, PEER)
    printed = run(ros, "/interface wireguard print terse proplist=public-key where name=wg-p")[0]
    assert printed.startswith(" 0    public-key=")
    assert "private-key" not in printed
    peers = (
        "/interface wireguard peers print terse proplist=public-key,last-handshake "
        'where interface=wg-p and comment="provisioner:peer:a"'
    )
    assert run(ros, peers)[0] == f' 0    public-key="{KEY}"'
    ros.set_handshake(KEY, time.time() - 75)
    assert run(ros, peers)[0] == f' 0    public-key="{KEY}" last-handshake=1m15s'
    assert run(ros, "/interface wireguard peers print colour")[0].startswith("expected end")


def test_durations_print_like_routeros() -> None:
    assert format_duration(0) == "0s"
    assert format_duration(3725) == "1h2m5s"
    assert format_duration(8 * 86400 + 60) == "1w1d1m"


# --------------------------------------------------------------------------- safe mode


def test_safe_mode_release_keeps_the_changes() -> None:
    ros = RouterOsDevice("gw")
    session = Session()
    assert run(ros, "\x18", session=session) == ["[Safe Mode taken]"]
    assert ros.prompt(session) == "[admin@gw] <SAFE> "
    run(ros, WG, "\x18", session=session)
    assert ros.prompt(session) == "[admin@gw] > "
    ros.session_ended(session)  # a lost connection after release undoes nothing
    assert "name=wg-p" in ros.config()


def test_lost_session_in_safe_mode_undoes_everything_it_held() -> None:
    ros = RouterOsDevice("gw")
    before = ros.snapshot()
    session, other = Session(), Session()
    run(ros, "\x18", WG, PEER, session=session)
    run(ros, "/system identity set name=changed-meanwhile", session=other)
    ros.session_ended(session)  # not closed: the connection was lost
    assert ros.snapshot() == before  # changes from other sessions too, as documented


def test_quit_keeps_and_ctrl_d_undoes() -> None:
    ros = RouterOsDevice("gw")
    quitting, leaving = Session(), Session()
    run(ros, "\x18", WG, "/quit", session=quitting)
    ros.session_ended(quitting)
    assert "name=wg-p" in ros.config()
    run(ros, "\x18", PEER, "\x04", session=leaving)
    assert leaving.closed
    ros.session_ended(leaving)
    assert "peers add" not in ros.config()


@pytest.mark.parametrize(("answer", "kept"), [("u", False), ("r", True), ("d", True)])
def test_hijacking_safe_mode_asks_unroll_release_or_dont(answer: str, kept: bool) -> None:
    ros = RouterOsDevice("gw")
    holder, newcomer = Session(), Session()
    run(ros, "\x18", WG, session=holder)
    assert run(ros, "\x18", session=newcomer) == [""]
    assert ros.prompt(newcomer).startswith("Hijacking Safe Mode from someone")
    run(ros, answer, session=newcomer)
    assert ("name=wg-p" in ros.config()) is kept
    assert (ros.safe_owner is newcomer) is (answer != "d")


def test_safe_mode_history_holds_100_actions() -> None:
    ros = RouterOsDevice("gw")
    session = Session()
    run(ros, "\x18", session=session)
    outputs = run(
        ros,
        *(f"/ip firewall address-list add address=10.0.0.{i} list=x" for i in range(101)),
        session=session,
    )
    assert outputs[-1].startswith("[Safe Mode released")
    ros.session_ended(session)
    assert len(ros.tables["/ip firewall address-list"]) == 101  # nothing undone


# --------------------------------------------------------------------------- packets


def wg_from_internet() -> Packet:
    return Packet(INTERNET, WAN_IP, "udp", 51820, "ether1")


def test_defconf_drops_what_comes_from_the_internet_to_the_router() -> None:
    ros = RouterOsDevice("gw")
    decision = ros.evaluate(wg_from_internet())
    assert (decision.verdict, decision.rule) == ("drop", "defconf: drop all not coming from LAN")
    assert ros.evaluate(Packet(INTERNET, WAN_IP, "icmp", None, "ether1")).accepted
    lan_ssh = ros.evaluate(Packet("10.89.1.50", "10.89.1.1", "tcp", 22, "bridge"))
    assert lan_ssh.accepted
    assert lan_ssh.local
    assert ros.evaluate(Packet("10.89.1.50", "10.89.1.1", "tcp", 3389, "bridge")).verdict == (
        "closed"
    )


def test_an_appended_accept_never_matches_placed_before_the_drops_it_does() -> None:
    ros = RouterOsDevice("gw")
    run(ros, WG, WG_INPUT)
    assert ros.evaluate(wg_from_internet()).rule == "defconf: drop all not coming from LAN"
    run(
        ros,
        '/ip firewall filter remove [find where comment="provisioner:wg-in"]',
        WG_INPUT + ' place-before=[find where chain=input and comment="defconf: drop invalid"]',
    )
    decision = ros.evaluate(wg_from_internet())
    assert (decision.verdict, decision.rule, decision.local) == (
        "accept",
        "provisioner:wg-in",
        True,
    )
    # Accepted by the filter, but no WireGuard interface listens on another port.
    run(
        ros,
        WG_INPUT.replace("51820", "51821").replace("wg-in", "other")
        + " place-before=[:pick [find] 0]",
    )
    assert ros.evaluate(Packet(INTERNET, WAN_IP, "udp", 51821, "ether1")).verdict == "closed"


def test_tunnel_traffic_is_checked_against_peers_and_forwarded_unless_a_rule_drops_it() -> None:
    ros = RouterOsDevice("gw")
    run(ros, WG, "/ip address add address=10.77.0.1/24 interface=wg-p", PEER)
    to_rdp = Packet("10.77.0.2", "10.89.1.11", "tcp", 3389, "wg-p")
    to_files = Packet("10.77.0.2", "10.89.1.20", "tcp", 445, "wg-p")
    # defconf only drops new traffic from WAN: the tunnel reaches the whole office LAN.
    assert ros.evaluate(to_files).accepted
    assert ros.evaluate(to_rdp).out_interface == "bridge"
    spoofed = ros.evaluate(Packet("10.77.0.9", "10.89.1.11", "tcp", 3389, "wg-p"))
    assert spoofed.verdict == "drop"
    assert "allowed-address" in spoofed.rule
    run(
        ros,
        "/ip firewall filter add action=accept chain=forward comment=rdp dst-address=10.89.1.11 "
        "dst-port=3389 in-interface=wg-p protocol=tcp",
        "/ip firewall filter add action=drop chain=forward comment=pool-drop in-interface=wg-p",
    )
    assert ros.evaluate(to_rdp).rule == "rdp"
    assert (ros.evaluate(to_files).verdict, ros.evaluate(to_files).rule) == ("drop", "pool-drop")
    # Replies of connections the LAN opened towards the pool still pass (defconf accepts them).
    reply = Packet("10.77.0.2", "10.89.1.20", "tcp", 50000, "wg-p", state="established")
    assert ros.evaluate(reply).accepted


def test_dst_nat_publishes_and_defconf_lets_dstnatted_traffic_through() -> None:
    ros = RouterOsDevice("gw")
    rdp = Packet(INTERNET, WAN_IP, "tcp", 443, "ether1")
    assert ros.evaluate(rdp).verdict == "drop"
    run(
        ros,
        "/ip firewall nat add action=dst-nat chain=dstnat comment=rd dst-port=443 "
        "in-interface=ether1 protocol=tcp src-address=198.51.100.0/24 to-addresses=10.89.1.11 "
        "to-ports=3389",
    )
    decision = ros.evaluate(rdp)
    assert decision.accepted
    assert decision.translated_to(rdp) == ("10.89.1.11", 3389)
    assert decision.out_interface == "bridge"
    elsewhere = ros.evaluate(Packet("192.0.2.9", WAN_IP, "tcp", 443, "ether1"))
    assert (elsewhere.verdict, elsewhere.rule) == ("drop", "defconf: drop all not coming from LAN")


def test_jump_return_and_disabled_rules() -> None:
    ros = RouterOsDevice("gw")
    run(
        ros,
        "/ip firewall filter add action=jump chain=forward jump-target=wg comment=to-wg "
        "place-before=[:pick [find] 0]",
        "/ip firewall filter add action=return chain=wg comment=back protocol=icmp",
        "/ip firewall filter add action=drop chain=wg comment=wg-drop dst-port=25 protocol=tcp",
        "/ip firewall filter add action=drop chain=forward comment=off disabled=yes",
    )
    smtp = ros.evaluate(Packet("10.89.1.5", "192.0.2.1", "tcp", 25, "bridge"))
    assert (smtp.verdict, smtp.rule) == ("drop", "wg-drop")
    assert ros.evaluate(Packet("10.89.1.5", "192.0.2.1", "icmp", None, "bridge")).accepted


def test_a_matcher_it_does_not_model_refuses_to_decide() -> None:
    ros = RouterOsDevice("gw")
    run(
        ros,
        "/ip firewall filter add action=drop chain=input src-port=53 protocol=udp "
        "place-before=[:pick [find] 0]",
    )
    with pytest.raises(UndecidableError, match="src-port"):
        ros.evaluate(Packet(INTERNET, WAN_IP, "udp", 53, "ether1"))
