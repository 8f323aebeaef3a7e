"""Loads the repository's Ansible plugins (plugins/<type>/<name>.py) as Python modules for tests."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[3]


def load_plugin(kind: str, name: str) -> ModuleType:
    """``plugins/<kind>/<name>.py`` as a module (cached under a private name)."""
    module_name = f"_provisioner_plugin_{kind}_{name}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(
        module_name, ROOT / "plugins" / kind / f"{name}.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module
