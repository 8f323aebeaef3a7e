"""How a run reaches the endpoints managed through the tunnel: resolved at inventory load.

A run's second inventory source (written by provisioner, ``adapters/runner.tunnel_source``)
names the hosts the controller reaches through the comune's VPN: ``ssh -W`` through the host
that manages them (``comune_management_host``, else the comune's Linux VPN terminator) to the
host's own tunnel address (``vpn_client_address``). This plugin gives each of them
``ansible_host``, ``ansible_port`` and ``ansible_ssh_common_args`` as plain strings, from the
managing host's own connection variables (its host and group variables, the same files the comune
inventory's variable plugins read).

Why not templates: connection variables are templated again for every host-task, and
``hostvars[<managing host>]`` builds that host's whole variable set each time it is named (six
times in the jump's arguments). On a fleet of 20 laptops that was about a third of the
controller's CPU (bench/fleet). Resolved here, the work happens once per host and run.

When a value cannot be resolved here (a variable templates to an error, e.g. an undefined one),
the host gets the templates instead, which Ansible resolves per task and which fail there, naming
the variable, exactly as before this plugin existed. Variables given on
the command line (``-e``) or set by a play are not seen here: provisioner sets none of a managing
host's connection variables that way.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ansible.inventory.helpers import get_group_vars
from ansible.plugins.inventory import BaseInventoryPlugin, Constructable
from ansible.template import trust_as_template
from ansible.utils.vars import combine_vars
from ansible.vars.plugins import get_vars_from_inventory_sources

DOCUMENTATION = """
name: provisioner_tunnel
short_description: Connection variables of the hosts provisioner reaches through the tunnel
description:
  - Gives each listed host ansible_host (its vpn_client_address), ansible_port 22 and
    ansible_ssh_common_args (HostKeyAlias of its name, ProxyCommand ssh -W through the managing
    host), resolved once from the managing host's variables.
options:
  plugin:
    description: This plugin's name.
    required: true
    choices: [provisioner_tunnel]
  hosts:
    description: Inventory names of the hosts reached through the tunnel.
    type: list
    elements: str
    required: true
"""

SUFFIX = "provisioner_tunnel.yml"
"""A source this plugin reads ends so (e.g. ``tunnel.provisioner_tunnel.yml``)."""
JUMP_NAME = "comune_management_host | default(comune_vpn_terminator)"
"""The managing host, in a tunnel host's own variables."""
_JUMP = f"hostvars[{JUMP_NAME}]"
_JUMP_ARGS = f"{_JUMP}.ansible_ssh_common_args | default('')"


def templated_connection(host: str) -> dict[str, Any]:
    """The same connection variables as templates, resolved by Ansible for every task.

    The host's own name is written out, never ``inventory_hostname``: a task delegated to this
    host from another one (e.g. the RDP probe on a desktop, run from its user's laptop) templates
    them with the delegating host's ``inventory_hostname``.
    """
    return {
        "ansible_host": "{{ hostvars[" + repr(host) + "].vpn_client_address }}",
        "ansible_port": 22,
        "ansible_ssh_common_args": (
            f"-o HostKeyAlias={host} {{{{ {_JUMP_ARGS} }}}} "
            '-o ProxyCommand="ssh {{ ' + _JUMP_ARGS + " }} "
            "{{ ('-i ' ~ " + _JUMP + ".ansible_ssh_private_key_file) "
            "if " + _JUMP + ".ansible_ssh_private_key_file is defined else '' }} "
            "-p {{ " + _JUMP + ".ansible_port | default(22) }} "
            "-l {{ " + _JUMP + ".ansible_user | default('root') }} "
            "-W %h:%p {{ " + _JUMP + ".ansible_host "
            "| default(" + JUMP_NAME + ') }}"'
        ),
    }


def connection(host: str, address: str, jump: str, jump_vars: Mapping[str, Any]) -> dict[str, Any]:
    """The connection variables of ``host`` at ``address``, through ``jump`` (its resolved
    variables): what :func:`templated_connection` renders to.

    HostKeyAlias comes first (ssh keeps the first value of an option): the endpoint's key is known
    under its name, whatever its address.
    """
    args = str(jump_vars.get("ansible_ssh_common_args", ""))
    key = jump_vars.get("ansible_ssh_private_key_file")
    identity = f"-i {key}" if key is not None else ""
    proxy = (
        f"ssh {args} {identity} -p {jump_vars.get('ansible_port', 22)} "
        f"-l {jump_vars.get('ansible_user', 'root')} -W %h:%p {jump_vars.get('ansible_host', jump)}"
    )
    return {
        "ansible_host": str(address),
        "ansible_port": 22,
        "ansible_ssh_common_args": f'-o HostKeyAlias={host} {args} -o ProxyCommand="{proxy}"',
    }


class InventoryModule(BaseInventoryPlugin, Constructable):
    """Sets the listed hosts' connection variables (hosts of an earlier source)."""

    NAME = "provisioner_tunnel"

    def verify_file(self, path: str) -> bool:
        return bool(super().verify_file(path)) and Path(path).name.endswith(SUFFIX)

    def parse(self, inventory: Any, loader: Any, path: str, cache: bool = False) -> None:
        super().parse(inventory, loader, path, cache=cache)
        self._read_config_data(path)
        self._sources = list(getattr(inventory, "processed_sources", []))
        resolved: dict[str, Mapping[str, Any]] = {}
        # A name the comune's inventory lacks is no play's target: nothing to reach.
        for name in (h for h in self.get_option("hosts") if h in inventory.hosts):
            try:
                values = self._resolve(name, resolved)
            except Exception:  # whatever it is, the templates meet it again per task
                values = {
                    k: trust_as_template(v) if isinstance(v, str) else v
                    for k, v in templated_connection(name).items()
                }
            for key, value in values.items():
                inventory.set_variable(name, key, value)

    def _host_vars(self, name: str) -> dict[str, Any]:
        """A host's inventory-level variables: its groups', then its own (as ``constructed``)."""
        host = self.inventory.hosts[name]
        groups = host.get_groups()
        group_vars = combine_vars(
            get_group_vars(groups),
            get_vars_from_inventory_sources(self.loader, self._sources, groups, "all"),
        )
        host_vars = combine_vars(
            host.get_vars(),
            get_vars_from_inventory_sources(self.loader, self._sources, [host], "all"),
        )
        return combine_vars(group_vars, host_vars)

    def _value(self, expression: str, variables: Mapping[str, Any]) -> Any:
        return self._compose(trust_as_template(expression), variables)

    def _resolve(self, name: str, resolved: dict[str, Mapping[str, Any]]) -> dict[str, Any]:
        """Raises when a value does not resolve here (then the templates are used)."""
        own = self._host_vars(name)
        address = self._value("vpn_client_address", own)
        jump = str(self._value(JUMP_NAME, own))
        if jump not in resolved:
            # A name outside the inventory has no variables: every default applies (as in the
            # templates, where hostvars of an unknown host is empty).
            theirs = self._host_vars(jump) if jump in self.inventory.hosts else {}
            resolved[jump] = {
                var: self._value(var, theirs)
                for var in (
                    "ansible_ssh_common_args",
                    "ansible_ssh_private_key_file",
                    "ansible_port",
                    "ansible_user",
                    "ansible_host",
                )
                if var in theirs
            }
        return connection(name, address, jump, resolved[jump])
