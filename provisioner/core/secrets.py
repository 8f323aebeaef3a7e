"""Where secrets come from: a file or the environment, never a flag value (a command line is
visible to every user in ``ps``)."""

from __future__ import annotations

import os
from pathlib import Path

from provisioner.config import Settings
from provisioner.errors import InputError
from provisioner.models.inventory import Inventory

ENV_VAULT_PASSWORD = "PROVISIONER_VAULT_PASSWORD"
ENV_WEBHOOK_SECRET = "PROVISIONER_NOTIFY_WEBHOOK_SECRET"
ENV_SMTP_PASSWORD = "PROVISIONER_NOTIFY_SMTP_PASSWORD"


def vault_password(settings: Settings) -> str | None:
    """Resolve the vault password.

    Order: an explicit vault password file (config file, ``PROVISIONER_VAULT_PASSWORD_FILE`` or
    ``--vault-password-file``), then ``PROVISIONER_VAULT_PASSWORD``, then
    ``$XDG_CONFIG_HOME/provisioner/vault-password`` if it exists.

    Raises:
        InputError: the named file cannot be read or is empty.
    """
    path = settings.vault_password_file
    if path is None:
        value = os.environ.get(ENV_VAULT_PASSWORD)
        if value:
            return value
        path = settings.default_vault_password_file
        if not path.is_file():
            return None
    try:
        text = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise InputError(f"{path}: cannot read vault password file: {exc.strerror}") from exc
    if not text:
        raise InputError(f"{path}: vault password file is empty")
    return text


def require_vault_password(settings: Settings, inventory: Inventory) -> str | None:
    """The vault password, mandatory when the inventory holds vault-encrypted files.

    Raises:
        InputError: encrypted files and no password configured.
    """
    password = vault_password(settings)
    if inventory.vault_files and password is None:
        raise InputError(
            f"{inventory.vault_files[0]}: is vault-encrypted but no vault password is configured "
            f"(set {ENV_VAULT_PASSWORD}, PROVISIONER_VAULT_PASSWORD_FILE or --vault-password-file)"
        )
    return password


def _file_or_env(path: Path | None, env: str, what: str) -> str | None:
    """A secret from its file (if the setting names one), else from the environment."""
    if path is None:
        return os.environ.get(env) or None
    try:
        text = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise InputError(f"{path}: cannot read the {what}: {exc.strerror}") from exc
    if not text:
        raise InputError(f"{path}: the {what} file is empty")
    return text


def webhook_secret(settings: Settings) -> str | None:
    """The webhook's HMAC secret: ``notify_webhook_secret_file``, else
    ``PROVISIONER_NOTIFY_WEBHOOK_SECRET``; None: requests are not signed.

    Raises:
        InputError: the named file cannot be read or is empty.
    """
    return _file_or_env(settings.notify_webhook_secret_file, ENV_WEBHOOK_SECRET, "webhook secret")


def smtp_password(settings: Settings) -> str | None:
    """The SMTP login's password: ``notify_smtp_password_file``, else
    ``PROVISIONER_NOTIFY_SMTP_PASSWORD``.

    Raises:
        InputError: the named file cannot be read or is empty.
    """
    return _file_or_env(settings.notify_smtp_password_file, ENV_SMTP_PASSWORD, "SMTP password")
