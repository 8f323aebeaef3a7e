"""Comuni with RDP users and bundles' devices, and runner events, shared by the bundle tests."""

from __future__ import annotations

import datetime
from collections.abc import Callable
from typing import Any

from tests.unit.fakes import ComuneFiles, on_ok, stats, task_start

GATEWAY_KEY = "xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg="
OTHER_KEY = "TrMvSoP4jYQlY6RIzBgbssQqY3vxI2Pi+y71lOWWXX0="
CA = "-----BEGIN CERTIFICATE-----\nMIIBlab\n-----END CERTIFICATE-----"
RDP_SETTINGS: dict[str, Any] = {
    "comune_rd_gateway_address": "192.168.10.11",
    "comune_rd_gateway_certificate": "files/rd-gateway.crt",
    "comune_rd_gateway_private_key": "files/rd-gateway.key",
    "comune_rd_gateway_ca_certificate": CA,
    "comune_rdp_desktops": [
        {"name": "pc-anagrafe-01", "address": "192.168.10.21"},
        {"name": "pc-tributi-01", "address": "192.168.10.22"},
    ],
    "comune_rdp_users": [
        {"name": "mrossi", "desktop": "pc-anagrafe-01", "port": 3389},
        {"name": "lbianchi", "desktop": "pc-tributi-01", "port": 3390},
    ],
    "comune_vpn_allowed_services": [
        {"name": "rdp-1", "address": "192.168.10.11/32", "port": 3389, "proto": "tcp"},
        {"name": "rdp-2", "address": "192.168.10.11/32", "port": 3390, "proto": "tcp"},
        {"name": "intranet", "address": "192.168.10.30", "port": 80, "proto": "tcp"},
    ],
}


def rdp_comune(
    make: Callable[..., ComuneFiles],
    hosts: dict[str, dict[str, Any]] | None = None,
    **settings: Any,
) -> ComuneFiles:
    """Castelnuovo with RDP users and the RD gateway's certificate files (``hosts`` replaced)."""
    files = make(settings={**RDP_SETTINGS, **settings}, hosts=hosts)
    (files.dir / "files").mkdir()
    for name in ("rd-gateway.crt", "rd-gateway.key"):
        (files.dir / "files" / name).write_text("pem\n", encoding="utf-8")
    return files


def key_published(host: str = "gw-vpn-01", key: str = GATEWAY_KEY) -> list[dict[str, Any]]:
    return [
        task_start("Presence: public key", "vpn_gateway", "ansible.builtin.debug"),
        on_ok(host, "Presence: public key", "vpn_gateway", "ansible.builtin.debug", msg=key),
        stats(**{host: {"ok": 12}}),
    ]


def devices(today: datetime.date | None = None) -> dict[str, dict[str, Any]]:
    """pc-a valid for a month, pc-b expired yesterday, pc-c without expiry, pc-d not issued."""
    day = today or datetime.date.today()
    issued = {"bundle_user": "mrossi", "bundle_created": "2026-11-02T09:00:00+00:00"}
    return {
        "pc-a": {
            **issued,
            "vpn_client_address": "10.77.0.10",
            "bundle_public_key": GATEWAY_KEY,
            "bundle_expires": (day + datetime.timedelta(days=30)).isoformat(),
        },
        "pc-b": {
            **issued,
            "vpn_client_address": "10.77.0.11",
            "bundle_public_key": OTHER_KEY,
            "bundle_expires": (day - datetime.timedelta(days=1)).isoformat(),
        },
        "pc-c": {
            **issued,
            "vpn_client_address": "10.77.0.12",
            "bundle_public_key": "A" * 43 + "=",
        },
        "pc-d": {"asset_os": "macOS 15"},
    }
