"""Installs are hash-checked: requirements.lock pins every package of constraints.txt by SHA-256."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
_ENTRY = re.compile(
    r"^([A-Za-z0-9_.-]+)==(\S+) \\\n    --hash=sha256:([0-9a-f]{64})$", re.MULTILINE
)


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_every_pin_of_constraints_has_its_hash_in_the_lock() -> None:
    pins = {
        _normal(line.split("==")[0]): line.split("==")[1].strip()
        for line in (ROOT / "constraints.txt").read_text(encoding="utf-8").splitlines()
        if "==" in line and not line.startswith("#")
    }
    text = (ROOT / "requirements.lock").read_text(encoding="utf-8")
    locked = {_normal(m[1]): m[2] for m in _ENTRY.finditer(text)}
    entries = [line for line in text.splitlines() if line and not line.startswith(("#", " "))]

    assert len(entries) == len(locked)  # every entry has exactly one well-formed hash
    assert {name: locked.get(name) for name in pins} == pins
    assert {"pip", "setuptools", "wheel"} <= set(locked)  # the installers are checked too


def test_the_venv_is_installed_with_hashes_required() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    recipe = makefile.split("$(VENV)/.installed:", 1)[1].split("\n\n", 1)[0]

    assert (
        "pip install -q --require-hashes --no-deps --no-build-isolation -r requirements.lock"
        in (recipe)
    )
    assert "-c constraints.txt" not in recipe and "--upgrade pip" not in recipe
