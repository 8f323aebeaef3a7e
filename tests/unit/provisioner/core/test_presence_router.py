"""Presence from a RouterOS terminator's peer table, and how offline hosts leave a limit."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pytest

from provisioner.config import Settings
from provisioner.core import enable, presence
from provisioner.errors import ExitCode
from tests.unit.fakes import (
    SLUG,
    ComuneFiles,
    FakeAnsibleRunner,
    on_failed,
    on_ok,
    stats,
)
from tests.unit.provisioner.core.test_presence import KEY_A, KEY_B, _hosts


def _router_comune(make_comune: Callable[..., ComuneFiles]) -> ComuneFiles:
    """The tunnel comune terminated on a RouterOS device, managed through its Linux gateway."""
    hosts = {
        **_hosts(),
        "network_devices": {
            "rb-01": {
                "ansible_host": "192.168.10.1",
                "netgear_device_type": "mikrotik_routeros",
                "netgear_role": "vpn_concentrator",
            }
        },
    }
    return make_comune(
        hosts=hosts,
        settings={"comune_vpn_terminator": "rb-01", "comune_management_host": "gw-vpn-01"},
    )


def _peer_table(*peers: tuple[str, str, int | None]) -> list[dict[str, Any]]:
    """The presence play on a RouterOS terminator: its peer table as one JSON line."""
    table = [
        {"name": name, "public_key": key, "allowed_address": f"{address}/32", "last_handshake": age}
        for name, (key, address, age) in zip(("laptop-a", "laptop-b"), peers, strict=False)
    ]
    return [
        on_ok(
            "rb-01",
            "Presence: peers",
            "vpn_presence",
            "ansible.builtin.debug",
            msg=json.dumps(table),
        ),
        stats(**{"rb-01": {"ok": 2}}),
    ]


def test_offline_hosts_are_excluded_in_the_separator_the_limit_uses() -> None:
    assert presence.excluding(None, ["laptop-b"]) == "all:!laptop-b"
    assert presence.excluding("endpoints:gw-vpn-01", ["a", "b"]) == "endpoints:gw-vpn-01:!a:!b"
    # With a comma, Ansible splits on commas only: "network_devices:!a" would match nothing.
    assert presence.excluding("a,network_devices", ["a"]) == "a,network_devices,!a"


def test_a_router_peer_table_maps_addresses_to_handshake_epochs() -> None:
    line = json.dumps(
        [
            {
                "public_key": KEY_A,
                "allowed_address": "10.77.0.2/32,fd00::2/128",
                "last_handshake": 42,
            },
            {"public_key": KEY_B, "allowed_address": "10.77.0.3/32", "last_handshake": None},
            {"public_key": "x", "allowed_address": "", "last_handshake": 5},
        ]
    )
    seen = presence.parse_peer_table([line], now=1_796_170_042.0)
    assert {str(a): s for a, s in seen.items()} == {
        "10.77.0.2": 1_796_170_000.0,
        "10.77.0.3": None,
    }
    with pytest.raises(ValueError, match="not a number of seconds"):
        presence.parse_peer_table(['[{"last_handshake": "1d2h"}]'], now=0.0)
    with pytest.raises(ValueError):
        presence.parse_peer_table(["{not json"], now=0.0)


def test_a_routeros_terminator_s_peer_table_tells_who_is_offline(
    settings: Settings,
    make_comune: Callable[..., ComuneFiles],
    fake_ansible: FakeAnsibleRunner,
) -> None:
    _router_comune(make_comune)
    # laptop-a shook hands 20 s ago; laptop-b's peer last did an hour ago.
    fake_ansible.by_playbook["presence.yml"] = _peer_table(
        (KEY_A, "10.77.0.2", 20), (KEY_B, "10.77.0.3", 3600)
    )
    fake_ansible.events = [stats(**{h: {"ok": 5} for h in ("gw-vpn-01", "laptop-a", "laptop-c")})]
    started = time.time()

    report = enable.enable(settings, SLUG)

    presence_call, run = fake_ansible.calls
    assert presence_call["playbook"] == "presence.yml" and presence_call["limit"] == "rb-01"
    # A router cannot knock on a laptop's SSH port: no probe addresses are used there, and the
    # run leaves out only the laptop whose handshake is old.
    assert run["limit"] == "all:!laptop-b"
    [offline] = report.offline
    assert offline.host == "laptop-b" and offline.last_seen is not None
    assert abs(offline.last_seen - (started - 3600)) < 30
    assert not any("presence not read" in n for n in report.notes)
    assert report.exit_code == ExitCode.HOSTS_OFFLINE


def test_a_routeros_terminator_whose_table_cannot_be_read_leaves_every_laptop_attempted(
    settings: Settings,
    make_comune: Callable[..., ComuneFiles],
    fake_ansible: FakeAnsibleRunner,
) -> None:
    _router_comune(make_comune)
    fake_ansible.by_playbook["presence.yml"] = [
        on_failed(
            "rb-01",
            "Read the concentrator's WireGuard key and peer handshakes",
            "rb-01 (mikrotik_routeros at 192.168.10.1:22): Authentication failed.",
            "netgear",
            "netgear_config",
        ),
        stats(**{"rb-01": {"failures": 1}}),
    ]
    fake_ansible.events = [stats(**{h: {"ok": 5} for h in ("gw-vpn-01", "laptop-a", "laptop-c")})]

    report = enable.enable(settings, SLUG)

    assert report.offline == () and "limit" not in fake_ansible.calls[-1]
    [note] = [n for n in report.notes if "presence not read" in n]
    assert "peer handshakes: rb-01 (mikrotik_routeros at 192.168.10.1:22): Authentication" in note
