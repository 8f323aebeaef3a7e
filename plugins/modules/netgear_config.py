#!/usr/bin/python
"""Ansible module: converge the tool's part of a router/firewall over netmiko."""

from __future__ import annotations

DOCUMENTATION = r"""
module: netgear_config
short_description: Push only the changed lines of a router/firewall's managed configuration
description:
  - Connects with netmiko, reads the running configuration, renders the intended one from the
    vendor's Jinja2 template (provisioner.gear) and computes the remediation - RouterOS by the
    tool's comment tag against C(/export terse), Cisco IOS and FortiOS with hier-config.
  - In check mode returns C(changed) and the remediation as the diff; pushes nothing.
  - Otherwise pushes only the remediation, saves where the platform needs it, and returns the
    lines sent. If the device rejects a line, what was applied is rolled back, the device's error
    is reported and the task fails.
  - Runs on the controller (C(connection: local)) with the interpreter that has the provisioner
    package (C(ansible_playbook_python)).
options:
  device_type:
    description: netmiko device type.
    type: str
    required: true
    choices: [mikrotik_routeros, cisco_ios, fortinet]
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
author:
  - provisioner maintainers
"""

RETURN = r"""
commands:
  description: The remediation lines (sent, or that would be sent in check mode).
  type: list
  elements: str
  returned: always
device_error:
  description: The device's error text when it rejected a line.
  type: str
  returned: failure
rollback:
  description: Lines sent to undo a partly applied push.
  type: list
  elements: str
  returned: failure
"""

from ansible.module_utils.basic import AnsibleModule  # noqa: E402 - after the docs, as in every module

try:
    from provisioner.gear.session import GearError, Login, converge
except ImportError as exc:  # the interpreter is not provisioner's
    IMPORT_ERROR: ImportError | None = exc
else:
    IMPORT_ERROR = None


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "device_type": {
                "type": "str",
                "required": True,
                "choices": ["mikrotik_routeros", "cisco_ios", "fortinet"],
            },
            "host": {"type": "str", "required": True},
            "port": {"type": "int", "default": 22},
            "username": {"type": "str", "required": True},
            "password": {"type": "str", "required": True, "no_log": True},
            "intent": {"type": "dict", "required": True},
            "tag": {"type": "str", "default": "provisioner"},
            "timeout": {"type": "int", "default": 30},
            "session_log": {"type": "path"},
        },
        supports_check_mode=True,
    )
    if IMPORT_ERROR is not None:
        module.fail_json(
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
    )
    try:
        outcome = converge(login, params["intent"], params["tag"], check=module.check_mode)
    except GearError as exc:
        module.fail_json(msg=str(exc), commands=[])
    except Exception as exc:  # netmiko raises many kinds: one clear line per device
        module.fail_json(msg=f"{login.host}:{login.port}: {type(exc).__name__}: {exc}", commands=[])
    result = {
        "changed": outcome.changed,
        "commands": list(outcome.commands),
        "diff": {"prepared": outcome.diff} if outcome.diff else {},
    }
    if outcome.failed:
        module.fail_json(
            msg=outcome.msg,
            device_error=outcome.device_error,
            rollback=list(outcome.rollback),
            restored=outcome.restored,
            **result,
        )
    module.exit_json(**result)


if __name__ == "__main__":
    main()
