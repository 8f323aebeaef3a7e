"""Rendering for the terminal: tables, live progress, error lines. No decisions here."""

from __future__ import annotations

import time
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from provisioner.models import helpdesk as helpdesk_view
from provisioner.models.history import RunDetail, RunRecord
from provisioner.models.inventory import Inventory
from provisioner.models.pending import PendingWork, WorkState
from provisioner.models.run import (
    HostState,
    ProgressEvent,
    ReadinessCheck,
    RunReport,
    TaskOutcome,
    format_seen,
)

if TYPE_CHECKING:
    # Only the lab's commands render it: the rest of the CLI does not load the lab (and its
    # simulated network gear) to start.
    from provisioner.core.lab import LabStatus

console = Console()
err_console = Console(stderr=True)
if not console.is_terminal:
    # Logs and CI: wide enough that host names and task names are never cut.
    console.width = max(console.width, 160)

_STATE_STYLE = {
    HostState.OK: "green",
    HostState.CHANGED: "yellow",
    HostState.FAILED: "bold red",
    HostState.UNREACHABLE: "bold magenta",
    HostState.SKIPPED: "dim",
}


def error(lines: Iterable[str]) -> None:
    """Print error lines in red on stderr."""
    for line in lines:
        err_console.print(Text(f"error: {line}", style="red"), soft_wrap=True)


def when(ts: float | None) -> str:
    """Local time of a timestamp."""
    if ts is None:
        return "-"
    return datetime.fromtimestamp(ts, tz=UTC).astimezone().strftime("%Y-%m-%d %H:%M:%S")


class Progress:
    """Live view of a run: current task and one row per host."""

    def __init__(self, title: str) -> None:
        self.title = title
        self.task = "starting"
        self.hosts: dict[str, dict[str, object]] = {}
        self.started = time.monotonic()
        self.live: Live | None = None

    def __enter__(self) -> Progress:
        if console.is_terminal:
            self.live = Live(self.render(), console=console, refresh_per_second=8, transient=True)
            self.live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.live is not None:
            self.live.__exit__(None, None, None)

    def __call__(self, event: ProgressEvent) -> None:
        """Update from one event (the runner's event handler calls this)."""
        if event.kind == "task":
            self.task = f"{event.role} : {event.task}" if event.role else event.task
            if self.live is None:
                console.print(f"[dim]{time.monotonic() - self.started:6.1f}s[/] TASK {self.task}")
        elif event.kind == "queue":
            # The job queue: waiting for a worker, then which worker runs it.
            self.task = event.task
            if self.live is None:
                console.print(f"[dim]{time.monotonic() - self.started:6.1f}s[/] {event.task}")
        elif event.host:
            row = self.hosts.setdefault(
                event.host,
                {"ok": 0, "changed": 0, "failed": 0, "unreachable": 0, "last": "", "state": ""},
            )
            if event.kind == "host_start":
                row["state"] = "running"
                row["last"] = event.task
            elif event.kind in {"ok", "changed", "failed", "unreachable"}:
                row[event.kind] = int(row[event.kind]) + 1  # type: ignore[call-overload]
                if event.kind in {"failed", "unreachable"}:
                    row["state"] = event.kind
                    if self.live is None:
                        console.print(f"  [red]{event.kind.upper()}[/] {event.host}: {event.task}")
        if self.live is not None:
            self.live.update(self.render())

    def render(self) -> Group:
        """The live table."""
        table = Table(box=None, pad_edge=False)
        for col in ("host", "ok", "changed", "failed", "unreachable", "last task"):
            table.add_column(col)
        for host, row in self.hosts.items():
            style = "red" if row["state"] in {"failed", "unreachable"} else ""
            table.add_row(
                host,
                str(row["ok"]),
                str(row["changed"]),
                str(row["failed"]),
                str(row["unreachable"]),
                str(row["last"])[:60],
                style=style,
            )
        elapsed = time.monotonic() - self.started
        return Group(Text(f"{self.title}  {elapsed:5.1f}s  {self.task}", style="bold"), table)


def inventory_table(inv: Inventory) -> Group:
    """Settings and hosts of a comune."""
    s = inv.settings
    info = Table(box=None, show_header=False)
    info.add_column(style="bold")
    info.add_column()
    info.add_row("comune", f"{s.comune_name} ({inv.comune})")
    info.add_row(
        "ISTAT",
        s.comune_istat_code + (f"  province {s.comune_province}" if s.comune_province else ""),
    )
    info.add_row("VPN pool", str(s.comune_vpn_pool))
    info.add_row(
        "VPN endpoint", f"{s.comune_vpn_public_endpoint} (terminated on {s.comune_vpn_terminator})"
    )
    info.add_row("office networks", ", ".join(str(n) for n in s.comune_office_networks))
    info.add_row("meeting", s.comune_meeting_url)
    hosts = Table(title=f"{len(inv.hosts)} hosts")
    for col in ("host", "groups", "address", "port", "defined in"):
        hosts.add_column(col)
    for host in sorted(inv.hosts.values(), key=lambda h: (h.groups, h.name)):
        hosts.add_row(
            host.name,
            ", ".join(host.groups),
            host.address,
            str(host.ansible_port or ""),
            host.source,
        )
    return Group(info, hosts)


def _task_lines(tasks: list[TaskOutcome], show_diff: bool) -> Table:
    table = Table(title="changed and failed tasks", show_lines=show_diff)
    for col in ("host", "outcome", "role", "task", "detail"):
        table.add_column(col, overflow="fold")
    for t in tasks:
        style = "yellow" if t.outcome == "changed" else "red"
        detail = t.diff if (show_diff and t.diff) else t.message
        table.add_row(t.host, Text(t.outcome, style=style), t.role, t.task, detail)
    return table


def _readiness(checks: list[ReadinessCheck]) -> Text:
    text = Text()
    for check in checks:
        text.append(str(check) + "  ", style="green" if check.ok else "bold red")
    return text


def run_report(report: RunReport) -> None:
    """Per-host summary, notable tasks and where the run lives."""
    outcome = report.outcome
    mode = "check (dry run)" if report.check else "apply"
    table = Table(title=f"{report.use_case} {report.comune}: {mode}")
    for col in ("host", "groups", "state", "ok", "changed", "failed", "unreachable", "readiness"):
        table.add_column(col)
    for h in outcome.hosts:
        host = report.inventory.hosts.get(h.host)
        state = h.state
        label = "would change" if report.check and state == HostState.CHANGED else state.value
        table.add_row(
            h.host,
            ", ".join(host.groups) if host else "",
            Text(label, style=_STATE_STYLE[state]),
            str(h.ok),
            str(h.changed),
            str(h.failed),
            str(h.unreachable),
            _readiness(outcome.readiness_of(h.host)),
        )
    for off in report.offline:
        host = report.inventory.hosts.get(off.host)
        table.add_row(
            off.host,
            ", ".join(host.groups) if host else "",
            Text("offline", style="bold blue"),
            "-",
            "-",
            "-",
            "-",
            Text(f"not attempted, last seen {format_seen(off.last_seen)}", style="blue"),
        )
    if outcome.hosts or report.offline:
        console.print(table)
    for note in report.notes:
        console.print(f"note: {note}")
    notable = outcome.changed_tasks + outcome.failed_tasks
    if notable:
        console.print(_task_lines(notable, show_diff=report.check))
    if outcome.error:
        error(outcome.error.splitlines()[-5:])
    total_changed = sum(h.changed for h in outcome.hosts)
    offline = f", {len(report.offline)} offline" if report.offline else ""
    console.print(
        f"run [bold]{report.run_id}[/]  status {outcome.status.value}  "
        f"{len(outcome.hosts)} hosts{offline}, {total_changed} changed, "
        f"{outcome.finished - outcome.started:.1f}s  exit {int(report.exit_code)}"
    )
    console.print(f"run directory: {report.run_dir}  (summary.json)")
    if outcome.worker:
        console.print(f"ran on queue worker {outcome.worker}")


def runs_table(records: list[RunRecord]) -> Table:
    """History, newest first, with the drift count of each finished comply run."""
    table = Table(title="runs")
    cols = ("id", "use case", "comune", "limit", "mode", "started", "duration", "status", "rc")
    for col in (*cols, "drift"):
        table.add_column(col)
    for r in records:
        duration = "-" if r.duration is None else f"{r.duration:.1f}s"
        table.add_row(
            r.id,
            r.use_case,
            r.comune,
            r.host_limit or "",
            "check" if r.check_mode else "apply",
            when(r.started),
            duration,
            r.status,
            "" if r.rc is None else str(r.rc),
            "" if r.drift is None else str(r.drift),
        )
    return table


def run_detail(detail: RunDetail) -> None:
    """One run from history."""
    r = detail.run
    console.print(
        f"run [bold]{r.id}[/]: {r.use_case} {r.comune} ({'check' if r.check_mode else 'apply'}), "
        f"limit {r.host_limit or '-'}, started {when(r.started)}, finished {when(r.finished)}, "
        f"status {r.status}, rc {r.rc}"
    )
    if r.invocation is not None:
        console.print(f"started by {r.invocation}", markup=False, highlight=False)
        console.print(f"command: {r.invocation.command}", markup=False, highlight=False)
    console.print(f"run directory: {r.run_dir}")
    table = Table(title="hosts")
    for col in ("host", "state", "ok", "changed", "failed", "unreachable", "skipped"):
        table.add_column(col)
    for h in detail.hosts:
        table.add_row(
            h.host,
            Text(h.state.value, style=_STATE_STYLE[h.state]),
            str(h.ok),
            str(h.changed),
            str(h.failed),
            str(h.unreachable),
            str(h.skipped),
        )
    console.print(table)
    if detail.tasks:
        console.print(_task_lines(detail.tasks, show_diff=True))
    if r.error:
        error(r.error.splitlines()[-5:])


def lab_table(rows: list[LabStatus]) -> Table:
    """The lab's containers."""
    table = Table(title="lab comune")
    for col in ("host", "group", "container", "ssh", "state"):
        table.add_column(col)
    for row in rows:
        state = row.state.state if row.state else "absent"
        style = "green" if state == "running" else "red"
        home = row.state is not None and row.state.labels.get("provisioner.lab.home")
        table.add_row(
            row.host.name,
            row.host.group,
            row.container,
            "home, behind NAT (tunnel only)" if home else f"127.0.0.1:{row.port}",
            Text(state, style=style),
        )
    return table


def host_roles(report: RunReport, host: str) -> None:
    """Helpdesk view of one host: per role, what was not as intended before and the state after.

    A role's changed tasks are what differed before the run (or would be changed, in check mode).
    """
    view = helpdesk_view.host_roles(report, host)
    if view is None:
        return
    table = Table(title=f"{host}: before / after, per role")
    for col in ("role", "before", "after"):
        table.add_column(col, overflow="fold")
    for role in view.roles:
        if role.failed is not None:
            after = Text(f"FAILED: {role.failed.task}: {role.failed.message}", style="bold red")
        elif view.check:
            after = Text(f"would change {len(role.changed)} item(s)", style="yellow")
        else:
            after = Text(f"converged ({len(role.changed)} change(s))", style="green")
        table.add_row(role.role, role.before, after)
    if view.unreachable:
        table.add_row("(all)", "-", Text("UNREACHABLE: nothing was changed", style="bold magenta"))
    elif not view.roles:
        table.add_row("(all roles)", "as intended", Text("no change", style="green"))
    console.print(table)


def pending_table(items: list[PendingWork]) -> Table:
    """The ledger: what each host still needs (and, when asked, what was settled)."""
    table = Table(title=f"pending work ({sum(w.open for w in items)} open)")
    for col in ("comune", "host", "work", "state", "attempts", "last seen", "next try", "expires"):
        table.add_column(col)
    table.add_column("detail", overflow="fold")
    for w in items:
        table.add_row(
            w.comune,
            w.host,
            str(w.kind),
            Text(str(w.state), style=_WORK_STYLE.get(w.state, "")),
            str(w.attempts),
            format_seen(w.last_seen),
            when(w.next_attempt) if w.open and w.next_attempt else "-",
            when(w.expires) if w.open else "-",
            w.detail,
        )
    return table


_WORK_STYLE = {
    WorkState.PENDING: "yellow",
    WorkState.RUNNING: "cyan",
    WorkState.APPLIED: "green",
    WorkState.FAILED: "red",
    WorkState.EXPIRED: "dim",
}
