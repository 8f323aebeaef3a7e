"""The lab's simulated devices: a background process, a vault-kept password, inventory entries."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from netmiko import ConnectHandler

from provisioner.adapters import hoststate, vault
from provisioner.errors import ControllerError
from provisioner.fakegear import free_port
from provisioner.fakegear.lab import LAB_GEAR, SEED_VAR, USERNAME, GearServer, start_lab_gear
from provisioner.gear import PLATFORMS


def wait_gone(pid: int) -> None:
    """Wait until a stopped server process is gone (its ports are free again)."""
    deadline = time.monotonic() + 30
    stat = Path(f"/proc/{pid}/stat")
    while time.monotonic() < deadline:
        try:
            if stat.read_text(encoding="utf-8").split()[2] == "Z":
                return  # exited; our test process is its parent and has not reaped it
        except OSError:
            return
        time.sleep(0.1)


def free_base() -> int:
    """A port base whose lab devices' ports (``base + 41`` onwards) are all free right now."""
    for _ in range(50):
        first = free_port()
        if not hoststate.ports_in_use(range(first, first + len(LAB_GEAR))):
            return first - 41
    raise AssertionError("no run of free ports on 127.0.0.1")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[GearServer]:
    gear = GearServer(tmp_path / "state")
    yield gear
    gear.stop()


def test_lab_gear_runs_in_background_with_the_vault_password(
    tmp_path: Path, server: GearServer
) -> None:
    base = free_base()
    inventory = tmp_path / "inventory" / "lab"
    hosts = start_lab_gear(tmp_path / "state", inventory, base, "vault-pw")
    assert set(hosts) == {h.name for h in LAB_GEAR}
    assert hosts["lab-ios"]["netgear_password"] == "{{ vault_netgear_password }}"
    known_hosts = tmp_path / "state" / "netgear_known_hosts"
    assert {h["netgear_known_hosts_file"] for h in hosts.values()} == {str(known_hosts)}
    recorded = known_hosts.read_text(encoding="utf-8")
    assert recorded.count(" ssh-ed25519 ") == len(LAB_GEAR)
    pid = server.pid()
    assert pid is not None
    vault_file = inventory / "group_vars" / "network_devices" / "vault.yml"
    assert vault_file.stat().st_mode & 0o777 == 0o600
    plain = vault.decrypt(vault_file.read_text(encoding="utf-8"), "vault-pw")
    assert plain is not None
    password = yaml.safe_load(plain)["vault_netgear_password"]
    assert len(yaml.safe_load(plain)[SEED_VAR]) == 64

    ios = hosts["lab-ios"]
    conn = ConnectHandler(
        device_type="cisco_ios",
        host="127.0.0.1",
        port=ios["ansible_port"],
        username=USERNAME,
        password=password,
        ssh_strict=True,
        alt_host_keys=True,
        alt_key_file=str(known_hosts),
        conn_timeout=30,  # the whole unit suite runs beside it on two cores
        **dict(PLATFORMS["cisco_ios"].connect_options),
    )
    assert "hostname lab-ios" in conn.send_command("show running-config")
    conn.disconnect()

    # A second `lab up` keeps the running devices, their password and their host keys; so does
    # a restart of the device server (the keys derive from the seed kept in the vault).
    again = start_lab_gear(tmp_path / "state", inventory, base, "vault-pw")
    assert again == hosts
    assert server.pid() == pid
    assert server.stop()
    wait_gone(pid)
    start_lab_gear(tmp_path / "state", inventory, base, "vault-pw")
    assert server.pid() not in {None, pid}
    assert known_hosts.read_text(encoding="utf-8") == recorded
    assert password not in "".join(
        p.read_text(errors="replace") for p in (tmp_path / "state").iterdir()
    )
    assert server.stop()
    assert server.pid() is None


def test_devices_of_another_lab_on_the_same_ports_are_refused(
    tmp_path: Path, server: GearServer
) -> None:
    base = free_base()
    start_lab_gear(tmp_path / "state", tmp_path / "inventory" / "lab", base, "vault-pw")
    other = GearServer(tmp_path / "other-state")
    ports = {h.name: base + 41 + i for i, h in enumerate(LAB_GEAR)}
    with pytest.raises(ControllerError, match=rf"port\(s\) {base + 41}, .* held by another"):
        other.start(ports, "vault-pw", "00" * 32)
    assert other.pid() is None


def test_a_lab_from_before_the_group_rename_keeps_its_devices_secrets(
    tmp_path: Path, server: GearServer
) -> None:
    base = free_base()
    inventory = tmp_path / "inventory" / "lab"
    start_lab_gear(tmp_path / "state", inventory, base, "vault-pw")
    current = inventory / "group_vars" / "network_devices" / "vault.yml"
    sealed = current.read_text(encoding="utf-8")
    former = inventory / "group_vars" / "netgear"
    former.mkdir(parents=True)
    current.replace(former / "vault.yml")
    current.parent.rmdir()

    start_lab_gear(tmp_path / "state", inventory, base, "vault-pw")

    assert not former.exists()
    assert current.read_text(encoding="utf-8") == sealed  # moved, not made anew
