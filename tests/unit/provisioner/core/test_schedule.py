"""Schedules: a root schedule is refused on paths other users can change; user timers linger."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from provisioner.adapters import hoststate, systemd
from provisioner.config import Settings
from provisioner.core import schedule
from provisioner.errors import ExitCode, UnsafePathsError

NOBODY = 65534


@pytest.fixture
def safe(tmp_path: Path) -> Settings:
    """A checkout and an inventory that only root can change."""
    if os.geteuid() != 0:
        pytest.skip("ownership checks need root (chown)")
    content = tmp_path / "checkout"
    (content / "roles" / "baseline").mkdir(parents=True)
    (content / "roles" / "baseline" / "main.yml").write_text("---\n")
    inventory = tmp_path / "inventory"
    (inventory / "lab").mkdir(parents=True)
    (inventory / "lab" / "hosts.yml").write_text("all: {}\n")
    for path in [tmp_path, *tmp_path.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    return Settings(
        content_dir=content,
        inventory_dir=inventory,
        state_dir=tmp_path / "state",
        config_dir=tmp_path / "config",
    )


def test_paths_only_root_can_change_are_accepted(safe: Settings) -> None:
    schedule.check_ownership(safe)  # the venv and this checkout too (both root's here)


@pytest.mark.parametrize(
    ("change", "why"),
    [
        (lambda p: os.chown(p, NOBODY, 0), f"owned by uid {NOBODY}"),
        (lambda p: (os.chown(p, 0, NOBODY), p.chmod(0o664)), f"writable by group gid {NOBODY}"),
        (lambda p: p.chmod(0o666), "writable by everyone"),
    ],
)
def test_a_file_another_user_can_change_refuses_a_root_schedule(
    safe: Settings, tmp_path: Path, change: object, why: str
) -> None:
    role = safe.content_dir / "roles" / "baseline" / "main.yml"
    change(role)  # type: ignore[operator]

    with pytest.raises(UnsafePathsError) as info:
        schedule.add(
            safe,
            comuni=["lab"],
            at="02:30",
            remediate=False,
            scope=schedule.Scope.CRON,
            directory=tmp_path / "cron.d",
        )

    assert info.value.exit_code == ExitCode.ENVIRONMENT
    lines = info.value.lines()
    assert f"  {role}: {why}" in lines
    assert lines[-1].startswith("fix: chown -R root:root ")
    assert not (tmp_path / "cron.d").exists()  # nothing written


def test_a_writable_directory_above_the_inventory_is_unsafe_but_a_sticky_one_is_not(
    safe: Settings, tmp_path: Path
) -> None:
    parent = safe.inventory_dir.parent
    parent.chmod(0o1777)  # like /tmp: nobody can rename root's entries
    schedule.check_ownership(safe)
    parent.chmod(0o777)
    with pytest.raises(UnsafePathsError) as info:
        schedule.check_ownership(safe)
    assert f"  {parent}: writable by everyone" in info.value.lines()


def test_symlinks_are_judged_by_their_target(safe: Settings, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    os.chown(elsewhere, NOBODY, NOBODY)
    (safe.content_dir / "plugins").symlink_to(elsewhere)

    unsafe = hoststate.writable_by_others([safe.content_dir])

    assert f"{elsewhere}: owned by uid {NOBODY}" in unsafe


def test_the_check_walks_the_venv_the_checkout_and_the_inventory(
    safe: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    walked: list[Path] = []
    monkeypatch.setattr(hoststate, "writable_by_others", lambda roots: walked.extend(roots) or [])

    schedule.check_ownership(safe)

    assert Path(sys.prefix) in walked
    assert safe.content_dir in walked and safe.inventory_dir in walked


def test_a_user_timer_gets_lingering_or_says_why_not(
    safe: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[object, ...]] = []
    monkeypatch.setattr(systemd, "systemctl", lambda *args: calls.append(args) or "")
    monkeypatch.setattr(systemd, "linger", lambda user: calls.append(("linger", user)) or "")

    made = schedule.add(
        safe,
        comuni=["lab"],
        at="02:30",
        remediate=False,
        scope=schedule.Scope.USER,
        directory=tmp_path / "units",
    )

    assert ("linger", "root") in calls
    assert made.notes == ("lingering is on for root: the timer runs without a login session",)
    monkeypatch.setattr(systemd, "linger", lambda user: "Access denied")
    made = schedule.add(
        safe,
        comuni=["lab"],
        at="02:30",
        remediate=False,
        scope=schedule.Scope.USER,
        directory=tmp_path / "units",
    )
    assert made.notes[0].startswith("warning: lingering could not be turned on for root")
    assert "loginctl enable-linger root" in made.notes[0]
