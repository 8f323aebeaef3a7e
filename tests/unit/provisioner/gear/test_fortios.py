"""FortiOS: hier-config set/unset per entry, deletes and ordering by the tool, quoting."""

from __future__ import annotations

from pathlib import Path

import pytest

from provisioner.gear import remediate
from provisioner.gear.errors import IntentError
from provisioner.gear.fortios import managed_part, quote

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


def test_source_addresses_are_the_tools_and_deleted_after_the_policy_naming_them() -> None:
    address = (
        "config firewall address\n"
        '    edit "provisioner-src-198.51.100.0_24"\n'
        "        set subnet 198.51.100.0 255.255.255.0\n"
        "    next\n"
        '    edit "office"\n'
        "        set subnet 10.89.1.0 255.255.255.0\n"
        "    next\n"
        "end\n"
    )
    running = address + INTENDED.replace(
        'set srcaddr "all"', 'set srcaddr "provisioner-src-198.51.100.0_24"'
    )
    assert '"office"' not in managed_part(running, "provisioner")
    plan = remediate("fortinet", running, INTENDED, "provisioner")
    assert plan.commands == (
        "config firewall policy",
        "edit 9001",
        'set srcaddr "all"',
        "next",
        "end",
        "config firewall address",
        'delete "provisioner-src-198.51.100.0_24"',
        "end",
    )


def test_quote_escapes_what_fortios_escapes_and_refuses_what_it_cannot_take() -> None:
    assert quote('a "b" \\ c\'d') == '"a \\"b\\" \\\\ c\\\'d"'
    for bad in ("a\nb", "what?", "tab\there"):
        with pytest.raises(IntentError, match="FortiOS command line"):
            quote(bad)
