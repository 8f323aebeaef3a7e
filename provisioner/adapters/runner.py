"""The one chokepoint to Ansible: a fresh private_data_dir per run and ansible_runner.run."""

from __future__ import annotations

import difflib
import json
import os
import re
import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from provisioner.adapters.files import atomic_write
from provisioner.errors import AnsibleError
from provisioner.models.run import (
    HostResult,
    PlaybookRequest,
    Probe,
    ProgressEvent,
    ReadinessCheck,
    RunOutcome,
    RunStatus,
    TaskOutcome,
)
from provisioner.ports import EventSink

VAULT_PROMPT = r"^Vault password:\s*?$"
# Environment keys whose values never reach a file: runner writes its env to artifacts/command.
_SECRET_ENV = re.compile(r"PASS|SECRET|TOKEN|PRIVATE|CREDENTIAL|VAULT", re.IGNORECASE)
_REDACTED = "<redacted>"
_STAT_KEYS = {
    "ok": "ok",
    "changed": "changed",
    "failures": "failed",
    "dark": "unreachable",
    "skipped": "skipped",
    "rescued": "rescued",
    "ignored": "ignored",
}
READINESS_PREFIX = "Readiness: "
"""Tasks named ``Readiness: <check>`` prove a capability works; their outcome is reported."""
PRESENCE_PREFIX = "Presence: "
"""Read-only tasks named ``Presence: <check>``: the core reads their output (their stdout lines,
or a debug task's message): peers' handshakes, a terminator's public key."""
COUNTED_FAILURE = "provisioner_counts_as_failed"
"""Result key of a failure a task ignores so that Ansible goes on with the other plays (a
network device failing must not end the comune's run), which provisioner still counts."""
TUNNEL_INVENTORY = "tunnel-inventory.yml"
"""Second inventory source of a run: how to reach the hosts managed through the tunnel."""
# The host managing the comune's endpoints through the tunnel: its Linux VPN terminator unless the
# comune names another office host (e.g. when a router terminates the VPN).
_JUMP = "hostvars[comune_management_host | default(comune_vpn_terminator)]"
_JUMP_ARGS = f"{_JUMP}.ansible_ssh_common_args | default('')"
TUNNEL_CONNECTION = {
    # The endpoint's own tunnel address, reached from the managing host (ssh -W): the only path
    # to a laptop at home behind NAT. HostKeyAlias first (ssh keeps the first value of an option):
    # the endpoint's key is known under its name, whatever its address.
    "ansible_host": "{{ vpn_client_address }}",
    "ansible_port": 22,
    "ansible_ssh_common_args": (
        "-o HostKeyAlias={{ inventory_hostname }} {{ " + _JUMP_ARGS + " }} "
        '-o ProxyCommand="ssh {{ ' + _JUMP_ARGS + " }} "
        "{{ ('-i ' ~ " + _JUMP + ".ansible_ssh_private_key_file) "
        "if " + _JUMP + ".ansible_ssh_private_key_file is defined else '' }} "
        "-p {{ " + _JUMP + ".ansible_port | default(22) }} "
        "-l {{ " + _JUMP + ".ansible_user | default('root') }} "
        "-W %h:%p {{ " + _JUMP + ".ansible_host "
        '| default(comune_management_host | default(comune_vpn_terminator)) }}"'
    ),
}
"""Connection variables of a host reached through the tunnel (Ansible templates them per host)."""
# Defence in depth on top of no_log: values of secret-looking keys and password hashes never
# reach history, summaries or reports, even from a task that forgot no_log.
_SECRET_VALUE = re.compile(
    r"(?i)((?:password|passwd|secret|token|private[ _-]?key|preshared[ _-]?key|psk)"
    r"[\"']?\s*[:=]\s*[\"']?)([^\s\"',]+)"
)
_CRYPT_HASH = re.compile(r"\$(?:1|2[aby]?|5|6|y|gy|7)\$[^\s\"':]+(?:\$[^\s\"':]+)*")


def redact(text: str) -> str:
    """Mask values of secret-looking keys and password hashes in diff or message text."""
    return _CRYPT_HASH.sub(_REDACTED, _SECRET_VALUE.sub(rf"\1{_REDACTED}", text))


FACT_CACHE_TIMEOUT = 6 * 3600
"""Seconds cached facts stay valid: an afternoon of enable runs, re-gathered by each nightly
comply (a host's OS or addresses can change between nights; helpdesk runs flush their host)."""

_NO_LOG = "the output has been hidden due to the fact that 'no_log: true' was specified"


def render_diff(diff: Any) -> str:
    """Turn Ansible's diff payload (a dict or a list of dicts) into unified diff text."""
    items = diff if isinstance(diff, list) else [diff]
    chunks: list[str] = []
    for item in items:
        if not isinstance(item, Mapping):
            continue
        if item.get("prepared"):
            chunks.append(str(item["prepared"]).rstrip("\n"))
            continue
        before, after = item.get("before", ""), item.get("after", "")
        if isinstance(before, Mapping) or isinstance(after, Mapping):
            before = json.dumps(before, indent=2, sort_keys=True, default=str) + "\n"
            after = json.dumps(after, indent=2, sort_keys=True, default=str) + "\n"
        before, after = _terminated(before), _terminated(after)
        if before == after:
            continue
        lines = difflib.unified_diff(
            before.splitlines(keepends=True),
            after.splitlines(keepends=True),
            fromfile=str(item.get("before_header", "before")),
            tofile=_stable_header(str(item.get("after_header", "after"))),
        )
        chunks.append("".join(lines).rstrip("\n"))
    return "\n".join(c for c in chunks if c)


# The template module names the rendered file by the controller's temporary path
# (~/.ansible/tmp/ansible-local-<random>/tmp<random>/name.j2), different on every run.
_CONTROLLER_TMP = re.compile(r"^.*/\.ansible/tmp/ansible-local-[^/]+/(?:[^/]+/)*(?P<name>[^/]+)$")


def _stable_header(header: str) -> str:
    """The diff's "+++" header without the controller's random temporary path.

    Reports and the run history compare diffs between runs; "template <name>" stays the same.
    """
    match = _CONTROLLER_TMP.match(header)
    return f"template {match['name']}" if match else header


def _terminated(value: Any) -> str:
    """Text ending in a newline, so unified diff lines never run together."""
    text = str(value or "")
    return text if not text or text.endswith("\n") else text + "\n"


def _diffs(res: Mapping[str, Any]) -> list[Any]:
    """The diff of a task, including each loop item's (uncensored) diff."""
    found: list[Any] = []
    for payload in [res, *(res.get("results") or [])]:
        if not isinstance(payload, Mapping) or payload.get("censored"):
            continue
        diff = payload.get("diff")
        if diff:
            found.extend(diff if isinstance(diff, list) else [diff])
    return found


def _message(res: Mapping[str, Any]) -> str:
    if res.get("censored"):
        return _NO_LOG
    for key in ("msg", "stderr", "reason", "module_stderr", "stdout"):
        value = res.get(key)
        if value:
            return str(value).strip().splitlines()[0][:500] if key != "msg" else str(value)[:2000]
    results = res.get("results")
    if isinstance(results, list):
        for item in results:
            if isinstance(item, Mapping) and (item.get("failed") or item.get("unreachable")):
                return _message(item)
    return ""


def _change_message(res: Mapping[str, Any]) -> str:
    """What changed when there is no diff: the msg, or a loop's changed items and their state."""
    results = res.get("results")
    if isinstance(results, list) and results:
        items = [
            f"{item.get('item')}" + (f" (state: {item['state']})" if item.get("state") else "")
            for item in results
            if isinstance(item, Mapping) and item.get("changed")
        ]
        if items:
            return "changed: " + ", ".join(items)
    return str(res.get("msg") or "")[:2000]


class _Collector:
    """Turns runner events into progress events and the typed outcome."""

    def __init__(self, on_event: EventSink | None) -> None:
        self.on_event = on_event
        self.tasks: list[TaskOutcome] = []
        self.stats: dict[str, dict[str, int]] = {}
        self.errors: list[str] = []
        self.readiness: list[ReadinessCheck] = []
        self.probes: list[Probe] = []
        self.host_roles: dict[tuple[str, str], None] = {}
        self.plays: list[str] = []
        self.counted_failures: dict[str, int] = {}

    def emit(self, event: ProgressEvent) -> None:
        if self.on_event is not None:
            self.on_event(event)

    def __call__(self, event: dict[str, Any]) -> bool:
        name = event.get("event", "")
        data: dict[str, Any] = event.get("event_data") or {}
        host = str(data.get("host", ""))
        task = str(data.get("task", ""))
        role = str(data.get("role", ""))
        if host and name.startswith("runner_on_") and name != "runner_on_start":
            self.host_roles.setdefault((host, role), None)
        if name == "playbook_on_play_start":
            self.plays.append(str(data.get("play", "")))
            self.emit(ProgressEvent("play", play=str(data.get("play", ""))))
        elif name == "playbook_on_task_start":
            self.emit(ProgressEvent("task", task=task, role=role))
        elif name == "runner_on_start":
            self.emit(ProgressEvent("host_start", host=host, task=task, role=role))
        elif name in {"runner_on_ok", "runner_on_failed"} and task.startswith(PRESENCE_PREFIX):
            res = data.get("res") or {}
            ok = name == "runner_on_ok"
            lines = res.get("stdout_lines")
            if lines is None and ok:
                # A debug task's message (e.g. a terminator's public key).
                lines = str(res.get("msg") or "").splitlines()
            self.probes.append(
                Probe(
                    host,
                    task.removeprefix(PRESENCE_PREFIX).strip(),
                    ok,
                    tuple(str(line) for line in lines or ()),
                    # A read-only script says why on stderr ("non-zero return code" says nothing).
                    "" if ok else redact(str(res.get("stderr") or "").strip() or _message(res)),
                )
            )
            self.emit(ProgressEvent("ok" if ok else "failed", host=host, task=task, role=role))
        elif name in {"runner_on_ok", "runner_on_failed"} and task.startswith(READINESS_PREFIX):
            res = data.get("res") or {}
            ok = name == "runner_on_ok"
            check = task.removeprefix(READINESS_PREFIX).strip()
            self.readiness.append(ReadinessCheck(host, check, ok, "" if ok else _message(res)))
            if not ok:
                self.record(data, "failed", res)
            self.emit(ProgressEvent("ok" if ok else "failed", host=host, task=task, role=role))
        elif name == "runner_on_ok":
            res = data.get("res") or {}
            changed = bool(res.get("changed"))
            if changed:
                self.record(data, "changed", res)
            self.emit(
                ProgressEvent("changed" if changed else "ok", host=host, task=task, role=role)
            )
        elif name == "runner_on_failed":
            res = data.get("res") or {}
            if not data.get("ignore_errors"):
                self.record(data, "failed", res)
            elif res.get(COUNTED_FAILURE):
                # Ignored for Ansible (the playbook goes on to the other plays), failed for us.
                self.record(data, "failed", res)
                self.counted_failures[host] = self.counted_failures.get(host, 0) + 1
            self.emit(ProgressEvent("failed", host=host, task=task, role=role))
        elif name == "runner_on_unreachable":
            self.record(data, "unreachable", data.get("res") or {})
            self.emit(ProgressEvent("unreachable", host=host, task=task, role=role))
        elif name == "runner_on_skipped":
            self.emit(ProgressEvent("skipped", host=host, task=task, role=role))
        elif name == "playbook_on_stats":
            for key, field in _STAT_KEYS.items():
                for h, count in (data.get(key) or {}).items():
                    self.stats.setdefault(h, {})[field] = int(count)
            for h in data.get("processed") or {}:
                self.stats.setdefault(h, {})
            # A task with ignore_unreachable (a probe delegated to an endpoint that is offline)
            # leaves its host in the play: Ansible counts it ignored, not unreachable.
            self.tasks = [
                t
                for t in self.tasks
                if t.outcome != "unreachable" or self.stats.get(t.host, {}).get("unreachable")
            ]
            self.emit(ProgressEvent("stats"))
        elif name == "error" or (name == "verbose" and "ERROR!" in str(event.get("stdout", ""))):
            self.errors.append(str(event.get("stdout", "")).strip())
        return True

    def record(self, data: Mapping[str, Any], outcome: str, res: Mapping[str, Any]) -> None:
        redacted = bool(res.get("censored")) or any(
            isinstance(item, Mapping) and item.get("censored") for item in res.get("results") or []
        )
        diff = "" if redacted else render_diff(_diffs(res))
        if outcome != "changed":
            message = _message(res)
        else:
            # A change without a diff (a check-mode report task) is described by its msg.
            message = "" if diff or redacted else _change_message(res)
        self.tasks.append(
            TaskOutcome(
                host=str(data.get("host", "")),
                task=str(data.get("task", "")),
                role=str(data.get("role", "")),
                action=str(data.get("task_action", "")),
                outcome=outcome,
                message=redact(message),
                diff=redact(diff),
                redacted=redacted,
                # Handlers live in a role's handlers/ (runner's events carry no handler flag).
                handler="/handlers/" in str(data.get("task_path", "")),
            )
        )


def _scrub_artifacts(artifact_dir: Path, secrets: list[str]) -> None:
    """Remove secret environment values from runner's ``command`` record."""
    command_file = artifact_dir / "command"
    if not command_file.is_file():
        return
    record = json.loads(command_file.read_text(encoding="utf-8"))
    env = record.get("env") or {}
    for key, value in list(env.items()):
        if _SECRET_ENV.search(key) or any(s and s in str(value) for s in secrets):
            env[key] = _REDACTED
    command_file.write_text(json.dumps(record, ensure_ascii=False), encoding="utf-8")


class LocalRunner:
    """Executor that runs ansible-playbook on this machine through ansible-runner."""

    def __init__(
        self,
        playbooks_dir: Path,
        ansible_cfg: Path,
        envvars: Mapping[str, str] | None = None,
        *,
        fact_cache_dir: Path | None = None,
    ) -> None:
        """``envvars`` go to every run (e.g. Mitogen's strategy); ``fact_cache_dir`` holds one
        jsonfile fact cache per comune (none: facts are gathered on every run)."""
        self.playbooks_dir = playbooks_dir
        self.ansible_cfg = ansible_cfg
        self.envvars = dict(envvars or {})
        self.fact_cache_dir = fact_cache_dir
        strategy = self.envvars.get("ANSIBLE_STRATEGY", "")
        self.accel = "mitogen" if strategy.startswith("mitogen") else "plain"
        """How runs execute: ``mitogen`` (its strategy is set) or ``plain``."""

    def build_kwargs(
        self,
        request: PlaybookRequest,
        run_dir: Path,
        vault_password: str | None,
    ) -> dict[str, Any]:
        """The exact arguments given to ``ansible_runner.run`` (tested as such)."""
        cmdline: list[str] = []
        passwords: dict[str, str] = {}
        if request.check:
            cmdline.append("--check")
        if request.diff:
            cmdline.append("--diff")
        if request.forks:
            cmdline.append(f"--forks={request.forks}")
        if request.flush_cache:
            cmdline.append("--flush-cache")
        if vault_password is not None:
            # The password answers Ansible's prompt through the pty: never in argv or a file.
            cmdline.append("--ask-vault-pass")
            passwords[VAULT_PROMPT] = vault_password
        kwargs: dict[str, Any] = {
            "private_data_dir": str(run_dir),
            "project_dir": str(self.playbooks_dir),
            "playbook": request.playbook,
            "inventory": (
                [str(request.inventory), str(run_dir / TUNNEL_INVENTORY)]
                if request.through_tunnel
                else str(request.inventory)
            ),
            "ident": "ansible",
            "envvars": {
                "ANSIBLE_NOCOLOR": "1",
                "ANSIBLE_CONFIG": str(self.ansible_cfg),
                "PATH": _search_path(),
                **self._fact_cache_env(request.comune),
                **self.envvars,
            },
            "suppress_env_files": True,
            "quiet": True,
            "rotate_artifacts": 0,
        }
        if request.limit:
            kwargs["limit"] = request.limit
        if request.tags:
            kwargs["tags"] = ",".join(request.tags)
        if request.skip_tags:
            kwargs["skip_tags"] = ",".join(request.skip_tags)
        if request.extravars:
            kwargs["extravars"] = dict(request.extravars)
        if cmdline:
            kwargs["cmdline"] = " ".join(cmdline)
        if passwords:
            kwargs["passwords"] = passwords
        return kwargs

    def _fact_cache_env(self, comune: str) -> dict[str, str]:
        """jsonfile fact cache of one comune: facts gathered once are reused by the next runs
        (``gathering = smart``) until they are older than FACT_CACHE_TIMEOUT."""
        if self.fact_cache_dir is None:
            return {}
        return {
            "ANSIBLE_CACHE_PLUGIN": "ansible.builtin.jsonfile",
            "ANSIBLE_CACHE_PLUGIN_CONNECTION": str(self.fact_cache_dir / comune),
            "ANSIBLE_CACHE_PLUGIN_TIMEOUT": str(FACT_CACHE_TIMEOUT),
        }

    def run(
        self,
        request: PlaybookRequest,
        run_dir: Path,
        *,
        vault_password: str | None,
        on_event: EventSink | None = None,
        cancel: threading.Event | None = None,
    ) -> RunOutcome:
        """Run the playbook and return the typed outcome.

        Raises:
            AnsibleError: ansible-runner itself could not start.
        """
        import ansible_runner  # noqa: PLC0415 - heavy import, only when a run happens

        collector = _Collector(on_event)
        run_dir.mkdir(parents=True, exist_ok=True)
        if request.through_tunnel:
            atomic_write(run_dir / TUNNEL_INVENTORY, json.dumps(tunnel_inventory(request)))
        started = time.time()
        try:
            runner = ansible_runner.run(
                **self.build_kwargs(request, run_dir, vault_password),
                event_handler=collector,
                # runner's lifecycle (starting, running, successful, ...) goes to the display too
                status_handler=lambda data, runner_config: collector.emit(
                    ProgressEvent("status", task=str(data.get("status", "")))
                ),
                cancel_callback=cancel.is_set if cancel is not None else None,
            )
        except Exception as exc:  # runner raises bare exceptions for config problems
            raise AnsibleError(f"ansible-runner could not start: {exc}") from exc
        finally:
            _scrub_artifacts(run_dir / "artifacts" / "ansible", [vault_password or ""])
        finished = time.time()
        for host, count in collector.counted_failures.items():
            counters = collector.stats.setdefault(host, {})
            counters["failed"] = counters.get("failed", 0) + count
            counters["ignored"] = max(0, counters.get("ignored", 0) - count)
        hosts = tuple(HostResult(host=h, **c) for h, c in sorted(collector.stats.items()))
        status = (
            RunStatus(runner.status)
            if runner.status in RunStatus.__members__.values()
            else RunStatus.ERROR
        )
        error = ""
        if not collector.stats and status != RunStatus.CANCELED:
            error = "\n".join(collector.errors) or _tail(
                run_dir / "artifacts" / "ansible" / "stdout"
            )
        return RunOutcome(
            status=status,
            rc=int(runner.rc if runner.rc is not None else -1),
            hosts=hosts,
            tasks=tuple(collector.tasks),
            started=started,
            finished=finished,
            error=error,
            readiness=tuple(collector.readiness),
            probes=tuple(collector.probes),
            plays=tuple(collector.plays),
            host_roles=tuple(collector.host_roles),
        )


def _search_path() -> str:
    """PATH with this interpreter's bin directory first, so the venv's ansible-playbook runs."""
    here = str(Path(sys.executable).parent)
    rest = [p for p in os.environ.get("PATH", os.defpath).split(os.pathsep) if p and p != here]
    return os.pathsep.join([here, *rest])


def _tail(path: Path, lines: int = 5) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(line for line in text.strip().splitlines()[-lines:])


def tunnel_inventory(request: PlaybookRequest) -> dict[str, Any]:
    """The second inventory source of a run: connection variables of its tunnel-managed hosts.

    A later inventory source wins for a host's variables, so these replace the address the
    comune's inventory gives (the one used for the first enrolment). JSON is YAML.
    """
    return {"all": {"hosts": {host: dict(TUNNEL_CONNECTION) for host in request.through_tunnel}}}
