"""Mitogen acceleration: whether runs use its strategy, and the environment that switches it on.

Runs are accelerated by default. Mitogen's ``mitogen_linear`` strategy keeps one Python
interpreter per host for the whole run and sends modules to it over the SSH connection, instead of
one ``python3`` process per task. When mitogen is missing or refuses the installed ansible-core,
runs fall back to plain Ansible with one warning line; they never fail because of it.

Molecule and hand-run ``ansible-playbook`` stay plain: the strategy is set only in the
environment the chokepoint gives ansible-runner, never in ansible.cfg.
"""

from __future__ import annotations

import importlib
import importlib.metadata
from dataclasses import dataclass
from pathlib import Path

STRATEGY = "mitogen_linear"
MITOGEN = "mitogen"
PLAIN = "plain"


@dataclass(frozen=True)
class Acceleration:
    """How the runs of this process execute: ``mitogen`` or ``plain`` (and why plain)."""

    mode: str
    strategy_plugins: Path | None = None
    version: str = ""
    warning: str = ""
    """One line for the operator when acceleration was wanted but is unavailable."""

    @property
    def enabled(self) -> bool:
        """True when runs use Mitogen's strategy."""
        return self.mode == MITOGEN

    def envvars(self) -> dict[str, str]:
        """Environment for ansible-playbook: Mitogen's strategy plugins and its linear strategy."""
        if self.strategy_plugins is None:
            return {}
        return {
            "ANSIBLE_STRATEGY_PLUGINS": str(self.strategy_plugins),
            "ANSIBLE_STRATEGY": STRATEGY,
        }


def _core_version() -> str:
    try:
        return importlib.metadata.version("ansible-core")
    except importlib.metadata.PackageNotFoundError:
        return "?"


def detect(wanted: bool = True) -> Acceleration:
    """Mitogen acceleration if wanted and usable; otherwise plain, with a warning if wanted.

    Usable means: ``ansible_mitogen`` imports, its strategy plugin directory exists and its own
    release check (``ansible_mitogen.loaders``, which raises for an ansible-core it does not
    support) accepts the installed ansible-core.
    """
    if not wanted:
        return Acceleration(PLAIN)
    core = _core_version()
    try:
        loaders = importlib.import_module("ansible_mitogen.loaders")
        version = importlib.metadata.version("mitogen")
    except ModuleNotFoundError:
        return Acceleration(
            PLAIN,
            warning="warning: mitogen is not installed; running plain Ansible "
            "(slower; reinstall with `make setup`)",
        )
    except Exception as exc:  # mitogen's release check raises AnsibleError
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return Acceleration(
            PLAIN,
            warning=f"warning: mitogen does not support ansible-core {core} ({first}); "
            "running plain Ansible",
        )
    plugins = Path(str(loaders.__file__)).parent / "plugins" / "strategy"
    if not (plugins / f"{STRATEGY}.py").is_file():
        return Acceleration(
            PLAIN,
            warning=f"warning: mitogen {version} has no {STRATEGY} strategy in {plugins}; "
            "running plain Ansible",
        )
    return Acceleration(MITOGEN, strategy_plugins=plugins, version=version)
