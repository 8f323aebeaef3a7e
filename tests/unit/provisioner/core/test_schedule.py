"""Schedules: a root schedule is refused on paths other users can change; user timers linger;
watch runs as a long-running service."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from provisioner.adapters import hoststate, systemd
from provisioner.config import Settings
from provisioner.core import schedule
from provisioner.errors import ExitCode, InputError, UnsafePathsError

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


def _verify(*units: Path) -> None:
    """systemd's own parser accepts the units (offline: no running systemd needed)."""
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed")
    verify = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", *map(str, units)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert verify.returncode == 0, verify.stdout + verify.stderr


@pytest.mark.parametrize(
    ("scope", "wanted_by"),
    [(schedule.Scope.USER, "default.target"), (schedule.Scope.SYSTEM, "multi-user.target")],
)
def test_the_watch_service_restarts_on_failure_and_stops_between_tasks(
    tmp_path: Path, scope: schedule.Scope, wanted_by: str
) -> None:
    settings = Settings(state_dir=tmp_path / "state", inventory_dir=tmp_path / "inventory")
    argv = schedule.watch_command(settings, ["lab", "altro"], 45.0)

    text = schedule.render_watch_unit("lab-altro", argv, scope)

    assert argv[-7:] == ["watch", "--comune", "lab", "--comune", "altro", "--interval", "45"]
    assert argv[0] == str(Path(sys.executable).parent / "provisioner")
    lines = text.splitlines()
    assert f"ExecStart={shlex.join(argv)}" in lines
    for line in (
        "Type=exec",
        "Restart=on-failure",
        "RestartSec=30",
        # a first Ctrl-C to the main process only: the run in progress ends between tasks
        "KillSignal=SIGINT",
        "KillMode=mixed",
        f"WantedBy={wanted_by}",
    ):
        assert line in lines
    unit = tmp_path / "provisioner-watch-lab-altro.service"
    unit.write_text(text)
    _verify(unit)


def test_a_watch_service_is_listed_and_removed_with_the_comply_schedules(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[object, ...]] = []
    monkeypatch.setattr(systemd, "systemctl", lambda *args: calls.append(args) or "")
    monkeypatch.setattr(systemd, "linger", lambda user: "")
    monkeypatch.setattr(schedule, "runs_as_root", lambda scope: False)
    settings = Settings(state_dir=tmp_path / "state", inventory_dir=tmp_path / "inventory")
    units = tmp_path / "units"
    schedule.add(
        settings, comuni=[], at="02:30", remediate=False, scope=schedule.Scope.USER, directory=units
    )

    made = schedule.add_watch(
        settings, comuni=[], interval=30, scope=schedule.Scope.USER, directory=units
    )

    assert made.name == "watch-all" and made.at == "always (every 30 s)"
    assert (True, "enable", "--now", "provisioner-watch-all.service") in calls
    assert made.notes[0].startswith("lingering is on for ") and "the service runs" in made.notes[0]
    listed = schedule.list_schedules(settings, schedule.Scope.USER, units)
    assert [(s.name, s.at, s.unit) for s in listed] == [
        ("all", "02:30", "provisioner-comply-all.timer"),
        ("watch-all", "always (every 30 s)", "provisioner-watch-all.service"),
    ]
    assert listed[1].command == made.command

    schedule.remove(settings, "watch-all", schedule.Scope.USER, units)

    assert (True, "disable", "--now", "provisioner-watch-all.service") in calls
    assert sorted(p.name for p in units.iterdir()) == [
        "provisioner-comply-all.service",
        "provisioner-comply-all.timer",
    ]


def test_a_root_watch_service_is_refused_on_paths_other_users_can_change(
    safe: Settings, tmp_path: Path
) -> None:
    (safe.inventory_dir / "lab" / "hosts.yml").chmod(0o666)

    with pytest.raises(UnsafePathsError) as info:
        schedule.add_watch(
            safe, comuni=["lab"], interval=30, scope=schedule.Scope.SYSTEM, directory=tmp_path / "u"
        )

    assert info.value.lines()[0].startswith("schedule watch: it would run as root")
    assert not (tmp_path / "u").exists()


def test_cron_cannot_keep_a_watch_service_running(tmp_path: Path) -> None:
    settings = Settings(state_dir=tmp_path / "state", inventory_dir=tmp_path / "inventory")
    with pytest.raises(InputError, match="needs systemd"):
        schedule.add_watch(
            settings, comuni=[], interval=30, scope=schedule.Scope.CRON, directory=tmp_path / "c"
        )
    assert not (tmp_path / "c").exists()
