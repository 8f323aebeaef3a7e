"""Network gear: intended configuration per vendor and the remediation from a running one."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2

from provisioner.gear import fortios, ios, routeros
from provisioner.gear.errors import IntentError
from provisioner.gear.intent import validate_intent
from provisioner.models.inventory import DEVICE_TYPES

TEMPLATES = Path(__file__).parent / "templates"


@dataclass(frozen=True)
class GearPlatform:
    """What differs between vendors: how to read, judge and compare a configuration."""

    device_type: str
    read_commands: tuple[str, ...]
    error_pattern: str
    remediate: Callable[[str, str, str], list[str]]
    managed_part: Callable[[str, str], str]
    connect_options: Mapping[str, Any] = field(default_factory=dict)


PLATFORMS: dict[str, GearPlatform] = {
    "mikrotik_routeros": GearPlatform(
        device_type="mikrotik_routeros",
        read_commands=("/export terse",),
        error_pattern=(
            r"^(?:bad command name|expected end of command|syntax error|failure:|"
            r"input does not match|no such item|invalid value).*$"
        ),
        remediate=routeros.remediate,
        managed_part=routeros.managed_part,
    ),
    "cisco_ios": GearPlatform(
        device_type="cisco_ios",
        read_commands=("show running-config",),
        error_pattern=r"^%.*$",
        remediate=ios.remediate,
        managed_part=ios.managed_part,
    ),
    "fortinet": GearPlatform(
        device_type="fortinet",
        read_commands=tuple(f"show {section}" for section in fortios.SECTIONS),
        error_pattern=(
            r"^(?:command parse error|value parse error|node_check_object fail!|entry not found|"
            r"entry is used|Unknown action|Command fail\. Return code).*$"
        ),
        remediate=fortios.remediate,
        managed_part=fortios.managed_part,
        # paramiko's group-exchange KEX stalls against some SSH servers (FakeNOS's among them);
        # FortiOS offers the fixed groups too, so these two are never needed.
        connect_options={
            "disabled_algorithms": {
                "kex": [
                    "diffie-hellman-group-exchange-sha1",
                    "diffie-hellman-group-exchange-sha256",
                ]
            }
        },
    ),
}
"""Supported ``device_type`` values (netmiko's names)."""
if set(PLATFORMS) != set(DEVICE_TYPES):  # pragma: no cover - a programming error, at import
    raise RuntimeError(f"gear.PLATFORMS {sorted(PLATFORMS)} differ from DEVICE_TYPES")


@dataclass(frozen=True)
class Remediation:
    """What a push changes: the exact commands, and the managed config before and after."""

    commands: tuple[str, ...]
    before: str
    after: str

    @property
    def changed(self) -> bool:
        """Whether anything would be sent."""
        return bool(self.commands)


def _netmask(network: str) -> str:
    net = ipaddress.IPv4Network(network, strict=False)
    return f"{net.network_address} {net.netmask}"


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
    )
    # Every value a template writes goes through its vendor's quoting (after validation).
    env.filters["ros"] = lambda value: routeros.quote(str(value))
    env.filters["ros_address"] = lambda value: routeros.quote(str(value).removesuffix("/32"))
    env.filters["ios"] = lambda value: ios.token(str(value))
    env.filters["ios_source"] = lambda value: ios.acl_address(str(value))
    env.filters["forti"] = lambda value: fortios.quote(str(value))
    env.filters["netmask"] = _netmask
    return env


def render_intended(device_type: str, intent: Mapping[str, Any]) -> str:
    """The intended configuration of a device, from its vendor's template.

    Raises:
        KeyError: unknown device type.
        IntentError: a value of the intent is malformed (e.g. a peer's public key).
        jinja2.UndefinedError: the template needs a value the intent lacks.
    """
    platform = PLATFORMS[device_type]
    model = validate_intent(intent)
    if device_type == "fortinet" and model.forwards and model.public_address is None:
        raise IntentError("public_address (netgear_public_address) is needed for FortiOS VIPs")
    data = model.model_dump()
    wireguard = data.get("wireguard")
    if wireguard and wireguard.get("pool") and not wireguard.get("address"):
        # The concentrator's tunnel address: the pool's first host, with the pool's prefix.
        pool = ipaddress.IPv4Network(wireguard["pool"])
        wireguard["address"] = f"{pool.network_address + 1}/{pool.prefixlen}"
    if wireguard and wireguard.get("address"):
        address = ipaddress.IPv4Interface(wireguard["address"])
        wireguard["network"] = str(address.network.network_address)
    template = _environment().get_template(f"{platform.device_type}.j2")
    text = template.render(intent=data, acl_name=ios.acl_name(model.tag))
    return "".join(f"{line}\n" for line in text.splitlines() if line.strip())


def remediate(device_type: str, running: str, intended: str, tag: str) -> Remediation:
    """The remediation from ``running`` to ``intended`` on the tool's part of the device."""
    platform = PLATFORMS[device_type]
    return Remediation(
        commands=tuple(platform.remediate(running, intended, tag)),
        before=platform.managed_part(running, tag),
        after=platform.managed_part(intended, tag),
    )
