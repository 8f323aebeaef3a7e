"""Cisco IOS remediation with hier-config, scoped to the tool's ACL, its binding and its NAT.

The tool owns the extended ACL ``<TAG>-EDGE-IN``, its binding ``ip access-group … in`` on the WAN
interface (an ACL nobody binds filters nothing), and the static NAT lines publishing a port the
ACL names. IOS binds one ACL per interface and direction: if the WAN interface already binds
another inbound ACL, the tool refuses rather than replace the office's own filter.
"""

from __future__ import annotations

import ipaddress
import re

from hier_config import Platform, WorkflowRemediation, get_hconfig

from provisioner.gear.errors import ConflictError, IntentError

_NAT = re.compile(
    r"^ip nat inside source static (?P<proto>tcp|udp) \S+ \d+ (?:interface \S+|\S+) (?P<port>\d+)"
)
_ACE_PORT = re.compile(r"^\s*(?:\d+\s+)?permit (?P<proto>tcp|udp) .* eq (?P<port>\d+)\s*$")
_TOKEN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_./:-]*$")


def acl_name(tag: str) -> str:
    """Name of the extended ACL the tool owns."""
    return f"{tag.upper()}-EDGE-IN"


def token(value: str) -> str:
    """``value`` as one IOS CLI word.

    IOS has no quoting: a blank splits the word, a newline ends the command, ``?`` asks for
    help. A value that is not one plain word is refused, never escaped.

    Raises:
        IntentError: ``value`` is not a plain IOS word.
    """
    if not _TOKEN.match(value):
        raise IntentError(f"{value!r} cannot be written on an IOS command line")
    return value


def acl_address(network: str) -> str:
    """A source in an extended ACL entry: ``any``, ``host A`` or ``A wildcard``."""
    net = ipaddress.IPv4Network(network, strict=False)
    if net.prefixlen == 0:
        return "any"
    if net.prefixlen == 32:
        return f"host {net.network_address}"
    return f"{net.network_address} {net.hostmask}"


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


def _bindings(text: str) -> dict[str, list[str]]:
    """Per interface, its ``ip access-group … in`` lines."""
    found: dict[str, list[str]] = {}
    interface = None
    for line in text.splitlines():
        if line.startswith("interface "):
            interface = line.split()[1]
        elif not line.startswith(" "):
            interface = None
        elif interface and re.fullmatch(r" ip access-group \S+ in", line.rstrip()):
            found.setdefault(interface, []).append(line.strip())
    return found


def _ports(block: list[str]) -> set[tuple[str, str]]:
    found = set()
    for line in block[1:]:
        match = _ACE_PORT.match(line)
        if match:
            found.add((match["proto"], match["port"]))
    return found


def managed_part(text: str, tag: str, extra_ports: set[tuple[str, str]] | None = None) -> str:
    """The part of a configuration the tool owns.

    That is its ACL, the interfaces binding it inbound, and the static NAT lines publishing a
    port the ACL (or ``extra_ports``, the intended ones) names. The running ACL is the record of
    what the tool published earlier, so a port dropped from the intent is unpublished as well;
    nothing else on the device is touched.
    """
    name = acl_name(tag)
    block = _acl_block(text, name)
    ports = _ports(block) | (extra_ports or set())
    nat = []
    for line in text.splitlines():
        match = _NAT.match(line.rstrip())
        if match and (match["proto"], match["port"]) in ports:
            nat.append(line.rstrip())
    bound = []
    for interface, lines in _bindings(text).items():
        if f"ip access-group {name} in" in lines:
            bound += [f"interface {interface}", f" ip access-group {name} in"]
    return "".join(f"{line}\n" for line in [*nat, *block, *bound])


def remediate(running: str, intended: str, tag: str) -> list[str]:
    """hier-config remediation between the tool's part of running and of intended.

    Raises:
        ConflictError: the WAN interface already binds another ACL inbound.
    """
    name = acl_name(tag)
    want = managed_part(intended, tag)
    running_bindings = _bindings(running)
    for interface in _bindings(want):
        others = [b for b in running_bindings.get(interface, []) if b.split()[2] != name]
        if others:
            raise ConflictError(
                f"{interface} already filters inbound traffic with ACL {others[0].split()[2]}; "
                f"IOS binds one ACL per direction and the tool does not replace the office's: "
                f"add the entries of {name} to it by hand, or unbind it"
            )
    have = managed_part(running, tag, _ports(_acl_block(want, name)))
    workflow = WorkflowRemediation(
        get_hconfig(Platform.CISCO_IOS, have), get_hconfig(Platform.CISCO_IOS, want)
    )
    commands = [
        line.strip() for line in workflow.remediation_config.dump_simple(sectional_exiting=True)
    ]
    # hier-config negates a whole section; an interface is never removed, only unbound.
    unbind = []
    for interface in [
        c.removeprefix("no interface ") for c in commands if c.startswith("no interface ")
    ]:
        if interface not in _bindings(want):
            unbind += [f"interface {interface}", f"no ip access-group {name} in", "exit"]
    commands = [c for c in commands if not c.startswith("no interface ")]
    # The ACL is the record of what the tool published: it gains its entries before a NAT line
    # is added and loses them after NAT lines are removed, so a push cut short still leaves every
    # published port in scope for the next run. It is unbound before it is deleted.
    unnat = [c for c in commands if c.startswith("no ip nat ")]
    nat = [c for c in commands if c.startswith("ip nat ")]
    commands = unnat + unbind + [c for c in commands if c not in unnat and c not in nat] + nat
    header = f"ip access-list extended {name}"
    if header in commands and header in have.splitlines():
        # hier-config numbers the running ACL 10, 20, ... (running-config shows no numbers): have
        # the device number it the same way before entries are addressed by number.
        commands.insert(commands.index(header), f"ip access-list resequence {name} 10 10")
    return commands
