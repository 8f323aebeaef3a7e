"""`provisioner users ...`, `audit list` and what `serve` refuses."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from provisioner.cli.app import app
from provisioner.cli.console import check_serving
from provisioner.config import Settings
from provisioner.errors import InputError
from tests.unit.fakes import SLUG
from tests.unit.provisioner.cli.conftest import Cli

pytestmark = pytest.mark.usefixtures("fast_hashes", "comune")


@pytest.fixture
def add(state_dir: Path, inventory_root: Path) -> Callable[..., Result]:
    """``users add`` with a password on stdin."""

    def invoke(*args: str, password: str = "a long enough password") -> Result:
        where = ["--state-dir", str(state_dir), "--inventory-dir", str(inventory_root)]
        return CliRunner().invoke(app, [*where, "users", "add", *args], input=password + "\n")

    return invoke


def test_users_add_reads_the_password_from_stdin_and_lists_the_user(
    cli: Cli, add: Callable[..., Result]
) -> None:
    added = add("anna", "--role", "helpdesk", "--comune", SLUG)

    assert added.exit_code == 0, added.output
    assert f"user anna: helpdesk on {SLUG}" in added.output
    assert "anna" in cli("users", "list").output
    audit = cli("audit", "list").output
    assert "users add" in audit and "cli:" in audit


def test_users_add_needs_a_role_and_a_scope(cli: Cli) -> None:
    assert "give at least one --role" in cli("users", "add", "anna").output
    missing = cli("users", "add", "anna", "--role", "viewer")
    assert missing.exit_code == 2 and "--comune (one or more) or --all-comuni" in missing.output


def test_no_password_argument_exists(cli: Cli) -> None:
    result = cli("users", "add", "anna", "--role", "viewer", "--all-comuni", "--password", "x")
    assert result.exit_code == 2 and "No such option" in result.output


def test_a_short_password_is_refused(add: Callable[..., Result]) -> None:
    result = add("anna", "--role", "viewer", "--all-comuni", password="short")
    assert result.exit_code == 2 and "at least 12 characters" in result.output


def test_users_roles_replaces_the_grants(cli: Cli, add: Callable[..., Result]) -> None:
    add("anna", "--role", "viewer", "--all-comuni")

    result = cli("users", "roles", "anna", "--role", "technician", "--comune", SLUG)

    assert result.exit_code == 0 and f"technician on {SLUG}" in result.output


def test_serve_refuses_a_public_address_without_tls(settings: Settings, tmp_path: Path) -> None:
    exposed = settings.model_copy(update={"console_bind": "0.0.0.0"})
    with pytest.raises(InputError, match="without TLS"):
        check_serving(exposed)
    half = settings.model_copy(update={"console_tls_cert": tmp_path / "cert.pem"})
    with pytest.raises(InputError, match="go together"):
        check_serving(half)
    check_serving(settings)  # 127.0.0.1 without TLS is fine
