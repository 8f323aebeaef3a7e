"""`provisioner inventory ...`: validate, show and list comuni; import asset lists; new comuni."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from provisioner.cli import render
from provisioner.cli.common import command, settings_of

if TYPE_CHECKING:
    from provisioner.core.importer import ImportResult
    from provisioner.core.new_comune import NewComune


def inventory_validate(
    ctx: typer.Context, comune: Annotated[str, typer.Argument(help="Comune slug.")]
) -> None:
    """Validate a comune's inventory; errors name file, host and field."""
    from provisioner.core import inventory as inventory_core  # noqa: PLC0415

    inv = inventory_core.load(settings_of(ctx), comune)
    render.console.print(
        f"[green]ok[/] {inv.settings.comune_name} ({comune}): {len(inv.hosts)} hosts valid"
    )


def inventory_show(
    ctx: typer.Context, comune: Annotated[str, typer.Argument(help="Comune slug.")]
) -> None:
    """Show a comune's settings and hosts."""
    from provisioner.core import inventory as inventory_core  # noqa: PLC0415

    render.console.print(render.inventory_table(inventory_core.load(settings_of(ctx), comune)))


def inventory_list(ctx: typer.Context) -> None:
    """List the comuni that have an inventory."""
    from provisioner.core import inventory as inventory_core  # noqa: PLC0415

    for name in inventory_core.comunes(settings_of(ctx)):
        render.console.print(name)


_DELIMITER_NAMES = {";": "';'", ",": "','", "\t": "tab", "|": "'|'"}


def inventory_import(
    ctx: typer.Context,
    file: Annotated[
        Path, typer.Argument(help="Asset list: .csv (any delimiter, UTF-8/Windows-1252) or .xlsx.")
    ],
    comune: Annotated[str, typer.Option("--comune", help="Comune slug (inventory/<slug>/).")],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show added/changed/unchanged hosts; write nothing.")
    ] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Overwrite hosts the file describes differently.")
    ] = False,
) -> None:
    """Import an asset list (name, IP or DHCP, OS, user, office, kind) into a comune."""
    from provisioner.core import importer  # noqa: PLC0415

    result = importer.import_assets(settings_of(ctx), file, comune, dry_run=dry_run, force=force)
    _render_import(result)


def _render_import(result: ImportResult) -> None:
    console = render.console
    delimiter = _DELIMITER_NAMES.get(result.delimiter, repr(result.delimiter))
    how = result.encoding if result.encoding == "xlsx" else f"{result.encoding}, {delimiter}"
    console.print(f"{result.source} ({how}) -> inventory/{result.comune}", soft_wrap=True)
    if result.ignored_columns:
        console.print(
            f"[yellow]ignored columns:[/] {', '.join(result.ignored_columns)}", soft_wrap=True
        )
    table = Table("", "host", "group", "line", "changes")
    for label, style, changes in (
        ("added", "green", result.added),
        ("changed", "yellow", result.changed),
        ("unchanged", "dim", result.unchanged),
    ):
        for change in changes:
            table.add_row(
                f"[{style}]{label}[/]",
                change.name,
                change.group,
                str(change.line),
                "; ".join(change.changes),
            )
    console.print(table)
    if result.bundles:
        console.print(
            f"[blue]bundle devices[/] (Windows or macOS: not managed, no run reaches them; give "
            f"each a bundle with `provisioner bundle create {result.comune} --user <user> --name "
            f"<device>`): {', '.join(result.bundles)}",
            soft_wrap=True,
        )
    if result.not_in_file:
        console.print(
            f"[dim]kept, not in the file: {', '.join(result.not_in_file)}[/]", soft_wrap=True
        )
    counts = (
        f"{len(result.added)} added, {len(result.changed)} changed, "
        f"{len(result.unchanged)} unchanged"
    )
    if result.dry_run:
        console.print(f"[bold]dry run:[/] {counts}; inventory valid after import; nothing written")
    elif result.written:
        console.print(f"[green]ok[/] {counts}; inventory valid; wrote:")
        for path in result.written:
            console.print(f"  {path}", soft_wrap=True)
    else:
        console.print(f"[green]ok[/] {counts}; nothing to write")


def inventory_new_comune(
    ctx: typer.Context,
    comune: Annotated[
        str, typer.Argument(help="Official name (accents optional) or 6-digit ISTAT code.")
    ],
    istat_file: Annotated[
        Path | None,
        typer.Option(help="ISTAT 'Elenco comuni italiani' CSV. Env: PROVISIONER_ISTAT_FILE."),
    ] = None,
    office_network: Annotated[
        list[str] | None,
        typer.Option(help="Office LAN behind the VPN terminator (repeatable)."),
    ] = None,
    public_endpoint: Annotated[
        str | None, typer.Option(help="host:port of the VPN terminator seen from outside.")
    ] = None,
    meeting_url: Annotated[
        str | None, typer.Option(help="https:// URL of the meeting room.")
    ] = None,
    terminator: Annotated[
        str, typer.Option(help="Host name of the VPN terminator (imported later).")
    ] = "gw-vpn-01",
) -> None:
    """Create inventory/<slug>/ for a comune from ISTAT's list, with a free VPN pool."""
    from provisioner.core import new_comune  # noqa: PLC0415

    created = new_comune.new_comune(
        settings_of(ctx),
        comune,
        istat_file=istat_file,
        office_networks=office_network or (),
        public_endpoint=public_endpoint,
        meeting_url=meeting_url,
        terminator=terminator,
    )
    _render_new_comune(created)


def _render_new_comune(created: NewComune) -> None:
    console = render.console
    entry = created.comune
    console.print(
        f"[green]created[/] {created.directory}: {entry.name} ({entry.province}), "
        f"ISTAT {entry.code}, VPN pool {created.pool}",
        soft_wrap=True,
    )
    for path in created.files:
        console.print(f"  {path}", soft_wrap=True)
    for name in created.unread_pools:
        console.print(
            f"[yellow]warning:[/] could not read the VPN pool of {name!r}; check it does not "
            f"overlap {created.pool}",
            soft_wrap=True,
        )
    console.print("next:")
    for step in created.todo:
        console.print(f"  - {step}", soft_wrap=True)
    console.print(f"  - provisioner inventory validate {created.slug}")


def register(app: typer.Typer) -> None:
    """Add the ``inventory`` group to the root app."""
    group = typer.Typer(help="Validate and show comune inventories.", no_args_is_help=True)
    command(group, "validate")(inventory_validate)
    command(group, "show")(inventory_show)
    command(group, "list")(inventory_list)
    command(group, "import")(inventory_import)
    command(group, "new-comune")(inventory_new_comune)
    app.add_typer(group, name="inventory")
