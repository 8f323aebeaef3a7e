"""plugins/inventory/provisioner_tunnel.py: the tunnel hosts' connection variables, resolved once
when the inventory loads, are what the per-task templates they replace render to.

Design: a small comune inventory (a managing host whose connection variables are templates in
group_vars, two endpoints with tunnel addresses in host_vars) and the real ``ansible-playbook``,
which prints each endpoint's ``ansible_host``, ``ansible_port`` and ``ansible_ssh_common_args``
through a ``debug`` task (no connection is made). Once with the plugin's source, once with the
templates (``templated_connection``) as a YAML source, the way runs reached these hosts before the
plugin: the two must print the same, and the plugin's must be the literal values written out.
A managing host outside the inventory gets every default, as in the templates; a variable that
does not resolve makes the plugin give the templates, which fail at the task naming it, as before.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from provisioner.adapters.runner import TUNNEL_INVENTORY, tunnel_source
from tests.unit.content.plugins import ROOT, load_plugin

tunnel = load_plugin("inventory", "provisioner_tunnel")
ANSIBLE_PLAYBOOK = str(Path(sys.executable).parent / "ansible-playbook")
ANSIBLE_INVENTORY = str(Path(sys.executable).parent / "ansible-inventory")

PLAYBOOK = """
- name: Connection variables
  hosts: endpoints
  gather_facts: false
  tasks:
    - name: Show
      ansible.builtin.debug:
        msg: "{{ ansible_host }}|{{ ansible_port }}|{{ ansible_ssh_common_args }}"
"""


def _inventory(
    tmp_path: Path, management_host: str | None = None, first_address: str = "10.77.1.2"
) -> Path:
    comune = tmp_path / "comune"
    (comune / "group_vars" / "all").mkdir(parents=True)
    (comune / "host_vars").mkdir()
    (comune / "hosts.yml").write_text(
        yaml.safe_dump(
            {
                "all": {
                    "children": {
                        "vpn_gateways": {
                            "hosts": {"gw": {"ansible_host": "127.0.0.9", "ansible_port": 2222}}
                        },
                        "endpoints": {
                            "hosts": {
                                "laptop-01": {"ansible_host": "127.0.0.11"},
                                "laptop-02": {"ansible_host": "127.0.0.12"},
                            }
                        },
                    }
                }
            }
        )
    )
    settings: dict[str, Any] = {
        "comune_vpn_terminator": "gw",
        "ansible_user": "admin",
        "ansible_ssh_private_key_file": "{{ inventory_dir }}/id_ed25519",
        "ansible_ssh_common_args": "-o UserKnownHostsFile={{ inventory_dir }}/known_hosts",
    }
    if management_host:
        settings["comune_management_host"] = management_host
    (comune / "group_vars" / "all" / "conn.yml").write_text(yaml.safe_dump(settings))
    for name, address in (("laptop-01", first_address), ("laptop-02", "10.77.1.3")):
        (comune / "host_vars" / f"{name}.yml").write_text(
            yaml.safe_dump({"vpn_client_address": address})
        )
    return comune


def _env(tmp_path: Path) -> dict[str, str]:
    """The project's ansible.cfg; a source no plugin parses fails the run instead of a warning."""
    return {
        "PATH": "/usr/bin:/bin",
        "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
        "ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json",
        "ANSIBLE_LOCALHOST_WARNING": "False",
        "ANSIBLE_INVENTORY_ANY_UNPARSED_IS_FAILED": "True",
        "HOME": str(tmp_path),
    }


def _shown(tmp_path: Path, comune: Path, source: Path) -> dict[str, dict[str, Any]]:
    playbook = tmp_path / "show.yml"
    playbook.write_text(PLAYBOOK)
    proc = subprocess.run(
        [ANSIBLE_PLAYBOOK, "-i", str(comune), "-i", str(source), str(playbook)],
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    # 0, or 2 when a host failed the task; the JSON callback prints the results either way.
    assert proc.returncode in (0, 2), proc.stdout[-3000:] + proc.stderr[-3000:]
    return dict(json.loads(proc.stdout)["plays"][0]["tasks"][0]["hosts"])


def _stored(tmp_path: Path, comune: Path, source: Path, host: str) -> dict[str, Any]:
    proc = subprocess.run(
        [ANSIBLE_INVENTORY, "-i", str(comune), "-i", str(source), "--host", host],
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    stored: dict[str, Any] = json.loads(proc.stdout)
    return stored


def _sources(tmp_path: Path) -> tuple[Path, Path]:
    hosts = ["laptop-01", "laptop-02"]
    plugin = tmp_path / TUNNEL_INVENTORY
    plugin.write_text(json.dumps(tunnel_source(hosts)))
    templates = tmp_path / "templates.yml"
    templates.write_text(
        json.dumps({"all": {"hosts": {h: tunnel.templated_connection(h) for h in hosts}}})
    )
    return plugin, templates


def test_the_plugin_writes_out_what_the_templates_render(tmp_path: Path) -> None:
    comune = _inventory(tmp_path)
    plugin, templates = _sources(tmp_path)
    resolved = _shown(tmp_path, comune, plugin)
    templated = _shown(tmp_path, comune, templates)
    assert {h: r["msg"] for h, r in resolved.items()} == {h: r["msg"] for h, r in templated.items()}
    args = (
        f'-o UserKnownHostsFile={comune}/known_hosts -o ProxyCommand="ssh -o '
        f"UserKnownHostsFile={comune}/known_hosts -i {comune}/id_ed25519 -p 2222 -l admin "
        f'-W %h:%p 127.0.0.9"'
    )
    assert resolved["laptop-01"]["msg"] == f"10.77.1.2|22|-o HostKeyAlias=laptop-01 {args}"
    assert resolved["laptop-02"]["msg"] == f"10.77.1.3|22|-o HostKeyAlias=laptop-02 {args}"


def test_the_values_are_data_not_templates(tmp_path: Path) -> None:
    comune = _inventory(tmp_path)
    plugin, _ = _sources(tmp_path)
    # ansible-inventory shows variables as stored (not templated): the plugin's are the
    # rendered strings themselves, so no task templates them again.
    rendered = _shown(tmp_path, comune, plugin)
    for host, address in (("laptop-01", "10.77.1.2"), ("laptop-02", "10.77.1.3")):
        stored = _stored(tmp_path, comune, plugin, host)
        shown = rendered[host]["msg"]
        assert stored["ansible_host"] == address
        assert "{{" not in stored["ansible_ssh_common_args"]
        values = (stored["ansible_host"], stored["ansible_port"], stored["ansible_ssh_common_args"])
        assert "|".join(str(v) for v in values) == shown


def test_a_managing_host_outside_the_inventory_gets_the_defaults(tmp_path: Path) -> None:
    comune = _inventory(tmp_path, management_host="office-router")
    plugin, templates = _sources(tmp_path)
    resolved = _shown(tmp_path, comune, plugin)
    assert resolved == _shown(tmp_path, comune, templates)
    assert resolved["laptop-01"]["msg"] == (
        "10.77.1.2|22|-o HostKeyAlias=laptop-01  "
        '-o ProxyCommand="ssh   -p 22 -l root -W %h:%p office-router"'
    )


def test_a_variable_that_does_not_resolve_fails_at_the_task_as_before(tmp_path: Path) -> None:
    comune = _inventory(tmp_path, first_address="{{ undefined_tunnel_address }}")
    plugin, templates = _sources(tmp_path)
    resolved = _shown(tmp_path, comune, plugin)
    templated = _shown(tmp_path, comune, templates)
    assert resolved["laptop-01"].get("failed") and templated["laptop-01"].get("failed")
    assert "undefined_tunnel_address" in resolved["laptop-01"]["msg"]
    assert resolved["laptop-01"]["msg"] == templated["laptop-01"]["msg"]
    # The other host resolved as usual.
    assert resolved["laptop-02"] == templated["laptop-02"]
    assert resolved["laptop-02"]["msg"].startswith("10.77.1.3|22|-o HostKeyAlias=laptop-02 ")
