"""Ansible Vault encryption through ansible-core's own VaultLib (no re-implementation)."""

from __future__ import annotations


def _vault(password: str) -> object:
    from ansible.constants import DEFAULT_VAULT_ID_MATCH  # noqa: PLC0415 - heavy import
    from ansible.parsing.vault import VaultLib, VaultSecret  # noqa: PLC0415

    return VaultLib([(DEFAULT_VAULT_ID_MATCH, VaultSecret(password.encode()))])


def encrypt(plaintext: str, password: str) -> str:
    """Encrypt text as an Ansible Vault 1.1 document."""
    vault = _vault(password)
    data: bytes = vault.encrypt(plaintext.encode())  # type: ignore[attr-defined]
    return data.decode()


def decrypt(ciphertext: str, password: str) -> str | None:
    """Decrypt a vault document; None if the password does not open it."""
    from ansible.errors import AnsibleError  # noqa: PLC0415

    vault = _vault(password)
    try:
        data: bytes = vault.decrypt(ciphertext.encode())  # type: ignore[attr-defined]
    except AnsibleError:
        return None
    return data.decode()
