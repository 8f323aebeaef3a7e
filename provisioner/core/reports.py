"""Run reports: one JSON document (schema in provisioner/schemas), a self-contained HTML page and
JUnit XML per run, plus an index page across comuni."""

from __future__ import annotations

import functools
import json
import os
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2

from provisioner.adapters.files import atomic_write, prune_run_dirs
from provisioner.models.comply import Cell, CellState, ComuneResult, DriftItem
from provisioner.models.run import ReportFiles, RunReport, format_seen

SCHEMA_ID = "https://provisioner.invalid/schemas/run-report-1.json"
"""``$schema`` of every report document (provisioner/schemas/run-report.schema.json)."""


def schema() -> dict[str, Any]:
    """The JSON schema of the report document."""
    text = resources.files("provisioner").joinpath("schemas/run-report.schema.json").read_text()
    data: dict[str, Any] = json.loads(text)
    return data


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).isoformat(timespec="seconds")


def document(
    report: RunReport, drift: Sequence[DriftItem], cells: Sequence[Cell]
) -> dict[str, Any]:
    """The report as a JSON-ready document (see the schema for every field)."""
    outcome = report.outcome
    roles = sorted({c.role for c in cells})
    hosts = []
    for h in outcome.hosts or ():
        host_cells = [c for c in cells if c.host == h.host]
        hosts.append(
            {
                "host": h.host,
                "state": str(h.state),
                "roles": {
                    c.role: {"state": str(c.state), "drift": c.drift, "failed": c.failed}
                    for c in host_cells
                },
                "readiness": [
                    {"check": r.check, "ok": r.ok, "reason": r.reason}
                    for r in outcome.readiness_of(h.host)
                ],
            }
        )
    # Check runs list what would change (the drift); apply runs what they changed.
    changes = (
        list(drift)
        if report.check
        else [
            DriftItem(
                report.comune, t.host, t.role, t.task, t.action, t.diff, t.message, t.redacted
            )
            for t in outcome.changed_tasks
        ]
    )
    return {
        "$schema": SCHEMA_ID,
        "run_id": report.run_id,
        "comune": report.comune,
        "use_case": report.use_case,
        "check_mode": report.check,
        "status": str(outcome.status),
        "exit_code": int(report.exit_code),
        "started": _iso(outcome.started),
        "finished": _iso(outcome.finished),
        "duration_s": round(outcome.finished - outcome.started, 1),
        "roles": roles,
        "hosts": hosts,
        "drift": [
            {
                "host": d.host,
                "role": d.role,
                "task": d.task,
                "action": d.action,
                "diff": d.diff,
                "message": d.message,
                "redacted": d.redacted,
            }
            for d in changes
        ],
        "failures": [
            {
                "host": t.host,
                "role": t.role,
                "task": t.task,
                "outcome": t.outcome,
                "message": "" if t.redacted else t.message,
            }
            for t in outcome.failed_tasks
        ],
        "offline": [{"host": o.host, "last_seen": o.last_seen} for o in report.offline],
        "bundles": [b.summary() for b in report.bundles],
        "error": outcome.error,
        "totals": {
            "hosts": len(outcome.hosts),
            "drift": len(drift),
            "changed": len(outcome.changed_tasks),
            "failed": sum(t.outcome == "failed" for t in outcome.failed_tasks),
            "unreachable": sum(1 for h in outcome.hosts if h.unreachable),
            "offline": len(report.offline),
            "not_ready": sum(1 for r in outcome.readiness if not r.ok),
        },
    }


@functools.cache
def _env() -> jinja2.Environment:
    # One environment per process: each template is compiled once (a nightly --all writes
    # hundreds of reports).
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("provisioner", "templates"),
        autoescape=jinja2.select_autoescape(["html", "j2"], default=True),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["seen"] = format_seen
    return env


def html(doc: dict[str, Any]) -> str:
    """Self-contained HTML page of one report document (inline CSS, no external assets)."""
    return _env().get_template("report.html.j2").render(doc=doc, states=CellState)


def junit(doc: dict[str, Any]) -> str:
    """JUnit XML: one testcase per host x role; drift and failures as failures.

    Unreachable hosts are errors. Classname is ``<comune>.<host>``, the name the role.
    """
    cases = []
    for host in doc["hosts"]:
        for role, cell in sorted(host["roles"].items()):
            case = ET.Element(
                "testcase",
                name=role,
                classname=f"{doc['comune']}.{host['host']}",
                time="0",
            )
            items = [d for d in doc["drift"] if d["host"] == host["host"] and d["role"] == role]
            fails = [f for f in doc["failures"] if f["host"] == host["host"] and f["role"] == role]
            if cell["state"] == CellState.UNREACHABLE:
                error = ET.SubElement(case, "error", message="host unreachable", type="unreachable")
                error.text = "\n".join(f["message"] for f in fails)
            elif fails:
                failure = ET.SubElement(
                    case, "failure", message=f"{len(fails)} task(s) failed", type="failed"
                )
                failure.text = "\n".join(f"{f['task']}: {f['message']}" for f in fails)
            elif items and doc["check_mode"]:
                failure = ET.SubElement(
                    case, "failure", message=f"{len(items)} task(s) drifted", type="drift"
                )
                failure.text = "\n\n".join(
                    f"{d['task']}\n{'(redacted)' if d['redacted'] else d['diff'] or d['message']}"
                    for d in items
                )
            cases.append(case)
        for check in host["readiness"]:
            case = ET.Element(
                "testcase",
                name=f"readiness: {check['check']}",
                classname=f"{doc['comune']}.{host['host']}",
                time="0",
            )
            if not check["ok"]:
                failure = ET.SubElement(case, "failure", message="not ready", type="readiness")
                failure.text = check["reason"]
            cases.append(case)
    for off in doc["offline"]:
        case = ET.Element(
            "testcase", name="offline", classname=f"{doc['comune']}.{off['host']}", time="0"
        )
        seen = format_seen(off["last_seen"])
        ET.SubElement(case, "skipped", message=f"offline, not checked (last seen {seen})")
        cases.append(case)
    failures = sum(1 for c in cases if c.find("failure") is not None)
    errors = sum(1 for c in cases if c.find("error") is not None)
    skipped = sum(1 for c in cases if c.find("skipped") is not None)
    suite = ET.Element(
        "testsuite",
        name=f"{doc['use_case']}.{doc['comune']}",
        tests=str(len(cases)),
        failures=str(failures),
        errors=str(errors),
        skipped=str(skipped),
        time=str(doc["duration_s"]),
        timestamp=doc["started"].removesuffix("+00:00"),
        hostname="localhost",
        id="0",
        package=doc["comune"],
    )
    ET.SubElement(suite, "properties").extend(
        [
            ET.Element("property", name=key, value=str(doc[key]))
            for key in ("run_id", "comune", "use_case", "check_mode", "status", "exit_code")
        ]
    )
    suite.extend(cases)
    ET.SubElement(suite, "system-out").text = doc["error"]
    ET.SubElement(suite, "system-err")
    root = ET.Element(
        "testsuites",
        name=f"provisioner {doc['use_case']}",
        tests=str(len(cases)),
        failures=str(failures),
        errors=str(errors),
        time=str(doc["duration_s"]),
    )
    root.append(suite)
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


def write(
    report: RunReport, drift: Sequence[DriftItem], cells: Sequence[Cell], report_dir: Path
) -> ReportFiles:
    """Write report.json, report.html and junit.xml under ``<report_dir>/<comune>/<run_id>/``."""
    doc = document(report, drift, cells)
    directory = report_dir / report.comune / report.run_id
    directory.mkdir(parents=True, exist_ok=True)
    files = ReportFiles(
        directory, directory / "report.html", directory / "report.json", directory / "junit.xml"
    )
    atomic_write(files.json, json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
    atomic_write(files.html, html(doc))
    atomic_write(files.junit, junit(doc))
    return files


def prune(comune_dir: Path, keep: int, max_age_days: float) -> list[Path]:
    """Delete a comune's report directories beyond the newest ``keep`` or older than
    ``max_age_days`` (the newest always stays)."""
    return prune_run_dirs(comune_dir, keep, max_age_days)


def write_index(results: Sequence[ComuneResult], report_dir: Path) -> Path:
    """``index.html`` across comuni, linking each comune's report (relative links)."""
    rows = []
    for r in results:
        link = ""
        if r.files is not None:
            link = os.path.relpath(r.files.html, report_dir)
        rows.append(
            {
                "comune": r.comune,
                "run_id": r.report.run_id if r.report else "",
                "exit_code": int(r.exit_code),
                "drift": len(r.drift),
                "hosts": len(r.report.outcome.hosts) if r.report else 0,
                "drifted_hosts": r.drifted_hosts,
                "failed": len(r.report.outcome.failed_tasks) if r.report else 0,
                "remediated": r.remediation is not None,
                "error": r.error,
                "link": link,
            }
        )
    report_dir.mkdir(parents=True, exist_ok=True)
    path = report_dir / "index.html"
    generated = datetime.now(tz=UTC).isoformat(timespec="seconds")
    atomic_write(path, _env().get_template("index.html.j2").render(rows=rows, generated=generated))
    return path
