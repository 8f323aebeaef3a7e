"""Mitogen acceleration: detected when usable, plain with one warning when not, never a failure."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from provisioner.adapters import accel


def test_installed_mitogen_gives_its_linear_strategy() -> None:
    found = accel.detect(True)

    assert found.enabled and found.mode == "mitogen" and found.warning == ""
    assert found.strategy_plugins is not None
    assert (found.strategy_plugins / "mitogen_linear.py").is_file()
    assert found.envvars() == {
        "ANSIBLE_STRATEGY_PLUGINS": str(found.strategy_plugins),
        "ANSIBLE_STRATEGY": "mitogen_linear",
    }
    assert found.version.startswith("0.3.")


def test_not_wanted_is_plain_without_a_warning() -> None:
    found = accel.detect(False)

    assert found == accel.Acceleration("plain")
    assert found.envvars() == {} and not found.enabled


def _hide(monkeypatch: pytest.MonkeyPatch, error: BaseException) -> None:
    """Make ``import ansible_mitogen...`` raise ``error``, as if uninstalled or incompatible."""
    for name in [m for m in sys.modules if m.startswith("ansible_mitogen")]:
        monkeypatch.delitem(sys.modules, name)
    real = importlib.import_module

    def fake(name: str, package: str | None = None) -> ModuleType:
        if name.startswith("ansible_mitogen"):
            raise error
        return real(name, package)

    monkeypatch.setattr(accel.importlib, "import_module", fake)


def test_missing_mitogen_falls_back_with_one_warning_line(monkeypatch: pytest.MonkeyPatch) -> None:
    _hide(monkeypatch, ModuleNotFoundError("No module named 'ansible_mitogen'"))

    found = accel.detect(True)

    assert found.mode == "plain" and found.envvars() == {}
    assert found.warning.startswith("warning: mitogen is not installed; running plain Ansible")
    assert "\n" not in found.warning


def test_mitogen_refusing_ansible_core_falls_back_naming_both(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # mitogen's own release check raises AnsibleError("Your Ansible version ... is too recent")
    _hide(monkeypatch, RuntimeError("Your Ansible version (2, 99) is too recent.\nmore text"))

    found = accel.detect(True)

    assert found.mode == "plain" and found.envvars() == {}
    assert "mitogen does not support ansible-core 2.19" in found.warning
    assert "(Your Ansible version (2, 99) is too recent.)" in found.warning
    assert found.warning.endswith("running plain Ansible") and "\n" not in found.warning


def test_mitogen_without_the_strategy_plugin_falls_back(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    loaders = ModuleType("ansible_mitogen.loaders")
    loaders.__file__ = str(tmp_path / "ansible_mitogen" / "loaders.py")
    real = importlib.import_module

    def fake(name: str, package: str | None = None) -> Any:
        return loaders if name == "ansible_mitogen.loaders" else real(name, package)

    monkeypatch.setattr(accel.importlib, "import_module", fake)

    found = accel.detect(True)

    assert found.mode == "plain"
    assert "has no mitogen_linear strategy" in found.warning
