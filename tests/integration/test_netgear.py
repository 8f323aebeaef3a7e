"""roles/netgear through the project's runner against stateful simulated devices on 127.0.0.1.

The devices are FakeNOS simulators (no containers) that decide packets from their running
configuration, written independently of ``provisioner.gear``: after an ``enable`` run the tests
ask each device what it does with the traffic that matters.
"""

from __future__ import annotations

import ipaddress
import secrets
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from provisioner.adapters import vault
from provisioner.adapters.runner import LocalRunner
from provisioner.core import presence
from provisioner.fakegear import DeviceSpec, GearLab, Packet, free_port, free_ports, running_gear
from provisioner.fakegear.base import host_key
from provisioner.fakegear.routeros import RouterOsDevice
from provisioner.models.run import PlaybookRequest, RunOutcome

# FakeNOS's connection thread raises once a refused client leaves (it expects a channel).
pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")

ROOT = Path(__file__).resolve().parents[2]
KEYS = {
    "laptop-01": ("10.77.0.2", "xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg="),
    "laptop-02": ("10.77.0.3", "TrMvSoP4jYQlY6RIzBgbssQqY3vxI2Pi+y71lOWWXX0="),
}
HOSTILE = "X\n/user add comment=provisioner:x group=full name=evil password=pw\nZ"
DEVICES = {
    "edge-ros": ("mikrotik_routeros", "vpn_concentrator", "ether1"),
    "edge-ios": ("cisco_ios", "edge_nat", "GigabitEthernet0/0"),
    "edge-fgt": ("fortinet", "edge_nat", "wan1"),
}
# The WAN address of each simulated device (their starting configurations).
WAN_IP = {"edge-ros": "203.0.113.4", "edge-ios": "203.0.113.2", "edge-fgt": "203.0.113.3"}
INTERNET = "192.0.2.77"
ALLOWED = "198.51.100.7"  # inside 198.51.100.0/24, the sources the RD gateway may be given
LINUX_GW, RD_GW, FILE_SERVER = "10.89.1.10", "10.89.1.11", "10.89.1.20"


@dataclass
class Site:
    """A comune with three simulated devices, its inventory, vault and run directories."""

    lab: GearLab
    base: Path
    vault_password: str
    passwords: dict[str, str]
    runs: int = 0

    @property
    def inventory(self) -> Path:
        return self.base / "inventory" / "gearlab"

    @property
    def session_logs(self) -> Path:
        return self.base / "session-logs"

    @property
    def known_hosts(self) -> Path:
        return self.base / "known_hosts"

    def run(
        self,
        *,
        check: bool = False,
        limit: str = "network_devices",
        playbooks: Path = ROOT / "playbooks",
        playbook: str = "enable_remote_work.yml",
        extravars: dict[str, Any] | None = None,
        tags: tuple[str, ...] = ("netgear",),
    ) -> RunOutcome:
        self.runs += 1
        runner = LocalRunner(playbooks, ROOT / "ansible.cfg")
        request = PlaybookRequest(
            use_case="enable",
            comune="gearlab",
            playbook=playbook,
            inventory=self.inventory,
            limit=limit,
            check=check,
            diff=True,
            tags=tags,
            extravars=extravars or {},
        )
        return runner.run(
            request, self.base / "runs" / str(self.runs), vault_password=self.vault_password
        )

    def configs(self) -> dict[str, str]:
        return {name: device.config() for name, device in self.lab.devices.items()}

    def decide(self, name: str, packet: Packet) -> Any:
        return self.lab.devices[name].evaluate(packet)


def write_inventory(
    site: Site,
    ports: dict[str, int],
    extra: dict[str, dict[str, object]],
    keys: dict[str, str] | None = None,
) -> None:
    """Hosts, comune settings and one vault per device (the passwords are nowhere in clear)."""
    netgear: dict[str, object] = {}
    for name, (device_type, role, wan) in DEVICES.items():
        netgear[name] = {
            "ansible_host": "127.0.0.1",
            "ansible_port": ports[name],
            "netgear_device_type": device_type,
            "netgear_role": role,
            "netgear_wan_interface": wan,
            "netgear_username": "admin",
            "netgear_password": "{{ vault_netgear_password }}",
            "netgear_known_hosts_file": str(site.known_hosts),
            "netgear_timeout": 5,
            "netgear_session_log": str(site.session_logs / f"{name}.log"),
            "netgear_linux_gateway_address": LINUX_GW,
            "netgear_rd_gateway_address": RD_GW,
            **extra.get(name, {}),
        }
    endpoints = {
        name: {"vpn_client_address": address, "vpn_client_public_key": (keys or {}).get(name, key)}
        for name, (address, key) in KEYS.items()
    }
    hosts = {
        "all": {
            "children": {"network_devices": {"hosts": netgear}, "endpoints": {"hosts": endpoints}}
        }
    }
    inv = site.inventory
    (inv / "group_vars" / "all").mkdir(parents=True, exist_ok=True)
    (inv / "hosts.yml").write_text(yaml.safe_dump(hosts), encoding="utf-8")
    settings = {
        "comune_vpn_pool": "10.77.0.0/24",
        "comune_vpn_listen_port": 51820,
        "comune_vpn_public_endpoint": "203.0.113.3:51820",
        "comune_vpn_allowed_services": [
            {"name": "rdp-gateway", "address": f"{RD_GW}/32", "port": 3389, "proto": "tcp"}
        ],
    }
    (inv / "group_vars" / "all" / "comune.yml").write_text(
        yaml.safe_dump(settings), encoding="utf-8"
    )
    for name, password in site.passwords.items():
        target = inv / "host_vars" / name
        target.mkdir(parents=True, exist_ok=True)
        plain = yaml.safe_dump({"vault_netgear_password": password})
        (target / "vault.yml").write_text(
            vault.encrypt(plain, site.vault_password), encoding="utf-8"
        )
    site.session_logs.mkdir(exist_ok=True)


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    """Three fresh devices (RouterOS concentrator, IOS and FortiOS edges) and their inventory."""
    ports = dict(zip(DEVICES, free_ports(len(DEVICES)), strict=True))
    passwords = {name: "pw-" + secrets.token_urlsafe(12) for name in DEVICES}
    specs = [
        DeviceSpec(name, DEVICES[name][0], ports[name], "admin", passwords[name])
        for name in DEVICES
    ]
    with running_gear(specs) as lab:
        gear_site = Site(lab, tmp_path, "vault-" + secrets.token_urlsafe(12), passwords)
        lab.write_known_hosts(gear_site.known_hosts)
        write_inventory(gear_site, ports, {})
        yield gear_site


def ports_of(site: Site) -> dict[str, int]:
    return {n: s.port for n, s in site.lab.specs.items()}


def changed_hosts(outcome: RunOutcome) -> dict[str, int]:
    return {h.host: h.changed for h in outcome.hosts}


def failed_tasks(outcome: RunOutcome) -> dict[str, str]:
    return {t.host: t.message for t in outcome.tasks if t.outcome == "failed"}


def wireguard_from_internet(name: str) -> Packet:
    wan = "ether1" if name == "edge-ros" else DEVICES[name][2]
    return Packet(INTERNET, WAN_IP[name], "udp", 51820, wan)


def rdp_from(source: str, name: str, port: int = 3389) -> Packet:
    return Packet(source, WAN_IP[name], "tcp", port, DEVICES[name][2])


def assert_remote_work_decisions(site: Site) -> None:
    """What the comune needs from its devices, and what it must not get."""
    # WireGuard from the internet reaches the terminator: the router itself (concentrator)
    # or the Linux gateway behind the edge devices.
    ros = site.decide("edge-ros", wireguard_from_internet("edge-ros"))
    assert (ros.verdict, ros.local, ros.rule) == ("accept", True, "provisioner:wireguard-input")
    for edge in ("edge-ios", "edge-fgt"):
        packet = wireguard_from_internet(edge)
        decision = site.decide(edge, packet)
        assert decision.accepted, (edge, decision)
        assert decision.translated_to(packet) == (LINUX_GW, 51820)
    # The pool reaches the RD gateway, and nothing else of the office LAN.
    pool_to_rdp = site.decide("edge-ros", Packet("10.77.0.2", RD_GW, "tcp", 3389, "wg-provisioner"))
    assert (pool_to_rdp.verdict, pool_to_rdp.rule) == ("accept", "provisioner:forward:rdp-gateway")
    for port in (445, 22, 3389):
        target = FILE_SERVER if port != 3389 else "10.89.1.12"
        blocked = site.decide(
            "edge-ros", Packet("10.77.0.3", target, "tcp", port, "wg-provisioner")
        )
        assert (blocked.verdict, blocked.rule) == ("drop", "provisioner:forward-drop")
    # The RD gateway's port from the internet reaches nothing (it is not published here).
    for name in DEVICES:
        decision = site.decide(name, rdp_from(INTERNET, name))
        assert not decision.accepted, (name, decision)
        assert decision.dst != RD_GW


def test_enable_gives_the_right_packet_decisions_and_a_second_run_keeps_them(site: Site) -> None:
    before = {name: site.decide(name, wireguard_from_internet(name)) for name in DEVICES}
    # Before: defconf drops WireGuard to the router, the edges publish nothing.
    assert not any(d.accepted for d in before.values())
    first = site.run()
    assert first.rc == 0, first
    assert changed_hosts(first) == dict.fromkeys(DEVICES, 1)
    assert_remote_work_decisions(site)
    configs = site.configs()
    assert "defconf: masquerade" in configs["edge-ros"]  # unmanaged items untouched
    assert site.lab.devices["edge-ios"].startup == configs["edge-ios"]  # saved (write memory)

    second = site.run()
    assert second.rc == 0, second
    assert changed_hosts(second) == dict.fromkeys(DEVICES, 0)
    assert site.configs() == configs
    assert_remote_work_decisions(site)


def test_the_rd_gateway_is_published_only_to_the_sources_given(site: Site) -> None:
    published = {
        "netgear_rd_gateway_sources": ["198.51.100.0/24"],
        "netgear_rd_public_port": 443,
    }
    write_inventory(site, ports_of(site), dict.fromkeys(DEVICES, published))
    outcome = site.run()
    assert outcome.rc == 0, outcome
    for name in DEVICES:
        packet = rdp_from(ALLOWED, name, 443)
        decision = site.decide(name, packet)
        assert decision.accepted, (name, decision)
        assert decision.translated_to(packet) == (RD_GW, 3389)
        refused = site.decide(name, rdp_from(INTERNET, name, 443))
        assert not refused.accepted, (name, refused)
    # Everything else of the comune still holds, and the run is idempotent.
    assert_remote_work_decisions(site)
    assert changed_hosts(site.run()) == dict.fromkeys(DEVICES, 0)


def test_a_hostile_public_key_is_refused_naming_the_laptop_and_the_router_is_untouched(
    site: Site,
) -> None:
    router = site.lab.devices["edge-ros"]
    assert isinstance(router, RouterOsDevice)
    before, exported = router.snapshot(), router.config()
    write_inventory(site, ports_of(site), {}, keys={"laptop-02": HOSTILE})
    outcome = site.run()
    failed = failed_tasks(outcome)
    assert set(failed) == {"edge-ros"}
    assert "host 'laptop-02': its WireGuard public key" in failed["edge-ros"]
    assert "nothing sent to the device" in failed["edge-ros"]
    assert router.snapshot() == before
    assert router.config() == exported
    assert router.tables["/user"] == []
    assert (router.received, router.auth_attempts) == ([], [])
    # The edge devices carry no peers: they converge all the same.
    assert changed_hosts(outcome)["edge-ios"] == 1


def test_a_changed_host_key_is_refused_naming_the_device_and_nothing_is_sent(site: Site) -> None:
    ios = site.lab.devices["edge-ios"]
    before = ios.config()
    ios.host_key = host_key(b"someone in the middle", "edge-ios")
    outcome = site.run()
    failed = failed_tasks(outcome)
    assert set(failed) == {"edge-ios"}
    assert failed["edge-ios"].startswith("edge-ios at 127.0.0.1:")
    assert "HOST KEY CHANGED" in failed["edge-ios"]
    assert "no password sent" in failed["edge-ios"]
    time.sleep(0.2)
    assert (ios.received, ios.auth_attempts) == ([], [])
    assert ios.config() == before


def test_a_connection_cut_mid_push_leaves_the_old_config_and_the_next_run_converges(
    site: Site,
) -> None:
    router = site.lab.devices["edge-ros"]
    before = router.config()
    router.cut_after(
        "/interface wireguard peers add allowed-address=10.77.0.2/32 "
        "comment=provisioner:peer:laptop-01 interface=wg-provisioner "
        f'public-key="{KEYS["laptop-01"][1]}"'
    )
    outcome = site.run(limit="edge-ros")
    failed = failed_tasks(outcome)
    assert "connection lost mid-push" in failed["edge-ros"]
    assert "rolled back (safe mode), the configuration is as before the run" in failed["edge-ros"]
    assert router.config() == before
    router.cut_after_lines.clear()
    again = site.run(limit="edge-ros")
    assert again.rc == 0, again
    assert site.decide("edge-ros", wireguard_from_internet("edge-ros")).accepted


def test_check_mode_shows_the_diff_and_leaves_devices_byte_identical(site: Site) -> None:
    before = site.configs()
    outcome = site.run(check=True)
    assert outcome.rc == 0, outcome
    assert site.configs() == before
    diffs = {t.host: t.diff for t in outcome.tasks if t.outcome == "changed"}
    assert set(diffs) == set(DEVICES)
    assert "/interface wireguard add comment=provisioner:wireguard" in diffs["edge-ros"]
    assert "place-before=" in diffs["edge-ros"]
    assert "ip access-group PROVISIONER-EDGE-IN in" in diffs["edge-ios"]
    assert 'edit "provisioner-wireguard"' in diffs["edge-fgt"]
    # No received line is a configuration line: only reads reached the devices.
    for device in site.lab.devices.values():
        assert not [line for line in device.received if " add " in line or "set " in line]


def test_rejected_line_rolls_back_and_fails_with_the_device_message(site: Site) -> None:
    before = site.configs()
    site.lab.devices["edge-ros"].reject(
        "/ip firewall filter add action=drop chain=forward comment=provisioner:forward-drop "
        'in-interface=wg-provisioner place-before=[find where chain="forward" and '
        'comment="defconf: drop invalid"]'
    )
    site.lab.devices["edge-ios"].reject("20 permit ip any any")
    site.lab.devices["edge-fgt"].reject("set mappedport 51820")
    outcome = site.run()
    # A device's failure is ignored for Ansible (the comune's other plays go on: rc 0) and counted
    # by provisioner: each device is a failed host.
    assert {h.host for h in outcome.hosts if h.failed} == set(DEVICES)
    assert site.configs() == before
    failed = failed_tasks(outcome)
    assert set(failed) == set(DEVICES)
    assert "failure: configuration change refused by device policy" in failed["edge-ros"]
    assert "% Invalid input detected at '^' marker." in failed["edge-ios"]
    assert "node_check_object fail! for mappedport 51820" in failed["edge-fgt"]
    for message in failed.values():
        assert "the configuration is as before the run" in message
    # The lines before the rejected one did reach the device (and were undone).
    assert any(" add " in line for line in site.lab.devices["edge-ros"].received)


def test_the_status_entry_point_reads_key_and_handshakes_from_the_router(
    site: Site, tmp_path: Path
) -> None:
    assert site.run(limit="edge-ros").rc == 0
    router = site.lab.devices["edge-ros"]
    assert isinstance(router, RouterOsDevice)
    router.set_handshake(KEYS["laptop-01"][1], time.time() - 30)
    playbooks = tmp_path / "playbooks"
    playbooks.mkdir()
    (playbooks / "status.yml").write_text(
        yaml.safe_dump(
            [
                {
                    "name": "Read the concentrator",
                    "hosts": "edge-ros",
                    "connection": "local",
                    "gather_facts": False,
                    "vars": {"ansible_python_interpreter": "{{ ansible_playbook_python }}"},
                    "tasks": [
                        {
                            "name": "Read the key and the handshakes",
                            "ansible.builtin.include_role": {
                                "name": "netgear",
                                "tasks_from": "status",
                            },
                            "tags": ["netgear"],
                        },
                        {
                            "name": "Check what was read",
                            "ansible.builtin.assert": {
                                "that": [
                                    "netgear_wireguard_public_key == expected_key",
                                    "netgear_peer_handshakes[fresh] | int <= 90",
                                    "netgear_peer_handshakes[never] is none",
                                ]
                            },
                            "tags": ["netgear"],
                        },
                    ],
                }
            ]
        ),
        encoding="utf-8",
    )
    outcome = site.run(
        limit="edge-ros",
        playbooks=playbooks,
        playbook="status.yml",
        extravars={
            "expected_key": router.tables["/interface wireguard"][0][".public-key"],
            "fresh": KEYS["laptop-01"][1],
            "never": KEYS["laptop-02"][1],
        },
    )
    assert outcome.rc == 0, failed_tasks(outcome)
    assert changed_hosts(outcome) == {"edge-ros": 0}


def test_presence_reads_a_router_terminator_s_peer_table(site: Site) -> None:
    # The run before every run of a comune whose terminator is this router: its peer table
    # gives each endpoint's latest handshake, mapped by the address the router allows.
    assert site.run(limit="edge-ros").rc == 0
    router = site.lab.devices["edge-ros"]
    assert isinstance(router, RouterOsDevice)
    router.set_handshake(KEYS["laptop-01"][1], time.time() - 30)

    outcome = site.run(limit="edge-ros", playbook="presence.yml", tags=())

    assert outcome.rc == 0, failed_tasks(outcome)
    assert changed_hosts(outcome) == {"edge-ros": 0}
    [peers] = [p for p in outcome.probes if p.host == "edge-ros" and p.check == "peers"]
    seen = presence.parse_peer_table(peers.lines, time.time())
    assert {str(address) for address in seen} == {"10.77.0.2", "10.77.0.3"}
    fresh = seen[ipaddress.IPv4Address("10.77.0.2")]
    assert fresh is not None and 25 <= time.time() - fresh <= 90
    assert seen[ipaddress.IPv4Address("10.77.0.3")] is None
    # Public values only: the router's password is in no line.
    assert site.passwords["edge-ros"] not in "".join(peers.lines)


def _silent_listener() -> tuple[socket.socket, int, threading.Event]:
    """A port that accepts TCP and never speaks SSH (a device hanging)."""
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(5)
    stop = threading.Event()
    held: list[socket.socket] = []

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
                held.append(conn)
            except OSError:
                continue
        for conn in held:
            conn.close()

    threading.Thread(target=accept, daemon=True).start()
    return server, int(server.getsockname()[1]), stop


def test_unreachable_devices_fail_one_by_one_and_the_others_are_done(site: Site) -> None:
    server, silent_port, stop = _silent_listener()
    try:
        closed = free_port()
        # The RouterOS device keeps working; IOS gets a wrong password, FortiOS a closed port,
        # and a fourth device hangs after TCP accept.
        site.passwords["edge-ios"] = "wrong-" + secrets.token_urlsafe(8)
        extra: dict[str, dict[str, object]] = {"edge-fgt": {"ansible_port": closed}}
        write_inventory(site, ports_of(site), extra)
        hosts_file = site.inventory / "hosts.yml"
        doc = yaml.safe_load(hosts_file.read_text(encoding="utf-8"))
        netgear = doc["all"]["children"]["network_devices"]["hosts"]
        netgear["edge-hung"] = {
            **netgear["edge-ros"],
            "ansible_port": silent_port,
            "netgear_session_log": "",
        }
        hosts_file.write_text(yaml.safe_dump(doc), encoding="utf-8")
        (site.inventory / "host_vars" / "edge-hung").mkdir()
        (site.inventory / "host_vars" / "edge-hung" / "vault.yml").write_text(
            vault.encrypt(yaml.safe_dump({"vault_netgear_password": "x"}), site.vault_password),
            encoding="utf-8",
        )
        outcome = site.run()
    finally:
        stop.set()
        server.close()
    failed = failed_tasks(outcome)
    assert set(failed) == {"edge-ios", "edge-fgt", "edge-hung"}
    assert {h.host for h in outcome.hosts if h.failed or h.unreachable} == set(failed)
    assert failed["edge-ios"].startswith("edge-ios at 127.0.0.1:")
    assert "authentication failed for user 'admin'" in failed["edge-ios"]
    assert f"edge-fgt at 127.0.0.1:{closed}: cannot connect" in failed["edge-fgt"]
    assert f"edge-hung at 127.0.0.1:{silent_port}:" in failed["edge-hung"]
    assert changed_hosts(outcome)["edge-ros"] == 1
    assert "provisioner:peer:laptop-02" in site.lab.devices["edge-ros"].config()


def test_no_device_password_in_run_dirs_session_logs_or_state(site: Site) -> None:
    site.run(check=True)
    site.run()
    site.lab.devices["edge-ios"].reject("ip nat inside source static udp 10.89.1.99 51820")
    site.run()
    logs = list(site.session_logs.glob("*.log"))
    assert len(logs) == len(DEVICES)
    assert all(log.stat().st_size > 0 for log in logs)
    files = [p for p in site.base.rglob("*") if p.is_file()]
    assert files
    for path in files:
        text = path.read_bytes()
        for password in [*site.passwords.values(), site.vault_password]:
            assert password.encode() not in text, f"secret found in {path}"
