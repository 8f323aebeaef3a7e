"""One netmiko session against a simulated device: trust, check, push all or nothing, status."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from provisioner.fakegear import DeviceSpec, GearLab, free_port, free_ports, running_gear
from provisioner.fakegear.base import Session, host_key
from provisioner.fakegear.fortios import FortiDevice
from provisioner.fakegear.ios import IosDevice
from provisioner.fakegear.routeros import RouterOsDevice
from provisioner.gear.errors import ConflictError, GearError, HostKeyError, IntentError
from provisioner.gear.session import Login, converge, status

# FakeNOS's connection thread may still be reading when a refused client leaves.
pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")

KEY = "xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg="
KEY_2 = "TrMvSoP4jYQlY6RIzBgbssQqY3vxI2Pi+y71lOWWXX0="
HOSTILE = "X\n/user add comment=provisioner:x group=full name=evil password=pw\nZ"
WAN = {"mikrotik_routeros": "ether1", "cisco_ios": "GigabitEthernet0/0", "fortinet": "wan1"}
TYPES = list(WAN)
# A line in the middle of each vendor's first push, after which the connection is cut.
MIDDLE = {
    "mikrotik_routeros": "/interface wireguard peers add allowed-address=10.77.0.2/32 "
    "comment=provisioner:peer:laptop-01 interface=wg-provisioner "
    f'public-key="{KEY}"',
    "cisco_ios": "interface GigabitEthernet0/0",
    "fortinet": 'edit "provisioner-wireguard"',
}


def intent(device_type: str, peers: list[dict[str, str]] | None = None) -> dict[str, Any]:
    concentrator = device_type == "mikrotik_routeros"
    return {
        "tag": "provisioner",
        "role": "vpn_concentrator" if concentrator else "edge_nat",
        "wan_interface": WAN[device_type],
        "lan_interface": "internal",
        "public_address": "203.0.113.3",
        "policy_base": 9000,
        "wireguard": {
            "interface": "wg-provisioner",
            "listen_port": 51820,
            "pool": "10.77.0.0/24",
            "peers": peers
            if peers is not None
            else [{"name": "laptop-01", "public_key": KEY, "address": "10.77.0.2"}],
        },
        "services": [{"name": "rdp", "address": "10.89.1.11/32", "port": 3389, "proto": "tcp"}],
        # A concentrator terminates WireGuard itself; an edge publishes the Linux gateway's port.
        "forwards": []
        if concentrator
        else [
            {
                "name": "wireguard",
                "proto": "udp",
                "port": 51820,
                "to_address": "10.89.1.10",
                "to_port": 51820,
                "sources": ["0.0.0.0/0"],
            }
        ],
    }


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[GearLab]:
    ports = free_ports(len(WAN))
    specs = [DeviceSpec(t, t, p, "admin", "s3cret-pw") for t, p in zip(WAN, ports, strict=True)]
    with running_gear(specs) as gear:
        gear.write_known_hosts(tmp_path / "known_hosts")
        # Minutes in seconds: IOS's 1-minute revert timer outlasts a push, FortiOS's transaction
        # idle timeout is short enough to wait for.
        for device in gear.devices.values():
            if isinstance(device, IosDevice):
                device.minute = 5.0
            if isinstance(device, FortiDevice):
                device.minute = 1.0
        yield gear


def login(lab: GearLab, device_type: str, tmp: Path, **overrides: Any) -> Login:
    values: dict[str, Any] = {
        "device_type": device_type,
        "host": "127.0.0.1",
        "port": lab.specs[device_type].port,
        "username": "admin",
        "password": "s3cret-pw",
        "timeout": 2,
        "known_hosts": str(tmp / "known_hosts"),
        "name": f"edge-{device_type}",
    }
    values.update(overrides)
    return Login(**values)


def push(lab: GearLab, device_type: str, tmp: Path, **kwargs: Any) -> Any:
    return converge(login(lab, device_type, tmp), intent(device_type), "provisioner", **kwargs)


@pytest.mark.parametrize("device_type", TYPES)
def test_check_then_push_then_nothing(lab: GearLab, device_type: str, tmp_path: Path) -> None:
    device = lab.devices[device_type]
    before = device.config()
    planned = push(lab, device_type, tmp_path, check=True)
    assert planned.changed
    assert planned.diff == "\n".join(planned.commands)
    assert device.config() == before
    pushed = push(lab, device_type, tmp_path, check=False)
    assert (pushed.changed, pushed.failed, pushed.commands) == (True, False, planned.commands)
    assert device.config() != before
    again = push(lab, device_type, tmp_path, check=False)
    assert (again.changed, again.commands) == (False, ())


def test_a_concentrator_returns_the_key_read_from_the_router(lab: GearLab, tmp_path: Path) -> None:
    outcome = push(lab, "mikrotik_routeros", tmp_path, check=False)
    device = lab.devices["mikrotik_routeros"]
    assert isinstance(device, RouterOsDevice)
    assert outcome.wireguard_public_key == device.tables["/interface wireguard"][0][".public-key"]
    assert push(lab, "mikrotik_routeros", tmp_path, check=True).wireguard_public_key == (
        outcome.wireguard_public_key
    )


@pytest.mark.parametrize(
    ("device_type", "line", "message", "undo"),
    [
        (
            "mikrotik_routeros",
            "/ip firewall filter add action=accept chain=input "
            "comment=provisioner:wireguard-input dst-port=51820 protocol=udp "
            'place-before=[find where chain="input" and comment="defconf: drop invalid"]',
            "failure: configuration change refused by device policy",
            ("Ctrl-D (safe mode: undo and log out)",),
        ),
        (
            "cisco_ios",
            "20 permit ip any any",
            "% Invalid input detected at '^' marker.",
            ("end", "configure revert now"),
        ),
        (
            "fortinet",
            "set extport 51820",
            "node_check_object fail! for extport 51820",
            ("end", "execute config-transaction abort"),
        ),
    ],
)
def test_a_rejected_line_undoes_the_push_with_the_vendors_own_undo(
    lab: GearLab, device_type: str, line: str, message: str, undo: tuple[str, ...], tmp_path: Path
) -> None:
    device = lab.devices[device_type]
    device.reject(line)
    before = device.config()
    outcome = push(lab, device_type, tmp_path, check=False)
    assert (outcome.failed, outcome.restored, outcome.device_error) == (True, True, message)
    assert outcome.rollback == undo
    assert device.config() == before
    assert "the configuration is as before the run" in outcome.msg


@pytest.mark.parametrize("device_type", TYPES)
def test_a_connection_cut_halfway_leaves_the_old_config_then_the_next_run_the_new(
    lab: GearLab, device_type: str, tmp_path: Path
) -> None:
    device = lab.devices[device_type]
    before = device.config()
    device.cut_after(MIDDLE[device_type])
    outcome = push(lab, device_type, tmp_path, check=False)
    assert (outcome.failed, outcome.restored) == (True, True), outcome.msg
    assert outcome.msg.startswith("connection lost mid-push")
    assert device.config() == before
    assert MIDDLE[device_type] in device.received  # the line did reach the device
    device.cut_after_lines.clear()
    time.sleep(1.1)  # a lost FortiOS transaction keeps its locks until its idle timeout
    again = push(lab, device_type, tmp_path, check=False)
    assert (again.changed, again.failed) == (True, False), again.msg
    assert push(lab, device_type, tmp_path, check=True).changed is False


def test_routeros_unrolls_a_lost_session_it_has_not_noticed_yet(
    lab: GearLab, tmp_path: Path
) -> None:
    device = lab.devices["mikrotik_routeros"]
    assert isinstance(device, RouterOsDevice)
    before = device.config()
    device.silent_loss = True  # no FIN/RST: RouterOS would wait for its TCP timeout
    device.cut_after(MIDDLE["mikrotik_routeros"])
    outcome = push(lab, "mikrotik_routeros", tmp_path, check=False)
    assert outcome.rollback == ("Ctrl-X", "u (unroll the lost session's changes)", "Ctrl-X")
    assert outcome.restored
    assert device.config() == before


def test_routeros_refuses_while_someone_else_holds_safe_mode(lab: GearLab, tmp_path: Path) -> None:
    device = lab.devices["mikrotik_routeros"]
    admin = Session()
    device.handle(admin, "\x18")
    device.handle(admin, "/ip firewall address-list add address=10.0.0.1 list=admin-at-work")
    with pytest.raises(ConflictError, match="another session holds RouterOS safe mode"):
        push(lab, "mikrotik_routeros", tmp_path, check=False)
    assert device.safe_owner is admin
    assert "admin-at-work" in device.config()
    assert "provisioner:" not in device.config()


def test_ios_restores_itself_when_the_push_session_cannot_come_back(
    lab: GearLab, tmp_path: Path
) -> None:
    device = lab.devices["cisco_ios"]
    before = device.config()
    device.cut_after(MIDDLE["cisco_ios"])
    device.reject("configure revert now")  # the same run cannot revert
    outcome = push(lab, "cisco_ios", tmp_path, check=False)
    assert outcome.failed
    assert not outcome.restored
    assert device.config() != before  # half-applied, for the revert timer's minute only
    with pytest.raises(ConflictError, match="revert timer is pending"):
        push(lab, "cisco_ios", tmp_path, check=False)
    assert isinstance(device, IosDevice)
    assert device.revert_due is not None
    time.sleep(max(0.0, device.revert_due - time.monotonic()) + 0.2)
    assert device.config() == before  # IOS put the archive back by itself
    device.rejected.clear()
    device.cut_after_lines.clear()
    assert push(lab, "cisco_ios", tmp_path, check=False).failed is False


def test_ios_needs_a_configuration_archive(lab: GearLab, tmp_path: Path) -> None:
    device = lab.devices["cisco_ios"]
    assert isinstance(device, IosDevice)
    device.load(device.config().replace("archive\n path flash:archive\n maximum 14\n", ""))
    with pytest.raises(ConflictError, match="no configuration archive"):
        push(lab, "cisco_ios", tmp_path, check=False)


def test_routeros_pushes_over_100_changes_in_safe_mode_batches(
    lab: GearLab, tmp_path: Path
) -> None:
    peers = [
        {"name": f"laptop-{i:03d}", "public_key": _key(i), "address": f"10.77.0.{i + 2}"}
        for i in range(110)
    ]
    outcome = converge(
        login(lab, "mikrotik_routeros", tmp_path, timeout=10),
        intent("mikrotik_routeros", peers),
        "provisioner",
        check=False,
    )
    assert not outcome.failed, outcome.msg
    assert len(outcome.commands) > 100
    assert lab.devices["mikrotik_routeros"].config().count("peers add") == 110


def _key(index: int) -> str:
    import base64  # noqa: PLC0415

    return base64.b64encode(index.to_bytes(2, "big") * 16).decode()


def test_status_reads_the_key_and_the_peer_table_handshakes(lab: GearLab, tmp_path: Path) -> None:
    peers = [
        {"name": "laptop-01", "public_key": KEY, "address": "10.77.0.2"},
        {"name": "laptop-02", "public_key": KEY_2, "address": "10.77.0.3"},
    ]
    converge(
        login(lab, "mikrotik_routeros", tmp_path),
        intent("mikrotik_routeros", peers),
        "provisioner",
        check=False,
    )
    device = lab.devices["mikrotik_routeros"]
    assert isinstance(device, RouterOsDevice)
    device.set_handshake(KEY, time.time() - 42)
    found = status(login(lab, "mikrotik_routeros", tmp_path), "provisioner", "wg-provisioner")
    assert found.wireguard_public_key == device.tables["/interface wireguard"][0][".public-key"]
    assert found.handshakes == {KEY: 42, KEY_2: None}
    assert [(p["name"], p["allowed_address"]) for p in found.peers] == [
        ("laptop-01", "10.77.0.2/32"),
        ("laptop-02", "10.77.0.3/32"),
    ]
    with pytest.raises(GearError, match="only a RouterOS concentrator"):
        status(login(lab, "cisco_ios", tmp_path), "provisioner", "wg-provisioner")


@pytest.mark.parametrize("device_type", TYPES)
def test_a_hostile_key_is_refused_naming_the_host_and_nothing_reaches_the_device(
    lab: GearLab, device_type: str, tmp_path: Path
) -> None:
    device = lab.devices[device_type]
    before = device.config()
    peers = [{"name": "laptop-07", "public_key": HOSTILE, "address": "10.77.0.7"}]
    with pytest.raises(IntentError, match="host 'laptop-07'"):
        converge(
            login(lab, device_type, tmp_path),
            intent(device_type, peers),
            "provisioner",
            check=False,
        )
    assert (device.received, device.auth_attempts) == ([], [])
    assert device.config() == before


@pytest.mark.parametrize("device_type", TYPES)
def test_a_changed_host_key_is_refused_naming_the_device_before_the_password(
    lab: GearLab, device_type: str, tmp_path: Path
) -> None:
    device = lab.devices[device_type]
    before = device.config()
    device.host_key = host_key(b"a replacement box" * 2, device_type)
    with pytest.raises(HostKeyError, match=rf"^edge-{device_type} at 127\.0\.0\.1:\d+: HOST KEY"):
        push(lab, device_type, tmp_path, check=False)
    time.sleep(0.2)
    assert (device.received, device.auth_attempts) == ([], [])
    assert device.config() == before


def test_an_unknown_host_or_a_missing_known_hosts_file_is_refused(
    lab: GearLab, tmp_path: Path
) -> None:
    (tmp_path / "other").write_text("", encoding="utf-8")
    with pytest.raises(HostKeyError, match=r"not in .*other; refused before logging in"):
        push_with(lab, tmp_path, known_hosts=str(tmp_path / "other"))
    with pytest.raises(HostKeyError, match="does not exist"):
        push_with(lab, tmp_path, known_hosts=str(tmp_path / "nowhere"))
    assert lab.devices["cisco_ios"].auth_attempts == []


def push_with(lab: GearLab, tmp: Path, **overrides: Any) -> Any:
    return converge(
        login(lab, "cisco_ios", tmp, **overrides), intent("cisco_ios"), "provisioner", check=True
    )


def test_wrong_password_and_closed_port_are_one_line_errors_naming_the_device(
    lab: GearLab, tmp_path: Path
) -> None:
    with pytest.raises(GearError, match=r"^edge-cisco_ios at .*: authentication failed for user"):
        push_with(lab, tmp_path, password="nope")
    closed = free_port()
    with pytest.raises(GearError, match=rf"^edge-cisco_ios at 127\.0\.0\.1:{closed}: cannot conn"):
        push_with(lab, tmp_path, port=closed)


def test_a_later_safe_mode_batch_that_fails_keeps_the_batches_before_it(
    lab: GearLab, tmp_path: Path
) -> None:
    peers = [
        {"name": f"laptop-{i:03d}", "public_key": _key(i), "address": f"10.77.0.{i + 2}"}
        for i in range(110)
    ]
    device = lab.devices["mikrotik_routeros"]
    device.reject(
        "/interface wireguard peers add allowed-address=10.77.0.107/32 "
        "comment=provisioner:peer:laptop-105 interface=wg-provisioner "
        f'public-key="{_key(105)}"'
    )
    outcome = converge(
        login(lab, "mikrotik_routeros", tmp_path, timeout=10),
        intent("mikrotik_routeros", peers),
        "provisioner",
        check=False,
    )
    assert outcome.failed
    assert outcome.restored
    assert "the configuration is as before batch 2 of 2 (the 1 before it are kept)" in outcome.msg
    assert device.config().count("peers add") == 98  # the first 100 commands: kept
