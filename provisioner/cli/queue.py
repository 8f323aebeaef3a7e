"""`provisioner worker` and `provisioner queue status`: the job queue's workers and contents."""

from __future__ import annotations

import logging
from typing import Annotated

import typer
from rich.table import Table

from provisioner.cli import render
from provisioner.cli.common import command, settings_of


def worker(
    ctx: typer.Context,
    name: Annotated[
        str | None, typer.Option(help="Worker name (default: <host name>.<pid>).")
    ] = None,
    burst: Annotated[
        bool, typer.Option("--burst", help="Stop when the queues are empty (tests, batches).")
    ] = False,
) -> None:
    """Run a queue worker here: it executes the comune runs controllers send (`ansible-runner
    worker` on each job's stream). SIGTERM stops it after the current run."""
    from provisioner.core import worker as worker_core  # noqa: PLC0415

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    worker_core.serve(settings_of(ctx), name=name, burst=burst)


def status(ctx: typer.Context) -> None:
    """Workers (with their version and current run), queued, running and failed runs, and the
    comuni locked across machines."""
    from provisioner.core import worker as worker_core  # noqa: PLC0415

    seen = worker_core.status(settings_of(ctx))
    render.console.print(f"Redis {seen.redis}; this machine runs provisioner {seen.version}")
    workers = Table(title=f"workers ({len(seen.workers)})")
    for col in ("name", "state", "run", "queues", "version", "last heartbeat"):
        workers.add_column(col, overflow="fold")
    for w in seen.workers:
        version = w.version if w.version == seen.version else f"[red]{w.version}[/] (differs)"
        workers.add_row(
            w.name,
            w.state,
            w.job or "-",
            ", ".join(w.queues),
            version,
            render.when(w.last_heartbeat),
        )
    render.console.print(workers)
    jobs = Table(title=f"runs: {len(seen.running)} running, {len(seen.queued)} queued")
    for col in ("state", "run", "queue", "worker", "since", "job"):
        jobs.add_column(col, overflow="fold")
    for j in (*seen.running, *seen.queued, *seen.failed):
        since = j.started if j.state == "running" else j.enqueued
        label = j.description + (f" ({j.error})" if j.error else "")
        jobs.add_row(j.state, label, j.queue, j.worker or "-", render.when(since), j.id)
    render.console.print(jobs)
    for lock in seen.locks:
        render.console.print(
            f"locked: {lock.comune} by {lock.holder} since {render.when(lock.since)}"
        )


def register(app: typer.Typer) -> None:
    """Add ``worker`` and the ``queue`` group to the root app."""
    command(app, "worker")(worker)
    group = typer.Typer(help="The job queue (executor = queue).", no_args_is_help=True)
    command(group, "status")(status)
    app.add_typer(group, name="queue")
