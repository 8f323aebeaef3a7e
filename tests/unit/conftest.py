"""Shared unit-test fixtures: an isolated environment, comune inventories, a fake ansible-runner."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from provisioner.config import Settings
from tests.unit.fakes import ComuneFiles, FakeAnsibleRunner, write_comune


@pytest.fixture(autouse=True)
def isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No PROVISIONER_* variables and XDG dirs inside tmp_path: nothing real is read or written."""
    for name in list(os.environ):
        if name.startswith("PROVISIONER_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg-state"))


@pytest.fixture
def inventory_root(tmp_path: Path) -> Path:
    """Root of the comune inventories (``tmp_path/inventory``)."""
    root = tmp_path / "inventory"
    root.mkdir()
    return root


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    """State directory (not created: tests check that nothing writes it)."""
    return tmp_path / "state"


@pytest.fixture
def make_comune(inventory_root: Path) -> Callable[..., ComuneFiles]:
    """Factory writing a comune inventory under ``inventory_root`` (see ``fakes.write_comune``)."""

    def make(slug: str | None = None, **kwargs: Any) -> ComuneFiles:
        if slug is None:
            return write_comune(inventory_root, **kwargs)
        return write_comune(inventory_root, slug, **kwargs)

    return make


@pytest.fixture
def comune(make_comune: Callable[..., ComuneFiles]) -> ComuneFiles:
    """A valid comune inventory: hosts.yml + group_vars/all/comune.yml."""
    return make_comune()


@pytest.fixture
def settings(tmp_path: Path, inventory_root: Path, state_dir: Path) -> Settings:
    """Settings on the repository's playbooks with inventory and state in tmp_path."""
    return Settings(
        inventory_dir=inventory_root,
        state_dir=state_dir,
        config_dir=tmp_path / "config",
        keep_runs=20,
    )


@pytest.fixture
def fake_ansible(monkeypatch: pytest.MonkeyPatch) -> FakeAnsibleRunner:
    """Patch the outermost call, ``ansible_runner.run``, with a recording fake."""
    import ansible_runner  # noqa: PLC0415

    fake = FakeAnsibleRunner()
    monkeypatch.setattr(ansible_runner, "run", fake)
    return fake


@pytest.fixture
def fast_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    """argon2 with the smallest parameters: the tests check the flow, not the hash's cost."""
    from argon2 import PasswordHasher  # noqa: PLC0415

    from provisioner.core import accounts  # noqa: PLC0415

    hasher = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    monkeypatch.setattr(accounts, "_HASHER", hasher)
    monkeypatch.setattr(accounts, "_DUMMY_HASH", hasher.hash("dummy"))
