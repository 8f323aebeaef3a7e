"""plugins/strategy/provisioner_linear.py on Mitogen's base: host-tasks in threads of the
controller give the results that one forked worker per host-task gives.

Design: the same playbook runs twice through the real ``ansible-playbook`` with the project's
strategy on ``mitogen_linear``, once with ``PROVISIONER_WORKERS=processes`` (Ansible's model) and
once with the default (threads), against four hosts with ``ansible_connection=local`` (Mitogen's
local connection, no network). The playbook uses what our roles use and what a shared task object
would get wrong between hosts: templated arguments and conditions per host, loops, register,
set_fact, failed_when, ignore_errors, block/rescue, delegate_to, run_once, include_tasks, handlers,
check mode, a template reading another host's facts. Ansible's JSON callback records every
host-task; both runs must match on every one. Which process ran a task is read from the task
itself: a ``pipe`` lookup runs on the controller in the process that templates the task, and its
shell's parent is that process.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import pytest

from provisioner.adapters import accel
from tests.unit.content.plugins import playbook_json

ROOT = Path(__file__).resolve().parents[3]
HOSTS = ["h1", "h2", "h3", "h4"]

PLAYBOOK = """
- name: Per-host work
  hosts: all
  gather_facts: true
  gather_subset: [min]
  tasks:
    - name: Which process templates this task
      ansible.builtin.set_fact:
        first_pid: "{{ lookup('ansible.builtin.pipe', 'echo $PPID') }}"
    - name: A templated command per host
      ansible.builtin.command: "echo {{ inventory_hostname }}-{{ ansible_facts.system }}"
      register: echoed
      changed_when: inventory_hostname in ['h1', 'h3']
    - name: A loop with a per-host condition
      ansible.builtin.debug:
        msg: "{{ inventory_hostname }}:{{ item }}"
      loop: [1, 2, 3]
      when: item != 2 or inventory_hostname == 'h2'
    - name: Facts from the registered result
      ansible.builtin.set_fact:
        word: "{{ echoed.stdout | upper }}"
    - name: A failure on one host, ignored
      ansible.builtin.command: "false"
      when: inventory_hostname == 'h4'
      ignore_errors: true
    - name: A block rescued on one host
      block:
        - name: Fails on h3
          ansible.builtin.command: "test {{ inventory_hostname }} != h3"
          changed_when: false
      rescue:
        - name: Rescue on h3
          ansible.builtin.set_fact:
            rescued: true
    - name: Delegated to h2
      ansible.builtin.command: "echo from {{ inventory_hostname }}"
      delegate_to: h2
      changed_when: false
      register: delegated
    - name: Run once
      ansible.builtin.set_fact:
        once: "{{ ansible_play_hosts | length }}"
      run_once: true
    - name: Included tasks
      ansible.builtin.include_tasks: included.yml
    - name: A file in check mode
      ansible.builtin.copy:
        content: "{{ inventory_hostname }}\\n"
        dest: "{{ scratch }}/{{ inventory_hostname }}"
        mode: "0600"
      check_mode: true
      notify: Handler
    - name: A task with a timeout keeps a forked worker
      ansible.builtin.set_fact:
        timeout_pid: "{{ lookup('ansible.builtin.pipe', 'echo $PPID') }}"
      timeout: 30
    - name: Which process templates this task, again
      ansible.builtin.set_fact:
        last_pid: "{{ lookup('ansible.builtin.pipe', 'echo $PPID') }}"
    - name: Another host's facts
      ansible.builtin.debug:
        msg: "{{ hostvars['h1'].word }} {{ once | default('') }} {{ rescued | default(false) }}"
  handlers:
    - name: Handler
      ansible.builtin.debug:
        msg: "handled {{ inventory_hostname }}"
"""

INCLUDED = """
- name: Included per host
  ansible.builtin.debug:
    msg: "included {{ inventory_hostname }} {{ word }}"
"""

PID_TASKS = {
    "Which process templates this task",
    "A task with a timeout keeps a forked worker",
    "Which process templates this task, again",
}


def _run(tmp_path: Path, workers: str, forks: int = 10) -> dict[str, Any]:
    found = accel.detect()
    if found.strategy_plugins is None:
        pytest.skip(f"no Mitogen: {found.warning}")
    project = tmp_path / f"{workers}-{forks}"
    scratch = project / "scratch"
    scratch.mkdir(parents=True)
    (project / "play.yml").write_text(PLAYBOOK, encoding="utf-8")
    (project / "included.yml").write_text(INCLUDED, encoding="utf-8")
    (project / "hosts").write_text(
        "".join(
            f"{h} ansible_connection=local ansible_python_interpreter={sys.executable}\n"
            for h in HOSTS
        ),
        encoding="utf-8",
    )
    env = {
        **os.environ,
        "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
        "ANSIBLE_STRATEGY_PLUGINS": f"{ROOT / 'plugins/strategy'}:{found.strategy_plugins}",
        "ANSIBLE_STRATEGY": "provisioner_linear",
        "PROVISIONER_STRATEGY_BASE": "mitogen_linear",
        "PROVISIONER_WORKERS": workers,
        "ANSIBLE_FORKS": str(forks),
        "ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json",
        "ANSIBLE_LOCALHOST_WARNING": "False",
    }
    output = playbook_json(
        ["-i", str(project / "hosts"), "-e", f"scratch={scratch}", str(project / "play.yml")],
        env,
    )
    assert list(scratch.iterdir()) == [], "check mode wrote a file"
    return output


def _outcomes(output: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    """Per (task, host): what the task did, without the process-specific values."""
    kept = ("changed", "failed", "skipped", "msg", "stdout", "rc", "ansible_facts")
    outcomes = {}
    for play in output["plays"]:
        for task in play["tasks"]:
            name = task["task"]["name"]
            # Facts of these are pids and clocks.
            keys = kept[:-1] if name in PID_TASKS or name == "Gathering Facts" else kept
            for host, result in task["hosts"].items():
                outcomes[name, host] = {k: result.get(k) for k in keys}
                if "results" in result:
                    outcomes[name, host]["results"] = [
                        {k: r.get(k) for k in kept} for r in result["results"]
                    ]
    return outcomes


def _pids(output: dict[str, Any]) -> dict[str, dict[str, str]]:
    """Per pid task: host -> the process that templated it."""
    pids: dict[str, dict[str, str]] = {}
    for play in output["plays"]:
        for task in play["tasks"]:
            if task["task"]["name"] in PID_TASKS:
                pids.setdefault(task["task"]["name"], {}).update(
                    (host, next(iter(result["ansible_facts"].values())))
                    for host, result in task["hosts"].items()
                )
    return pids


def test_threads_give_the_results_of_forked_workers_and_fork_only_for_a_timeout(
    tmp_path: Path,
) -> None:
    processes = _run(tmp_path, "processes")
    threads = _run(tmp_path, "threads")
    # Fewer slots than hosts: a host-task waits for a thread to free its slot (and the task
    # with a timeout for a forked worker to end).
    narrow = _run(tmp_path, "threads", forks=2)

    assert threads["stats"] == processes["stats"] == narrow["stats"]
    assert _outcomes(narrow) == _outcomes(processes)
    assert threads["stats"]["h4"]["ignored"] == 1
    assert threads["stats"]["h3"]["rescued"] == 1
    expected, got = _outcomes(processes), _outcomes(threads)
    assert got.keys() == expected.keys()
    assert len(expected) > 4 * 10
    for key, outcome in expected.items():
        assert got[key] == outcome, key
    assert got["Another host's facts", "h4"]["msg"] == "H1-LINUX 4 False"
    assert got["Another host's facts", "h3"]["msg"] == "H1-LINUX 4 True"

    # Processes: every host-task its own worker process.
    forked = _pids(processes)
    every = [pid for task in forked.values() for pid in task.values()]
    assert len(set(every)) == len(every) == 3 * len(HOSTS)
    # Threads: both plain tasks on every host in one process (the controller), the task with a
    # timeout in a forked worker per host.
    ran = _pids(threads)
    controller = set(ran["Which process templates this task"].values())
    assert len(controller) == 1
    assert set(ran["Which process templates this task, again"].values()) == controller
    timed = list(ran["A task with a timeout keeps a forked worker"].values())
    assert len(set(timed)) == len(HOSTS)
    assert controller.isdisjoint(timed)
