"""Inventory use cases: load and validate a comune, resolve a --limit."""

from __future__ import annotations

import re

from provisioner.adapters.inventory_files import YamlDirectorySource
from provisioner.config import Settings
from provisioner.errors import InputError
from provisioner.models.inventory import BUNDLES, GROUPS, Inventory
from provisioner.names import did_you_mean

_PLAIN_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")


def load(settings: Settings, comune: str) -> Inventory:
    """Load and validate one comune (raises InventoryError / InputError)."""
    return YamlDirectorySource(settings.inventory_dir).load(comune)


def comunes(settings: Settings) -> list[str]:
    """Every comune with an inventory directory."""
    return YamlDirectorySource(settings.inventory_dir).comunes()


def check_limit(inventory: Inventory, limit: str | None) -> None:
    """Refuse a --limit naming hosts or groups the comune does not have, or bundles' devices.

    Patterns with wildcards, regexes or operators are left to Ansible (no play targets group
    bundles, so they never reach a bundle's device either).

    Raises:
        InputError: a plain name matches no host or group (closest names suggested), or names a
            bundle's device or group bundles.
    """
    if not limit:
        return
    child_groups = {g for host in inventory.hosts.values() for g in host.groups}
    known = set(inventory.hosts) | child_groups | set(GROUPS) | {"all", "ungrouped"}
    for token in re.split(r"[,:]", limit):
        name = token.lstrip("!&")
        if not name or not _PLAIN_NAME.match(name):
            continue
        host = inventory.hosts.get(name)
        if not token.startswith("!") and (name == BUNDLES or (host is not None and host.is_bundle)):
            raise InputError(
                f"--limit: {name!r} is a bundle's device (group {BUNDLES}): no run manages it "
                "over SSH; see `provisioner bundle list|create|revoke`"
            )
        if name not in known:
            hint = did_you_mean(name, known)
            raise InputError(
                f"--limit: {name!r} is no host or group of comune {inventory.comune!r}{hint}"
            )
