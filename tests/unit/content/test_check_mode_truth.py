"""Check mode must tell the truth: no task of the enable playbook is silently skipped there.

Ansible skips ``command``/``shell`` (and kin) in check mode unless they have ``creates`` or
``removes``. Such a task would hide drift from ``provisioner comply``; it must either be a probe
(``check_mode: false`` with ``changed_when``) or declare what it creates/removes. Roles are found
from the playbook, so roles added later are checked without touching this test. Handlers are left
out: they only run when a task changed, and that task already reports the drift.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
PLAYBOOK = ROOT / "playbooks" / "enable_remote_work.yml"
SKIPPED_IN_CHECK = {
    f"{prefix}{name}"
    for name in ("command", "shell", "raw", "script", "expect")
    for prefix in ("", "ansible.builtin.", "ansible.legacy.")
} | {
    f"{prefix}{name}"
    for name in ("win_command", "win_shell")
    for prefix in ("", "ansible.windows.")
}
_TASK_KEYS = ("tasks", "pre_tasks", "post_tasks", "block", "rescue", "always")
_ROLE_ACTIONS = {
    "include_role",
    "import_role",
    "ansible.builtin.include_role",
    "ansible.builtin.import_role",
}


def _tasks(items: Any) -> Iterator[dict[str, Any]]:
    """Every task in a list of tasks, blocks flattened."""
    for item in items or []:
        if not isinstance(item, dict):
            continue
        nested = [k for k in ("block", "rescue", "always") if k in item]
        if nested:
            for key in nested:
                yield from _tasks(item[key])
        else:
            yield item


def _action(task: dict[str, Any]) -> str:
    return next((k for k in task if k in SKIPPED_IN_CHECK or k in _ROLE_ACTIONS), "")


def _role_names(tasks: Any) -> list[str]:
    """Roles named by include_role/import_role tasks."""
    names = []
    for task in _tasks(tasks):
        action = _action(task)
        if action in _ROLE_ACTIONS:
            names.append(task[action]["name"])
    return names


def roles_of(playbook: Path) -> list[str]:
    """Roles the playbook applies: play ``roles:``, include/import_role tasks of the plays, and
    the roles those roles include or import (e.g. the shared ``nftables``)."""
    found: list[str] = []
    for play in yaml.safe_load(playbook.read_text(encoding="utf-8")) or []:
        for entry in play.get("roles") or []:
            found.append(entry if isinstance(entry, str) else entry["role"])
        for key in _TASK_KEYS:
            found.extend(_role_names(play.get(key)))
    for role in found:  # grows while it is walked: roles of roles
        for path in task_files(role):
            found.extend(
                name
                for name in _role_names(yaml.safe_load(path.read_text(encoding="utf-8")))
                if name not in found
            )
    return list(dict.fromkeys(found))


def task_files(role: str) -> list[Path]:
    """Every task file of a role, also those only reached through include_tasks."""
    base = ROOT / "roles" / role / "tasks"
    return sorted([*base.rglob("*.yml"), *base.rglob("*.yaml")])


def _when(task: dict[str, Any]) -> list[str]:
    when = task.get("when", [])
    return [str(w).strip() for w in (when if isinstance(when, list) else [when])]


def _reports_in_check_mode(task: dict[str, Any] | None) -> bool:
    """A companion that reports the skipped command's change in check mode."""
    return (
        task is not None
        and "ansible_check_mode" in _when(task)
        and task.get("changed_when") is True
    )


def violations(tasks: list[dict[str, Any]]) -> list[str]:
    """Names of tasks that check mode would skip without saying so.

    Accepted: ``creates``/``removes``; a probe (``check_mode: false`` + ``changed_when``); or a
    task skipped in check mode on purpose (``when: not ansible_check_mode``) followed by one that
    reports the change there (``when: ansible_check_mode``, ``changed_when: true``).
    """
    bad = []
    flat = list(_tasks(tasks))
    for index, task in enumerate(flat):
        action = _action(task)
        if action not in SKIPPED_IN_CHECK:
            continue
        args = task.get(action)
        args = args if isinstance(args, dict) else {}
        declares = any(k in args or k in task.get("args", {}) for k in ("creates", "removes"))
        probe = task.get("check_mode") is False and "changed_when" in task
        following = flat[index + 1] if index + 1 < len(flat) else None
        paired = "not ansible_check_mode" in _when(task) and _reports_in_check_mode(following)
        if not (declares or probe or paired):
            bad.append(str(task.get("name", f"<unnamed {action}>")))
    return bad


def test_the_enable_playbook_applies_roles() -> None:
    assert {"baseline", "vpn_client", "vpn_gateway", "nftables"} <= set(roles_of(PLAYBOOK))


@pytest.mark.parametrize("role", roles_of(PLAYBOOK))
def test_no_task_is_silently_skipped_in_check_mode(role: str) -> None:
    problems = [
        f"{path.relative_to(ROOT)}: {name}"
        for path in task_files(role)
        for name in violations(yaml.safe_load(path.read_text(encoding="utf-8")) or [])
    ]
    assert problems == [], (
        "these tasks are skipped in check mode, hiding drift; add creates/removes, or make them "
        "probes (check_mode: false + changed_when):\n" + "\n".join(problems)
    )


def test_the_checker_finds_a_command_without_a_probe() -> None:
    tasks = [
        {"name": "Restart by hand", "ansible.builtin.command": {"cmd": "systemctl restart x"}},
        {"name": "Key", "ansible.builtin.shell": {"cmd": "wg genkey > k", "creates": "k"}},
        {
            "name": "Probe",
            "ansible.builtin.command": {"argv": ["wg", "show"]},
            "check_mode": False,
            "changed_when": False,
        },
        {"block": [{"name": "Hidden in a block", "ansible.windows.win_shell": "Do-It"}]},
        {"name": "Probe without changed_when", "command": "x", "check_mode": False},
        {"name": "Not a command", "ansible.builtin.copy": {"dest": "/x", "content": "y"}},
        {"name": "Install", "command": "x", "when": ["not ansible_check_mode"]},
        {"name": "Say so", "debug": {}, "when": "ansible_check_mode", "changed_when": True},
        {"name": "Install unannounced", "command": "x", "when": "not ansible_check_mode"},
    ]
    assert violations(tasks) == [
        "Restart by hand",
        "Hidden in a block",
        "Probe without changed_when",
        "Install unannounced",
    ]
