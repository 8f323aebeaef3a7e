"""Loads the repository's Ansible plugins (plugins/<type>/<name>.py) as Python modules for tests,
and runs this venv's ansible-playbook with Ansible's JSON stdout callback."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

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


def playbook_json(args: list[str], env: Mapping[str, str]) -> dict[str, Any]:
    """``ansible-playbook ARGS`` of this venv (``env`` sets ansible.posix.json as its stdout
    callback): exit 0 required, its JSON output parsed."""
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "ansible-playbook"), *args],
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    output: dict[str, Any] = json.loads(proc.stdout)
    return output
