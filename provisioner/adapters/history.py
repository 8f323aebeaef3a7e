"""Run history in SQLite (stdlib), run directories and per-comune locks, all in the state dir."""

from __future__ import annotations

import contextlib
import fcntl
import os
import secrets
import shutil
import sqlite3
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from provisioner.config import StateLayout
from provisioner.errors import BusyError, StateError
from provisioner.models.comply import DriftItem
from provisioner.models.history import Invocation, RetiredHost, RunDetail, RunRecord
from provisioner.models.run import COMPLY, HostResult, RunOutcome, RunStatus, TaskOutcome

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY,
    use_case TEXT NOT NULL,
    comune TEXT NOT NULL,
    host_limit TEXT,
    check_mode INTEGER NOT NULL,
    tags TEXT NOT NULL DEFAULT '',
    started REAL NOT NULL,
    finished REAL,
    status TEXT NOT NULL,
    rc INTEGER,
    run_dir TEXT NOT NULL,
    error TEXT NOT NULL DEFAULT '',
    started_by TEXT NOT NULL DEFAULT '',
    console_user TEXT,
    origin TEXT NOT NULL DEFAULT '',
    command TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS runs_comune ON runs (comune, started);
CREATE TABLE IF NOT EXISTS host_results (
    run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    host TEXT NOT NULL,
    state TEXT NOT NULL,
    ok INTEGER NOT NULL, changed INTEGER NOT NULL, failed INTEGER NOT NULL,
    unreachable INTEGER NOT NULL, skipped INTEGER NOT NULL,
    rescued INTEGER NOT NULL, ignored INTEGER NOT NULL,
    PRIMARY KEY (run_id, host)
);
CREATE TABLE IF NOT EXISTS task_results (
    run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    seq INTEGER NOT NULL,
    host TEXT NOT NULL, role TEXT NOT NULL, task TEXT NOT NULL, action TEXT NOT NULL,
    outcome TEXT NOT NULL, message TEXT NOT NULL, diff TEXT NOT NULL,
    PRIMARY KEY (run_id, seq)
);
-- Decommissioned hosts: their runs stay; this says when and by which run they left.
CREATE TABLE IF NOT EXISTS retired_hosts (
    comune TEXT NOT NULL,
    host TEXT NOT NULL,
    retired REAL NOT NULL,
    vpn_address TEXT,
    run_id TEXT,
    PRIMARY KEY (comune, host, retired)
);
CREATE TABLE IF NOT EXISTS drift_items (
    run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    seq INTEGER NOT NULL,
    comune TEXT NOT NULL, host TEXT NOT NULL, role TEXT NOT NULL, task TEXT NOT NULL,
    action TEXT NOT NULL, diff TEXT NOT NULL, message TEXT NOT NULL, redacted INTEGER NOT NULL,
    PRIMARY KEY (run_id, seq)
);
"""


_MIGRATIONS = {
    # column of runs -> its definition; added to a database created before it existed
    "started_by": "TEXT NOT NULL DEFAULT ''",
    "console_user": "TEXT",
    "origin": "TEXT NOT NULL DEFAULT ''",
    "command": "TEXT NOT NULL DEFAULT ''",
}
_DAY = 86400.0


def new_run_id(now: float | None = None) -> str:
    """Sortable, readable run id: ``20261126-053700-ab12``."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(now or time.time()))
    return f"{stamp}-{secrets.token_hex(2)}"


class History:
    """SQLite history, run directories and locks under one state directory."""

    def __init__(self, layout: StateLayout) -> None:
        self.layout = layout
        self.state_dir = layout.root
        self.db_path = layout.history_db

    @contextlib.contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        """A connection in one transaction; a damaged database is a clear error.

        Raises:
            StateError: the file is not a database or is damaged (how to recover is said).
        """
        self.state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        try:
            conn = sqlite3.connect(self.db_path, timeout=30)
        except sqlite3.DatabaseError as exc:
            raise self._damaged(exc) from exc
        conn.row_factory = sqlite3.Row
        try:
            conn.execute("PRAGMA foreign_keys = ON")
            conn.executescript(_SCHEMA)
            self._migrate(conn)
            with conn:
                yield conn
        except sqlite3.OperationalError:
            raise  # locked, disk full, read-only: not damage (callers say what they could keep)
        except sqlite3.DatabaseError as exc:
            raise self._damaged(exc) from exc
        finally:
            conn.close()

    def _damaged(self, exc: sqlite3.DatabaseError) -> StateError:
        aside = self.db_path.with_name(f"{self.db_path.name}.damaged-{time.strftime('%Y%m%d')}")
        return StateError(
            f"{self.db_path}: the run history is damaged ({exc}). Move it aside and the next "
            f"run starts a new history: mv {self.db_path} {aside} (run directories and "
            "reports are kept; `sqlite3 <file> .recover` may save the old rows)"
        )

    @staticmethod
    def _migrate(conn: sqlite3.Connection) -> None:
        """Add the columns an older database lacks (one writer at a time: parallel comply)."""
        have = {row[1] for row in conn.execute("PRAGMA table_info(runs)")}
        if not set(_MIGRATIONS) - have:
            return
        conn.execute("BEGIN IMMEDIATE")
        have = {row[1] for row in conn.execute("PRAGMA table_info(runs)")}
        for column, definition in _MIGRATIONS.items():
            if column not in have:
                conn.execute(f"ALTER TABLE runs ADD COLUMN {column} {definition}")
        conn.commit()

    def run_dir(self, comune: str, run_id: str) -> Path:
        """The private_data_dir of one run."""
        return self.layout.run_dir(comune, run_id)

    @contextlib.contextmanager
    def lock(self, comune: str) -> Iterator[None]:
        """Hold the comune's lock; refuse at once if another run holds it.

        Raises:
            BusyError: another process runs on this comune.
        """
        path = self.layout.lock_file(comune)
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.pread(fd, 200, 0).decode(errors="replace").strip()
                raise BusyError(
                    f"comune {comune!r} is busy: another run is in progress "
                    f"({holder or 'unknown'}); wait for it to finish and retry"
                ) from None
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"pid {os.getpid()}, since {time.strftime('%H:%M:%S')}".encode(), 0)
            self._mark_interrupted(comune)
            yield
        finally:
            os.close(fd)

    def _mark_interrupted(self, comune: str) -> None:
        """Runs still 'running' while we hold the lock died without finishing."""
        if not self.db_path.exists():
            return
        with self._db() as conn:
            conn.execute(
                "UPDATE runs SET status = ? WHERE comune = ? AND status = ?",
                (RunStatus.INTERRUPTED, comune, RunStatus.RUNNING),
            )

    def start(
        self,
        run_id: str,
        *,
        use_case: str,
        comune: str,
        host_limit: str | None,
        check_mode: bool,
        tags: tuple[str, ...],
        started: float,
        invocation: Invocation | None = None,
    ) -> Path:
        """Record a run as running (and who started it) and return its fresh run directory."""
        run_dir = self.run_dir(comune, run_id)
        run_dir.mkdir(parents=True, mode=0o700)
        who = invocation or Invocation("", "", "", "")
        with self._db() as conn:
            conn.execute(
                "INSERT INTO runs (id, use_case, comune, host_limit, check_mode, tags, started,"
                " status, run_dir, started_by, console_user, origin, command)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    run_id,
                    use_case,
                    comune,
                    host_limit,
                    int(check_mode),
                    ",".join(tags),
                    started,
                    RunStatus.RUNNING,
                    str(run_dir),
                    who.user,
                    who.console_user,
                    f"{who.host}\t{who.origin}" if who.host else who.origin,
                    who.command,
                ),
            )
        return run_dir

    def finish(self, run_id: str, outcome: RunOutcome, drift: Sequence[DriftItem] = ()) -> str:
        """Store the outcome of a run and its drift items (a comply run), all or nothing.

        When that cannot be written (a full disk, a read-only file), the run's status alone is
        recorded if possible, so it is never left "running" (then "interrupted"). Returns what
        could not be recorded ("" when everything was).

        Raises:
            StateError: the database is damaged, or not even the status could be written.
        """
        try:
            with self._db() as conn:
                self._insert_details(conn, run_id, outcome, drift)
            return ""
        except sqlite3.OperationalError as exc:
            missing = f"history: hosts, tasks and drift of run {run_id} not recorded ({exc})"
        try:
            with self._db() as conn:
                conn.execute(
                    "UPDATE runs SET finished = ?, status = ?, rc = ?, error = ? WHERE id = ?",
                    (outcome.finished, outcome.status, outcome.rc, missing, run_id),
                )
        except sqlite3.OperationalError as exc:
            raise StateError(
                f"{self.db_path}: run {run_id} ended {outcome.status} but could not be recorded "
                f"({exc}); free some space in {self.state_dir}"
            ) from exc
        return missing

    def _insert_details(
        self,
        conn: sqlite3.Connection,
        run_id: str,
        outcome: RunOutcome,
        drift: Sequence[DriftItem],
    ) -> None:
        """The run's status, hosts, tasks and drift items, in the caller's transaction."""
        self._insert_drift(conn, run_id, drift)
        conn.execute(
            "UPDATE runs SET finished = ?, status = ?, rc = ?, error = ? WHERE id = ?",
            (outcome.finished, outcome.status, outcome.rc, outcome.error, run_id),
        )
        conn.executemany(
            "INSERT INTO host_results VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    run_id,
                    h.host,
                    h.state,
                    h.ok,
                    h.changed,
                    h.failed,
                    h.unreachable,
                    h.skipped,
                    h.rescued,
                    h.ignored,
                )
                for h in outcome.hosts
            ],
        )
        conn.executemany(
            "INSERT INTO task_results VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (run_id, i, t.host, t.role, t.task, t.action, t.outcome, t.message, t.diff)
                for i, t in enumerate(outcome.tasks)
            ],
        )

    def fail(self, run_id: str, status: RunStatus, error: str) -> None:
        """Close a run that ended before Ansible produced an outcome."""
        with self._db() as conn:
            conn.execute(
                "UPDATE runs SET finished = ?, status = ?, error = ? WHERE id = ?",
                (time.time(), status, error, run_id),
            )

    @staticmethod
    def _insert_drift(conn: sqlite3.Connection, run_id: str, items: Sequence[DriftItem]) -> None:
        """The drift items of a compliance run (already redacted)."""
        if items:
            conn.executemany(
                "INSERT INTO drift_items VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        run_id,
                        i,
                        d.comune,
                        d.host,
                        d.role,
                        d.task,
                        d.action,
                        d.diff,
                        d.message,
                        int(d.redacted),
                    )
                    for i, d in enumerate(items)
                ],
            )

    def drift_of(self, run_id: str) -> list[DriftItem]:
        """The drift items of one run, in run order."""
        if not self.db_path.exists():
            return []
        with self._db() as conn:
            return [
                DriftItem(
                    comune=r[0],
                    host=r[1],
                    role=r[2],
                    task=r[3],
                    action=r[4],
                    diff=r[5],
                    message=r[6],
                    redacted=bool(r[7]),
                )
                for r in conn.execute(
                    "SELECT comune, host, role, task, action, diff, message, redacted"
                    " FROM drift_items WHERE run_id = ? ORDER BY seq",
                    (run_id,),
                )
            ]

    def latest(self, comune: str, use_case: str) -> RunRecord | None:
        """The newest finished run of a use case for a comune."""
        if not self.db_path.exists():
            return None
        with self._db() as conn:
            row = conn.execute(
                "SELECT * FROM runs WHERE comune = ? AND use_case = ? AND finished IS NOT NULL"
                " ORDER BY started DESC LIMIT 1",
                (comune, use_case),
            ).fetchone()
        return None if row is None else _record(row)

    def rotate(self, comune: str, keep: int) -> list[Path]:
        """Delete all but the newest ``keep`` run directories of a comune (history rows stay)."""
        base = self.layout.runs(comune)
        if not base.is_dir():
            return []
        with self._db() as conn:
            order = dict(conn.execute("SELECT id, started FROM runs WHERE comune = ?", (comune,)))
        dirs = sorted(
            (p for p in base.iterdir() if p.is_dir()),
            key=lambda p: (float(order.get(p.name, 0.0)), p.name),
        )
        removed = dirs[:-keep] if keep > 0 else dirs
        for path in removed:
            shutil.rmtree(path, ignore_errors=True)
        return removed

    def prune(self, comune: str, keep: int, max_age_days: float, now: float | None = None) -> int:
        """Delete a comune's history rows beyond the newest ``keep`` or older than
        ``max_age_days`` (hosts, tasks and drift items go with them). The newest finished run
        of each use case always stays (``drift show`` reads the latest comply). Returns the
        number of runs deleted; a full disk or a locked database deletes nothing this time.
        """
        if not self.db_path.exists():
            return 0
        oldest = (now if now is not None else time.time()) - max_age_days * _DAY
        try:
            with self._db() as conn:
                cursor = conn.execute(
                    "DELETE FROM runs WHERE comune = ? AND status != ?"
                    " AND (started < ? OR id NOT IN"
                    "  (SELECT id FROM runs WHERE comune = ? ORDER BY started DESC LIMIT ?))"
                    " AND id NOT IN"
                    "  (SELECT id FROM runs r WHERE comune = ? AND finished IS NOT NULL"
                    "   AND started = (SELECT MAX(started) FROM runs x WHERE x.comune = r.comune"
                    "    AND x.use_case = r.use_case AND x.finished IS NOT NULL))",
                    (comune, RunStatus.RUNNING, oldest, comune, max(keep, 1), comune),
                )
                return cursor.rowcount
        except sqlite3.OperationalError:
            return 0

    def list_runs(self, comune: str | None = None, limit: int = 20) -> list[RunRecord]:
        """Newest runs first, optionally for one comune."""
        if not self.db_path.exists():
            return []
        # The drift count of each finished comply run comes with its row (one query).
        query = (
            "SELECT runs.*, CASE WHEN use_case = ? AND finished IS NOT NULL THEN"
            " (SELECT COUNT(*) FROM drift_items d WHERE d.run_id = runs.id) END AS drift"
            " FROM runs"
        )
        params: list[object] = [COMPLY]
        if comune:
            query += " WHERE comune = ?"
            params.append(comune)
        query += " ORDER BY started DESC LIMIT ?"
        params.append(limit)
        with self._db() as conn:
            return [_record(row) for row in conn.execute(query, params)]

    def get(self, run_id: str) -> RunDetail | None:
        """One run by id or unique id prefix."""
        if not self.db_path.exists() or not run_id:
            return None
        with self._db() as conn:
            rows = conn.execute(
                "SELECT * FROM runs WHERE substr(id, 1, ?) = ? ORDER BY started DESC LIMIT 2",
                (len(run_id), run_id),
            ).fetchall()
            if len(rows) != 1:
                return None
            record = _record(rows[0])
            hosts = [
                HostResult(
                    host=r[1],
                    ok=r[3],
                    changed=r[4],
                    failed=r[5],
                    unreachable=r[6],
                    skipped=r[7],
                    rescued=r[8],
                    ignored=r[9],
                )
                for r in conn.execute(
                    "SELECT * FROM host_results WHERE run_id = ? ORDER BY host", (record.id,)
                )
            ]
            tasks = [
                TaskOutcome(
                    host=r[2],
                    role=r[3],
                    task=r[4],
                    action=r[5],
                    outcome=r[6],
                    message=r[7],
                    diff=r[8],
                )
                for r in conn.execute(
                    "SELECT * FROM task_results WHERE run_id = ? ORDER BY seq", (record.id,)
                )
            ]
        return RunDetail(record, hosts, tasks)

    def retire(self, comune: str, host: str, vpn_address: str | None, run_id: str | None) -> None:
        """Mark a host decommissioned (its past runs are kept)."""
        with self._db() as conn:
            conn.execute(
                "INSERT INTO retired_hosts (comune, host, retired, vpn_address, run_id)"
                " VALUES (?, ?, ?, ?, ?)",
                (comune, host, time.time(), vpn_address, run_id),
            )

    def retired(self, comune: str | None = None) -> list[RetiredHost]:
        """Decommissioned hosts, newest first."""
        if not self.db_path.exists():
            return []
        query = "SELECT comune, host, retired, vpn_address, run_id FROM retired_hosts"
        params: list[object] = []
        if comune:
            query += " WHERE comune = ?"
            params.append(comune)
        with self._db() as conn:
            return [
                RetiredHost(str(r[0]), str(r[1]), float(r[2]), r[3], r[4])
                for r in conn.execute(query + " ORDER BY retired DESC", params)
            ]


def _record(row: sqlite3.Row) -> RunRecord:
    keys = row.keys()
    drift = row["drift"] if "drift" in keys else None
    started_by = row["started_by"] if "started_by" in keys else ""
    invocation = None
    if started_by:
        host, _, origin = str(row["origin"]).rpartition("\t")
        invocation = Invocation(
            user=str(started_by),
            host=host,
            origin=origin,
            command=str(row["command"]),
            console_user=row["console_user"],
        )
    return RunRecord(
        id=str(row["id"]),
        use_case=str(row["use_case"]),
        comune=str(row["comune"]),
        host_limit=None if row["host_limit"] is None else str(row["host_limit"]),
        check_mode=bool(row["check_mode"]),
        tags=str(row["tags"]),
        started=float(row["started"]),
        finished=None if row["finished"] is None else float(row["finished"]),
        status=str(row["status"]),
        rc=None if row["rc"] is None else int(row["rc"]),
        run_dir=str(row["run_dir"]),
        error=str(row["error"]),
        drift=None if drift is None else int(drift),
        invocation=invocation,
    )
