"""roles/netgear through the project's runner against stateful simulated devices on 127.0.0.1."""

from __future__ import annotations

import secrets
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from provisioner.adapters import vault
from provisioner.adapters.runner import LocalRunner
from provisioner.fakegear import DeviceSpec, GearLab, free_port, running_gear
from provisioner.models.run import PlaybookRequest, RunOutcome

# FakeNOS's connection thread raises once a refused client leaves (it expects a channel).
pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")

ROOT = Path(__file__).resolve().parents[2]
KEYS = {
    "laptop-01": ("10.77.0.2", "xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg="),
    "laptop-02": ("10.77.0.3", "TrMvSoP4jYQlY6RIzBgbssQqY3vxI2Pi+y71lOWWXX0="),
}
DEVICES = {
    "edge-ros": ("mikrotik_routeros", "vpn_concentrator", "ether1"),
    "edge-ios": ("cisco_ios", "edge_nat", "GigabitEthernet0/0"),
    "edge-fgt": ("fortinet", "edge_nat", "wan1"),
}


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

    def run(self, *, check: bool = False, limit: str = "netgear") -> RunOutcome:
        self.runs += 1
        runner = LocalRunner(ROOT / "playbooks", ROOT / "ansible.cfg")
        request = PlaybookRequest(
            use_case="enable",
            comune="gearlab",
            playbook="enable_remote_work.yml",
            inventory=self.inventory,
            limit=limit,
            check=check,
            diff=True,
            tags=("netgear",),
        )
        return runner.run(
            request, self.base / "runs" / str(self.runs), vault_password=self.vault_password
        )

    def configs(self) -> dict[str, str]:
        return {name: device.config() for name, device in self.lab.devices.items()}


def write_inventory(site: Site, ports: dict[str, int], extra: dict[str, dict[str, object]]) -> None:
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
            "netgear_timeout": 5,
            "netgear_session_log": str(site.session_logs / f"{name}.log"),
            "netgear_linux_gateway_address": "10.89.1.10",
            "netgear_rd_gateway_address": "10.89.1.11",
            **extra.get(name, {}),
        }
    endpoints = {
        name: {"vpn_client_address": address, "vpn_client_public_key": key}
        for name, (address, key) in KEYS.items()
    }
    hosts = {
        "all": {"children": {"netgear": {"hosts": netgear}, "endpoints": {"hosts": endpoints}}}
    }
    inv = site.inventory
    (inv / "group_vars" / "all").mkdir(parents=True, exist_ok=True)
    (inv / "hosts.yml").write_text(yaml.safe_dump(hosts), encoding="utf-8")
    settings = {
        "comune_vpn_pool": "10.77.0.0/24",
        "comune_vpn_listen_port": 51820,
        "comune_vpn_public_endpoint": "203.0.113.3:51820",
        "comune_vpn_allowed_services": [
            {"name": "rdp-gateway", "address": "10.89.1.11/32", "port": 3389, "proto": "tcp"}
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
    ports = {name: free_port() for name in DEVICES}
    passwords = {name: "pw-" + secrets.token_urlsafe(12) for name in DEVICES}
    specs = [
        DeviceSpec(name, DEVICES[name][0], ports[name], "admin", passwords[name])
        for name in DEVICES
    ]
    with running_gear(specs) as lab:
        gear_site = Site(lab, tmp_path, "vault-" + secrets.token_urlsafe(12), passwords)
        write_inventory(gear_site, ports, {})
        yield gear_site


def changed_hosts(outcome: RunOutcome) -> dict[str, int]:
    return {h.host: h.changed for h in outcome.hosts}


def test_first_run_changes_second_run_changes_nothing(site: Site) -> None:
    first = site.run()
    assert first.rc == 0, first
    assert changed_hosts(first) == dict.fromkeys(DEVICES, 1)
    configs = site.configs()
    ros = configs["edge-ros"]
    assert (
        "/interface wireguard peers add allowed-address=10.77.0.2/32 "
        "comment=provisioner:peer:laptop-01 interface=wg-provisioner "
        'public-key="xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg="'
    ) in ros
    assert "/ip address add address=10.77.0.1/24 comment=provisioner:wireguard-address" in ros
    assert "defconf: masquerade" in ros  # unmanaged items untouched
    ios = configs["edge-ios"]
    assert (
        "ip nat inside source static udp 10.89.1.10 51820 interface GigabitEthernet0/0 51820 "
        "extendable"
    ) in ios
    assert "ip access-list extended PROVISIONER-EDGE-IN\n permit tcp any any eq 3389\n" in ios
    assert site.lab.devices["edge-ios"].startup == ios  # saved (write memory)
    fgt = configs["edge-fgt"]
    assert 'edit "provisioner-wireguard"' in fgt
    assert 'set dstaddr "provisioner-rd-gateway"' in fgt

    second = site.run()
    assert second.rc == 0, second
    assert changed_hosts(second) == dict.fromkeys(DEVICES, 0)
    assert site.configs() == configs


def test_check_mode_shows_the_diff_and_leaves_devices_byte_identical(site: Site) -> None:
    before = site.configs()
    outcome = site.run(check=True)
    assert outcome.rc == 0, outcome
    assert site.configs() == before
    diffs = {t.host: t.diff for t in outcome.tasks if t.outcome == "changed"}
    assert set(diffs) == set(DEVICES)
    assert "/interface wireguard add comment=provisioner:wireguard" in diffs["edge-ros"]
    assert "20 permit udp any any eq 51820" in diffs["edge-ios"]
    assert 'edit "provisioner-rd-gateway"' in diffs["edge-fgt"]
    # No received line is a configuration line: only reads reached the devices.
    for device in site.lab.devices.values():
        assert not [line for line in device.received if " add " in line or "set " in line]


def test_rejected_line_rolls_back_and_fails_with_the_device_message(site: Site) -> None:
    before = site.configs()
    site.lab.devices["edge-ros"].reject(
        "/ip firewall filter add action=accept chain=input comment=provisioner:wireguard-input "
        "dst-port=51820 protocol=udp"
    )
    site.lab.devices["edge-ios"].reject("20 permit udp any any eq 51820")
    site.lab.devices["edge-fgt"].reject("set mappedport 51820")
    outcome = site.run()
    assert outcome.rc != 0
    assert site.configs() == before
    failed = {t.host: t.message for t in outcome.tasks if t.outcome == "failed"}
    assert set(failed) == set(DEVICES)
    assert "failure: configuration change refused by device policy" in failed["edge-ros"]
    assert "% Invalid input detected at '^' marker." in failed["edge-ios"]
    assert "node_check_object fail! for mappedport 51820" in failed["edge-fgt"]
    for message in failed.values():
        assert "rolled back, the configuration is as before the run" in message
    # The lines before the rejected one did reach the device (and were undone).
    assert any(" add " in line for line in site.lab.devices["edge-ros"].received)


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
        ports = {n: s.port for n, s in site.lab.specs.items()}
        write_inventory(site, ports, extra)
        hosts_file = site.inventory / "hosts.yml"
        doc = yaml.safe_load(hosts_file.read_text(encoding="utf-8"))
        netgear = doc["all"]["children"]["netgear"]["hosts"]
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
    assert outcome.rc != 0
    failed = {t.host: t.message for t in outcome.tasks if t.outcome == "failed"}
    assert set(failed) == {"edge-ios", "edge-fgt", "edge-hung"}
    assert "authentication failed for user 'admin'" in failed["edge-ios"]
    assert f"127.0.0.1:{closed}: cannot connect" in failed["edge-fgt"]
    assert f"127.0.0.1:{silent_port}:" in failed["edge-hung"]
    assert changed_hosts(outcome)["edge-ros"] == 1
    assert "provisioner:peer:laptop-02" in site.lab.devices["edge-ros"].config()


def test_no_device_password_in_run_dirs_session_logs_or_state(site: Site) -> None:
    site.run(check=True)
    site.run()
    site.lab.devices["edge-ios"].load(site.lab.devices["edge-ios"].startup)
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
