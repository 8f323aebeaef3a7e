"""One netmiko session against a simulated device: check, push, no-op, rollback, failures."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from provisioner.fakegear import DeviceSpec, GearLab, free_port, running_gear
from provisioner.gear.session import GearError, Login, converge

KEY = "xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg="
WAN = {"mikrotik_routeros": "ether1", "cisco_ios": "GigabitEthernet0/0", "fortinet": "wan1"}


def intent(device_type: str) -> dict[str, Any]:
    return {
        "tag": "provisioner",
        "role": "vpn_concentrator" if device_type == "mikrotik_routeros" else "edge_nat",
        "wan_interface": WAN[device_type],
        "lan_interface": "internal",
        "public_address": "203.0.113.3",
        "policy_base": 9000,
        "wireguard": {
            "interface": "wg-provisioner",
            "listen_port": 51820,
            "pool": "10.77.0.0/24",
            "peers": [{"name": "laptop-01", "public_key": KEY, "address": "10.77.0.2"}],
        },
        "services": [{"name": "rdp", "address": "10.89.1.11/32", "port": 3389, "proto": "tcp"}],
        "forwards": [
            {
                "name": "wireguard",
                "proto": "udp",
                "port": 51820,
                "to_address": "10.89.1.10",
                "to_port": 51820,
            }
        ],
    }


@pytest.fixture
def lab() -> Iterator[GearLab]:
    specs = [DeviceSpec(t, t, free_port(), "admin", "s3cret-pw") for t in WAN]
    with running_gear(specs) as gear:
        yield gear


def login(lab: GearLab, device_type: str, **overrides: Any) -> Login:
    values: dict[str, Any] = {
        "device_type": device_type,
        "host": "127.0.0.1",
        "port": lab.specs[device_type].port,
        "username": "admin",
        "password": "s3cret-pw",
        "timeout": 5,
    }
    values.update(overrides)
    return Login(**values)


@pytest.mark.parametrize("device_type", list(WAN))
def test_check_then_push_then_nothing(lab: GearLab, device_type: str) -> None:
    device = lab.devices[device_type]
    before = device.config()
    planned = converge(login(lab, device_type), intent(device_type), "provisioner", check=True)
    assert planned.changed
    assert planned.diff == "\n".join(planned.commands)
    assert device.config() == before
    pushed = converge(login(lab, device_type), intent(device_type), "provisioner", check=False)
    assert pushed.commands == planned.commands
    assert device.config() != before
    again = converge(login(lab, device_type), intent(device_type), "provisioner", check=False)
    assert not again.changed
    assert again.commands == ()


@pytest.mark.parametrize(
    ("device_type", "line", "message"),
    [
        (
            "mikrotik_routeros",
            "/ip firewall filter add action=accept chain=input "
            "comment=provisioner:wireguard-input dst-port=51820 protocol=udp",
            "failure: configuration change refused by device policy",
        ),
        ("cisco_ios", "10 permit udp any any eq 51820", "% Invalid input detected at '^' marker."),
        ("fortinet", "set extport 51820", "node_check_object fail! for extport 51820"),
    ],
)
def test_rejected_line_is_rolled_back(
    lab: GearLab, device_type: str, line: str, message: str
) -> None:
    device = lab.devices[device_type]
    device.reject(line)
    before = device.config()
    outcome = converge(login(lab, device_type), intent(device_type), "provisioner", check=False)
    assert outcome.failed
    assert outcome.device_error == message
    assert outcome.restored
    assert device.config() == before
    assert "rolled back, the configuration is as before the run" in outcome.msg


# FakeNOS's connection thread raises once the refused client leaves (it expects a channel).
@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_wrong_password_and_closed_port_are_one_line_errors(lab: GearLab) -> None:
    with pytest.raises(GearError, match=r"authentication failed for user 'admin'"):
        converge(
            login(lab, "cisco_ios", password="nope"), intent("cisco_ios"), "provisioner", check=True
        )
    closed = free_port()
    with pytest.raises(GearError, match=rf"^127\.0\.0\.1:{closed}: cannot connect"):
        converge(login(lab, "fortinet", port=closed), intent("fortinet"), "provisioner", check=True)
