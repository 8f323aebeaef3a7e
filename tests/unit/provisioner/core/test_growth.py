"""Growth: a thousand runs over weeks leave a state dir of bounded size and counts."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

import pytest

from provisioner.config import Settings
from provisioner.core import comply
from provisioner.core.enable import enable
from provisioner.core.runs import history, list_runs
from tests.unit.fakes import SLUG, ComuneFiles, FakeAnsibleRunner, on_ok, stats, task_start

RUNS = int(os.environ.get("GROWTH_RUNS", "1000"))
HOUR = 3600.0


def _size(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


def test_a_thousand_runs_leave_a_bounded_state_dir(
    settings: Settings,
    comune: ComuneFiles,
    fake_ansible: FakeAnsibleRunner,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> None:
    # On tmpfs when there is one: SQLite's own fsyncs would make this a minute of disk waits.
    shm = Path("/dev/shm")
    state_dir = (
        Path(tempfile.mkdtemp(dir=shm)) if shm.is_dir() and os.access(shm, os.W_OK) else None
    )
    if state_dir is not None:
        request.addfinalizer(lambda: shutil.rmtree(state_dir, ignore_errors=True))
    bounded = settings.model_copy(
        update={
            "state_dir": state_dir or settings.state_dir,
            "keep_runs": 5,
            "keep_history_runs": 100,
            "keep_history_days": 3,  # 72 hourly runs: age bounds the history first
            "keep_reports": 20,
            "keep_reports_days": 30,
        }
    )
    fake_ansible.events = [
        task_start("Configure the tunnel", "vpn_gateway"),
        on_ok(
            "gw-vpn-01",
            "Configure the tunnel",
            "vpn_gateway",
            changed=True,
            diff={"before": "a\n" * 50, "after": "b\n" * 50},
        ),
        stats(**{"gw-vpn-01": {"ok": 20, "changed": 1}, "gw-rd-01": {"ok": 20}}),
    ]
    clock = [time.time() - RUNS * HOUR]
    monkeypatch.setattr(time, "time", lambda: clock[0])  # one run an hour, for six weeks
    monkeypatch.setattr(os, "fsync", lambda _fd: None)  # speed: durability is not the point
    sizes = []

    for n in range(RUNS):
        clock[0] += HOUR
        if n % 2:
            comply.comply(bounded, [SLUG])
        else:
            enable(bounded, SLUG)
        if n in {RUNS // 2, RUNS - 1}:
            sizes.append(_size(bounded.state_dir))

    state = bounded.state
    run_dirs = list(state.runs(SLUG).iterdir())
    report_dirs = [p for p in (state.reports / SLUG).iterdir() if p.is_dir()]
    rows = list_runs(bounded, SLUG, 10 * RUNS)
    assert len(run_dirs) == 5
    assert len(report_dirs) == 20
    assert 70 <= len(rows) <= 74  # three days of hourly runs (and the newest of each use case)
    assert {r.use_case for r in rows} == {"enable", "comply"}
    with history(bounded)._db() as conn:
        tasks = conn.execute("SELECT COUNT(*) FROM task_results").fetchone()[0]
        drift = conn.execute("SELECT COUNT(*) FROM drift_items").fetchone()[0]
    assert tasks == len(rows)  # one task row per run: the hosts and tasks went with their runs
    assert drift == len([r for r in rows if r.use_case == "comply"])
    # the size stops growing: the second half of the runs added (almost) nothing
    assert sizes[1] <= sizes[0] * 1.1, sizes
    assert sizes[1] < 3_000_000, sizes
