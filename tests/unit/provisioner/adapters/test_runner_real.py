"""The chokepoint with the real ansible-runner and ansible-playbook, on this machine only.

Each test runs a tiny playbook against hosts with ``ansible_connection=local`` (no network):
what lands in the run directory (inotify sees every file, even one that lives a millisecond),
the host-key setting Ansible really uses, and Ctrl-C stopping between tasks, plain and Mitogen.
"""

from __future__ import annotations

import ctypes
import os
import struct
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from provisioner.adapters import accel, vault
from provisioner.adapters import runner as runner_module
from provisioner.adapters.runner import LocalRunner
from provisioner.models.run import Cancel, PlaybookRequest, ProgressEvent, RunStatus

ROOT = Path(__file__).resolve().parents[4]
VAULT_CANARY = "canary-vault-3b9c1f"
VALUE_CANARY = "canary-value-77e0aa"
ENV_CANARY = "canary-env-51d2"

# --- inotify (Linux): every file created or renamed into a watched directory ------------------

_IN_CREATE = 0x100
_IN_MOVED_TO = 0x80
_EVENT = struct.Struct("iIII")


@contextmanager
def created_files(directories: list[Path]) -> Iterator[list[str]]:
    """Names of the files created in ``directories`` while the block runs (relative paths)."""
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    fd = libc.inotify_init1(os.O_NONBLOCK)
    assert fd >= 0, ctypes.get_errno()
    watches = {}
    for directory in directories:
        directory.mkdir(parents=True, exist_ok=True)
        wd = libc.inotify_add_watch(fd, str(directory).encode(), _IN_CREATE | _IN_MOVED_TO)
        assert wd >= 0, ctypes.get_errno()
        watches[wd] = directory
    names: list[str] = []
    stop = threading.Event()

    def read() -> None:
        while True:
            try:
                data = os.read(fd, 65536)
            except BlockingIOError:
                if stop.is_set():
                    return
                stop.wait(0.005)
                continue
            offset = 0
            while offset < len(data):
                wd, _mask, _cookie, length = _EVENT.unpack_from(data, offset)
                raw = data[offset + _EVENT.size : offset + _EVENT.size + length]
                name = raw.rstrip(b"\0").decode()
                names.append(str((watches[wd] / name).relative_to(directories[0])))
                offset += _EVENT.size + length

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        yield names
    finally:
        stop.set()
        reader.join(timeout=5)
        os.close(fd)


# --- a project with one playbook -------------------------------------------------------------

PLAYBOOK = """
- name: Secrets in results, as a role that forgot no_log would leave them
  hosts: all
  gather_facts: true
  gather_subset: [min]
  tasks:
    - name: Show the vaulted value
      ansible.builtin.debug:
        msg: "{{ vaulted }}"
    - name: Print a credential
      ansible.builtin.command: "echo password={{ vaulted }}"
      changed_when: true
    - name: Host key checking is what ansible.cfg says
      ansible.builtin.assert:
        that: lookup('ansible.builtin.config', 'HOST_KEY_CHECKING') | bool
"""

CANCEL_PLAYBOOK = """
- name: First play
  hosts: all
  gather_facts: false
  tasks:
    - name: t0
      ansible.builtin.command: "true"
      changed_when: true
      notify: h0
    - name: t1 slow
      ansible.builtin.command: sleep 3
      changed_when: true
      notify: h1
    - name: t2 never
      ansible.builtin.command: "true"
  handlers:
    - name: h0
      ansible.builtin.command: "true"
      changed_when: true
    - name: h1
      ansible.builtin.command: "true"
      changed_when: true
- name: Second play
  hosts: all
  gather_facts: false
  tasks:
    - name: t3 never
      ansible.builtin.command: "true"
"""


def _project(tmp_path: Path, playbook: str, hosts: list[str]) -> tuple[Path, Path]:
    """Playbooks dir and inventory dir (local hosts, a vault-encrypted group variable)."""
    playbooks = tmp_path / "playbooks"
    playbooks.mkdir()
    (playbooks / "play.yml").write_text(playbook, encoding="utf-8")
    inventory = tmp_path / "inventory"
    (inventory / "group_vars" / "all").mkdir(parents=True)
    lines = [
        f"{h} ansible_connection=local ansible_python_interpreter={sys.executable}" for h in hosts
    ]
    (inventory / "hosts").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (inventory / "group_vars" / "all" / "vault.yml").write_text(
        vault.encrypt(f"vaulted: {VALUE_CANARY}\n", VAULT_CANARY), encoding="utf-8"
    )
    return playbooks, inventory


def _request(inventory: Path) -> PlaybookRequest:
    return PlaybookRequest(
        use_case="enable", comune="lab", playbook="play.yml", inventory=inventory
    )


def test_a_real_run_writes_no_secret_and_no_event_in_the_run_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROVISIONER_VAULT_PASSWORD", VAULT_CANARY)
    monkeypatch.setenv("PROVISIONER_NOTIFY_WEBHOOK_URL", f"https://hooks.example.it/{ENV_CANARY}")
    monkeypatch.setenv("DEPLOY_TOKEN", ENV_CANARY)
    playbooks, inventory = _project(tmp_path, PLAYBOOK, ["localhost"])
    run_dir = tmp_path / "run"
    artifacts = run_dir / "artifacts" / "ansible"
    runner = LocalRunner(playbooks, ROOT / "ansible.cfg", fact_cache_dir=tmp_path / "facts")

    with created_files(
        [run_dir, run_dir / "artifacts", artifacts, artifacts / "job_events"]
    ) as seen:
        outcome = runner.run(_request(inventory), run_dir, vault_password=VAULT_CANARY)

    assert outcome.status == RunStatus.SUCCESSFUL, outcome.error
    assert [(t.task, t.outcome) for t in outcome.tasks] == [("Print a credential", "changed")]
    assert VALUE_CANARY not in repr(outcome)
    # not even for a moment: no partial or full event, no stdout, no fact cache in the run dir
    assert not [name for name in seen if name.startswith("artifacts/ansible/job_events/")]
    assert {"artifacts/ansible/stdout", "artifacts/ansible/stderr"}.isdisjoint(seen)
    assert not [name for name in seen if "fact_cache" in name]
    assert "artifacts/ansible/command" in seen  # runner's record exists: without secrets
    facts = list((tmp_path / "facts" / "lab").iterdir())
    assert facts  # provisioner's fact cache is used, and Ansible saw no secret variable
    for path in [*run_dir.rglob("*"), *facts]:
        if path.is_file():
            text = path.read_text(encoding="utf-8", errors="replace")
            for canary in (VAULT_CANARY, VALUE_CANARY, ENV_CANARY):
                assert canary not in text, f"{canary} in {path}"


@pytest.mark.parametrize("mode", ["plain", "mitogen"])
def test_first_ctrl_c_lets_the_running_task_and_its_handlers_finish_and_starts_nothing_else(
    tmp_path: Path, mode: str
) -> None:
    playbooks, inventory = _project(tmp_path, CANCEL_PLAYBOOK, ["host-a", "host-b"])
    found = accel.detect(wanted=mode == "mitogen")
    assert found.mode == mode, found.warning
    runner = LocalRunner(playbooks, ROOT / "ansible.cfg", found.envvars())
    cancel = Cancel()
    started: list[str] = []

    def on_event(event: ProgressEvent) -> None:
        if event.kind == "task":
            started.append(event.task)
            if event.task == "t1 slow":
                # Ctrl-C a second into the 3-second task
                threading.Timer(1.0, cancel.set).start()

    outcome = runner.run(
        _request(inventory),
        tmp_path / "run",
        vault_password=VAULT_CANARY,
        on_event=on_event,
        cancel=cancel,
    )
    assert cancel.is_set(), "the run ended before the Ctrl-C"
    assert outcome.status == RunStatus.CANCELED
    assert started == ["t0", "t1 slow", "h0", "h1"]
    changed = {(t.task, t.host) for t in outcome.changed_tasks}
    assert changed == {(t, h) for t in ("t0", "t1 slow", "h0", "h1") for h in ("host-a", "host-b")}
    assert {h.host: (h.failed, h.unreachable) for h in outcome.hosts} == {
        "host-a": (0, 0),
        "host-b": (0, 0),
    }
    assert outcome.error == (
        "canceled with Ctrl-C between tasks: the running task 't1 slow' finished on 2 host(s); "
        "no task started after it"
    )


SLIM_PLAYBOOK = """
- name: Results provisioner reads and results it does not
  hosts: all
  gather_facts: false
  tasks:
    - name: A probe with a long output, unchanged
      ansible.builtin.command: "{{ ansible_python_interpreter }} -c 'print(\\"x\\" * 40000)'"
      changed_when: false
    - name: Items, unchanged
      ansible.builtin.command: "echo {{ item }}-{{ 'y' * 3000 }}"
      changed_when: false
      loop: [1, 2]
    - name: "Readiness: probe"
      ansible.builtin.command: echo readiness-output
      changed_when: false
    - name: "Presence: peers"
      ansible.builtin.command: echo presence-line
      changed_when: false
    - name: A change
      ansible.builtin.command: echo changed-output
      changed_when: true
    - name: A failure, ignored
      ansible.builtin.command: sh -c 'echo failed-output; exit 3'
      ignore_errors: true
"""


def test_events_carry_the_results_the_collector_reads_and_no_unchanged_bulk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """plugins/callback/awx_display.slim on a real run: an unchanged result reaches provisioner
    as ``changed: false`` only; a change, a failure and the presence and readiness tasks whole."""
    events: list[dict[str, Any]] = []
    collect = runner_module._Collector.__call__

    def recorded(self: runner_module._Collector, event: dict[str, Any]) -> bool:
        events.append(event)
        return collect(self, event)

    monkeypatch.setattr(runner_module._Collector, "__call__", recorded)
    playbooks, inventory = _project(tmp_path, SLIM_PLAYBOOK, ["localhost"])
    runner = LocalRunner(playbooks, ROOT / "ansible.cfg")

    outcome = runner.run(_request(inventory), tmp_path / "run", vault_password=VAULT_CANARY)

    assert outcome.status == RunStatus.SUCCESSFUL, outcome.error
    results = {
        e["event_data"]["task"]: e["event_data"]["res"]
        for e in events
        if e["event"] in ("runner_on_ok", "runner_on_failed")
    }
    assert results["A probe with a long output, unchanged"] == {"changed": False}
    assert results["Items, unchanged"] == {"changed": False}
    items = [e["event_data"]["res"] for e in events if e["event"] == "runner_item_on_ok"]
    assert items == [{"changed": False}] * 2
    assert results["Readiness: probe"]["stdout"] == "readiness-output"
    assert results["Presence: peers"]["stdout_lines"] == ["presence-line"]
    assert results["A change"]["stdout"] == "changed-output"
    assert results["A failure, ignored"]["rc"] == 3
    # The bulk never travelled: 40,000 and 2 x 3,000 characters of unchanged output.
    assert "x" * 1000 not in repr(events) and "y" * 1000 not in repr(events)
    # What provisioner makes of them is unchanged.
    assert [(r.check, r.ok) for r in outcome.readiness] == [("probe", True)]
    assert [p.lines for p in outcome.probes] == [("presence-line",)]
    assert [(t.task, t.outcome) for t in outcome.tasks] == [("A change", "changed")]
