"""FortiOS: hier-config set/unset per entry, deletes and ordering by the tool."""

from __future__ import annotations

from provisioner.gear import remediate, rollback

RUNNING = """config firewall service custom
    edit "HTTPS"
        set tcp-portrange 443
    next
    edit "provisioner-wireguard"
        set udp-portrange 51820
    next
    edit "provisioner-old"
        set tcp-portrange 8443
    next
end
config firewall vip
    edit "webmail"
        set extip 203.0.113.3
        set mappedip "10.89.1.25"
        set extintf "wan1"
    next
    edit "provisioner-wireguard"
        set extip 203.0.113.3
        set mappedip "10.89.1.9"
        set extintf "wan1"
        set portforward enable
        set protocol udp
        set extport 51820
        set mappedport 51820
        set comment "old gateway"
    next
    edit "provisioner-old"
        set extip 203.0.113.3
        set mappedip "10.89.1.30"
        set extintf "wan1"
        set portforward enable
        set extport 8443
        set mappedport 443
    next
end
config firewall policy
    edit 1
        set name "lan-to-wan"
        set srcintf "internal"
        set dstintf "wan1"
        set action accept
        set srcaddr "all"
        set dstaddr "all"
        set schedule "always"
        set service "ALL"
        set nat enable
    next
    edit 9000
        set name "provisioner-old"
        set srcintf "wan1"
        set dstintf "internal"
        set action accept
        set srcaddr "all"
        set dstaddr "provisioner-old"
        set schedule "always"
        set service "provisioner-old"
    next
end
"""

INTENDED = """config firewall service custom
    edit "provisioner-wireguard"
        set udp-portrange 51820
    next
end
config firewall vip
    edit "provisioner-wireguard"
        set extip 203.0.113.3
        set mappedip "10.89.1.10"
        set extintf "wan1"
        set portforward enable
        set protocol udp
        set extport 51820
        set mappedport 51820
    next
end
config firewall policy
    edit 9001
        set name "provisioner-wireguard"
        set srcintf "wan1"
        set dstintf "internal"
        set action accept
        set srcaddr "all"
        set dstaddr "provisioner-wireguard"
        set schedule "always"
        set service "provisioner-wireguard"
    next
end
"""


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
    assert not any("webmail" in c or "HTTPS" in c or "edit 1" == c for c in plan.commands)


def test_converged_device_needs_nothing() -> None:
    assert remediate("fortinet", INTENDED, INTENDED, "provisioner").commands == ()


def test_rollback_deletes_an_entry_the_push_created_before_its_name_was_refused() -> None:
    before = INTENDED.split("config firewall policy")[0]
    now = before + "config firewall policy\n    edit 9001\n    next\nend\n"
    planned = ("config firewall policy", "edit 9001", 'set name "provisioner-wireguard"', "next", "end")
    assert rollback("fortinet", now, before, planned, "provisioner") == (
        "config firewall policy",
        "delete 9001",
        "end",
    )
