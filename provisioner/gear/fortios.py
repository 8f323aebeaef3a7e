"""FortiOS remediation with hier-config, scoped to the tool's named objects and policies."""

from __future__ import annotations

import re

from hier_config import HConfig, Platform, WorkflowRemediation, get_hconfig

from provisioner.gear.errors import IntentError

# Tables the tool writes, in dependency order (a policy names addresses, a VIP and a service).
SECTIONS: tuple[str, ...] = (
    "firewall address",
    "firewall service custom",
    "firewall vip",
    "firewall policy",
)
_NAME = re.compile(r'^\s*set name "(?P<name>[^"]*)"')

Tables = dict[str, dict[str, list[str]]]


def quote(value: str) -> str:
    """``value`` as one double-quoted FortiOS string.

    ``\\``, ``"`` and ``'`` are escaped with a backslash; a control character (a newline would end
    the command) or ``?`` (the CLI's help key) has no escape on a FortiOS command line and is
    refused.

    Raises:
        IntentError: ``value`` holds a character FortiOS cannot take in a string.
    """
    if any(ord(c) < 0x20 or ord(c) == 0x7F or c == "?" for c in value):
        raise IntentError(f"{value!r} cannot be written on a FortiOS command line")
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("'", "\\'")
    return f'"{escaped}"'


def parse(text: str) -> Tables:
    """``config <table>`` / ``edit <key>`` / ``set ...`` blocks as {table: {key: [lines]}}."""
    tables: Tables = {}
    table: dict[str, list[str]] | None = None
    entry: list[str] | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("config "):
            table = tables.setdefault(line.removeprefix("config "), {})
        elif line.startswith("edit ") and table is not None:
            entry = table.setdefault(line.removeprefix("edit "), [])
        elif line == "next":
            entry = None
        elif line == "end":
            table, entry = None, None
        elif entry is not None and line:
            entry.append(line)
    return tables


def _managed(section: str, key: str, lines: list[str], tag: str) -> bool:
    if section == "firewall policy":
        return any((m := _NAME.match(line)) and m["name"].startswith(f"{tag}-") for line in lines)
    return key.strip('"').startswith(f"{tag}-")


def managed_part(text: str, tag: str) -> str:
    """The tool's entries of a configuration, as FortiOS ``show`` prints them."""
    tables = parse(text)
    out: list[str] = []
    for section in SECTIONS:
        entries = {k: v for k, v in tables.get(section, {}).items() if _managed(section, k, v, tag)}
        if not entries:
            continue
        out.append(f"config {section}")
        for key, lines in entries.items():
            out.append(f"    edit {key}")
            out.extend(f"        {line}" for line in lines)
            out.append("    next")
        out.append("end")
    return "".join(f"{line}\n" for line in out)


def _edits(remediation: HConfig) -> dict[str, dict[str, list[str]]]:
    found: dict[str, dict[str, list[str]]] = {}
    for section in remediation.children:
        table = found.setdefault(section.text.removeprefix("config "), {})
        for edit in section.children:
            table[edit.text.removeprefix("edit ")] = [c.text for c in edit.children]
    return found


def remediate(running: str, intended: str, tag: str) -> list[str]:
    """Commands that turn the tool's entries of ``running`` into those of ``intended``.

    hier-config computes the ``set``/``unset`` lines of each entry; its FortiOS driver has no
    negation for a whole ``edit``, so entries to drop become ``delete <key>`` here. Order: policies
    are deleted first and VIPs/services last, so no step leaves a policy naming a missing object.
    """
    have_text, want_text = managed_part(running, tag), managed_part(intended, tag)
    have, want = parse(have_text), parse(want_text)
    workflow = WorkflowRemediation(
        get_hconfig(Platform.FORTINET_FORTIOS, have_text),
        get_hconfig(Platform.FORTINET_FORTIOS, want_text),
    )
    changes = _edits(workflow.remediation_config)
    deletes = {
        section: [k for k in have.get(section, {}) if k not in want.get(section, {})]
        for section in SECTIONS
    }
    commands: list[str] = []

    def block(section: str, body: list[str]) -> None:
        if body:
            commands.extend([f"config {section}", *body, "end"])

    block("firewall policy", [f"delete {k}" for k in deletes["firewall policy"]])
    for section in SECTIONS:
        body: list[str] = []
        for key, lines in changes.get(section, {}).items():
            if key in want.get(section, {}) and lines:
                body.extend([f"edit {key}", *lines, "next"])
        block(section, body)
    for section in reversed(SECTIONS[:-1]):
        block(section, [f"delete {k}" for k in deletes[section]])
    return commands
