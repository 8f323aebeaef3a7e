"""Every Molecule scenario under molecule/, run as a technician would: molecule test -s <name>.

New scenarios are picked up without code changes.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from provisioner.adapters import aptcache
from tests.fresh_host import host_forwarding_off

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
IMAGE = "localhost/provisioner-lab:trixie"
# Converge installs packages from the Debian mirror; a full run takes a few minutes at most.
TIMEOUT_S = 1800
TAIL_LINES = 120

SCENARIOS = sorted(p.parent.name for p in (ROOT / "molecule").glob("*/molecule.yml"))
# Scenarios that do not pass reliably yet, with the reason (shown by `pytest -ra`); the issue
# that owns each stays open until it is taken out of this list.
NOT_YET_RELIABLE: dict[str, str] = {}

pytestmark = pytest.mark.molecule


def _env() -> dict[str, str]:
    """The caller's environment with the venv first on PATH and the project's podman config."""
    env = dict(os.environ)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env["CONTAINERS_CONF"] = str(ROOT / "lab" / "containers.conf")
    env["MOLECULE_PROJECT_DIRECTORY"] = str(ROOT)
    env["ANSIBLE_NOCOLOR"] = "1"
    return env


def _tail(path: Path, lines: int) -> str:
    """Last `lines` lines of a text file."""
    text = path.read_text(encoding="utf-8", errors="replace")
    return "\n".join(text.splitlines()[-lines:])


# Each scenario is its own xdist group: with `pytest -n 2 --dist loadgroup` scenarios run beside
# the lab tests (their containers and networks never overlap).
@pytest.mark.parametrize(
    "scenario", [pytest.param(s, marks=pytest.mark.xdist_group(f"molecule-{s}")) for s in SCENARIOS]
)
def test_molecule_scenario(scenario: str, tmp_path: Path) -> None:
    """Converge, idempotence and verify of the scenario in systemd containers all pass."""
    if scenario in NOT_YET_RELIABLE:
        pytest.skip(f"{scenario}: {NOT_YET_RELIABLE[scenario]}")
    env = _env()
    if shutil.which("podman") is None:
        pytest.fail("podman is not installed: run `make setup`")
    image = subprocess.run(["podman", "image", "exists", IMAGE], env=env, check=False, timeout=60)
    if image.returncode != 0:
        pytest.fail(f"image {IMAGE} is missing: run `provisioner lab image` (or `make image`)")

    # Packages come through the controller's cache (the image's apt asks for it), as in the lab.
    aptcache.ensure()
    log = tmp_path / f"molecule-{scenario}.log"
    # As on a freshly booted machine: containers the scenario creates get forwarding 0 unless
    # podman sets it (the vpn scenario's gateway has `sysctls:`).
    with log.open("w", encoding="utf-8") as out, host_forwarding_off():
        try:
            proc = subprocess.run(
                [str(BIN / "molecule"), "test", "-s", scenario],
                cwd=ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                timeout=TIMEOUT_S,
                check=False,
            )
            rc: int | str = proc.returncode
        except subprocess.TimeoutExpired:
            rc = f"timeout after {TIMEOUT_S} s"

    if rc != 0:
        pytest.fail(
            f"molecule test -s {scenario} failed ({rc}); full log: {log}\n"
            f"--- last {TAIL_LINES} lines ---\n{_tail(log, TAIL_LINES)}",
            pytrace=False,
        )
