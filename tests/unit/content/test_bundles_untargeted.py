"""No play ever targets a bundle's device (issue 20): the models' group list, the playbooks' plays
and Ansible's own host selection agree.

A bundle's device (Windows, macOS, a phone, a personal PC) is an inventory host of group
``bundles`` that no run reaches over SSH: it only appears as a peer of the VPN terminator. The
static test reads every play's ``hosts`` pattern; the second asks ``ansible-playbook
--list-hosts`` which hosts each play of the real playbooks selects, on an inventory with a host in
every group, a bundle's device among them, also when the run is limited to the peer holders.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from provisioner.models.inventory import BUNDLES, GROUPS, PLAY_GROUPS

ROOT = Path(__file__).resolve().parents[2].parent
PLAYBOOKS = sorted((ROOT / "playbooks").glob("*.yml"))
DEVICE = "pc-rossi-casa"
INVENTORY = {
    "all": {
        "children": {
            "endpoints": {"hosts": {"laptop-01": {"vpn_client_address": "10.77.0.2"}}},
            "office_desktops": {"hosts": {"desk-01": {}}},
            "vpn_gateways": {"hosts": {"gw-01": {}}},
            "rd_gateways": {"hosts": {"rdgw-01": {}}},
            "network_devices": {"hosts": {"rb-01": {}}},
            BUNDLES: {"hosts": {DEVICE: {"vpn_client_address": "10.77.0.3"}}},
        }
    }
}


def _groups_of(pattern: str) -> set[str]:
    """Group or host names a ``hosts:`` pattern selects (templates and exclusions left out)."""
    plain = re.sub(r"\{\{.*?\}\}", "", pattern, flags=re.S)
    return {
        token.strip()
        for token in re.split(r"[:,]", plain)
        if token.strip() and not token.strip().startswith("!")
    }


@pytest.mark.parametrize("playbook", PLAYBOOKS, ids=lambda p: p.name)
def test_every_play_targets_play_groups_only(playbook: Path) -> None:
    assert set(PLAY_GROUPS) | {BUNDLES} == set(GROUPS)
    for play in yaml.safe_load(playbook.read_text(encoding="utf-8")):
        targets = _groups_of(str(play["hosts"]))
        assert targets <= set(PLAY_GROUPS), f"{play['name']}: {targets - set(PLAY_GROUPS)}"


def _listed(tmp_path: Path, playbook: Path, *extra: str) -> str:
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(yaml.safe_dump(INVENTORY), encoding="utf-8")
    env = {
        **os.environ,
        "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
        "ANSIBLE_HOME": str(tmp_path / "ansible-home"),
        "ANSIBLE_LOCAL_TEMP": str(tmp_path / "ansible-tmp"),
        "ANSIBLE_NOCOLOR": "1",
    }
    proc = subprocess.run(
        [
            str(Path(sys.executable).parent / "ansible-playbook"),
            "-i",
            str(inventory),
            "--list-hosts",
            str(playbook),
            *extra,
        ],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


@pytest.mark.parametrize(
    "extra",
    [(), ("--limit", "gw-01,rb-01", "-e", '{"provisioner_peer_only": ["gw-01", "rb-01"]}')],
    ids=["whole-comune", "peer-holders-only"],
)
def test_ansible_selects_no_bundle_in_any_play(tmp_path: Path, extra: tuple[str, ...]) -> None:
    for playbook in PLAYBOOKS:
        listed = _listed(tmp_path, playbook, *extra)
        assert "pattern:" in listed
        assert DEVICE not in listed, f"{playbook.name} selects {DEVICE}:\n{listed}"
    # The same inventory's other hosts are selected: the listing is real.
    assert "laptop-01" in _listed(tmp_path, ROOT / "playbooks" / "enable_remote_work.yml")
