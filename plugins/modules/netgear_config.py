#!/usr/bin/python
"""Ansible module: converge the tool's part of a router/firewall over netmiko."""

from __future__ import annotations

DOCUMENTATION = r"""
module: netgear_config
short_description: Push only the changed lines of a router/firewall's managed configuration
description:
  - Validates the intent first (a WireGuard public key must be the base64 of 32 bytes, names
    plain words, addresses and ports what they claim); a malformed value fails the task naming
    the host it came from, before the device is contacted.
  - Connects with netmiko, checking the device's SSH host key against C(known_hosts_file)
    (strict; an unknown or changed key fails the task before the password is sent), reads the
    running configuration, renders the intended one from the vendor's Jinja2 template
    (provisioner.gear) and computes the remediation - RouterOS by the tool's comment tag against
    C(/export terse), Cisco IOS and FortiOS with hier-config.
  - In check mode returns C(changed) and the remediation as the diff; pushes nothing.
  - Otherwise pushes the remediation all or nothing with the vendor's own safety net - RouterOS
    safe mode, IOS C(configure terminal revert timer) / C(configure confirm), FortiOS
    C(execute config-transaction) - and checks the device then holds the intended
    configuration. A rejected line or a connection lost halfway puts the device back as it was
    (verified, and reported) and fails the task.
  - C(mode=status) (RouterOS concentrator) only reads the router's WireGuard public key and its
    peers' last handshakes.
  - "Runs on the controller (C(connection: local)) with the interpreter that has the provisioner
    package (C(ansible_playbook_python))."
options:
  device_type:
    description: netmiko device type.
    type: str
    required: true
    choices: [mikrotik_routeros, cisco_ios, fortinet]
  name:
    description: The device's inventory name, used in every message.
    type: str
    default: ""
  host:
    description: Address of the device's SSH service.
    type: str
    required: true
  port:
    description: Its SSH port.
    type: int
    default: 22
  username:
    description: Login name.
    type: str
    required: true
  password:
    description: Login password (from the vault; never returned or logged).
    type: str
    required: true
  known_hosts_file:
    description:
      - OpenSSH known_hosts file holding the device's host key (C([host]:port) when the port is
        not 22). Empty - the controller user's C(~/.ssh/known_hosts).
    type: path
  intent:
    description: What the device should carry (role, interfaces, peers, services, forwards).
    type: dict
    required: true
  tag:
    description: Marks the tool's items (RouterOS comments, FortiOS names, the IOS ACL name).
    type: str
    default: provisioner
  timeout:
    description: Seconds for connecting, logging in and each read.
    type: int
    default: 30
  session_log:
    description: File for netmiko's session log (passwords are masked by netmiko).
    type: path
  mode:
    description:
      - C(converge) brings the device to the intent; C(status) only reads a RouterOS
        concentrator's WireGuard public key and its peers' last handshakes.
    type: str
    default: converge
    choices: [converge, status]
author:
  - provisioner maintainers
"""

RETURN = r"""
commands:
  description: The remediation lines (sent, or that would be sent in check mode).
  type: list
  elements: str
  returned: mode converge
wireguard_public_key:
  description: The RouterOS concentrator's WireGuard public key, read from the device.
  type: str
  returned: vpn_concentrator, and mode status
peer_handshakes:
  description: Public key of each peer -> seconds since its last handshake (null - never).
  type: dict
  returned: mode status
peers:
  description: >-
    Each peer's name (from its comment), public key, allowed addresses and last handshake age
    (seconds, null - never).
  type: list
  elements: dict
  returned: mode status
device_error:
  description: The device's error text when it rejected a line.
  type: str
  returned: failure
rollback:
  description: What was sent to undo a partly applied push (the vendor's own undo).
  type: list
  elements: str
  returned: failure
restored:
  description: Whether the device was verified to be as before the run after a failed push.
  type: bool
  returned: failure
"""

from typing import Any, NoReturn  # noqa: E402 - after the docs, as in every module

from ansible.module_utils.basic import AnsibleModule  # noqa: E402

try:
    from provisioner.gear.errors import GearError, IntentError
    from provisioner.gear.session import Login, converge, status
    from provisioner.models.inventory import DEVICE_TYPES
except ImportError as exc:  # the interpreter is not provisioner's
    IMPORT_ERROR: ImportError | None = exc
    DEVICE_TYPES: tuple[str, ...] = ()
else:
    IMPORT_ERROR = None


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "device_type": {
                "type": "str",
                "required": True,
                # The one vendor list (provisioner.models.inventory.DEVICE_TYPES); none when
                # provisioner is not importable (the module then fails saying so).
                "choices": list(DEVICE_TYPES) or None,
            },
            "name": {"type": "str", "default": ""},
            "host": {"type": "str", "required": True},
            "port": {"type": "int", "default": 22},
            "username": {"type": "str", "required": True},
            "password": {"type": "str", "required": True, "no_log": True},
            "known_hosts_file": {"type": "path"},
            "intent": {"type": "dict", "required": True},
            "tag": {"type": "str", "default": "provisioner"},
            "timeout": {"type": "int", "default": 30},
            "session_log": {"type": "path"},
            "mode": {"type": "str", "default": "converge", "choices": ["converge", "status"]},
        },
        supports_check_mode=True,
    )

    def fail(**result: Any) -> NoReturn:
        # The play ignores this task's failure so that one device never ends the comune's run
        # (Ansible stops a playbook whose play has no host left); provisioner counts it anyway.
        module.fail_json(provisioner_counts_as_failed=True, **result)

    if IMPORT_ERROR is not None:
        fail(
            msg=f"the provisioner package is not importable by {module._name}'s interpreter "
            f"(set ansible_python_interpreter to ansible_playbook_python): {IMPORT_ERROR}"
        )
    params = module.params
    login = Login(
        device_type=params["device_type"],
        host=params["host"],
        port=params["port"],
        username=params["username"],
        password=params["password"],
        timeout=params["timeout"],
        session_log=params["session_log"],
        known_hosts=params["known_hosts_file"] or None,
        name=params["name"],
    )
    try:
        if params["mode"] == "status":
            wireguard = params["intent"].get("wireguard") or {}
            found = status(login, params["tag"], wireguard.get("interface", "wg-provisioner"))
            module.exit_json(
                changed=False,
                wireguard_public_key=found.wireguard_public_key,
                peer_handshakes=found.handshakes,
                peers=list(found.peers),
            )
        outcome = converge(login, params["intent"], params["tag"], check=module.check_mode)
    except IntentError as exc:
        fail(msg=f"{login.who}: refused, nothing sent to the device: {exc}", commands=[])
    except GearError as exc:
        fail(msg=str(exc), commands=[])
    except Exception as exc:  # netmiko raises many kinds: one clear line per device
        fail(msg=f"{login.who}: {type(exc).__name__}: {exc}", commands=[])
    result = {
        "changed": outcome.changed,
        "commands": list(outcome.commands),
        "diff": {"prepared": outcome.diff} if outcome.diff else {},
    }
    if outcome.wireguard_public_key:
        result["wireguard_public_key"] = outcome.wireguard_public_key
    if outcome.failed:
        fail(
            msg=f"{login.who}: {outcome.msg}",
            device_error=outcome.device_error,
            rollback=list(outcome.rollback),
            restored=outcome.restored,
            **result,
        )
    module.exit_json(**result)


if __name__ == "__main__":
    main()
