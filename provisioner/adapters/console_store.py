"""Console users, role grants, sessions, failed logins and the audit trail in the history database.

Tables of their own (``console_*`` and ``audit``) in ``history.sqlite3``: one state place, one
backup. Sessions are stored by the SHA-256 of their token, so the database never holds a value a
browser could present; password hashes are argon2 strings made by the core.
"""

from __future__ import annotations

import contextlib
import hashlib
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from provisioner.config import StateLayout
from provisioner.models.accounts import ALL_COMUNI, AuditEntry, Grant, Role, User

_SCHEMA = """
CREATE TABLE IF NOT EXISTS console_users (
    name TEXT PRIMARY KEY,
    password_hash TEXT NOT NULL,
    created REAL NOT NULL,
    password_changed REAL NOT NULL
);
-- One row per role and comune of a user; comune '*' is every comune.
CREATE TABLE IF NOT EXISTS console_grants (
    user TEXT NOT NULL REFERENCES console_users (name) ON DELETE CASCADE,
    role TEXT NOT NULL,
    comune TEXT NOT NULL,
    PRIMARY KEY (user, role, comune)
);
CREATE TABLE IF NOT EXISTS console_sessions (
    token_sha256 TEXT PRIMARY KEY,
    user TEXT NOT NULL REFERENCES console_users (name) ON DELETE CASCADE,
    csrf TEXT NOT NULL,
    created REAL NOT NULL,
    last_seen REAL NOT NULL,
    source TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS console_login_failures (
    at REAL NOT NULL,
    user TEXT NOT NULL,
    source TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS console_failures_user ON console_login_failures (user, at);
CREATE INDEX IF NOT EXISTS console_failures_source ON console_login_failures (source, at);
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY,
    at REAL NOT NULL,
    user TEXT NOT NULL,
    source TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    outcome TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS audit_at ON audit (at);
"""


def token_digest(token: str) -> str:
    """How a session token is stored: its SHA-256 (the token itself only lives in the cookie)."""
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class StoredSession:
    """A session row with its user."""

    user: User
    csrf: str
    created: float
    last_seen: float


@dataclass(frozen=True)
class Failures:
    """Failed logins since a moment: for a user name and for a source address."""

    user: int
    user_oldest: float | None
    source: int
    source_oldest: float | None


class ConsoleStore:
    """The console's tables in the state directory's SQLite history."""

    def __init__(self, layout: StateLayout) -> None:
        self.layout = layout
        self._ready = False

    @contextlib.contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        self.layout.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        conn = sqlite3.connect(self.layout.history_db, timeout=30)
        try:
            conn.execute("PRAGMA foreign_keys = ON")
            if not self._ready:
                conn.executescript(_SCHEMA)
                self._ready = True
            with conn:
                yield conn
        finally:
            conn.close()

    # --- users -------------------------------------------------------------------------------

    def add_user(self, name: str, password_hash: str, grants: Iterable[Grant], now: float) -> bool:
        """Create a user; False when the name exists."""
        with self._db() as conn:
            try:
                conn.execute(
                    "INSERT INTO console_users VALUES (?, ?, ?, ?)", (name, password_hash, now, now)
                )
            except sqlite3.IntegrityError:
                return False
            self._write_grants(conn, name, grants)
        return True

    def set_password_hash(self, name: str, password_hash: str, now: float) -> bool:
        """Replace a user's hash and end its sessions; False when there is no such user."""
        with self._db() as conn:
            changed = conn.execute(
                "UPDATE console_users SET password_hash = ?, password_changed = ? WHERE name = ?",
                (password_hash, now, name),
            ).rowcount
            conn.execute("DELETE FROM console_sessions WHERE user = ?", (name,))
        return bool(changed)

    def rehash(self, name: str, old_hash: str, new_hash: str) -> None:
        """Store a stronger hash of the same password (argon2 parameters raised)."""
        with self._db() as conn:
            conn.execute(
                "UPDATE console_users SET password_hash = ? WHERE name = ? AND password_hash = ?",
                (new_hash, name, old_hash),
            )

    def set_grants(self, name: str, grants: Iterable[Grant]) -> bool:
        """Replace a user's grants; False when there is no such user."""
        with self._db() as conn:
            known = conn.execute("SELECT 1 FROM console_users WHERE name = ?", (name,)).fetchone()
            if known is None:
                return False
            conn.execute("DELETE FROM console_grants WHERE user = ?", (name,))
            self._write_grants(conn, name, grants)
        return True

    @staticmethod
    def _write_grants(conn: sqlite3.Connection, name: str, grants: Iterable[Grant]) -> None:
        conn.executemany(
            "INSERT OR IGNORE INTO console_grants VALUES (?, ?, ?)",
            [
                (name, g.role.value, comune)
                for g in grants
                for comune in (sorted(g.comuni) if g.comuni is not None else [ALL_COMUNI])
            ],
        )

    def remove_user(self, name: str) -> bool:
        """Delete a user, its grants and its sessions; False when there is no such user."""
        with self._db() as conn:
            return bool(conn.execute("DELETE FROM console_users WHERE name = ?", (name,)).rowcount)

    def credentials(self, name: str) -> tuple[User, str] | None:
        """A user and its password hash (for the core's verification only)."""
        with self._db() as conn:
            row = conn.execute(
                "SELECT name, password_hash, created, password_changed FROM console_users"
                " WHERE name = ?",
                (name,),
            ).fetchone()
            if row is None:
                return None
            return self._user(conn, row), str(row[1])

    def users(self) -> list[User]:
        """Every user, by name."""
        with self._db() as conn:
            rows = conn.execute(
                "SELECT name, password_hash, created, password_changed FROM console_users"
                " ORDER BY name"
            ).fetchall()
            return [self._user(conn, row) for row in rows]

    @staticmethod
    def _user(conn: sqlite3.Connection, row: tuple[object, ...]) -> User:
        name = str(row[0])
        scopes: dict[Role, set[str] | None] = {}
        for role, comune in conn.execute(
            "SELECT role, comune FROM console_grants WHERE user = ? ORDER BY role, comune", (name,)
        ):
            key = Role(role)
            if comune == ALL_COMUNI:
                scopes[key] = None
            elif key not in scopes or scopes[key] is not None:
                current = scopes.setdefault(key, set())
                assert current is not None
                current.add(str(comune))
        grants = tuple(
            Grant(role, None if comuni is None else frozenset(comuni))
            for role, comuni in sorted(scopes.items(), key=lambda item: list(Role).index(item[0]))
        )
        return User(name, grants, float(row[2]), float(row[3]))  # type: ignore[arg-type]

    # --- sessions ----------------------------------------------------------------------------

    def add_session(self, token: str, name: str, csrf: str, now: float, source: str) -> None:
        """Record a new session (by its token's digest)."""
        with self._db() as conn:
            conn.execute(
                "INSERT INTO console_sessions VALUES (?, ?, ?, ?, ?, ?)",
                (token_digest(token), name, csrf, now, now, source),
            )

    def session(self, token: str) -> StoredSession | None:
        """The session a cookie's token names, with its user as it is now."""
        with self._db() as conn:
            row = conn.execute(
                "SELECT u.name, u.password_hash, u.created, u.password_changed, s.csrf,"
                " s.created, s.last_seen FROM console_sessions s"
                " JOIN console_users u ON u.name = s.user WHERE s.token_sha256 = ?",
                (token_digest(token),),
            ).fetchone()
            if row is None:
                return None
            return StoredSession(self._user(conn, row), str(row[4]), float(row[5]), float(row[6]))

    def touch_session(self, token: str, now: float) -> None:
        """Note that the session was used."""
        with self._db() as conn:
            conn.execute(
                "UPDATE console_sessions SET last_seen = ? WHERE token_sha256 = ?",
                (now, token_digest(token)),
            )

    def end_session(self, token: str) -> None:
        """Forget one session (logout, expiry)."""
        with self._db() as conn:
            conn.execute(
                "DELETE FROM console_sessions WHERE token_sha256 = ?", (token_digest(token),)
            )

    def end_stale_sessions(self, idle_before: float, created_before: float) -> int:
        """Forget sessions idle since ``idle_before`` or older than ``created_before``."""
        with self._db() as conn:
            return conn.execute(
                "DELETE FROM console_sessions WHERE last_seen < ? OR created < ?",
                (idle_before, created_before),
            ).rowcount

    # --- failed logins -----------------------------------------------------------------------

    def add_failure(self, name: str, source: str, at: float) -> None:
        """Record one failed login."""
        with self._db() as conn:
            conn.execute("INSERT INTO console_login_failures VALUES (?, ?, ?)", (at, name, source))

    def failures(self, name: str, source: str, since: float) -> Failures:
        """Failed logins since ``since`` for this user name and from this address."""
        with self._db() as conn:
            by_user = conn.execute(
                "SELECT COUNT(*), MIN(at) FROM console_login_failures WHERE user = ? AND at >= ?",
                (name, since),
            ).fetchone()
            by_source = conn.execute(
                "SELECT COUNT(*), MIN(at) FROM console_login_failures WHERE source = ? AND at >= ?",
                (source, since),
            ).fetchone()
        return Failures(int(by_user[0]), by_user[1], int(by_source[0]), by_source[1])

    def clear_failures(self, name: str) -> None:
        """Forget a user's failed logins (after a successful one)."""
        with self._db() as conn:
            conn.execute("DELETE FROM console_login_failures WHERE user = ?", (name,))

    def prune_failures(self, before: float) -> None:
        """Forget failed logins older than a moment (they no longer count)."""
        with self._db() as conn:
            conn.execute("DELETE FROM console_login_failures WHERE at < ?", (before,))

    # --- audit -------------------------------------------------------------------------------

    def audit(
        self,
        *,
        at: float,
        user: str,
        source: str,
        action: str,
        target: str,
        outcome: str,
        detail: str = "",
    ) -> int:
        """Append one entry; its id."""
        with self._db() as conn:
            cursor = conn.execute(
                "INSERT INTO audit (at, user, source, action, target, outcome, detail)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (at, user, source, action, target, outcome, detail),
            )
            return int(cursor.lastrowid or 0)

    def settle_audit(self, entry: int, outcome: str, detail: str) -> None:
        """Say how an action that was started ended (a run's result and id)."""
        with self._db() as conn:
            conn.execute(
                "UPDATE audit SET outcome = ?, detail = ? WHERE id = ?", (outcome, detail, entry)
            )

    def audit_entries(
        self,
        *,
        user: str | None = None,
        action: str | None = None,
        since: float | None = None,
        limit: int = 100,
    ) -> list[AuditEntry]:
        """Newest first, optionally of one user or action, since a moment."""
        query = "SELECT id, at, user, source, action, target, outcome, detail FROM audit WHERE 1=1"
        params: list[object] = []
        for column, value in (("user", user), ("action", action)):
            if value:
                query += f" AND {column} = ?"
                params.append(value)
        if since is not None:
            query += " AND at >= ?"
            params.append(since)
        query += " ORDER BY id DESC LIMIT ?"
        params.append(limit)
        with self._db() as conn:
            return [
                AuditEntry(
                    int(r[0]),
                    float(r[1]),
                    str(r[2]),
                    str(r[3]),
                    str(r[4]),
                    str(r[5]),
                    str(r[6]),
                    str(r[7]),
                )
                for r in conn.execute(query, params)
            ]
