"""Cisco IOS: hier-config remediation scoped to the tool's ACL and the NAT it publishes."""

from __future__ import annotations

from pathlib import Path

from provisioner.gear import remediate
from provisioner.gear.ios import scoped

FIXTURES = Path(__file__).parent / "fixtures"
RUNNING = (FIXTURES / "ios_running.cfg").read_text(encoding="utf-8")

INTENDED = (FIXTURES / "ios_intended.cfg").read_text(encoding="utf-8")


def test_scope_is_the_acl_and_the_nat_of_the_ports_it_names() -> None:
    assert scoped(RUNNING, "provisioner") == (
        "ip nat inside source static udp 10.89.1.10 51820 interface GigabitEthernet0/0 51820 "
        "extendable\n"
        "ip nat inside source static tcp 10.89.1.12 3389 interface GigabitEthernet0/0 3389 "
        "extendable\n"
        "ip access-list extended PROVISIONER-EDGE-IN\n"
        " permit udp any any eq 51820\n"
        " permit tcp any any eq 3389\n"
    )


def test_remediation_unpublishes_old_port_publishes_new_and_leaves_the_rest() -> None:
    plan = remediate("cisco_ios", RUNNING, INTENDED, "provisioner")
    assert plan.commands == (
        "no ip nat inside source static tcp 10.89.1.12 3389 interface GigabitEthernet0/0 3389 "
        "extendable",
        "ip access-list resequence PROVISIONER-EDGE-IN 10 10",
        "ip access-list extended PROVISIONER-EDGE-IN",
        "no 10 permit udp any any eq 51820",
        "no 20 permit tcp any any eq 3389",
        "10 permit tcp any any eq 443",
        "20 permit udp any any eq 51820",
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
    converged = RUNNING.replace(
        f"{nat} 10.89.1.12 3389 interface GigabitEthernet0/0 3389 extendable",
        f"{nat} 10.89.1.11 3389 interface GigabitEthernet0/0 443 extendable",
    ).replace(
        " permit udp any any eq 51820\n permit tcp any any eq 3389\n",
        " permit tcp any any eq 443\n permit udp any any eq 51820\n",
    )
    assert remediate("cisco_ios", converged, INTENDED, "provisioner").commands == ()


def test_nothing_intended_removes_acl_and_its_nat() -> None:
    plan = remediate("cisco_ios", RUNNING, "", "provisioner")
    assert plan.commands == (
        "no ip nat inside source static udp 10.89.1.10 51820 interface GigabitEthernet0/0 51820 "
        "extendable",
        "no ip nat inside source static tcp 10.89.1.12 3389 interface GigabitEthernet0/0 3389 "
        "extendable",
        "no ip access-list extended PROVISIONER-EDGE-IN",
    )
