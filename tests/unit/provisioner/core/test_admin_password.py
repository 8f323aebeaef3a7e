"""The admin password's hash: made once per host with its own salt, kept in the vault,
made again only when the password changes."""

from __future__ import annotations

import time
from collections.abc import Callable

import yaml
from passlib.hash import sha512_crypt

from provisioner.adapters import vault
from provisioner.adapters.inventory_files import YamlDirectorySource
from provisioner.core import admin_password
from tests.unit.fakes import SLUG, ComuneFiles

VAULT_PASSWORD = "unit-vault-password"


def _set_password(comune: ComuneFiles, password: str) -> None:
    text = yaml.safe_dump({admin_password.PASSWORD_VAR: password})
    (comune.dir / "group_vars/all/vault.yml").write_text(vault.encrypt(text, VAULT_PASSWORD))


def _stored(comune: ComuneFiles) -> dict[str, object]:
    plain = vault.decrypt((comune.dir / admin_password.HASHES_FILE).read_text(), VAULT_PASSWORD)
    assert plain is not None
    data: dict[str, object] = yaml.safe_load(plain)
    return data


def test_hashes_are_made_once_per_host_with_their_own_salt(
    make_comune: Callable[..., ComuneFiles],
) -> None:
    comune = make_comune()
    _set_password(comune, "canary-admin-1")
    inventory = YamlDirectorySource(comune.root).load(SLUG)

    first = admin_password.ensure(inventory, comune.dir, VAULT_PASSWORD)
    stored = _stored(comune)
    hashes = stored[admin_password.HASHES_VAR]
    assert isinstance(hashes, dict)
    assert sorted(hashes) == ["gw-rd-01", "gw-vpn-01", "laptop-sindaco", "pc-anagrafe-01",
                              "pc-tributi-01"]  # fmt: skip
    assert all(sha512_crypt.verify("canary-admin-1", h) for h in hashes.values())
    assert len({h.split("$")[3] for h in hashes.values()}) == len(hashes)  # salts differ
    assert "canary-admin-1" not in (comune.dir / admin_password.HASHES_FILE).read_text()
    assert first and "canary" not in " ".join(first)

    started = time.process_time()
    assert admin_password.ensure(inventory, comune.dir, VAULT_PASSWORD) == []
    assert time.process_time() - started < 0.1  # no hashing on a run that needs none
    assert _stored(comune)[admin_password.HASHES_VAR] == hashes

    _set_password(comune, "canary-admin-2")
    again = admin_password.ensure(inventory, comune.dir, VAULT_PASSWORD)
    renewed = _stored(comune)[admin_password.HASHES_VAR]
    assert isinstance(renewed, dict)
    assert "password changed" in again[0]
    assert all(sha512_crypt.verify("canary-admin-2", h) for h in renewed.values())


def test_a_comune_without_an_admin_password_in_its_vault_gets_no_file(
    make_comune: Callable[..., ComuneFiles],
) -> None:
    comune = make_comune()
    inventory = YamlDirectorySource(comune.root).load(SLUG)
    assert admin_password.ensure(inventory, comune.dir, VAULT_PASSWORD) == []
    assert not (comune.dir / admin_password.HASHES_FILE).exists()
