"""The simulators read their configuration their own way: they never import provisioner.gear."""

from __future__ import annotations

import ast
from pathlib import Path

import provisioner.fakegear

PACKAGE = Path(provisioner.fakegear.__file__).parent


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def test_no_simulator_module_imports_the_production_gear_code() -> None:
    modules = sorted(PACKAGE.glob("*.py"))
    assert {m.name for m in modules} >= {"routeros.py", "ios.py", "fortios.py", "server.py"}
    offenders = {
        m.name: sorted(i for i in imported_modules(m) if i.startswith("provisioner.gear"))
        for m in modules
    }
    assert {name: found for name, found in offenders.items() if found} == {}
