"""Console accounts: users and their grants, argon2 passwords, logins (throttled) and sessions.

The CLI (`provisioner users ...`) and the console call these; the store only keeps rows.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Iterable

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from provisioner.adapters.console_store import ConsoleStore
from provisioner.config import Settings
from provisioner.core import inventory as inventory_core
from provisioner.errors import InputError
from provisioner.models.accounts import Grant, LoginAttempt, Session, User
from provisioner.names import did_you_mean

MIN_PASSWORD = 12
MAX_PASSWORD = 1024
"""Longer input is refused before hashing: no CPU spent on a megabyte 'password'."""
FAILURE_WINDOW = 900.0
"""Seconds during which failed logins count."""
MAX_USER_FAILURES = 5
"""Failed logins for one user name within the window; then that name is refused until the
oldest of them leaves the window, even with the right password."""
MAX_SOURCE_FAILURES = 20
"""Failed logins from one address within the window (many names tried from one place)."""
TOUCH_EVERY = 60.0
"""A session's last use is written at most this often (not on every request)."""
_NAME = re.compile(r"^[a-z][a-z0-9._-]{1,63}$")

# argon2id with argon2-cffi's defaults (RFC 9106's second recommended profile: 64 MiB, 3 passes).
_HASHER = PasswordHasher()
# Verified when the user name is unknown, so that a wrong name costs the same time as a wrong
# password (no user enumeration by timing).
_DUMMY_HASH = _HASHER.hash(secrets.token_urlsafe(16))


def _store(settings: Settings) -> ConsoleStore:
    return ConsoleStore(settings.state)


def check_name(name: str) -> str:
    """A valid user name, or InputError."""
    if not _NAME.match(name):
        raise InputError(
            f"user name {name!r}: 2-64 characters, lowercase letters, digits, '.', '_' or '-', "
            "starting with a letter"
        )
    return name


def check_password(name: str, password: str) -> None:
    """Refuse a password too short, too long or equal to the user name.

    Raises:
        InputError: the reason (the password itself is never repeated).
    """
    if len(password) < MIN_PASSWORD:
        raise InputError(f"password: at least {MIN_PASSWORD} characters")
    if len(password) > MAX_PASSWORD:
        raise InputError(f"password: at most {MAX_PASSWORD} characters")
    if password.strip().lower() == name.lower():
        raise InputError("password: must not be the user name")


def _known_comuni(settings: Settings, grants: tuple[Grant, ...]) -> tuple[Grant, ...]:
    """Refuse grants naming comuni without an inventory (a typo would grant nothing)."""
    known = set(inventory_core.comunes(settings))
    for grant in grants:
        unknown = sorted((grant.comuni or set()) - known)
        if unknown:
            hint = did_you_mean(unknown[0], known)
            raise InputError(f"no comune {', '.join(unknown)} under {settings.inventory_dir}{hint}")
    return grants


def add_user(settings: Settings, name: str, password: str, grants: Iterable[Grant]) -> User:
    """Create a console user with an argon2 hash of ``password`` and its grants.

    Raises:
        InputError: bad name or password, an unknown comune, or the user exists.
    """
    check_name(name)
    check_password(name, password)
    grants = _known_comuni(settings, tuple(grants))
    if not _store(settings).add_user(name, _HASHER.hash(password), grants, time.time()):
        raise InputError(f"user {name!r} exists; change it with 'users passwd' or 'users roles'")
    return user(settings, name)


def set_password(settings: Settings, name: str, password: str) -> None:
    """Give a user a new password; its open sessions end.

    Raises:
        InputError: bad password or no such user.
    """
    check_password(name, password)
    if not _store(settings).set_password_hash(name, _HASHER.hash(password), time.time()):
        raise InputError(f"no user {name!r}; see 'provisioner users list'")


def set_grants(settings: Settings, name: str, grants: Iterable[Grant]) -> User:
    """Replace a user's roles and scopes (effective on its next request).

    Raises:
        InputError: no such user, or an unknown comune.
    """
    if not _store(settings).set_grants(name, _known_comuni(settings, tuple(grants))):
        raise InputError(f"no user {name!r}; see 'provisioner users list'")
    return user(settings, name)


def remove_user(settings: Settings, name: str) -> None:
    """Delete a user and end its sessions (its audit entries stay).

    Raises:
        InputError: no such user.
    """
    if not _store(settings).remove_user(name):
        raise InputError(f"no user {name!r}; see 'provisioner users list'")


def user(settings: Settings, name: str) -> User:
    """One user.

    Raises:
        InputError: no such user.
    """
    found = _store(settings).credentials(name)
    if found is None:
        raise InputError(f"no user {name!r}; see 'provisioner users list'")
    return found[0]


def users(settings: Settings) -> list[User]:
    """Every console user, by name."""
    return _store(settings).users()


def login(settings: Settings, name: str, password: str, source: str) -> LoginAttempt:
    """Check a password and open a session, unless the name or address is throttled.

    A throttled attempt checks no password at all (no guessing while throttled, and no hashing
    work an attacker can ask for).
    """
    store = _store(settings)
    now = time.time()
    since = now - FAILURE_WINDOW
    store.prune_failures(since)
    failures = store.failures(name, source, since)
    blocked = [
        oldest + FAILURE_WINDOW - now
        for count, limit, oldest in (
            (failures.user, MAX_USER_FAILURES, failures.user_oldest),
            (failures.source, MAX_SOURCE_FAILURES, failures.source_oldest),
        )
        if count >= limit and oldest is not None
    ]
    if blocked:
        return LoginAttempt(ok=False, throttled=True, retry_after=max(1.0, *blocked))
    found = store.credentials(name) if len(password) <= MAX_PASSWORD else None
    try:
        _HASHER.verify(found[1] if found else _DUMMY_HASH, password[:MAX_PASSWORD])
        verified = found is not None
    except (VerificationError, InvalidHashError):
        verified = False
    if not verified or found is None:
        store.add_failure(name, source, now)
        return LoginAttempt(ok=False)
    account, stored_hash = found
    if _HASHER.check_needs_rehash(stored_hash):
        store.rehash(name, stored_hash, _HASHER.hash(password))
    store.clear_failures(name)
    token = secrets.token_urlsafe(32)
    store.add_session(token, account.name, secrets.token_urlsafe(32), now, source)
    return LoginAttempt(ok=True, token=token)


def session(settings: Settings, token: str) -> Session | None:
    """The live session of a cookie's token (None: unknown, idle too long or too old)."""
    if not token:
        return None
    store = _store(settings)
    found = store.session(token)
    if found is None:
        return None
    now = time.time()
    if (
        now - found.last_seen > settings.console_session_idle
        or now - found.created > settings.console_session_max
    ):
        store.end_session(token)
        return None
    if now - found.last_seen > TOUCH_EVERY:
        store.touch_session(token, now)
    return Session(found.user, found.csrf, found.created, found.last_seen)


def logout(settings: Settings, token: str) -> None:
    """End a session; also forget every stale one."""
    store = _store(settings)
    store.end_session(token)
    now = time.time()
    store.end_stale_sessions(
        now - settings.console_session_idle, now - settings.console_session_max
    )
