"""`provisioner comply`, `drift show`, `runs list` drift counts and `schedule` through CliRunner."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import Result

from tests.unit.fakes import SLUG, ComuneFiles, FakeAnsibleRunner, on_ok, stats

Cli = Callable[..., Result]
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
DIFF = {
    "before": "a = 1\n",
    "after": "a = 2\n",
    "before_header": "/etc/x",
    "after_header": "/etc/x",
}


def _out(result: Result) -> str:
    return _ANSI.sub("", result.output)


def test_comply_reports_drift_with_exit_7_then_history_shows_it(
    cli: Cli, comune: ComuneFiles, fake_ansible: FakeAnsibleRunner, tmp_path: Path
) -> None:
    fake_ansible.events = [
        on_ok("gw-vpn-01", "Configure the tunnel", "vpn_gateway", changed=True, diff=DIFF),
        stats(**{"gw-vpn-01": {"ok": 1, "changed": 1}}),
    ]

    result = cli("comply", SLUG, "--report-dir", str(tmp_path / "reports"))

    out = _out(result)
    assert result.exit_code == 7, out
    assert "1 drift items on 1 hosts" in out
    assert "Configure the tunnel" in out and "+a = 2" in out
    assert str(tmp_path / "reports" / SLUG) in out

    shown = _out(cli("drift", "show", SLUG))
    assert "1 drift items" in shown and "gw-vpn-01" in shown and "vpn_gateway" in shown
    assert "+a = 2" in shown

    listed = _out(cli("runs", "list", "--comune", SLUG))
    row = next(line for line in listed.splitlines() if "comply" in line)
    assert row.rstrip(" │|").split()[-1] == "1"


def test_drift_show_without_a_comply_run(cli: Cli, comune: ComuneFiles) -> None:
    result = cli("drift", "show", SLUG)
    assert result.exit_code == 2
    assert "no comply run yet" in _out(result)


def test_comply_skips_when_the_previous_run_still_holds_the_lock(
    cli: Cli, comune: ComuneFiles, fake_ansible: FakeAnsibleRunner, state_dir: Path
) -> None:
    from provisioner.adapters.history import History  # noqa: PLC0415
    from provisioner.config import StateLayout  # noqa: PLC0415

    with History(StateLayout(state_dir)).lock(f"schedule-{SLUG}"):
        result = cli("comply", SLUG, "--skip-if-running")
    assert result.exit_code == 0
    assert "skipped" in _out(result)
    assert fake_ansible.calls == []


def test_schedule_add_list_remove_systemd_units(cli: Cli, tmp_path: Path) -> None:
    units = tmp_path / "units"

    added = cli(
        "schedule", "add", "--all", "--at", "02:30", "--remediate",
        "--scope", "user", "--unit-dir", str(units), "--no-activate",
    )  # fmt: skip

    assert added.exit_code == 0, _out(added)
    service = (units / "provisioner-comply-all.service").read_text()
    timer = (units / "provisioner-comply-all.timer").read_text()
    assert "Type=oneshot" in service and "SuccessExitStatus=3 4 7" in service
    exec_line = next(line for line in service.splitlines() if line.startswith("ExecStart="))
    assert exec_line.endswith("comply --all --skip-if-running --remediate")
    assert "--state-dir" in exec_line and "--inventory-dir" in exec_line
    assert "OnCalendar=*-*-* 02:30:00" in timer and "Persistent=true" in timer
    # systemd's own parser accepts both units (offline: no running systemd needed)
    verify = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", *map(str, sorted(units.iterdir()))],
        capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip
    assert verify.returncode == 0, verify.stdout + verify.stderr
    listed = _out(cli("schedule", "list", "--scope", "user", "--unit-dir", str(units)))
    assert "all" in listed and "02:30" in listed
    removed = cli(
        "schedule", "remove", "all", "--scope", "user", "--unit-dir", str(units), "--no-activate"
    )  # fmt: skip
    assert removed.exit_code == 0
    assert list(units.iterdir()) == []


def test_schedule_cron_line_where_systemd_is_absent(cli: Cli, tmp_path: Path) -> None:
    cron = tmp_path / "cron.d"

    added = cli(
        "schedule", "add", "--comune", "lab", "--at", "23:05", "--scope", "cron",
        "--unit-dir", str(cron),
    )  # fmt: skip

    assert added.exit_code == 0, _out(added)
    line = (cron / "provisioner-comply-lab").read_text().splitlines()[-1]
    assert re.match(
        r"^5 23 \* \* \* root flock -n \S+schedule-lab\.cron\.lock \S+provisioner ", line
    )
    assert line.endswith("comply lab --skip-if-running")
    assert "23:05" in _out(cli("schedule", "list", "--scope", "cron", "--unit-dir", str(cron)))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--all", "--at", "25:00"], "must be HH:MM"),
        (["--at", "02:00"], "give --comune X"),
        (["--all", "--at", "02:00", "--scope", "weekly"], "choose auto, user, system or cron"),
    ],
)
def test_schedule_add_rejects_bad_input(
    cli: Cli, tmp_path: Path, args: list[str], message: str
) -> None:
    result = cli("schedule", "add", *args, "--unit-dir", str(tmp_path / "u"), "--no-activate")
    assert result.exit_code == 2
    assert message in _out(result)
    assert not (tmp_path / "u").exists()


def test_schedule_watch_writes_a_service_that_list_shows_and_remove_deletes(
    cli: Cli, tmp_path: Path
) -> None:
    units = tmp_path / "units"

    added = cli(
        "schedule", "watch", "--comune", "lab", "--interval", "20",
        "--scope", "user", "--unit-dir", str(units), "--no-activate",
    )  # fmt: skip

    assert added.exit_code == 0, _out(added)
    assert "schedule watch-lab: always (every 20 s) (user)" in _out(added)
    service = (units / "provisioner-watch-lab.service").read_text()
    assert "Restart=on-failure" in service and "KillSignal=SIGINT" in service
    exec_line = next(line for line in service.splitlines() if line.startswith("ExecStart="))
    assert exec_line.endswith("watch --comune lab --interval 20")
    assert "--state-dir" in exec_line and "--inventory-dir" in exec_line
    verify = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", str(units / "provisioner-watch-lab.service")],
        capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip
    assert verify.returncode == 0, verify.stdout + verify.stderr
    listed = _out(cli("schedule", "list", "--scope", "user", "--unit-dir", str(units)))
    assert "watch-lab" in listed and "every 20 s" in listed
    removed = cli(
        "schedule", "remove", "watch-lab", "--scope", "user", "--unit-dir", str(units),
        "--no-activate",
    )  # fmt: skip
    assert removed.exit_code == 0, _out(removed)
    assert list(units.iterdir()) == []


def test_schedule_watch_refuses_cron(cli: Cli, tmp_path: Path) -> None:
    result = cli("schedule", "watch", "--scope", "cron", "--unit-dir", str(tmp_path / "c"))
    assert result.exit_code == 2
    assert "needs systemd" in _out(result)
    assert not (tmp_path / "c").exists()
