"""Use case: nightly comply runs (systemd service + timer, or a cron line) and ``watch`` as a
long-running systemd service."""

from __future__ import annotations

import getpass
import os
import re
import shlex
import sys
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from provisioner.adapters import hoststate, systemd
from provisioner.adapters.files import atomic_write
from provisioner.config import Settings
from provisioner.errors import InputError, UnsafePathsError

PREFIX = "provisioner-comply-"
WATCH_PREFIX = "provisioner-watch-"
WATCH = "watch-"
"""A watch service's schedule name: ``watch-<comuni or all>`` (apart from comply's names)."""
_AT = re.compile(r"^([01][0-9]|2[0-3]):([0-5][0-9])$")
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*$")


class Scope(StrEnum):
    """Where the schedule lives."""

    USER = "user"
    SYSTEM = "system"
    CRON = "cron"


@dataclass(frozen=True)
class Schedule:
    """One installed schedule."""

    name: str
    at: str
    scope: Scope
    command: str
    files: tuple[Path, ...]
    notes: tuple[str, ...] = ()
    """What the operator should know (lingering of a user timer)."""
    unit: str = ""
    """The unit systemctl enables and disables (comply: the timer; watch: the service)."""


def resolve(scope: str) -> Scope:
    """``auto``: user-scope systemd units where systemd runs this machine, else a cron line.

    Raises:
        InputError: an unknown scope.
    """
    if scope == "auto":
        return Scope.USER if systemd.available() else Scope.CRON
    try:
        return Scope(scope)
    except ValueError:
        raise InputError(f"--scope {scope!r}: choose auto, user, system or cron") from None


def unit_dir(scope: Scope, settings: Settings, override: Path | None) -> Path:
    """Default directory of the unit files (or the cron file) of a scope."""
    if override is not None:
        return override
    if scope == Scope.SYSTEM:
        return Path("/etc/systemd/system")
    if scope == Scope.CRON:
        return Path("/etc/cron.d")
    return settings.config_dir.parent / "systemd" / "user"


def runs_as_root(scope: Scope) -> bool:
    """System units and cron lines run as root; user units too when root installs them."""
    return scope in {Scope.SYSTEM, Scope.CRON} or os.geteuid() == 0


def check_ownership(settings: Settings, what: str = "schedule add") -> None:
    """Refuse a root schedule whose code or inventories another user could change.

    A root timer runs ``<venv>/bin/provisioner`` with the checkout's playbooks and roles on the
    comuni's inventories: anyone who can write one of them (or a directory above them) can
    make it run their commands as root. Refused rather than warned: a warning scrolls by, the
    timer runs every night, and the fix is one command (or a user-scope schedule).

    Raises:
        UnsafePathsError: the paths, why each is unsafe, and the fix (exit 8).
    """
    roots = [Path(sys.prefix), Path(sys.executable).resolve().parent, settings.content_dir]
    roots.append(settings.inventory_dir)
    unsafe = hoststate.writable_by_others(roots)
    if unsafe:
        targets = " ".join(
            shlex.quote(str(p))
            for p in (Path(sys.prefix), settings.content_dir, settings.inventory_dir)
        )
        raise UnsafePathsError(
            f"{what}: it would run as root code or inventories that other users can "
            f"change ({len(unsafe)} path(s)); any of them could become root:",
            unsafe,
            f"fix: chown -R root:root {targets} && chmod -R go-w {targets} (and the directories "
            "above them), or schedule it as the user who owns them (--scope user, not as root)",
        )


def command(
    settings: Settings, comuni: list[str], remediate: bool, report_dir: Path | None
) -> list[str]:
    """The comply command a schedule runs: absolute paths, skips itself if still running."""
    exe = Path(sys.executable).parent / "provisioner"
    argv = [
        str(exe),
        "--state-dir",
        str(settings.state_dir),
        "--inventory-dir",
        str(settings.inventory_dir),
        "comply",
        *(comuni or ["--all"]),
        "--skip-if-running",
    ]
    if remediate:
        argv.append("--remediate")
    if report_dir is not None:
        argv += ["--report-dir", str(report_dir)]
    return argv


def _check_name(name: str) -> None:
    if not _NAME.match(name):
        raise InputError(f"schedule: name {name!r} must be lowercase letters, digits, - or _")


def _check(name: str, at: str) -> tuple[int, int]:
    _check_name(name)
    match = _AT.match(at)
    if match is None:
        raise InputError(f"schedule: --at {at!r} must be HH:MM (24 h), e.g. 02:30")
    return int(match[1]), int(match[2])


def render_units(name: str, at: str, argv: list[str]) -> tuple[str, str]:
    """The service and timer unit texts."""
    _check(name, at)
    service = (
        "# Written by provisioner schedule add; remove with: provisioner schedule remove "
        f"{name}\n"
        "[Unit]\n"
        f"Description=provisioner comply ({name})\n"
        "Wants=network-online.target\nAfter=network-online.target\n\n"
        "[Service]\n"
        "Type=oneshot\n"
        # 7 is drift, 3/4 failed/unreachable hosts: a finding, not a broken service.
        "SuccessExitStatus=3 4 7\n"
        f"ExecStart={shlex.join(argv)}\n"
    )
    timer = (
        "# Written by provisioner schedule add\n"
        "[Unit]\n"
        f"Description=provisioner comply ({name}) at {at}\n\n"
        "[Timer]\n"
        f"OnCalendar=*-*-* {at}:00\n"
        "Persistent=true\n"
        "RandomizedDelaySec=60\n\n"
        "[Install]\n"
        "WantedBy=timers.target\n"
    )
    return service, timer


def cron_line(name: str, at: str, argv: list[str], lock: Path) -> str:
    """A /etc/cron.d line; flock -n skips the run while the previous one still holds the lock."""
    hour, minute = _check(name, at)
    return (
        f"# provisioner comply ({name}); remove with: provisioner schedule remove {name}\n"
        f"{minute} {hour} * * * root flock -n {shlex.quote(str(lock))} {shlex.join(argv)}\n"
    )


def add(
    settings: Settings,
    *,
    comuni: list[str],
    at: str,
    remediate: bool,
    scope: Scope,
    directory: Path | None = None,
    report_dir: Path | None = None,
    activate: bool = True,
) -> Schedule:
    """Install a schedule; with systemd, enable and start its timer.

    A schedule that runs as root is refused when another user could change what it runs
    (:func:`check_ownership`). A user timer gets lingering (``loginctl enable-linger``), else it
    would run only while its user is logged in; when that fails, the notes say so.

    Raises:
        InputError: bad name or time.
        UnsafePathsError: a root schedule on paths other users can write.
        ControllerError: systemctl refused.
    """
    name = "-".join(comuni) if comuni else "all"
    _check(name, at)  # before anything is written
    if runs_as_root(scope):
        check_ownership(settings)
    argv = command(settings, comuni, remediate, report_dir)
    target = unit_dir(scope, settings, directory)
    target.mkdir(parents=True, exist_ok=True)
    if scope == Scope.CRON:
        path = target / f"{PREFIX}{name}"
        lock = settings.state.lock_file(f"schedule-{name}.cron")
        atomic_write(path, cron_line(name, at, argv, lock), mode=0o644)
        return Schedule(name, at, scope, shlex.join(argv), (path,))
    service, timer = render_units(name, at, argv)
    service_path = target / f"{PREFIX}{name}.service"
    timer_path = target / f"{PREFIX}{name}.timer"
    atomic_write(service_path, service, mode=0o644)
    atomic_write(timer_path, timer, mode=0o644)
    notes: tuple[str, ...] = ()
    if activate:
        user = scope == Scope.USER
        systemd.systemctl(user, "daemon-reload")
        systemd.systemctl(user, "enable", "--now", timer_path.name)
        if user:
            notes = (_linger(getpass.getuser()),)
    return Schedule(
        name, at, scope, shlex.join(argv), (service_path, timer_path), notes, timer_path.name
    )


def _linger(user: str, what: str = "the timer") -> str:
    """Lingering for the unit's user: its timer (or service) runs without a login session."""
    why = systemd.linger(user)
    if not why:
        return f"lingering is on for {user}: {what} runs without a login session"
    return (
        f"warning: lingering could not be turned on for {user} ({why}): {what} runs only "
        f"while {user} is logged in; as root: loginctl enable-linger {user}"
    )


def watch_command(settings: Settings, comuni: list[str], interval: float) -> list[str]:
    """The ``watch`` command a watch service runs: absolute paths, every comune unless given."""
    exe = Path(sys.executable).parent / "provisioner"
    argv = [
        str(exe),
        "--state-dir",
        str(settings.state_dir),
        "--inventory-dir",
        str(settings.inventory_dir),
        "watch",
    ]
    for comune in comuni:
        argv += ["--comune", comune]
    return [*argv, "--interval", f"{interval:g}"]


def render_watch_unit(name: str, argv: list[str], scope: Scope) -> str:
    """The unit text of a long-running ``watch`` service.

    systemd stops it with SIGINT to the main process only (``KillMode=mixed``): like a first
    Ctrl-C, the run in progress ends between tasks and is recorded as canceled, instead of
    Ansible being killed mid-task; what is still running after ``TimeoutStopSec`` is killed.
    """
    _check_name(name)
    wanted_by = "default.target" if scope == Scope.USER else "multi-user.target"
    return (
        "# Written by provisioner schedule watch; remove with: provisioner schedule remove "
        f"{WATCH}{name}\n"
        "[Unit]\n"
        f"Description=provisioner watch ({name}): apply pending work when hosts come online\n"
        "Wants=network-online.target\nAfter=network-online.target\n\n"
        "[Service]\n"
        "Type=exec\n"
        f"ExecStart={shlex.join(argv)}\n"
        "Restart=on-failure\n"
        "RestartSec=30\n"
        "KillSignal=SIGINT\n"
        "KillMode=mixed\n"
        "TimeoutStopSec=300\n\n"
        "[Install]\n"
        f"WantedBy={wanted_by}\n"
    )


def add_watch(
    settings: Settings,
    *,
    comuni: list[str],
    interval: float,
    scope: Scope,
    directory: Path | None = None,
    activate: bool = True,
) -> Schedule:
    """Install ``watch`` as a long-running systemd service; with systemd, enable and start it.

    The same refusals as :func:`add`: a service that runs as root is refused when another user
    could change what it runs; a user service gets lingering (else it stops at logout).

    Raises:
        InputError: cron scope (it cannot keep a service running), bad name or interval.
        UnsafePathsError: a root service on paths other users can write.
        ControllerError: systemctl refused.
    """
    if scope == Scope.CRON:
        raise InputError(
            "schedule watch: a long-running service needs systemd (--scope user or system); "
            "cron cannot keep it running"
        )
    if interval <= 0:
        raise InputError(f"schedule watch: --interval {interval:g} must be more than 0 seconds")
    name = "-".join(comuni) if comuni else "all"
    _check_name(name)  # before anything is written
    if runs_as_root(scope):
        check_ownership(settings, "schedule watch")
    argv = watch_command(settings, comuni, interval)
    target = unit_dir(scope, settings, directory)
    target.mkdir(parents=True, exist_ok=True)
    path = target / f"{WATCH_PREFIX}{name}.service"
    atomic_write(path, render_watch_unit(name, argv, scope), mode=0o644)
    notes: tuple[str, ...] = ()
    if activate:
        user = scope == Scope.USER
        systemd.systemctl(user, "daemon-reload")
        systemd.systemctl(user, "enable", "--now", path.name)
        if user:
            notes = (_linger(getpass.getuser(), "the service"),)
    return Schedule(
        f"{WATCH}{name}", _every(argv[-1]), scope, shlex.join(argv), (path,), notes, path.name
    )


def _every(interval: str) -> str:
    """What ``schedule list`` shows in its "at" column for a watch service."""
    return f"always (every {interval} s)"


def list_schedules(
    settings: Settings, scope: Scope, directory: Path | None = None
) -> list[Schedule]:
    """Schedules installed in a scope's directory."""
    target = unit_dir(scope, settings, directory)
    if not target.is_dir():
        return []
    found = []
    if scope == Scope.CRON:
        for path in sorted(target.glob(f"{PREFIX}*")):
            line = path.read_text(encoding="utf-8").splitlines()[-1].split()
            at = f"{int(line[1]):02d}:{int(line[0]):02d}"
            found.append(
                Schedule(path.name.removeprefix(PREFIX), at, scope, " ".join(line[8:]), (path,))
            )
        return found
    for timer in sorted(target.glob(f"{PREFIX}*.timer")):
        service = timer.with_suffix(".service")
        text = timer.read_text(encoding="utf-8")
        at_match = re.search(r"^OnCalendar=\S+ (\d\d:\d\d):00$", text, re.MULTILINE)
        exec_match = re.search(
            r"^ExecStart=(.*)$",
            service.read_text(encoding="utf-8") if service.is_file() else "",
            re.MULTILINE,
        )
        found.append(
            Schedule(
                timer.stem.removeprefix(PREFIX),
                at_match[1] if at_match else "?",
                scope,
                exec_match[1] if exec_match else "?",
                (service, timer),
                unit=timer.name,
            )
        )
    for service in sorted(target.glob(f"{WATCH_PREFIX}*.service")):
        exec_match = re.search(r"^ExecStart=(.*)$", service.read_text(encoding="utf-8"), re.M)
        argv = shlex.split(exec_match[1]) if exec_match else []
        interval = argv[argv.index("--interval") + 1] if "--interval" in argv[:-1] else "?"
        found.append(
            Schedule(
                WATCH + service.stem.removeprefix(WATCH_PREFIX),
                _every(interval),
                scope,
                exec_match[1] if exec_match else "?",
                (service,),
                unit=service.name,
            )
        )
    return found


def remove(
    settings: Settings,
    name: str,
    scope: Scope,
    directory: Path | None = None,
    activate: bool = True,
) -> Schedule:
    """Stop and delete a schedule (a comply timer or a watch service).

    Raises:
        InputError: no such schedule in that scope.
    """
    match = next((s for s in list_schedules(settings, scope, directory) if s.name == name), None)
    if match is None:
        raise InputError(
            f"{unit_dir(scope, settings, directory)}: no schedule {name!r} ({scope} scope); "
            "see 'provisioner schedule list'"
        )
    if scope != Scope.CRON and activate:
        systemd.systemctl(scope == Scope.USER, "disable", "--now", match.unit)
    for path in match.files:
        path.unlink(missing_ok=True)
    if scope != Scope.CRON and activate:
        systemd.systemctl(scope == Scope.USER, "daemon-reload")
    return match
