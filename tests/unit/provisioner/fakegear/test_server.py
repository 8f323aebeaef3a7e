"""The simulated devices over SSH with netmiko's own drivers (127.0.0.1, free ports)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from netmiko import ConnectHandler
from netmiko.exceptions import NetmikoAuthenticationException

from provisioner.fakegear import DeviceSpec, GearLab, free_port, running_gear
from provisioner.gear import PLATFORMS

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


@pytest.fixture(scope="module")
def lab() -> Iterator[GearLab]:
    specs = [
        DeviceSpec(device_type, device_type, free_port(), "admin", f"pw-{device_type}")
        for device_type in PUSH
    ]
    with running_gear(specs) as gear:
        yield gear


@pytest.mark.parametrize("device_type", list(PUSH))
def test_netmiko_driver_logs_in_reads_and_pushes(lab: GearLab, device_type: str) -> None:
    spec = lab.specs[device_type]
    platform = PLATFORMS[device_type]
    conn = ConnectHandler(
        device_type=device_type,
        host="127.0.0.1",
        port=spec.port,
        username="admin",
        password=spec.password,
        **dict(platform.connect_options),
    )
    try:
        running = conn.send_command(platform.read_commands[0])
        assert running.strip()
        conn.send_config_set([PUSH[device_type]], error_pattern=platform.error_pattern)
        assert SEEN[device_type] in lab.devices[device_type].config()
    finally:
        conn.disconnect()


# FakeNOS's connection thread raises once the refused client leaves (it expects a channel).
@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_wrong_password_is_refused(lab: GearLab) -> None:
    spec = lab.specs["cisco_ios"]
    with pytest.raises(NetmikoAuthenticationException):
        ConnectHandler(
            device_type="cisco_ios",
            host="127.0.0.1",
            port=spec.port,
            username="admin",
            password="wrong",
            auth_timeout=5,
        )
