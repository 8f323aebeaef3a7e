"""Console accounts: users, argon2 passwords, throttled logins, sessions."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest

from provisioner.config import Settings
from provisioner.core import accounts
from provisioner.errors import InputError
from provisioner.models.accounts import Action, Grant, Role
from tests.unit.fakes import SLUG, ComuneFiles

PASSWORD = "correct horse battery"

pytestmark = pytest.mark.usefixtures("fast_hashes", "comune")


def test_a_user_is_stored_with_an_argon2_hash_and_its_grants(
    settings: Settings, state_dir: Path
) -> None:
    user = accounts.add_user(settings, "anna", PASSWORD, [Grant(Role.HELPDESK, frozenset({SLUG}))])

    assert user.can(Action.REPROVISION, SLUG)
    stored = (
        sqlite3.connect(state_dir / "history.sqlite3")
        .execute("SELECT password_hash FROM console_users")
        .fetchone()[0]
    )
    assert stored.startswith("$argon2id$") and PASSWORD not in stored
    assert [u.name for u in accounts.users(settings)] == ["anna"]


@pytest.mark.parametrize(
    ("name", "password", "message"),
    [
        ("Anna", PASSWORD, "lowercase letters"),
        ("anna", "short", "at least 12 characters"),
        ("annabella123", "annabella123", "must not be the user name"),
    ],
)
def test_bad_names_and_passwords_are_refused(
    settings: Settings, name: str, password: str, message: str
) -> None:
    with pytest.raises(InputError, match=message):
        accounts.add_user(settings, name, password, [Grant(Role.VIEWER)])


def test_a_grant_on_an_unknown_comune_is_refused(settings: Settings, comune: ComuneFiles) -> None:
    with pytest.raises(InputError, match=r"no comune castelnuov0 .*did you mean castelnuovo"):
        accounts.add_user(
            settings, "anna", PASSWORD, [Grant(Role.VIEWER, frozenset({"castelnuov0"}))]
        )


def test_a_user_exists_once(settings: Settings) -> None:
    accounts.add_user(settings, "anna", PASSWORD, [Grant(Role.VIEWER)])
    with pytest.raises(InputError, match="user 'anna' exists"):
        accounts.add_user(settings, "anna", PASSWORD, [Grant(Role.VIEWER)])


def test_login_opens_a_session_found_by_its_token(settings: Settings) -> None:
    accounts.add_user(settings, "anna", PASSWORD, [Grant(Role.VIEWER)])

    attempt = accounts.login(settings, "anna", PASSWORD, "127.0.0.1")

    assert attempt.ok and attempt.token
    session = accounts.session(settings, attempt.token)
    assert session is not None and session.user.name == "anna" and session.csrf
    assert accounts.session(settings, attempt.token + "x") is None


def test_the_store_keeps_no_session_token(settings: Settings, state_dir: Path) -> None:
    accounts.add_user(settings, "anna", PASSWORD, [Grant(Role.VIEWER)])
    token = accounts.login(settings, "anna", PASSWORD, "127.0.0.1").token

    assert token.encode() not in (state_dir / "history.sqlite3").read_bytes()


def test_five_failures_throttle_the_name_even_with_the_right_password(settings: Settings) -> None:
    accounts.add_user(settings, "anna", PASSWORD, [Grant(Role.VIEWER)])
    for _ in range(accounts.MAX_USER_FAILURES):
        assert not accounts.login(settings, "anna", "wrong password!", "10.0.0.9").ok

    attempt = accounts.login(settings, "anna", PASSWORD, "10.0.0.10")

    assert not attempt.ok and attempt.throttled
    assert 0 < attempt.retry_after <= accounts.FAILURE_WINDOW


def test_failures_leave_the_window(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    accounts.add_user(settings, "anna", PASSWORD, [Grant(Role.VIEWER)])
    for _ in range(accounts.MAX_USER_FAILURES):
        accounts.login(settings, "anna", "wrong password!", "10.0.0.9")
    later = time.time() + accounts.FAILURE_WINDOW + 1
    monkeypatch.setattr(time, "time", lambda: later)

    assert accounts.login(settings, "anna", PASSWORD, "10.0.0.9").ok


def test_many_names_from_one_address_throttle_the_address(settings: Settings) -> None:
    accounts.add_user(settings, "anna", PASSWORD, [Grant(Role.VIEWER)])
    for n in range(accounts.MAX_SOURCE_FAILURES):
        accounts.login(settings, f"guess{n}", "wrong password!", "10.0.0.9")

    assert accounts.login(settings, "anna", PASSWORD, "10.0.0.9").throttled
    assert accounts.login(settings, "anna", PASSWORD, "10.0.0.10").ok


def test_an_idle_session_ends(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    accounts.add_user(settings, "anna", PASSWORD, [Grant(Role.VIEWER)])
    token = accounts.login(settings, "anna", PASSWORD, "127.0.0.1").token
    later = time.time() + settings.console_session_idle + 1
    monkeypatch.setattr(time, "time", lambda: later)

    assert accounts.session(settings, token) is None


def test_a_new_password_ends_the_sessions(settings: Settings) -> None:
    accounts.add_user(settings, "anna", PASSWORD, [Grant(Role.VIEWER)])
    token = accounts.login(settings, "anna", PASSWORD, "127.0.0.1").token

    accounts.set_password(settings, "anna", "another long password")

    assert accounts.session(settings, token) is None
    assert not accounts.login(settings, "anna", PASSWORD, "127.0.0.1").ok
    assert accounts.login(settings, "anna", "another long password", "127.0.0.1").ok


def test_roles_change_at_the_next_request(settings: Settings) -> None:
    accounts.add_user(settings, "anna", PASSWORD, [Grant(Role.VIEWER)])
    token = accounts.login(settings, "anna", PASSWORD, "127.0.0.1").token

    accounts.set_grants(settings, "anna", [Grant(Role.HELPDESK, frozenset({SLUG}))])

    session = accounts.session(settings, token)
    assert session is not None and session.user.can(Action.REPROVISION, SLUG)


def test_a_removed_user_has_no_session(settings: Settings) -> None:
    accounts.add_user(settings, "anna", PASSWORD, [Grant(Role.VIEWER)])
    token = accounts.login(settings, "anna", PASSWORD, "127.0.0.1").token

    accounts.remove_user(settings, "anna")

    assert accounts.session(settings, token) is None
    with pytest.raises(InputError, match="no user 'anna'"):
        accounts.remove_user(settings, "anna")
