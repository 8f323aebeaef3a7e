"""The simulated devices over SSH with netmiko's own drivers (127.0.0.1, free ports)."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paramiko
import pytest
from netmiko import ConnectHandler
from netmiko.exceptions import (
    NetmikoAuthenticationException,
    NetmikoTimeoutException,
    ReadTimeout,
)

from provisioner.fakegear import DeviceSpec, GearLab, free_ports, running_gear
from provisioner.fakegear.base import host_key
from provisioner.fakegear.lab import set_simulated_handshake
from provisioner.fakegear.routeros import RouterOsDevice

WG = "/interface wireguard add comment=provisioner:wireguard listen-port=51820 name=wg-p"
PUSH = {
    "mikrotik_routeros": WG,
    "cisco_ios": "ip access-list extended PROVISIONER-EDGE-IN",
    "fortinet": "config firewall vip",
}
SEEN = {
    "mikrotik_routeros": WG + "\n",
    "cisco_ios": "ip access-list extended PROVISIONER-EDGE-IN\n",
    "fortinet": "config firewall vip\nend\n",
}
READ = {
    "mikrotik_routeros": "/export terse",
    "cisco_ios": "show running-config",
    "fortinet": "show firewall vip",
}
# paramiko's group-exchange KEX stalls against FakeNOS's server (LAB_NOTES).
FORTI = {
    "disabled_algorithms": {
        "kex": ["diffie-hellman-group-exchange-sha1", "diffie-hellman-group-exchange-sha256"]
    }
}
SEED = bytes(range(32))


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GearLab]:
    specs = [
        DeviceSpec(t, t, p, "admin", f"pw-{t}", host_key_seed=SEED)
        for t, p in zip(PUSH, free_ports(len(PUSH)), strict=True)
    ]
    with running_gear(specs) as gear:
        gear.write_known_hosts(tmp_path_factory.mktemp("ssh") / "known_hosts")
        yield gear


def connect(lab: GearLab, device_type: str, known_hosts: Path, **overrides: Any) -> Any:
    spec = lab.specs[device_type]
    params: dict[str, Any] = {
        "device_type": device_type,
        "host": "127.0.0.1",
        "port": spec.port,
        "username": "admin",
        "password": spec.password,
        "ssh_strict": True,
        "system_host_keys": False,
        "alt_host_keys": True,
        "alt_key_file": str(known_hosts),
        "conn_timeout": 5,
        "auth_timeout": 5,
        **(FORTI if device_type == "fortinet" else {}),
    }
    params.update(overrides)
    return ConnectHandler(**params)


@pytest.mark.parametrize("device_type", list(PUSH))
def test_netmiko_checks_the_recorded_host_key_logs_in_reads_and_pushes(
    lab: GearLab, device_type: str, tmp_path: Path
) -> None:
    known = lab.write_known_hosts(tmp_path / "known_hosts")
    conn = connect(lab, device_type, known)
    try:
        assert conn.send_command(READ[device_type]).strip()
        conn.send_config_set([PUSH[device_type]])
        assert SEEN[device_type] in lab.devices[device_type].config()
    finally:
        conn.disconnect()


def test_host_keys_are_ed25519_and_derived_from_the_seed(lab: GearLab) -> None:
    key = lab.devices["cisco_ios"].host_key
    assert key.get_name() == "ssh-ed25519"
    assert key == host_key(SEED, "cisco_ios")
    assert key != host_key(SEED, "fortinet")
    assert lab.known_hosts().count("ssh-ed25519") == 3


# FakeNOS's connection thread may still be reading when a refused client leaves.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_changed_host_key_is_refused_before_any_password_is_sent(
    lab: GearLab, tmp_path: Path
) -> None:
    known = lab.write_known_hosts(tmp_path / "known_hosts")
    device = lab.devices["cisco_ios"]
    recorded = device.host_key
    device.host_key = host_key(b"another device" * 3, "cisco_ios")
    device.auth_attempts.clear()
    try:
        with pytest.raises(NetmikoTimeoutException) as caught:
            connect(lab, "cisco_ios", known)
        assert isinstance(caught.value.__context__, paramiko.BadHostKeyException)
        time.sleep(0.2)
        assert device.auth_attempts == []
        with pytest.raises(NetmikoTimeoutException, match="not found in known_hosts"):
            connect(lab, "cisco_ios", tmp_path / "empty")
        assert device.auth_attempts == []
    finally:
        device.host_key = recorded


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_wrong_password_is_refused_and_recorded_by_user_name_only(
    lab: GearLab, tmp_path: Path
) -> None:
    known = lab.write_known_hosts(tmp_path / "known_hosts")
    device = lab.devices["cisco_ios"]
    device.auth_attempts.clear()
    with pytest.raises(NetmikoAuthenticationException):
        connect(lab, "cisco_ios", known, password="wrong")
    assert device.auth_attempts == ["admin"]


def test_a_cut_connection_drops_the_client_after_the_line_is_applied(
    lab: GearLab, tmp_path: Path
) -> None:
    known = lab.write_known_hosts(tmp_path / "known_hosts")
    device = lab.devices["mikrotik_routeros"]
    line = "/ip firewall address-list add address=10.0.0.1 list=cut"
    device.cut_after(line)
    conn = connect(lab, "mikrotik_routeros", known, read_timeout_override=3)
    with pytest.raises(ReadTimeout):  # netmiko only notices the closed channel at its timeout
        conn.send_config_set([line, "/ip firewall address-list add address=10.0.0.2 list=cut"])
    conn.disconnect()
    time.sleep(0.3)
    assert "address=10.0.0.1 list=cut" in device.config()
    assert "10.0.0.2" not in device.config()


def test_a_lab_test_can_set_a_handshake_on_a_simulator_in_another_process(
    lab: GearLab, tmp_path: Path
) -> None:
    known = lab.write_known_hosts(tmp_path / "known_hosts")
    device = lab.devices["mikrotik_routeros"]
    assert isinstance(device, RouterOsDevice)
    key = "xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg="
    spec = lab.specs["mikrotik_routeros"]
    set_simulated_handshake(spec.port, spec.password, known, key, 30, username="admin")
    assert 29 <= time.time() - device.handshakes[key] <= 40
    set_simulated_handshake(spec.port, spec.password, known, key, None, username="admin")
    assert key not in device.handshakes


def test_ports_taken_together_are_distinct_and_free() -> None:
    # One bind(0) after another may return a port just closed: CI once got the same port twice.
    ports = free_ports(300)
    assert len(set(ports)) == 300
    for port in ports[:20]:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", port))
