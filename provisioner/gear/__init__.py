"""Network gear: intended configuration per vendor and the remediation from a running one."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2

from provisioner.gear import fortios, ios, routeros

TEMPLATES = Path(__file__).parent / "templates"


@dataclass(frozen=True)
class GearPlatform:
    """What differs between vendors: how to read, judge, compare and save a configuration."""

    device_type: str
    read_commands: tuple[str, ...]
    error_pattern: str
    remediate: Callable[[str, str, str], list[str]]
    scoped: Callable[[str, str], str]
    save: bool = False
    # Undo of a push cut short (now, before, planned commands, tag); None: remediate(now, before).
    rollback: Callable[[str, str, tuple[str, ...], str], list[str]] | None = None
    # Lines that bring the CLI back to its top level after a rejected line.
    abort_commands: tuple[str, ...] = ()
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
        scoped=routeros.scoped,
    ),
    "cisco_ios": GearPlatform(
        device_type="cisco_ios",
        read_commands=("show running-config",),
        error_pattern=r"^%.*$",
        remediate=ios.remediate,
        scoped=ios.scoped,
        save=True,
    ),
    "fortinet": GearPlatform(
        device_type="fortinet",
        read_commands=tuple(f"show {section}" for section in fortios.SECTIONS),
        error_pattern=(
            r"^(?:command parse error|value parse error|node_check_object fail!|entry not found|"
            r"entry is used|Unknown action|Command fail\. Return code).*$"
        ),
        remediate=fortios.remediate,
        scoped=fortios.scoped,
        abort_commands=("end",),
        rollback=fortios.rollback,
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


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
    )
    env.filters["ros"] = lambda value: routeros.quote(str(value))
    return env


def render_intended(device_type: str, intent: Mapping[str, Any]) -> str:
    """The intended configuration of a device, from its vendor's template.

    Raises:
        KeyError: unknown device type.
        jinja2.UndefinedError: the intent lacks a value the template needs.
    """
    platform = PLATFORMS[device_type]
    template = _environment().get_template(f"{platform.device_type}.j2")
    full = dict(intent)
    wireguard = dict(full.get("wireguard") or {})
    if wireguard.get("pool") and not wireguard.get("address"):
        # The concentrator's tunnel address: the pool's first host, with the pool's prefix.
        pool = ipaddress.IPv4Network(str(wireguard["pool"]), strict=False)
        wireguard["address"] = f"{pool.network_address + 1}/{pool.prefixlen}"
        full["wireguard"] = wireguard
    text = template.render(intent=full, acl_name=ios.acl_name(str(full.get("tag", ""))))
    return "".join(f"{line}\n" for line in text.splitlines() if line.strip())


def rollback(
    device_type: str, now: str, before: str, planned: tuple[str, ...], tag: str
) -> tuple[str, ...]:
    """Commands that undo a push cut short by a rejected line."""
    platform = PLATFORMS[device_type]
    if platform.rollback is not None:
        return tuple(platform.rollback(now, before, planned, tag))
    return tuple(platform.remediate(now, before, tag))


def remediate(device_type: str, running: str, intended: str, tag: str) -> Remediation:
    """The remediation from ``running`` to ``intended`` on the tool's part of the device."""
    platform = PLATFORMS[device_type]
    return Remediation(
        commands=tuple(platform.remediate(running, intended, tag)),
        before=platform.scoped(running, tag),
        after=platform.scoped(intended, tag),
    )
