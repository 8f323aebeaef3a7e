"""The `provisioner` command: assembles the command modules. Nothing else."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from provisioner.cli import (
    bundle,
    comply,
    console,
    enable,
    helpdesk,
    inventory,
    lab,
    pending,
    queue,
    render,
    runs,
)
from provisioner.config import load_settings
from provisioner.errors import ProvisionerError

app = typer.Typer(
    help="Put a comune on remote work: VPN, remote desktop, meeting software, compliance.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


@app.callback()
def root(
    ctx: typer.Context,
    state_dir: Annotated[
        Path | None,
        typer.Option(help="State directory (history, runs, lab keys). Env: PROVISIONER_STATE_DIR."),
    ] = None,
    inventory_dir: Annotated[
        Path | None,
        typer.Option(help="Root of comune inventories. Env: PROVISIONER_INVENTORY_DIR."),
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option(help="Config file (TOML); default ~/.config/provisioner/config.toml."),
    ] = None,
    vault_password_file: Annotated[
        Path | None, typer.Option(help="File holding the Ansible Vault password.")
    ] = None,
) -> None:
    """Global options, resolved as config file, then environment, then these flags."""
    try:
        ctx.obj = load_settings(
            config,
            {
                "state_dir": state_dir,
                "inventory_dir": inventory_dir,
                "vault_password_file": vault_password_file,
            },
        )
    except ProvisionerError as exc:
        render.error(exc.lines())
        raise typer.Exit(int(exc.exit_code)) from None


# Every command module registers its commands the same way, in the order `--help` lists them.
for module in (enable, comply, helpdesk, bundle, pending, inventory, runs, queue, lab, console):
    module.register(app)


def main() -> None:
    """Console-script entry point."""
    app()
