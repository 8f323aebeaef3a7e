"""The package's import graph: no circle, and no import from a lower layer to a higher one.

Layers, bottom up: models (with errors, names, config), ports, adapters (with gear and the
simulated devices), core, and at the top the CLI and the web console. Neither of those reaches
adapters but through the core.
"""

from __future__ import annotations

import ast
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[3] / "provisioner"
LAYERS = {
    "errors": 0,
    "names": 0,
    "config": 0,
    "models": 0,
    "ports": 1,
    "adapters": 2,
    "gear": 2,
    "fakegear": 2,
    "core": 3,
    "cli": 4,
    "web": 4,
    "__main__": 5,
}


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def _imports(path: Path, modules: dict[str, Path]) -> set[str]:
    """Project modules imported anywhere in the file (functions included)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names: list[str] = []
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [f"{node.module}.{alias.name}" for alias in node.names] + [node.module]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        for imported in names:
            name = imported
            while name and name not in modules:
                name = name.rpartition(".")[0]
            if name.startswith("provisioner."):
                found.add(name)
    return found


def _layer(module: str) -> tuple[str, int]:
    part = module.split(".")[1]
    if part not in LAYERS:
        pytest.fail(f"{module}: in no layer; add {part!r} to LAYERS")
    return part, LAYERS[part]


GRAPH = {name: _imports(path, _modules()) - {name} for name, path in _modules().items()}


def test_no_import_circle() -> None:
    try:
        tuple(TopologicalSorter(GRAPH).static_order())
    except CycleError as exc:
        pytest.fail(f"import circle: {' -> '.join(exc.args[1])}")


def test_no_import_from_a_lower_layer_to_a_higher_one() -> None:
    upward = [
        f"{module} ({_layer(module)[0]}) imports {target} ({_layer(target)[0]})"
        for module, targets in GRAPH.items()
        if module != "provisioner"
        for target in targets
        if target != "provisioner" and _layer(target)[1] > _layer(module)[1]
    ]
    assert upward == []


def test_the_cli_and_the_console_reach_adapters_only_through_the_core() -> None:
    direct = [
        f"{module} imports {target}"
        for module, targets in GRAPH.items()
        if module.startswith(("provisioner.cli.", "provisioner.web."))
        for target in targets
        if _layer(target)[0] in {"adapters", "gear", "fakegear"}
    ]
    assert direct == []
