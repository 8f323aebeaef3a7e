"""The `cli` fixture shared by the CLI test modules."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from provisioner.cli.app import app

Cli = Callable[..., Result]


@pytest.fixture
def cli(state_dir: Path, inventory_root: Path) -> Cli:
    """Invoke the app with --state-dir and --inventory-dir in tmp_path; re-raise real crashes."""
    runner = CliRunner()

    def invoke(*args: str) -> Result:
        result = runner.invoke(
            app, ["--state-dir", str(state_dir), "--inventory-dir", str(inventory_root), *args]
        )
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise result.exception
        return result

    return invoke
