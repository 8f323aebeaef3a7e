"""`provisioner lab up|image|down|status`: the built-in lab comune."""

from __future__ import annotations

from typing import Annotated

import typer

from provisioner.cli import render
from provisioner.cli.common import command, settings_of


def lab_up(
    ctx: typer.Context,
    laptops: Annotated[
        int | None,
        typer.Option(
            "--laptops",
            min=1,
            help="Number of lab endpoints laptop-01..NN (default: as the last `lab up`, else 2).",
        ),
    ] = None,
) -> None:
    """Build the image if missing, start the lab comune, write inventory/lab/."""
    from provisioner.core import lab as lab_core  # noqa: PLC0415

    with render.console.status("lab: starting") as status:
        started = lab_core.up(
            settings_of(ctx), laptops, on_step=lambda step: status.update(f"lab: {step}")
        )
    render.console.print(render.lab_table(started.hosts))
    render.console.print(
        f"inventory written to {started.inventory_dir}; next: provisioner enable lab"
    )


def lab_image(ctx: typer.Context) -> None:
    """Build the lab's images (Debian 13 and, for the meeting platform, Debian 12) if missing."""
    from provisioner.core.lab import Lab  # noqa: PLC0415

    with render.console.status("lab: building images (debootstrap, ~1-2 min each)"):
        built = Lab(settings_of(ctx)).ensure_images()
    for image, now in built.items():
        render.console.print(f"{image}: {'built' if now else 'present'}")


def lab_down(ctx: typer.Context) -> None:
    """Remove the lab containers and networks (keeps the image)."""
    from provisioner.core.lab import Lab  # noqa: PLC0415

    names = Lab(settings_of(ctx)).down()
    render.console.print(f"removed {len(names)} containers")


def lab_status(ctx: typer.Context) -> None:
    """State of the lab containers."""
    from provisioner.core.lab import Lab  # noqa: PLC0415

    render.console.print(render.lab_table(Lab(settings_of(ctx)).status()))


def lab_send_home(
    ctx: typer.Context,
    laptop: Annotated[str, typer.Argument(help="A lab laptop, e.g. laptop-02.")],
) -> None:
    """Send a laptop home: behind a NAT router, reachable only through the comune's tunnel."""
    from provisioner.core import lab as lab_core  # noqa: PLC0415

    with render.console.status("lab: sending home") as status:
        said = lab_core.send_home(
            settings_of(ctx), laptop, on_step=lambda step: status.update(f"lab: {step}")
        )
    render.console.print(said)


def lab_back_to_office(
    ctx: typer.Context,
    laptop: Annotated[str, typer.Argument(help="A lab laptop sent home before.")],
) -> None:
    """Bring a laptop back to the office network (its SSH port on 127.0.0.1 again)."""
    from provisioner.core import lab as lab_core  # noqa: PLC0415

    render.console.print(lab_core.back_to_office(settings_of(ctx), laptop))


def register(app: typer.Typer) -> None:
    """Add the ``lab`` group to the root app."""
    group = typer.Typer(
        help="The built-in lab comune (podman containers on 127.0.0.1).", no_args_is_help=True
    )
    command(group, "up")(lab_up)
    command(group, "image")(lab_image)
    command(group, "down")(lab_down)
    command(group, "status")(lab_status)
    command(group, "send-home")(lab_send_home)
    command(group, "back-to-office")(lab_back_to_office)
    app.add_typer(group, name="lab")
