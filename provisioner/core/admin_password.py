"""The provider admin account's password hash: made once per host, kept in the comune's vault.

The comune's vault holds the admin password (``vault_baseline_admin_password``). Hashing it is
deliberately slow (sha512-crypt, 656,000 rounds: 0.22 s of CPU), so it is done once per host,
with a random salt of its own, and the hashes are kept encrypted in
``group_vars/all/provisioner_admin_hashes.yml``; the baseline role only compares strings. A keyed
fingerprint of the password (HMAC-SHA256 with a random key kept in the same encrypted file)
tells, in microseconds, when the password changed: then every host gets a new hash.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from pathlib import Path
from typing import Any

import yaml

from provisioner.adapters import vault
from provisioner.adapters.files import atomic_write
from provisioner.models.inventory import Inventory

HASHES_FILE = Path("group_vars/all/provisioner_admin_hashes.yml")
PASSWORD_VAR = "vault_baseline_admin_password"
HASHES_VAR = "vault_baseline_admin_password_hashes"
ROLE_VAR = "baseline_admin_password_hash"
MANAGED_GROUPS = ("endpoints", "office_desktops", "vpn_gateways", "rd_gateways")
_GENERATED = (
    "# Written by provisioner (core/admin_password.py): the admin password's hash per host,\n"
    "# each with its own random salt, made once. Do not edit; change\n"
    "# vault_baseline_admin_password and the next run makes new ones.\n"
)


def _password(comune_dir: Path, vault_password: str) -> str | None:
    """The comune's admin password from its vault files (None: it has none)."""
    for path in sorted((comune_dir / "group_vars" / "all").glob("*.y*ml")):
        if path.name == HASHES_FILE.name:
            continue
        text = path.read_text(encoding="utf-8")
        if not text.startswith("$ANSIBLE_VAULT;"):
            continue
        plain = vault.decrypt(text, vault_password)
        data = yaml.safe_load(plain) if plain else None
        if isinstance(data, dict) and data.get(PASSWORD_VAR):
            return str(data[PASSWORD_VAR])
    return None


def _hash(password: str) -> str:
    from passlib.hash import sha512_crypt  # type: ignore[import-untyped]  # noqa: PLC0415

    # passlib draws a random 16-character salt for every hash.
    return str(sha512_crypt.hash(password))


def ensure(inventory: Inventory, comune_dir: Path, vault_password: str | None) -> list[str]:
    """Make the hashes a run needs: hosts without one, or all after a password change.

    Returns notes for the run's report (never a secret). Nothing is done when the comune keeps
    no admin password in its vault.
    """
    if vault_password is None:
        return []
    password = _password(comune_dir, vault_password)
    if password is None:
        return []
    path = comune_dir / HASHES_FILE
    current: dict[str, Any] = {}
    if path.is_file():
        plain = vault.decrypt(path.read_text(encoding="utf-8"), vault_password)
        current = (yaml.safe_load(plain) if plain else None) or {}
    key = str(current.get("provisioner_admin_fingerprint_key") or secrets.token_hex(32))
    fingerprint = hmac.new(key.encode(), password.encode(), hashlib.sha256).hexdigest()
    hashes: dict[str, str] = dict(current.get(HASHES_VAR) or {})
    changed = current.get("provisioner_admin_fingerprint") != fingerprint
    if changed:
        hashes = {}
    hosts = sorted({h.name for group in MANAGED_GROUPS for h in inventory.group(group)})
    missing = [h for h in hosts if h not in hashes]
    if not missing:
        return []
    hashes.update({host: _hash(password) for host in missing})
    document = {
        HASHES_VAR: dict(sorted(hashes.items())),
        ROLE_VAR: "{{ " + HASHES_VAR + "[inventory_hostname] | default('') }}",
        "provisioner_admin_fingerprint": fingerprint,
        "provisioner_admin_fingerprint_key": key,
    }
    plain = _GENERATED + yaml.safe_dump(document, sort_keys=False)
    atomic_write(path, vault.encrypt(plain, vault_password), mode=0o600)
    if changed and current:
        return [f"admin password changed: new hashes for {len(missing)} host(s) in {path}"]
    return [f"admin password hashed once for {', '.join(missing)} (kept encrypted in {path})"]
