"""Run history in SQLite (stdlib), run directories and per-comune locks, all in the state dir."""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
import os
import secrets
import shutil
import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from provisioner.config import StateLayout
from provisioner.errors import BusyError, StateError
from provisioner.models.comply import DriftItem
from provisioner.models.history import (
    HostRun,
    Invocation,
    RetiredHost,
    RunDetail,
    RunRecord,
    RunSummary,
)
from provisioner.models.pending import OPEN, PendingWork, WorkKind, WorkState
from provisioner.models.run import (
    COMPLY,
    HostResult,
    OfflineHost,
    RunOutcome,
    RunStatus,
    TaskOutcome,
)

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
-- Hosts a run left out because they were offline (no recent handshake on the terminator).
CREATE TABLE IF NOT EXISTS run_offline (
    run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    host TEXT NOT NULL,
    last_seen REAL,
    PRIMARY KEY (run_id, host)
);
-- The ledger of desired work per host (models/pending.py): kept until the host is seen.
CREATE TABLE IF NOT EXISTS pending_work (
    id INTEGER PRIMARY KEY,
    comune TEXT NOT NULL,
    host TEXT NOT NULL,
    kind TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    created REAL NOT NULL,
    updated REAL NOT NULL,
    last_seen REAL,
    next_attempt REAL,
    expires REAL NOT NULL,
    revision TEXT NOT NULL,
    run_id TEXT,
    detail TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS pending_open ON pending_work (comune, host, state);
-- When each endpoint's tunnel was last seen (latest handshake): kept across terminator restarts.
CREATE TABLE IF NOT EXISTS last_seen (
    comune TEXT NOT NULL,
    host TEXT NOT NULL,
    seen REAL NOT NULL,
    PRIMARY KEY (comune, host)
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

    def finish(
        self,
        run_id: str,
        outcome: RunOutcome,
        drift: Sequence[DriftItem] = (),
        offline: Sequence[OfflineHost] = (),
    ) -> str:
        """Store the outcome of a run, its drift items (a comply run) and the hosts it left out
        because they were offline, all or nothing.

        When that cannot be written (a full disk, a read-only file), the run's status alone is
        recorded if possible, so it is never left "running" (then "interrupted"). Returns what
        could not be recorded ("" when everything was).

        Raises:
            StateError: the database is damaged, or not even the status could be written.
        """
        try:
            with self._db() as conn:
                self._insert_details(conn, run_id, outcome, drift, offline)
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
        offline: Sequence[OfflineHost],
    ) -> None:
        """The run's status, hosts, tasks, drift items and offline hosts, in the caller's
        transaction."""
        self._insert_drift(conn, run_id, drift)
        conn.executemany(
            "INSERT INTO run_offline (run_id, host, last_seen) VALUES (?, ?, ?)",
            [(run_id, o.host, o.last_seen) for o in offline],
        )
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

    # --- the ledger of pending work ---------------------------------------------------------

    def want(
        self,
        comune: str,
        host: str,
        kind: WorkKind,
        *,
        last_seen: float | None,
        revision: str,
        expires: float,
        detail: str = "",
    ) -> int:
        """Record that ``host`` needs ``kind`` (one open item per host and kind); its id."""
        now = time.time()
        with self._db() as conn:
            row = conn.execute(
                "SELECT id FROM pending_work WHERE comune = ? AND host = ? AND kind = ?"
                f" AND state IN ({', '.join('?' * len(OPEN))})",
                (comune, host, kind, *OPEN),
            ).fetchone()
            if row is not None:
                conn.execute(
                    "UPDATE pending_work SET updated = ?, last_seen = COALESCE(?, last_seen),"
                    " revision = ?, detail = ? WHERE id = ?",
                    (now, last_seen, revision, detail, row[0]),
                )
                return int(row[0])
            cursor = conn.execute(
                "INSERT INTO pending_work (comune, host, kind, state, created, updated,"
                " last_seen, expires, revision, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    comune,
                    host,
                    kind,
                    WorkState.PENDING,
                    now,
                    now,
                    last_seen,
                    expires,
                    revision,
                    detail,
                ),
            )
            return int(cursor.lastrowid or 0)

    def settle(
        self,
        comune: str,
        host: str,
        kinds: Iterable[WorkKind],
        state: WorkState,
        *,
        run_id: str | None,
        detail: str = "",
        retry_after: float | None = None,
        last_seen: float | None = None,
    ) -> list[int]:
        """Move the host's open (or running) items of ``kinds`` to ``state``; their ids.

        A failure counts an attempt and, with ``retry_after``, sets when to try again.
        """
        now = time.time()
        kinds = list(kinds)
        states = (*OPEN, WorkState.RUNNING)
        with self._db() as conn:
            ids = [
                int(r[0])
                for r in conn.execute(
                    "SELECT id FROM pending_work WHERE comune = ? AND host = ?"
                    f" AND kind IN ({', '.join('?' * len(kinds))})"
                    f" AND state IN ({', '.join('?' * len(states))})",
                    (comune, host, *kinds, *states),
                )
            ]
            attempted = state in {WorkState.FAILED, WorkState.APPLIED}
            conn.executemany(
                "UPDATE pending_work SET state = ?, updated = ?, run_id = COALESCE(?, run_id),"
                " detail = ?, attempts = attempts + ?, next_attempt = ?,"
                " last_seen = COALESCE(?, last_seen) WHERE id = ?",
                [
                    (
                        state,
                        now,
                        run_id,
                        detail,
                        int(attempted),
                        now + retry_after if retry_after is not None else None,
                        last_seen,
                        i,
                    )
                    for i in ids
                ],
            )
        return ids

    def pending(self, comune: str | None = None, *, open_only: bool = False) -> list[PendingWork]:
        """Items of the ledger, newest first (``open_only``: still to be done)."""
        if not self.db_path.exists():
            return []
        query = "SELECT * FROM pending_work WHERE 1 = 1"
        params: list[object] = []
        if comune:
            query += " AND comune = ?"
            params.append(comune)
        if open_only:
            query += f" AND state IN ({', '.join('?' * len(OPEN))})"
            params.extend(OPEN)
        with self._db() as conn:
            return [_work(row) for row in conn.execute(query + " ORDER BY id DESC", params)]

    def expire(self, now: float | None = None) -> list[PendingWork]:
        """Close the open items whose expiry passed; return them as they are now."""
        moment = now or time.time()
        with self._db() as conn:
            ids = [
                int(r[0])
                for r in conn.execute(
                    f"SELECT id FROM pending_work WHERE state IN ({', '.join('?' * len(OPEN))})"
                    " AND expires < ?",
                    (*OPEN, moment),
                )
            ]
            conn.executemany(
                "UPDATE pending_work SET state = ?, updated = ? WHERE id = ?",
                [(WorkState.EXPIRED, moment, i) for i in ids],
            )
            if not ids:
                return []
            marks = ", ".join("?" * len(ids))
            return [
                _work(row)
                for row in conn.execute(f"SELECT * FROM pending_work WHERE id IN ({marks})", ids)
            ]

    def seen(self, comune: str, observed: dict[str, float]) -> dict[str, float]:
        """Remember the latest handshakes observed; return the latest known per host."""
        with self._db() as conn:
            conn.executemany(
                "INSERT INTO last_seen (comune, host, seen) VALUES (?, ?, ?)"
                " ON CONFLICT (comune, host) DO UPDATE SET seen = MAX(seen, excluded.seen)",
                [(comune, host, epoch) for host, epoch in observed.items()],
            )
            return {
                str(r[0]): float(r[1])
                for r in conn.execute(
                    "SELECT host, seen FROM last_seen WHERE comune = ?", (comune,)
                )
            }

    def offline_of(self, run_id: str) -> list[OfflineHost]:
        """The hosts a run left out as offline."""
        if not self.db_path.exists():
            return []
        with self._db() as conn:
            return [
                OfflineHost(str(r[0]), None if r[1] is None else float(r[1]))
                for r in conn.execute(
                    "SELECT host, last_seen FROM run_offline WHERE run_id = ? ORDER BY host",
                    (run_id,),
                )
            ]

    # --- what the console's overview and comune pages read ------------------------------------

    def latest_per_comune(self, use_case: str, comune: str | None = None) -> dict[str, RunSummary]:
        """The newest finished run of a use case for every comune (or one), with its counts."""
        if not self.db_path.exists():
            return {}
        # The run's columns (what _record reads by name), then the counts.
        query = (
            "SELECT r.*,"
            " (SELECT COUNT(*) FROM drift_items d WHERE d.run_id = r.id) AS n_drift,"
            " (SELECT COUNT(DISTINCT d.host) FROM drift_items d WHERE d.run_id = r.id)"
            "  AS n_drifted_hosts,"
            " (SELECT COUNT(*) FROM host_results h WHERE h.run_id = r.id) AS n_hosts,"
            " (SELECT COUNT(*) FROM host_results h WHERE h.run_id = r.id AND h.failed > 0"
            "  AND h.unreachable = 0) AS n_failed,"
            " (SELECT COUNT(*) FROM host_results h WHERE h.run_id = r.id AND h.unreachable > 0)"
            "  AS n_unreachable,"
            " (SELECT COUNT(*) FROM run_offline o WHERE o.run_id = r.id) AS n_offline"
            " FROM runs r JOIN (SELECT comune, MAX(started) AS newest FROM runs"
            "  WHERE use_case = ? AND finished IS NOT NULL AND (? IS NULL OR comune = ?)"
            "  GROUP BY comune) m"
            " ON r.comune = m.comune AND r.started = m.newest AND r.use_case = ?"
        )
        found: dict[str, RunSummary] = {}
        with self._db() as conn:
            for row in conn.execute(query, (use_case, comune, comune, use_case)):
                record = _record(row)
                found[record.comune] = RunSummary(
                    dataclasses.replace(
                        record, drift=int(row["n_drift"]) if use_case == COMPLY else None
                    ),
                    drifted_hosts=int(row["n_drifted_hosts"]),
                    hosts=int(row["n_hosts"]),
                    failed=int(row["n_failed"]),
                    unreachable=int(row["n_unreachable"]),
                    offline=int(row["n_offline"]),
                )
        return found

    def last_seen(self, comune: str) -> dict[str, float]:
        """The latest handshake remembered for each endpoint of a comune."""
        if not self.db_path.exists():
            return {}
        with self._db() as conn:
            return {
                str(r[0]): float(r[1])
                for r in conn.execute(
                    "SELECT host, seen FROM last_seen WHERE comune = ?", (comune,)
                )
            }

    def latest_host_results(self, comune: str, runs: int = 50) -> dict[str, HostRun]:
        """Per host of a comune, its result in the newest of the last ``runs`` finished runs."""
        if not self.db_path.exists():
            return {}
        found: dict[str, HostRun] = {}
        with self._db() as conn:
            for row in conn.execute(
                "SELECT h.host, h.state, r.id, r.use_case, r.check_mode, r.started"
                " FROM host_results h JOIN (SELECT id, use_case, check_mode, started FROM runs"
                "  WHERE comune = ? AND finished IS NOT NULL ORDER BY started DESC LIMIT ?) r"
                " ON h.run_id = r.id ORDER BY r.started DESC",
                (comune, runs),
            ):
                found.setdefault(
                    str(row[0]),
                    HostRun(str(row[1]), str(row[2]), str(row[3]), bool(row[4]), float(row[5])),
                )
        return found

    @staticmethod
    def summary(run: RunRecord) -> dict[str, Any] | None:
        """The ``summary.json`` of a run (None: rotated away, not written, unreadable)."""
        try:
            data = json.loads((Path(run.run_dir) / "summary.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None


def _work(row: tuple[Any, ...]) -> PendingWork:
    return PendingWork(
        id=int(row[0]),
        comune=str(row[1]),
        host=str(row[2]),
        kind=WorkKind(row[3]),
        state=WorkState(row[4]),
        attempts=int(row[5]),
        created=float(row[6]),
        updated=float(row[7]),
        last_seen=None if row[8] is None else float(row[8]),
        next_attempt=None if row[9] is None else float(row[9]),
        expires=float(row[10]),
        revision=str(row[11]),
        run_id=None if row[12] is None else str(row[12]),
        detail=str(row[13]),
    )


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
