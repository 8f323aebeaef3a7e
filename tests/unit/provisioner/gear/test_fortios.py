"""FortiOS: hier-config set/unset per entry, deletes and ordering by the tool."""

from __future__ import annotations

from pathlib import Path

from provisioner.gear import remediate, rollback

FIXTURES = Path(__file__).parent / "fixtures"
RUNNING = (FIXTURES / "fortios_running.conf").read_text(encoding="utf-8")

INTENDED = (FIXTURES / "fortios_intended.conf").read_text(encoding="utf-8")


def test_policy_deleted_first_objects_last_changed_entry_gets_set_and_unset() -> None:
    plan = remediate("fortinet", RUNNING, INTENDED, "provisioner")
    assert plan.commands == (
        "config firewall policy",
        "delete 9000",
        "end",
        "config firewall vip",
        'edit "provisioner-wireguard"',
        "unset comment",
        'set mappedip "10.89.1.10"',
        "next",
        "end",
        "config firewall policy",
        "edit 9001",
        'set name "provisioner-wireguard"',
        'set srcintf "wan1"',
        'set dstintf "internal"',
        "set action accept",
        'set srcaddr "all"',
        'set dstaddr "provisioner-wireguard"',
        'set schedule "always"',
        'set service "provisioner-wireguard"',
        "next",
        "end",
        "config firewall vip",
        'delete "provisioner-old"',
        "end",
        "config firewall service custom",
        'delete "provisioner-old"',
        "end",
    )
    assert not any("webmail" in c or "HTTPS" in c or c == "edit 1" for c in plan.commands)


def test_converged_device_needs_nothing() -> None:
    assert remediate("fortinet", INTENDED, INTENDED, "provisioner").commands == ()


def test_rollback_deletes_an_entry_the_push_created_before_its_name_was_refused() -> None:
    before = INTENDED.split("config firewall policy", maxsplit=1)[0]
    now = before + "config firewall policy\n    edit 9001\n    next\nend\n"
    planned = (
        "config firewall policy",
        "edit 9001",
        'set name "provisioner-wireguard"',
        "next",
        "end",
    )
    assert rollback("fortinet", now, before, planned, "provisioner") == (
        "config firewall policy",
        "delete 9001",
        "end",
    )
