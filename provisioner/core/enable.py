"""Use case: enable remote work for one comune."""

from __future__ import annotations

import threading

from provisioner.adapters.runner import EventSink, Executor
from provisioner.config import Settings
from provisioner.core import inventory as inventory_core
from provisioner.core.runs import RunReport, run_playbook
from provisioner.models.run import PlaybookRequest

PLAYBOOK = "enable_remote_work.yml"


def enable(
    settings: Settings,
    comune: str,
    *,
    limit: str | None = None,
    check: bool = False,
    diff: bool | None = None,
    tags: tuple[str, ...] = (),
    skip_tags: tuple[str, ...] = (),
    on_event: EventSink | None = None,
    cancel: threading.Event | None = None,
    runner: Executor | None = None,
) -> RunReport:
    """Converge a comune (or, with ``check``, show what would change, with diffs).

    The inventory is validated before anything is written to the state dir.
    """
    inventory = inventory_core.load(settings, comune)
    request = PlaybookRequest(
        use_case="enable",
        comune=comune,
        playbook=PLAYBOOK,
        inventory=settings.comune_dir(comune),
        limit=limit,
        check=check,
        diff=check if diff is None else diff,
        tags=tags,
        skip_tags=skip_tags,
    )
    return run_playbook(
        settings, request, inventory, on_event=on_event, cancel=cancel, runner=runner
    )
