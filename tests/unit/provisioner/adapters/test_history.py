"""Run history: SQLite rows, run directories, rotation and the per-comune lock."""

from __future__ import annotations

import re
import stat
from pathlib import Path

import pytest

from provisioner.adapters.history import History, new_run_id
from provisioner.config import StateLayout
from provisioner.errors import BusyError, ExitCode
from provisioner.models.run import HostResult, RunOutcome, RunStatus, TaskOutcome

T0 = 1_768_469_400.0  # 2026-01-15 09:30:00 UTC


def _start(
    history: History, run_id: str, *, comune: str = "castelnuovo", started: float = T0
) -> Path:
    return history.start(
        run_id,
        use_case="enable",
        comune=comune,
        host_limit="vpn_gateways",
        check_mode=True,
        tags=("vpn", "rdp"),
        started=started,
    )


def _outcome(status: RunStatus = RunStatus.FAILED, rc: int = 2) -> RunOutcome:
    return RunOutcome(
        status=status,
        rc=rc,
        hosts=(
            HostResult("gw-rd-01", ok=2, failed=1),
            HostResult("gw-vpn-01", ok=5, changed=1, skipped=1, rescued=1, ignored=1),
        ),
        tasks=(
            TaskOutcome(
                "gw-vpn-01",
                "Write wg0.conf",
                "vpn_gateway",
                "template",
                "changed",
                diff="--- a\n+++ b",
            ),
            TaskOutcome(
                "gw-rd-01",
                "Enable xrdp",
                "rd_gateway",
                "systemd_service",
                "failed",
                message="Could not find the requested service xrdp",
            ),
        ),
        started=T0,
        finished=T0 + 42.5,
        error="",
    )


def test_new_run_id_is_sortable_and_readable() -> None:
    run_id = new_run_id(T0)

    assert re.fullmatch(r"20260115-093000-[0-9a-f]{4}", run_id)
    assert new_run_id(T0) < new_run_id(T0 + 1)


def test_start_records_a_running_run_and_makes_its_dir(tmp_path: Path) -> None:
    history = History(StateLayout(tmp_path / "state"))

    run_dir = _start(history, "20260115-093000-ab12")

    assert run_dir == tmp_path / "state" / "runs" / "castelnuovo" / "20260115-093000-ab12"
    assert run_dir.is_dir()
    assert stat.S_IMODE(run_dir.stat().st_mode) == 0o700
    [record] = history.list_runs()
    assert record.id == "20260115-093000-ab12"
    assert record.status == "running"
    assert record.use_case == "enable"
    assert record.host_limit == "vpn_gateways"
    assert record.check_mode is True
    assert record.tags == "vpn,rdp"
    assert record.finished is None
    assert record.duration is None
    assert record.rc is None
    assert record.run_dir == str(run_dir)


def test_start_refuses_an_existing_run_dir(tmp_path: Path) -> None:
    history = History(StateLayout(tmp_path))
    _start(history, "r1")

    with pytest.raises(FileExistsError):
        _start(history, "r1")


def test_finish_then_get_round_trips(tmp_path: Path) -> None:
    history = History(StateLayout(tmp_path))
    _start(history, "20260115-093000-ab12")

    history.finish("20260115-093000-ab12", _outcome())
    detail = history.get("20260115-093000-ab12")

    assert detail is not None
    assert detail.run.status == "failed"
    assert detail.run.rc == 2
    assert detail.run.finished == T0 + 42.5
    assert detail.run.duration == 42.5
    assert detail.hosts == list(_outcome().hosts)
    assert detail.tasks == list(_outcome().tasks)


def test_get_by_unique_prefix(tmp_path: Path) -> None:
    history = History(StateLayout(tmp_path))
    _start(history, "20260115-093000-ab12", started=T0)
    _start(history, "20260115-094500-cd34", started=T0 + 900)

    by_prefix = history.get("20260115-0945")

    assert by_prefix is not None
    assert by_prefix.run.id == "20260115-094500-cd34"
    assert history.get("20260115-09") is None  # ambiguous
    assert history.get("2025") is None


def test_get_treats_underscore_literally(tmp_path: Path) -> None:
    history = History(StateLayout(tmp_path))
    _start(history, "20260115-093000-ab12")

    assert history.get("20260115_093000") is None


def test_get_and_list_without_a_database(tmp_path: Path) -> None:
    history = History(StateLayout(tmp_path / "state"))

    assert history.get("anything") is None
    assert history.list_runs() == []
    assert not (tmp_path / "state").exists()


def test_fail_closes_a_run_with_an_error(tmp_path: Path) -> None:
    history = History(StateLayout(tmp_path))
    _start(history, "r1")

    history.fail("r1", RunStatus.ERROR, "ansible-runner could not start: boom")

    [record] = history.list_runs()
    assert record.status == "error"
    assert record.error == "ansible-runner could not start: boom"
    assert record.finished is not None


def test_list_runs_newest_first_filtered_and_limited(tmp_path: Path) -> None:
    history = History(StateLayout(tmp_path))
    _start(history, "a", started=T0)
    _start(history, "b", started=T0 + 20)
    _start(history, "c", comune="montebello", started=T0 + 10)

    assert [r.id for r in history.list_runs()] == ["b", "c", "a"]
    assert [r.id for r in history.list_runs("castelnuovo")] == ["b", "a"]
    assert [r.id for r in history.list_runs(limit=1)] == ["b"]


def test_rotate_keeps_newest_dirs_and_all_rows(tmp_path: Path) -> None:
    history = History(StateLayout(tmp_path))
    ids = [new_run_id(T0 + i * 60) for i in range(5)]
    for i, run_id in enumerate(ids):
        _start(history, run_id, started=T0 + i * 60)
    other = _start(history, new_run_id(T0), comune="montebello")

    removed = history.rotate("castelnuovo", keep=2)

    base = tmp_path / "runs" / "castelnuovo"
    assert removed == [base / i for i in ids[:3]]
    assert sorted(p.name for p in base.iterdir()) == ids[3:]
    assert other.is_dir()
    assert len(history.list_runs("castelnuovo")) == 5
    assert history.get(ids[0]) is not None
    assert history.rotate("castelnuovo", keep=2) == []
    assert history.rotate("nowhere", keep=2) == []


def test_rotate_keeps_the_newest_run_within_one_second(tmp_path: Path) -> None:
    history = History(StateLayout(tmp_path))
    older, newer = "20260115-093000-ffff", "20260115-093000-0000"
    _start(history, older, started=T0 + 0.1)
    newest_dir = _start(history, newer, started=T0 + 0.9)

    history.rotate("castelnuovo", keep=1)

    assert newest_dir.is_dir()


def test_lock_refuses_a_second_holder(tmp_path: Path) -> None:
    history = History(StateLayout(tmp_path))

    second = History(StateLayout(tmp_path)).lock("castelnuovo")
    with history.lock("castelnuovo"), pytest.raises(BusyError) as info, second:
        pytest.fail("second holder got the lock")

    assert info.value.exit_code == ExitCode.BUSY
    message = str(info.value)
    assert "comune 'castelnuovo' is busy" in message
    assert re.search(r"\(pid \d+, since \d\d:\d\d:\d\d\)", message)


def test_lock_is_per_comune_and_released(tmp_path: Path) -> None:
    history = History(StateLayout(tmp_path))

    with history.lock("castelnuovo"), history.lock("montebello"):
        pass
    with history.lock("castelnuovo"):
        pass

    assert stat.S_IMODE((tmp_path / "locks" / "castelnuovo.lock").stat().st_mode) == 0o600


def test_lock_is_released_when_the_body_raises(tmp_path: Path) -> None:
    history = History(StateLayout(tmp_path))

    with pytest.raises(RuntimeError), history.lock("castelnuovo"):
        raise RuntimeError("boom")
    with history.lock("castelnuovo"):
        pass


def test_stale_running_row_is_marked_interrupted_when_lock_is_taken(tmp_path: Path) -> None:
    history = History(StateLayout(tmp_path))
    _start(history, "crashed")
    _start(history, "elsewhere", comune="montebello")
    _start(history, "done")
    history.finish("done", _outcome(RunStatus.SUCCESSFUL, 0))

    with history.lock("castelnuovo"):
        statuses = {r.id: r.status for r in history.list_runs()}

    assert statuses == {"crashed": "interrupted", "elsewhere": "running", "done": "successful"}


def test_an_older_history_gains_the_invocation_columns_and_keeps_its_rows(tmp_path: Path) -> None:
    import sqlite3  # noqa: PLC0415

    db = tmp_path / "history.sqlite3"
    with sqlite3.connect(db) as conn:  # the runs table as it was before who-ran-it
        conn.execute(
            "CREATE TABLE runs (id TEXT PRIMARY KEY, use_case TEXT NOT NULL, comune TEXT NOT NULL,"
            " host_limit TEXT, check_mode INTEGER NOT NULL, tags TEXT NOT NULL DEFAULT '',"
            " started REAL NOT NULL, finished REAL, status TEXT NOT NULL, rc INTEGER,"
            " run_dir TEXT NOT NULL, error TEXT NOT NULL DEFAULT '')"
        )
        conn.execute(
            "INSERT INTO runs VALUES ('20260101-000000-abcd', 'enable', 'x', NULL, 0, '', 1.0,"
            " 2.0, 'successful', 0, '/r', '')"
        )
    conn.close()

    [old] = History(StateLayout(tmp_path)).list_runs()

    assert old.id == "20260101-000000-abcd" and old.invocation is None
