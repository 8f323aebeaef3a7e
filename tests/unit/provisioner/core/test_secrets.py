"""Where the vault password comes from: explicit file, then environment, then the default file."""

from __future__ import annotations

from pathlib import Path

import pytest

from provisioner.config import Settings
from provisioner.core.secrets import vault_password
from provisioner.errors import InputError


def _settings(tmp_path: Path, password_file: Path | None = None) -> Settings:
    return Settings(config_dir=tmp_path / "config", vault_password_file=password_file)


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_nothing_configured(tmp_path: Path) -> None:
    assert vault_password(_settings(tmp_path)) is None


def test_explicit_file_wins_over_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROVISIONER_VAULT_PASSWORD", "from-env")
    _write(tmp_path / "config" / "vault-password", "from-default\n")
    explicit = _write(tmp_path / "vault.txt", "from-file\n")

    assert vault_password(_settings(tmp_path, explicit)) == "from-file"
    assert vault_password(_settings(tmp_path)) == "from-env"
    monkeypatch.delenv("PROVISIONER_VAULT_PASSWORD")
    assert vault_password(_settings(tmp_path)) == "from-default"


def test_unreadable_or_empty_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot read vault password file"):
        vault_password(_settings(tmp_path, tmp_path / "missing"))
    empty = _write(tmp_path / "empty", "\n")
    with pytest.raises(InputError, match=f"{empty}: vault password file is empty"):
        vault_password(_settings(tmp_path, empty))
