"""Cisco IOS remediation with hier-config, scoped to the tool's ACL and the NAT it publishes."""

from __future__ import annotations

import re

from hier_config import Platform, WorkflowRemediation, get_hconfig

_NAT = re.compile(
    r"^ip nat inside source static (?P<proto>tcp|udp) \S+ \d+ (?:interface \S+|\S+) (?P<port>\d+)"
)
_ACE_PORT = re.compile(r"^\s*(?:\d+\s+)?permit (?P<proto>tcp|udp) .* eq (?P<port>\d+)\s*$")


def acl_name(tag: str) -> str:
    """Name of the extended ACL the tool owns."""
    return f"{tag.upper()}-EDGE-IN"


def _acl_block(text: str, name: str) -> list[str]:
    lines = text.splitlines()
    header = f"ip access-list extended {name}"
    for index, line in enumerate(lines):
        if line.rstrip() == header:
            block = [header]
            for child in lines[index + 1 :]:
                if not child.startswith(" "):
                    break
                block.append(child.rstrip())
            return block
    return []


def _ports(block: list[str]) -> set[tuple[str, str]]:
    found = set()
    for line in block[1:]:
        match = _ACE_PORT.match(line)
        if match:
            found.add((match["proto"], match["port"]))
    return found


def scoped(text: str, tag: str, extra_ports: set[tuple[str, str]] | None = None) -> str:
    """The part of a configuration the tool owns.

    That is its ACL and the static NAT lines publishing a port the ACL (or ``extra_ports``, the
    intended ones) names. The running ACL is the record of what the tool published earlier, so a
    port dropped from the intent is unpublished as well; nothing else on the device is touched.
    """
    block = _acl_block(text, acl_name(tag))
    ports = _ports(block) | (extra_ports or set())
    nat = []
    for line in text.splitlines():
        match = _NAT.match(line.rstrip())
        if match and (match["proto"], match["port"]) in ports:
            nat.append(line.rstrip())
    return "".join(f"{line}\n" for line in [*nat, *block])


def remediate(running: str, intended: str, tag: str) -> list[str]:
    """hier-config remediation between the tool's part of running and of intended."""
    want = scoped(intended, tag)
    have = scoped(running, tag, _ports(_acl_block(want, acl_name(tag))))
    workflow = WorkflowRemediation(
        get_hconfig(Platform.CISCO_IOS, have), get_hconfig(Platform.CISCO_IOS, want)
    )
    commands = [
        line.strip() for line in workflow.remediation_config.dump_simple(sectional_exiting=True)
    ]
    # The ACL is the record of what the tool published: it gains its entries before a NAT line
    # is added and loses them after NAT lines are removed, so a push cut short by a rejected
    # line still leaves every published port in scope for the rollback.
    unnat = [c for c in commands if c.startswith("no ip nat ")]
    nat = [c for c in commands if c.startswith("ip nat ")]
    commands = unnat + [c for c in commands if c not in unnat and c not in nat] + nat
    header = f"ip access-list extended {acl_name(tag)}"
    if header in commands and header in have.splitlines():
        # hier-config numbers the running ACL 10, 20, ... (running-config shows no numbers): have
        # the device number it the same way before entries are addressed by number.
        commands.insert(commands.index(header), f"ip access-list resequence {acl_name(tag)} 10 10")
    return commands
