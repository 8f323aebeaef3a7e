"""The simulated vendors, by netmiko device type."""

from __future__ import annotations

from provisioner.fakegear.base import Decision, FakeDevice, Packet, Session
from provisioner.fakegear.fortios import FortiDevice
from provisioner.fakegear.ios import IosDevice
from provisioner.fakegear.routeros import RouterOsDevice

__all__ = [
    "DEVICE_CLASSES",
    "Decision",
    "FakeDevice",
    "FortiDevice",
    "IosDevice",
    "Packet",
    "RouterOsDevice",
    "Session",
]

DEVICE_CLASSES: dict[str, type[RouterOsDevice] | type[IosDevice] | type[FortiDevice]] = {
    "mikrotik_routeros": RouterOsDevice,
    "cisco_ios": IosDevice,
    "fortinet": FortiDevice,
}
