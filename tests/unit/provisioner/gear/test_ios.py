"""Cisco IOS: hier-config remediation scoped to the tool's ACL, its binding and its NAT."""

from __future__ import annotations

from pathlib import Path

import pytest

from provisioner.gear import remediate
from provisioner.gear.errors import ConflictError, IntentError
from provisioner.gear.ios import acl_address, managed_part, token

FIXTURES = Path(__file__).parent / "fixtures"
RUNNING = (FIXTURES / "ios_running.cfg").read_text(encoding="utf-8")
INTENDED = (FIXTURES / "ios_intended.cfg").read_text(encoding="utf-8")
BIND = " ip access-group PROVISIONER-EDGE-IN in\n"


def bound(config: str, acl: str = "PROVISIONER-EDGE-IN") -> str:
    """``config`` with ``acl`` bound inbound on the WAN interface."""
    return config.replace(" ip nat outside\n", f" ip nat outside\n ip access-group {acl} in\n", 1)


def test_scope_is_the_acl_its_binding_and_the_nat_of_the_ports_it_names() -> None:
    assert managed_part(bound(RUNNING), "provisioner") == (
        "ip nat inside source static udp 10.89.1.10 51820 interface GigabitEthernet0/0 51820 "
        "extendable\n"
        "ip nat inside source static tcp 10.89.1.12 3389 interface GigabitEthernet0/0 3389 "
        "extendable\n"
        "ip access-list extended PROVISIONER-EDGE-IN\n"
        " permit udp any any eq 51820\n"
        " permit tcp any any eq 3389\n"
        "interface GigabitEthernet0/0\n"
        f"{BIND}"
    )


def test_remediation_restricts_publishes_binds_and_leaves_the_rest() -> None:
    plan = remediate("cisco_ios", RUNNING, INTENDED, "provisioner")
    assert plan.commands == (
        "no ip nat inside source static tcp 10.89.1.12 3389 interface GigabitEthernet0/0 3389 "
        "extendable",
        "ip access-list resequence PROVISIONER-EDGE-IN 10 10",
        "ip access-list extended PROVISIONER-EDGE-IN",
        "no 10 permit udp any any eq 51820",
        "no 20 permit tcp any any eq 3389",
        "10 permit tcp 198.51.100.0 0.0.0.255 any eq 443",
        "20 deny tcp any any eq 443",
        "30 permit udp any any eq 51820",
        "40 permit ip any any",
        "exit",
        "interface GigabitEthernet0/0",
        "ip access-group PROVISIONER-EDGE-IN in",
        "exit",
        "ip nat inside source static tcp 10.89.1.11 3389 interface GigabitEthernet0/0 443 "
        "extendable",
    )
    assert not any("8080" in c or "NAT-LAN" in c or "hostname" in c for c in plan.commands)


def test_first_run_creates_acl_before_nat() -> None:
    plan = remediate(
        "cisco_ios", RUNNING.replace("PROVISIONER-EDGE-IN", "OTHER"), INTENDED, "provisioner"
    )
    assert plan.commands[0] == "ip access-list extended PROVISIONER-EDGE-IN"
    assert plan.commands[-1].startswith("ip nat inside source static tcp 10.89.1.11 3389")
    # The udp/51820 NAT line already exists (published by hand): it is adopted, not re-sent.
    assert not any("51820 interface" in c for c in plan.commands)


def test_converged_device_needs_nothing() -> None:
    nat = "ip nat inside source static tcp"
    converged = bound(
        RUNNING.replace(
            f"{nat} 10.89.1.12 3389 interface GigabitEthernet0/0 3389 extendable",
            f"{nat} 10.89.1.11 3389 interface GigabitEthernet0/0 443 extendable",
        ).replace(
            " permit udp any any eq 51820\n permit tcp any any eq 3389\n",
            " permit tcp 198.51.100.0 0.0.0.255 any eq 443\n deny tcp any any eq 443\n"
            " permit udp any any eq 51820\n permit ip any any\n",
        )
    )
    assert remediate("cisco_ios", converged, INTENDED, "provisioner").commands == ()


def test_nothing_intended_unbinds_then_removes_the_acl_never_the_interface() -> None:
    plan = remediate("cisco_ios", bound(RUNNING), "", "provisioner")
    assert plan.commands == (
        "no ip nat inside source static udp 10.89.1.10 51820 interface GigabitEthernet0/0 51820 "
        "extendable",
        "no ip nat inside source static tcp 10.89.1.12 3389 interface GigabitEthernet0/0 3389 "
        "extendable",
        "interface GigabitEthernet0/0",
        "no ip access-group PROVISIONER-EDGE-IN in",
        "exit",
        "no ip access-list extended PROVISIONER-EDGE-IN",
    )


def test_another_acl_bound_on_the_wan_is_not_replaced() -> None:
    with pytest.raises(ConflictError, match="already filters inbound traffic with ACL OFFICE-IN"):
        remediate("cisco_ios", bound(RUNNING, "OFFICE-IN"), INTENDED, "provisioner")


def test_values_are_plain_ios_words_or_refused() -> None:
    assert token("GigabitEthernet0/0") == "GigabitEthernet0/0"
    for bad in ("Gi0/0\nip access-list extended X", "a b", "help?", ""):
        with pytest.raises(IntentError, match="IOS command line"):
            token(bad)
    assert acl_address("0.0.0.0/0") == "any"
    assert acl_address("192.0.2.7/32") == "host 192.0.2.7"
    assert acl_address("198.51.100.0/24") == "198.51.100.0 0.0.0.255"
