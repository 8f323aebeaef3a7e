"""The one chokepoint to Ansible: a fresh private_data_dir per run and ansible_runner.run."""

from __future__ import annotations

import configparser
import difflib
import json
import os
import re
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from provisioner.adapters import leftovers
from provisioner.adapters.files import atomic_write
from provisioner.adapters.redaction import redact
from provisioner.errors import AnsibleError
from provisioner.models.run import (
    Cancel,
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
TUNNEL_INVENTORY = "tunnel.provisioner_tunnel.yml"
"""Second inventory source of a run: the hosts reached through the tunnel, for the inventory
plugin that gives them their connection variables (plugins/inventory/provisioner_tunnel.py)."""


CANCEL_MARKER = "provisioner: cancel requested"
"""What plugins/strategy/provisioner_linear.py prints when it stops a run between tasks."""

# --- What never reaches Ansible's environment (runner also writes that environment to
# artifacts/<ident>/command, in the run directory, before the run starts).
# (Not *AUTH*: SSH_AUTH_SOCK must reach ssh.)
_SECRET_ENV = re.compile(r"PASS|SECRET|TOKEN|PRIVATE|CREDENTIAL|VAULT|API_?KEY", re.IGNORECASE)
_TOOL_ENV = "PROVISIONER_"
"""provisioner's own settings (several are credentials) are none of Ansible's business."""


def child_environment(inherited: Mapping[str, str]) -> dict[str, str]:
    """Overrides that empty every inherited variable Ansible must not see.

    ansible-runner starts ansible-playbook with this process's environment plus the run's
    variables, and writes both to the run directory's ``command`` record. Emptied: provisioner's
    own variables (``PROVISIONER_*``: the vault password, the webhook URL and its secret, the
    SMTP password, the lab's admin password), every variable whose name looks secret
    (``*PASS*``, ``*TOKEN*``, ...), and every value that carries a credential (``redact``).
    """
    return {
        key: ""
        for key, value in inherited.items()
        if key.startswith(_TOOL_ENV) or _SECRET_ENV.search(key) or redact(value) != value
    }


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
    """Turns runner events into progress events and the typed outcome.

    It is runner's event handler and answers False: runner writes no event to the run directory.
    What provisioner keeps is redacted here (history, summary.json, reports).
    """

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
        self.tail: deque[str] = deque(maxlen=5)
        """The last lines Ansible printed (in memory; redacted when used): the error when a run
        ends without stats."""
        self.task = ""
        """The last task (not a handler) that started, and its hosts: started, then finished."""
        self.task_started: dict[str, None] = {}
        self.task_finished: set[str] = set()
        self.stop: str = ""
        """Set when the strategy stopped the run between tasks (after a first Ctrl-C)."""
        self.started_after_stop: list[str] = []
        self.handlers: set[str] = set()
        """Task uuids of handlers (runner marks a handler's start with is_conditional)."""

    def is_handler(self, data: Mapping[str, Any]) -> bool:
        """A handler: started as one, or defined in a role's handlers/."""
        return str(data.get("task_uuid", "")) in self.handlers or "/handlers/" in str(
            data.get("task_path", "")
        )

    def emit(self, event: ProgressEvent) -> None:
        if self.on_event is not None:
            self.on_event(event)

    def __call__(self, event: dict[str, Any]) -> bool:
        name = event.get("event", "")
        data: dict[str, Any] = event.get("event_data") or {}
        host = str(data.get("host", ""))
        task = str(data.get("task", ""))
        role = str(data.get("role", ""))
        stdout = str(event.get("stdout") or "")
        self.tail.extend(line for line in stdout.splitlines() if line.strip())
        if host and name.startswith("runner_on_") and name != "runner_on_start":
            self.host_roles.setdefault((host, role), None)
            if task == self.task and name != "runner_on_async_poll":
                self.task_finished.add(host)
        if name == "playbook_on_play_start":
            self.plays.append(str(data.get("play", "")))
            self.emit(ProgressEvent("play", play=str(data.get("play", ""))))
        elif name == "playbook_on_task_start":
            if data.get("is_conditional"):
                self.handlers.add(str(data.get("task_uuid") or data.get("uuid") or ""))
            else:
                if self.stop:
                    self.started_after_stop.append(task)
                self.task, self.task_started, self.task_finished = task, {}, set()
            self.emit(ProgressEvent("task", task=task, role=role))
        elif name == "runner_on_start":
            if task == self.task:
                self.task_started.setdefault(host, None)
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
        elif name == "verbose" and stdout.startswith(CANCEL_MARKER):
            self.stop = stdout.strip()
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
        elif name == "error" or (name == "verbose" and "ERROR!" in stdout):
            self.errors.append(redact(stdout.strip()))
        # Nothing for runner to write: no job_events/*.json in the run directory.
        return False

    def cancel_note(self) -> str:
        """What a graceful cancel did: the task that was running finished, no other started."""
        if not self.stop:
            return ""
        unfinished = [h for h in self.task_started if h not in self.task_finished]
        note = "canceled with Ctrl-C between tasks"
        if self.task:
            note += f": the running task {self.task!r} " + (
                f"did not finish on {', '.join(unfinished)}"
                if unfinished
                else f"finished on {len(self.task_finished)} host(s)"
            )
        if self.started_after_stop:
            note += f"; started after the request: {', '.join(self.started_after_stop)}"
        else:
            note += "; no task started after it"
        return note

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
                handler=self.is_handler(data),
            )
        )


RUNNER_SETTINGS = {
    # No artifacts/<ident>/stdout or stderr: the collector keeps what provisioner needs.
    "suppress_output_file": True,
    # How often runner's loop looks at the cancel callback (seconds without output).
    "pexpect_timeout": 1,
}
"""runner's env/settings, written in each run directory: with suppress_env_files runner drops a
``settings`` argument, and these hold no secret."""

STRATEGY = "provisioner_linear"
"""Every play's strategy unless it names one: linear or Mitogen's, with a clean stop on cancel."""
PLAIN_STRATEGY = "ansible.builtin.linear"
CANCEL_FILE = "cancel"
"""Created in the run directory by the first Ctrl-C: the strategy stops before its next task."""


def host_key_checking(ansible_cfg: Path) -> str:
    """``host_key_checking`` of the project's ansible.cfg (Ansible's default: True).

    ansible-runner sets ANSIBLE_HOST_KEY_CHECKING=False unless the environment has it, and the
    environment wins over ansible.cfg: every run would connect with StrictHostKeyChecking=no (and
    Mitogen with its ``ignore`` mode). The chokepoint sets it from the configuration instead.
    """
    parser = configparser.ConfigParser(interpolation=None, inline_comment_prefixes=("#", ";"))
    try:
        parser.read(ansible_cfg, encoding="utf-8")
        return str(parser.getboolean("defaults", "host_key_checking", fallback=True))
    except (configparser.Error, ValueError):
        return "True"


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
        """``envvars`` go to every run (e.g. Mitogen's strategy plugins and its strategy, which
        becomes the base of provisioner's strategy); ``fact_cache_dir`` holds one jsonfile fact
        cache per comune (none: facts are gathered on every run). The callback and strategy
        plugins come from ``plugins/`` next to ``ansible_cfg``."""
        self.playbooks_dir = playbooks_dir
        self.ansible_cfg = ansible_cfg
        self.plugins_dir = ansible_cfg.parent / "plugins"
        self.envvars = dict(envvars or {})
        self.base_strategy = self.envvars.pop("ANSIBLE_STRATEGY", "") or PLAIN_STRATEGY
        self.strategy_plugins = self.envvars.pop("ANSIBLE_STRATEGY_PLUGINS", "")
        self.fact_cache_dir = fact_cache_dir
        self.accel = "mitogen" if self.base_strategy.startswith("mitogen") else "plain"
        """How runs execute: ``mitogen`` (its strategy is the base) or ``plain``."""

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
                **child_environment(os.environ),
                "ANSIBLE_NOCOLOR": "1",
                "ANSIBLE_CONFIG": str(self.ansible_cfg),
                "ANSIBLE_HOST_KEY_CHECKING": host_key_checking(self.ansible_cfg),
                "PATH": _search_path(),
                **self._plugin_env(run_dir),
                **self._fact_cache_env(request.comune),
                **self.envvars,
            },
            "suppress_env_files": True,
            "quiet": True,
            "rotate_artifacts": 0,
            # The fact cache is provisioner's (envvars); with runner's default type, runner would
            # point Ansible at artifacts/<ident>/fact_cache in the run directory instead.
            "fact_cache_type": "provisioner",
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

    def _plugin_env(self, run_dir: Path) -> dict[str, str]:
        """The event callback without files, and the strategy that stops cleanly on Ctrl-C."""
        strategy_dirs = [str(self.plugins_dir / "strategy"), self.strategy_plugins]
        return {
            "ANSIBLE_CALLBACK_PLUGINS": str(self.plugins_dir / "callback"),
            "ANSIBLE_STRATEGY_PLUGINS": os.pathsep.join(d for d in strategy_dirs if d),
            "ANSIBLE_STRATEGY": STRATEGY,
            "PROVISIONER_STRATEGY_BASE": self.base_strategy,
            "PROVISIONER_CANCEL_FILE": str(run_dir / CANCEL_FILE),
        }

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

        ``cancel`` set (a first Ctrl-C): Ansible stops between tasks, the running task and the
        handlers it notified finish, the run is ``canceled``. ``cancel.abort`` set as well (a
        second Ctrl-C, :class:`Cancel`): runner kills Ansible at once.

        Raises:
            AnsibleError: ansible-runner itself could not start.
        """
        import ansible_runner  # noqa: PLC0415 - heavy import, only when a run happens

        collector = _Collector(on_event)
        run_dir.mkdir(parents=True, exist_ok=True)
        if request.through_tunnel:
            atomic_write(
                run_dir / TUNNEL_INVENTORY, json.dumps(tunnel_source(request.through_tunnel))
            )
        atomic_write(run_dir / "env" / "settings", json.dumps(RUNNER_SETTINGS), mode=0o600)
        started = time.time()
        try:
            runner = ansible_runner.run(
                **self.build_kwargs(request, run_dir, vault_password),
                event_handler=collector,
                # runner's lifecycle (starting, running, successful, ...) goes to the display too
                status_handler=lambda data, runner_config: collector.emit(
                    ProgressEvent("status", task=str(data.get("status", "")))
                ),
                cancel_callback=_cancel_callback(cancel, run_dir / CANCEL_FILE),
            )
        except Exception as exc:  # runner raises bare exceptions for config problems
            raise AnsibleError(f"ansible-runner could not start: {redact(str(exc))}") from exc
        if runner.canceled or runner.timed_out:
            # runner's SIGKILL reached ansible-playbook's group, not its workers (leftovers.py).
            leftovers.kill_marked(cancel_mark(run_dir))
        return outcome_of(collector, runner.status, runner.rc, started, time.time(), cancel)


def outcome_of(
    collector: _Collector,
    status: str,
    rc: int | None,
    started: float,
    finished: float,
    cancel: threading.Event | None = None,
) -> RunOutcome:
    """The typed outcome of a run from its collected events and runner's final status and rc.

    Shared by every executor that feeds runner events to a ``_Collector`` (local or queued).
    """
    for host, count in collector.counted_failures.items():
        counters = collector.stats.setdefault(host, {})
        counters["failed"] = counters.get("failed", 0) + count
        counters["ignored"] = max(0, counters.get("ignored", 0) - count)
    hosts = tuple(HostResult(host=h, **c) for h, c in sorted(collector.stats.items()))
    final = RunStatus(status) if status in RunStatus.__members__.values() else RunStatus.ERROR
    error = ""
    if collector.stop:
        # The strategy stopped the playbook (Ansible's rc says "failed hosts"): canceled.
        final = RunStatus.CANCELED
        error = collector.cancel_note()
    if final == RunStatus.CANCELED and isinstance(cancel, Cancel) and cancel.abort.is_set():
        error = "; ".join(
            e for e in (error, "aborted with a second Ctrl-C: Ansible was killed") if e
        )
    elif not collector.stats and final != RunStatus.CANCELED:
        error = "\n".join(collector.errors) or redact("\n".join(collector.tail))
    return RunOutcome(
        status=final,
        rc=int(rc if rc is not None else -1),
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


def cancel_mark(run_dir: Path) -> str:
    """The environment entry every process of the run in ``run_dir`` carries (its cancel file)."""
    return f"PROVISIONER_CANCEL_FILE={run_dir / CANCEL_FILE}"


def _cancel_callback(
    cancel: threading.Event | None, cancel_file: Path
) -> Callable[[], bool] | None:
    """runner's cancel callback: the first request only creates the cancel file (the strategy
    stops between tasks); True, runner's SIGKILL to Ansible's process group, only on abort."""
    if cancel is None:
        return None

    def poll() -> bool:
        if cancel.is_set() and not cancel_file.exists():
            cancel_file.touch(mode=0o600)
        return isinstance(cancel, Cancel) and cancel.abort.is_set()

    return poll


def _search_path() -> str:
    """PATH with this interpreter's bin directory first, so the venv's ansible-playbook runs."""
    here = str(Path(sys.executable).parent)
    rest = [p for p in os.environ.get("PATH", os.defpath).split(os.pathsep) if p and p != here]
    return os.pathsep.join([here, *rest])


def tunnel_source(hosts: Iterable[str]) -> dict[str, Any]:
    """A run's second inventory source: the configuration of plugins/inventory/provisioner_tunnel.py
    for its tunnel-managed ``hosts`` (``PlaybookRequest.through_tunnel``).

    A later inventory source wins for a host's variables, so the plugin's replace the address
    the comune's inventory gives (the one used for the first enrolment). JSON is YAML.
    """
    return {"plugin": "provisioner_tunnel", "hosts": list(hosts)}
