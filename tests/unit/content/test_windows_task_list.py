"""Which tasks of the enable playbook run for a Windows laptop in ``endpoints`` (issue 16).

Design: the real playbook and roles run with ``ansible-playbook --check`` against a throw-away
inventory whose only host, ``win-laptop``, uses the test connection ``dryrun``
(``ansible_plugins/connection/dryrun.py``): it never reaches a machine and answers every module
with the same canned result, whose facts (``DRYRUN_FACTS``) say Windows. Fact gathering, every
``when``, include and ``meta: end_role`` are then Ansible's own; only module results are fake
("nothing set up yet"). Ansible's JSON callback reports each task per host; the test compares
the tasks that ran (not skipped) with the list below. Nothing on the controller changes: the run
writes only under ``tmp_path``.

What it shows: the baseline says it does not manage Windows and ends for that host (no failure),
so the Windows tasks of vpn_client and meeting_client run after it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import yaml

from tests.unit.content.plugins import playbook_json

ROOT = Path(__file__).resolve().parents[3]
PLAYBOOK = ROOT / "playbooks" / "enable_remote_work.yml"
CONNECTIONS = Path(__file__).resolve().parent / "ansible_plugins" / "connection"
HOST = "win-laptop"
WINDOWS_FACTS = {
    "os_family": "Windows",
    "distribution": "Microsoft Windows 11 Pro",
    "distribution_major_version": "10",
    "system": "Win32NT",
}
INVENTORY = {
    "all": {
        "vars": {
            "comune_name": "Comune di Prova",
            "comune_vpn_pool": "10.77.0.0/24",
            "comune_vpn_listen_port": 51820,
            "comune_vpn_public_endpoint": "203.0.113.10:51820",
            "comune_vpn_terminator": "",
            "comune_office_networks": ["10.89.1.0/24"],
            "comune_meeting_url": "https://meet.example.test/riunioni/",
        },
        "children": {
            "endpoints": {
                "hosts": {
                    HOST: {
                        "ansible_connection": "dryrun",
                        "ansible_shell_type": "powershell",
                        "ansible_become": False,
                        "vpn_client_address": "10.77.0.21",
                        "vpn_client_windows_msi_checksum": "0" * 64,
                    }
                }
            }
        },
    }
}
# (play, task) of every task that runs for the Windows laptop, in order; role argument checks
# ("Validating arguments against arg spec ...") left out.
EXPECTED = [
    ("Baseline on every managed host", "Gathering Facts"),
    ("Baseline on every managed host", "baseline : Leave the platforms the role does not support"),
    (
        "Baseline on every managed host",
        "baseline : Report that the baseline does not manage this platform",
    ),
    *(
        ("WireGuard on the endpoints, keys created on each endpoint", f"vpn_client : {task}")
        for task in (
            "Load the platform variables",
            "Install WireGuard and create the endpoint's key",
            "Check the Windows installer inputs",
            "Install WireGuard for Windows",
            "Create the directory for the key and the tunnel file",
            "Stop inheriting permissions on the key directory",
            "Grant SYSTEM and the Administrators full control of the key directory",
            "Generate the endpoint's private key",
            "Look for the private key",
        )
    ),
    *(
        (
            "Tunnels from the endpoints to the gateway, then proof that they carry traffic",
            f"vpn_client : {task}",
        )
        for task in (
            "Load the platform variables",
            "Configure and start the tunnel to the comune's gateway",
            "Check the tunnel inputs",
            "Report that the tunnel would be configured once the gateway's key is known",
        )
    ),
    *(
        (
            "Meeting software on the endpoints, then proof that the platform answers",
            f"meeting_client : {task}",
        )
        for task in (
            "Load the platform variables",
            "Check the role's inputs before anything is changed",
            "Set up the meeting software in the chosen mode: browser",
            "Allow camera, microphone and screen sharing for the platform's origins",
            "Block capture for every other origin",
            "Set the platform as a managed bookmark",
            'Add the "Riunioni" shortcut to the public desktop (app mode)',
        )
    ),
]


def _run(tmp_path: Path) -> dict[str, object]:
    inventory = tmp_path / "inventory.yml"
    inventory.write_text(yaml.safe_dump(INVENTORY), encoding="utf-8")
    env = {
        **os.environ,
        "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
        "ANSIBLE_CONNECTION_PLUGINS": str(CONNECTIONS),
        "ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json",
        "ANSIBLE_CALLBACKS_ENABLED": "ansible.posix.json",
        "ANSIBLE_HOME": str(tmp_path / "ansible-home"),
        "ANSIBLE_LOCAL_TEMP": str(tmp_path / "ansible-tmp"),
        "ANSIBLE_NOCOLOR": "1",
        "DRYRUN_FACTS": json.dumps(WINDOWS_FACTS),
    }
    return playbook_json(["--check", "-i", str(inventory), str(PLAYBOOK)], env)


def test_a_windows_endpoint_skips_the_baseline_and_gets_the_windows_tasks(tmp_path: Path) -> None:
    result = _run(tmp_path)

    ran, failed = [], []
    plays = result["plays"]
    assert isinstance(plays, list)
    for play in plays:
        for task in play["tasks"]:
            outcome = task["hosts"].get(HOST)
            name = task["task"]["name"]
            if outcome is None or outcome.get("skipped") or "Validating arguments" in name:
                continue
            ran.append((play["play"]["name"], name))
            if outcome.get("failed") or outcome.get("unreachable"):
                failed.append(name)

    assert failed == []
    assert ran == EXPECTED
    stats = result["stats"]
    assert isinstance(stats, dict)
    assert stats[HOST]["failures"] == 0 and stats[HOST]["unreachable"] == 0
