"""Test doubles: comune inventories on disk, runner events, a fake ``ansible_runner.run``."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import yaml

SLUG = "castelnuovo"

SETTINGS: dict[str, Any] = {
    "comune_name": "Comune di Castelnuovo",
    "comune_slug": SLUG,
    "comune_istat_code": "024058",
    "comune_province": "VI",
    "comune_vpn_pool": "10.77.0.0/24",
    "comune_vpn_listen_port": 51820,
    "comune_vpn_public_endpoint": "vpn.castelnuovo.example.it:51820",
    "comune_vpn_terminator": "gw-vpn-01",
    "comune_office_networks": ["192.168.10.0/24"],
    "comune_meeting_url": "https://meet.castelnuovo.example.it/sala-giunta",
    "comune_dns_servers": ["192.168.10.1"],
    "comune_vpn_allowed_services": [
        {"name": "intranet", "address": "192.168.10.30", "port": 80, "proto": "tcp"}
    ],
    "comune_vpn_readiness_service": "intranet",
}
"""Valid settings, modelled on inventory/lab/group_vars/all/comune.yml."""

GROUP_HOSTS: dict[str, dict[str, dict[str, Any]]] = {
    "vpn_gateways": {"gw-vpn-01": {"ansible_host": "203.0.113.10", "ansible_port": 22}},
    "rd_gateways": {"gw-rd-01": {"ansible_host": "192.168.10.11", "ansible_port": 22}},
    "office_desktops": {
        "pc-anagrafe-01": {"ansible_host": "192.168.10.21", "ansible_port": 22},
        "pc-tributi-01": {"ansible_host": "192.168.10.22", "ansible_port": 22},
    },
    "endpoints": {
        "laptop-sindaco": {
            "ansible_host": "laptop-sindaco.castelnuovo.example.it",
            "ansible_port": 2222,
        }
    },
    "network_devices": {"sw-core-01": {"ansible_host": "192.168.10.2", "ansible_port": 22}},
}
"""Valid hosts by group (the hosts.yml structure ``all: children: <group>: hosts: ...``)."""

ALL_HOSTS = sorted(name for hosts in GROUP_HOSTS.values() for name in hosts)

DROP = object()
"""Pass as a settings override value to remove the key."""

VAULT_DOCUMENT = (
    "$ANSIBLE_VAULT;1.1;AES256\n"
    "39616366333838376465646335616166616236396632363735303461353838623135613262656230\n"
    "3963613738353065386336653239396431613735356362310a303365303338623362333931393931\n"
)


@dataclass(frozen=True)
class ComuneFiles:
    """Where a written comune inventory lives."""

    root: Path
    slug: str

    @property
    def dir(self) -> Path:
        """The comune's inventory directory."""
        return self.root / self.slug

    @property
    def hosts_file(self) -> Path:
        """hosts.yml."""
        return self.dir / "hosts.yml"

    @property
    def settings_file(self) -> Path:
        """group_vars/all/comune.yml."""
        return self.dir / "group_vars" / "all" / "comune.yml"

    def rel(self, path: Path) -> str:
        """A path as the loader names it in errors (relative to the inventory root's parent)."""
        return str(path.relative_to(self.root.parent))


def write_comune(
    root: Path,
    slug: str = SLUG,
    *,
    settings: Mapping[str, Any] | None = None,
    hosts: Mapping[str, Mapping[str, Any]] | None = None,
) -> ComuneFiles:
    """Write ``<root>/<slug>/hosts.yml`` and ``group_vars/all/comune.yml``.

    Args:
        root: inventory root directory.
        slug: comune directory name.
        settings: overrides merged into :data:`SETTINGS` (value :data:`DROP` removes a key).
        hosts: replaces :data:`GROUP_HOSTS` (group -> host -> vars).
    """
    files = ComuneFiles(root, slug)
    values = {**SETTINGS, "comune_slug": slug}
    for key, value in (settings or {}).items():
        if value is DROP:
            values.pop(key, None)
        else:
            values[key] = value
    groups = copy.deepcopy(dict(GROUP_HOSTS if hosts is None else hosts))
    doc = {"all": {"children": {g: {"hosts": h} for g, h in groups.items()}}}
    files.settings_file.parent.mkdir(parents=True, exist_ok=True)
    files.hosts_file.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    # One JSON value per line is valid YAML and quotes every string, like the lab's comune.yml.
    lines = [f"{key}: {json.dumps(value)}" for key, value in values.items()]
    files.settings_file.write_text("---\n" + "\n".join(lines) + "\n", encoding="utf-8")
    return files


# --- ansible-runner events, shaped like runner's job_events ------------------------------------

_counter = iter(range(1, 1_000_000))


def event(kind: str, stdout: str = "", **event_data: Any) -> dict[str, Any]:
    """One runner event as handed to ``event_handler``."""
    n = next(_counter)
    return {
        "uuid": f"00000000-0000-0000-0000-{n:012d}",
        "counter": n,
        "stdout": stdout,
        "start_line": n,
        "end_line": n + 1,
        "runner_ident": "ansible",
        "event": kind,
        "pid": 4242,
        "created": "2026-01-15T09:30:00.000000+00:00",
        "event_data": {
            "playbook": "enable_remote_work.yml",
            "playbook_uuid": "11111111-1111-1111-1111-111111111111",
            **event_data,
        },
    }


def play_start(play: str = "VPN gateways") -> dict[str, Any]:
    """playbook_on_play_start."""
    return event("playbook_on_play_start", play=play, play_pattern="vpn_gateways", name=play)


def task_start(
    task: str, role: str = "", action: str = "ansible.builtin.template"
) -> dict[str, Any]:
    """playbook_on_task_start."""
    return event(
        "playbook_on_task_start",
        task=task,
        role=role,
        task_action=action,
        name=task,
        is_conditional=False,
        task_path=f"/roles/{role}/tasks/main.yml:3",
    )


def _host_event(
    name: str, host: str, task: str, role: str, action: str, res: dict[str, Any], **extra: Any
) -> dict[str, Any]:
    return event(
        name,
        host=host,
        remote_addr=host,
        task=task,
        role=role,
        task_action=action,
        task_args="",
        task_path=f"/roles/{role}/tasks/main.yml:3",
        res=res,
        start="2026-01-15T09:30:01.000000+00:00",
        end="2026-01-15T09:30:02.000000+00:00",
        duration=1.0,
        event_loop=None,
        **extra,
    )


def on_ok(
    host: str,
    task: str,
    role: str = "",
    action: str = "ansible.builtin.template",
    *,
    changed: bool = False,
    **res: Any,
) -> dict[str, Any]:
    """runner_on_ok (``changed`` goes into res, like Ansible's result)."""
    return _host_event(
        "runner_on_ok",
        host,
        task,
        role,
        action,
        {"changed": changed, "_ansible_no_log": False, **res},
    )


def on_failed(
    host: str,
    task: str,
    msg: str,
    role: str = "",
    action: str = "ansible.builtin.command",
    *,
    ignore_errors: bool | None = None,
    **res: Any,
) -> dict[str, Any]:
    """runner_on_failed."""
    return _host_event(
        "runner_on_failed",
        host,
        task,
        role,
        action,
        {"changed": False, "failed": True, "msg": msg, **res},
        ignore_errors=ignore_errors,
    )


def on_unreachable(host: str, task: str, msg: str, role: str = "") -> dict[str, Any]:
    """runner_on_unreachable."""
    return _host_event(
        "runner_on_unreachable",
        host,
        task,
        role,
        "ansible.builtin.setup",
        {"changed": False, "unreachable": True, "msg": msg},
    )


def stats(**per_host: Mapping[str, int]) -> dict[str, Any]:
    """playbook_on_stats from per-host counters, e.g. ``stats(**{"gw-vpn-01": {"ok": 3}})``."""
    keys = ("ok", "changed", "failures", "dark", "skipped", "rescued", "ignored")
    data: dict[str, Any] = {key: {} for key in keys}
    for host, counts in per_host.items():
        for key, value in counts.items():
            data[key][host] = value
    data["processed"] = dict.fromkeys(per_host, 1)
    data["artifact_data"] = {}
    return event("playbook_on_stats", **data)


# --- a fake ansible_runner.run ------------------------------------------------------------------


@dataclass
class FakeAnsibleRunner:
    """Stands in for ``ansible_runner.run``: records kwargs, replays events, returns status/rc."""

    events: list[dict[str, Any]] = field(default_factory=list)
    status: str = "successful"
    rc: int | None = 0
    raises: BaseException | None = None
    command_env: dict[str, str] | None = None
    calls: list[dict[str, Any]] = field(default_factory=list)
    on_call: Callable[[dict[str, Any]], None] | None = None
    by_playbook: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    """Events of runs of other playbooks (e.g. presence.yml), instead of ``events``."""

    def __call__(self, **kwargs: Any) -> SimpleNamespace:
        self.calls.append(kwargs)
        if self.on_call is not None:
            self.on_call(kwargs)
        if self.raises is not None:
            raise self.raises
        kwargs["status_handler"](
            {"status": "starting", "runner_ident": "ansible"}, runner_config=None
        )
        if self.command_env is not None:
            # runner records the command and its environment in artifacts/<ident>/command.
            artifacts = Path(kwargs["private_data_dir"]) / "artifacts" / kwargs["ident"]
            artifacts.mkdir(parents=True, exist_ok=True)
            (artifacts / "command").write_text(
                json.dumps(
                    {
                        "command": [
                            "ansible-playbook",
                            "-i",
                            kwargs["inventory"],
                            kwargs["playbook"],
                        ],
                        "cwd": kwargs["project_dir"],
                        "env": self.command_env,
                    }
                ),
                encoding="utf-8",
            )
        for ev in self.by_playbook.get(kwargs["playbook"], self.events):
            kwargs["event_handler"](ev)
        kwargs["status_handler"](
            {"status": self.status, "runner_ident": "ansible"}, runner_config=None
        )
        killed = self.status == "canceled"  # runner kills only on abort or timeout
        return SimpleNamespace(status=self.status, rc=self.rc, canceled=killed, timed_out=False)

    @property
    def kwargs(self) -> dict[str, Any]:
        """Arguments of the only call."""
        assert len(self.calls) == 1, f"expected one ansible_runner.run call, got {len(self.calls)}"
        return self.calls[0]
