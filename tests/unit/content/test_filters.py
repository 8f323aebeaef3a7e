"""plugins/filter/comune.py: the comune inventory's mapping to role inputs."""

from __future__ import annotations

import datetime
from typing import Any

from tests.unit.content.plugins import load_plugin

comune = load_plugin("filter", "comune")

KEY_1 = "A" * 43 + "="
USERS = [
    {"name": "mrossi", "desktop": "desk-01", "port": 3389, "endpoint": "laptop-01"},
    {"name": "lbianchi", "desktop": "desk-01", "port": 3390, "endpoint": "laptop-02"},
    {"name": "gverdi", "desktop": "desk-02", "port": 3391},
    {"name": "orphan", "desktop": "desk-09", "port": 3392, "endpoint": "laptop-09"},
]
DESKTOPS = [
    {"name": "desk-01", "address": "10.89.1.21"},
    {"name": "desk-02", "address": "10.89.1.22", "port": 3399},
]


def test_vpn_peers_one_per_endpoint_with_an_address() -> None:
    hostvars: dict[str, dict[str, Any]] = {
        "laptop-01": {"vpn_client_address": "10.77.0.11", "vpn_client_public_key": KEY_1},
        # Not reached in this run: no key, the gateway keeps the peer it has.
        "laptop-02": {"vpn_client_address": "10.77.0.12"},
        # No address allocated yet: not a peer.
        "laptop-03": {},
        "laptop-04": {"vpn_client_address": "10.77.0.14", "vpn_client_public_key": None},
    }
    assert comune.vpn_peers(["laptop-01", "laptop-02", "laptop-03", "laptop-04"], hostvars) == [
        {"name": "laptop-01", "public_key": KEY_1, "address": "10.77.0.11"},
        {"name": "laptop-02", "public_key": "", "address": "10.77.0.12"},
        {"name": "laptop-04", "public_key": "", "address": "10.77.0.14"},
    ]


def test_vpn_peers_leaves_out_the_retired_and_unknown_hosts() -> None:
    hostvars = {
        "laptop-01": {"vpn_client_address": "10.77.0.11"},
        "laptop-02": {"vpn_client_address": "10.77.0.12"},
    }
    peers = comune.vpn_peers(["laptop-01", "laptop-02", "ghost"], hostvars, ["laptop-02"])
    assert [p["name"] for p in peers] == ["laptop-01"]
    assert comune.vpn_peers(None, hostvars) == []


def test_rdp_listeners_lead_each_user_to_their_desktop() -> None:
    assert comune.rdp_listeners(USERS, DESKTOPS) == [
        {"name": "mrossi", "port": 3389, "target": "10.89.1.21", "target_port": 3389},
        {"name": "lbianchi", "port": 3390, "target": "10.89.1.21", "target_port": 3389},
        {"name": "gverdi", "port": 3391, "target": "10.89.1.22", "target_port": 3399},
    ]
    assert comune.rdp_listeners([], DESKTOPS) == []
    assert comune.rdp_listeners(USERS, None) == []


def test_rdp_listeners_answer_the_users_own_tunnel_addresses_when_known() -> None:
    hostvars: dict[str, dict[str, Any]] = {
        "laptop-01": {"vpn_client_address": "10.77.0.11"},
        "laptop-02": {},  # no address yet
        "pc-mrossi": {"bundle_user": "mrossi", "vpn_client_address": "10.77.0.40"},
        "old-pc": {
            "bundle_user": "mrossi",
            "vpn_client_address": "10.77.0.41",
            "bundle_expires": "2026-01-31",
        },
        "tablet": {"bundle_user": "gverdi", "vpn_client_address": "10.77.0.42"},
        "unissued": {"bundle_user": "gverdi"},
    }
    devices = ["pc-mrossi", "old-pc", "tablet", "unissued"]

    listeners = comune.rdp_listeners(USERS, DESKTOPS, hostvars, devices, "2026-02-01")

    assert {each["name"]: each.get("sources") for each in listeners} == {
        "mrossi": ["10.77.0.11", "10.77.0.40"],  # the laptop and a personal PC's bundle
        "lbianchi": None,  # the pool, as before
        "gverdi": ["10.77.0.42"],  # no endpoint, a bundle's device
    }
    assert comune.rdp_listeners(USERS, DESKTOPS, hostvars, None)[0]["sources"] == ["10.77.0.11"]
    # The run that revokes a bundle (or decommissions a laptop) closes its address's way in.
    revoking = comune.rdp_listeners(
        USERS, DESKTOPS, hostvars, devices, "2026-02-01", retired=["pc-mrossi"]
    )
    assert revoking[0]["sources"] == ["10.77.0.11"]
    leaving = comune.rdp_listeners(USERS, DESKTOPS, hostvars, devices, "2026-02-01", ["laptop-01"])
    assert leaving[0]["sources"] == ["10.77.0.40"]


def test_rdp_prober_is_the_desktops_first_user_with_an_endpoint() -> None:
    assert comune.rdp_prober(USERS, "desk-01") == USERS[0]
    assert comune.rdp_prober(USERS, "desk-02") == {}
    assert comune.rdp_prober(USERS, "desk-03") == {}
    assert comune.rdp_prober(None, "desk-01") == {}


def test_rdp_prober_is_never_a_laptop_left_out_as_offline() -> None:
    assert comune.rdp_prober(USERS, "desk-01", ["laptop-01"]) == USERS[1]
    assert comune.rdp_prober(USERS, "desk-01", ["laptop-01", "laptop-02"]) == {}


def test_rdp_prober_prefers_a_laptop_still_in_the_run_and_names_a_lost_one_last() -> None:
    assert comune.rdp_prober(USERS, "desk-01", [], ["laptop-01"]) == USERS[1]
    assert comune.rdp_prober(USERS, "desk-01", [], ["laptop-01", "laptop-02"]) == USERS[0]
    assert comune.rdp_prober(USERS, "desk-01", ["laptop-02"], ["laptop-01"]) == USERS[0]
    assert comune.rdp_prober(USERS, "desk-01", ["laptop-01", "laptop-02"], ["laptop-01"]) == {}


def test_service_target_is_address_and_port_of_the_named_service() -> None:
    services = [
        {"name": "rdp-gateway", "address": "10.89.1.11/32", "port": 3389, "proto": "tcp"},
        {"name": "intranet", "address": "10.89.1.30", "port": 80, "proto": "tcp"},
    ]
    assert comune.service_target(services, "rdp-gateway") == "10.89.1.11:3389"
    assert comune.service_target(services, "intranet") == "10.89.1.30:80"
    assert comune.service_target(services, "mail") == ""
    assert comune.service_target(services, "") == ""
    assert comune.service_target(None, "intranet") == ""


def test_rdp_service_sources_open_each_users_gateway_port_to_that_user_only() -> None:
    services = [
        {"name": "rdp-gateway", "address": "10.89.1.11/32", "port": 3389, "proto": "tcp"},
        {"name": "rdp-gateway-2", "address": "10.89.1.11", "port": 3390, "proto": "tcp"},
        {"name": "rdp-gateway-3", "address": "10.89.1.11/32", "port": 3391, "proto": "tcp"},
        # the same port elsewhere, or over UDP, is another service
        {"name": "desk", "address": "10.89.1.21/32", "port": 3389, "proto": "tcp"},
        {"name": "rdp-udp", "address": "10.89.1.11/32", "port": 3389, "proto": "udp"},
        {"name": "office", "address": "10.89.1.0/24", "port": 3389, "proto": "tcp"},
    ]
    listeners = [
        {"name": "mrossi", "port": 3389, "sources": ["10.77.0.11", "10.77.0.40"]},
        {"name": "lbianchi", "port": 3390, "sources": ["10.77.0.12"]},
        {"name": "gverdi", "port": 3391},  # no known address: the pool, as on the RD gateway
    ]

    restricted = comune.rdp_service_sources(services, "10.89.1.11", listeners)

    assert {s["name"]: s.get("sources") for s in restricted} == {
        "rdp-gateway": ["10.77.0.11", "10.77.0.40"],
        "rdp-gateway-2": ["10.77.0.12"],
        "rdp-gateway-3": None,
        "desk": None,
        "rdp-udp": None,
        "office": None,
    }
    assert "sources" not in services[0]  # a copy: the inventory's list is not changed
    assert comune.rdp_service_sources(services, "", listeners) == services
    assert comune.rdp_service_sources(None, "10.89.1.11", listeners) == []


def test_the_filters_are_exported_to_ansible() -> None:
    assert set(comune.FilterModule().filters()) == {
        "vpn_peers",
        "rdp_listeners",
        "rdp_prober",
        "service_target",
        "rdp_service_sources",
    }


def test_vpn_peers_of_bundles_come_from_the_inventory_and_expire() -> None:
    key_2 = "B" * 43 + "="
    hostvars: dict[str, dict[str, Any]] = {
        "laptop-01": {"vpn_client_address": "10.77.0.11", "vpn_client_public_key": KEY_1},
        "pc-rossi": {"vpn_client_address": "10.77.0.20", "bundle_public_key": key_2},
        # Valid through its last day, gone the day after.
        "pc-bianchi": {
            "vpn_client_address": "10.77.0.21",
            "bundle_public_key": key_2,
            "bundle_expires": "2026-12-01",
        },
        # Imported, no bundle issued yet: no address, no peer.
        "pc-casa": {"asset_os": "Windows 11"},
    }
    hosts = ["laptop-01", "pc-rossi", "pc-bianchi", "pc-casa"]

    on_last_day = comune.vpn_peers(hosts, hostvars, [], "2026-12-01")
    day_after = comune.vpn_peers(hosts, hostvars, [], datetime.date(2026, 12, 2))
    revoked = comune.vpn_peers(hosts, hostvars, ["pc-rossi"], "2026-12-01")

    assert on_last_day == [
        {"name": "laptop-01", "public_key": KEY_1, "address": "10.77.0.11"},
        {"name": "pc-rossi", "public_key": key_2, "address": "10.77.0.20"},
        {"name": "pc-bianchi", "public_key": key_2, "address": "10.77.0.21"},
    ]
    assert [p["name"] for p in day_after] == ["laptop-01", "pc-rossi"]
    assert [p["name"] for p in revoked] == ["laptop-01", "pc-bianchi"]
