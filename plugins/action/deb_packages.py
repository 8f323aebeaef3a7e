"""Install the Debian packages a role needs, with one package query and a truthful check mode.

The roles' shared "probe, install the missing, report in check mode" sequence, as one task:

1. one ``dpkg-query`` for every package asked for (plus ``python3-apt``, which the apt module
   needs), run directly over the connection, so it also runs in check mode and on a host never
   provisioned, where the apt module could not simulate an install;
2. nothing missing: ok, nothing else runs;
3. check mode: changed, ``Would install <packages>``; nothing is installed;
4. otherwise ``python3-apt`` first by ``apt-get`` when it is missing (the apt module would
   install it itself and re-run under the new bindings, which fails under Mitogen's persistent
   interpreter), then the others with the apt module (lists refreshed when older than
   ``cache_valid_time``).

Returns ``missing`` (not installed before the task) and ``present`` (installed already), both in
the order asked for, so a role can tell which commands and units exist yet in check mode.
``tests/unit/content/test_deb_packages.py`` tests it without a host.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable
from typing import Any

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

DOCUMENTATION = """
name: deb_packages
short_description: Install missing Debian packages; check mode reports them
description:
  - One dpkg-query for all packages; in check mode "Would install ..." (changed) for the missing
    ones, never a failure on a host without python3-apt; otherwise python3-apt by apt-get when
    missing, then the apt module for the others.
options:
  name:
    description: The packages (names only, no versions).
    type: list
    elements: str
    required: true
  install_recommends:
    description: Install recommended packages too; unset keeps APT's own setting.
    type: bool
  cache_valid_time:
    description: Refresh the APT lists first unless they are younger than this (seconds).
    type: int
    default: 3600
"""

ARGUMENT_SPEC: dict[str, dict[str, Any]] = {
    "name": {"type": "list", "elements": "str", "required": True},
    "install_recommends": {"type": "bool"},
    "cache_valid_time": {"type": "int", "default": 3600},
}
# The apt module's Python bindings: always checked, installed first when missing.
APT_BINDINGS = "python3-apt"
# Debian package names (policy 5.6.1): nothing a shell would interpret.
_NAME = re.compile(r"^[a-z0-9][a-z0-9+.-]+$")
_QUERY = "LC_ALL=C dpkg-query --show --showformat='${Package} ${db:Status-Status}\\n'"
_APT_GET = "DEBIAN_FRONTEND=noninteractive apt-get"
# dpkg-query: 0 all known, 1 some package unknown to dpkg (never installed): simply missing.
_QUERY_OK = (0, 1)


def wanted_packages(names: Iterable[str]) -> list[str]:
    """The packages to query: ``python3-apt`` first, then ``names`` in order, each once."""
    return list(dict.fromkeys([APT_BINDINGS, *names]))


def bad_names(names: Iterable[str]) -> list[str]:
    """Names that are not Debian package names (refused before anything runs)."""
    return [n for n in names if not _NAME.match(n)]


def query_command(packages: Iterable[str]) -> str:
    """The dpkg-query command line for ``packages`` (exit 0 or 1 both mean an answer)."""
    return " ".join([_QUERY, *(shlex.quote(p) for p in packages)])


def installed_of(dpkg_output: str) -> set[str]:
    """Packages whose status is ``installed`` in dpkg-query's ``<package> <status>`` lines."""
    found = set()
    for line in dpkg_output.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1] == "installed":
            found.add(parts[0])
    return found


def plan(wanted: list[str], installed: set[str]) -> tuple[list[str], list[str]]:
    """``(missing, present)`` of ``wanted``, both in its order."""
    return [p for p in wanted if p not in installed], [p for p in wanted if p in installed]


class ActionModule(ActionBase):
    """The deb_packages action (runs on the controller, queries and installs on the host)."""

    TRANSFERS_FILES = False
    _supports_check_mode = True

    def run(self, tmp: Any = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        result: dict[str, Any] = super().run(tmp, task_vars)
        _, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        asked = list(dict.fromkeys(args["name"]))
        refused = bad_names(asked)
        if refused:
            raise AnsibleActionFail(f"not Debian package names: {', '.join(refused)}")
        wanted = wanted_packages(asked)

        probe = self._low_level_execute_command(query_command(wanted))
        if probe["rc"] not in _QUERY_OK:
            raise AnsibleActionFail(
                f"dpkg-query failed (rc {probe['rc']}): {probe['stderr'].strip()}"
                " - deb_packages needs a Debian host"
            )
        missing, present = plan(wanted, installed_of(probe["stdout"]))
        result.update(missing=missing, present=present, changed=bool(missing))
        if not missing:
            result["msg"] = f"Nothing to install ({len(present)} packages present)"
            return result
        if self._task.check_mode:
            result["msg"] = f"Would install {', '.join(missing)}"
            return result

        if APT_BINDINGS in missing:
            self._install_bindings()
        others = [p for p in missing if p != APT_BINDINGS]
        if others:
            apt_args: dict[str, Any] = {
                "name": others,
                "state": "present",
                "update_cache": True,
                "cache_valid_time": args["cache_valid_time"],
            }
            if args["install_recommends"] is not None:
                apt_args["install_recommends"] = args["install_recommends"]
            apt = self._execute_module(
                module_name="ansible.legacy.apt", module_args=apt_args, task_vars=task_vars
            )
            if apt.get("failed"):
                apt.update(missing=missing, present=present)
                return apt
        result["msg"] = f"Installed {', '.join(missing)}"
        return result

    def _install_bindings(self) -> None:
        """python3-apt by apt-get, before the apt module needs it."""
        done = self._low_level_execute_command(
            f"{_APT_GET} update -qq && {_APT_GET} install -y -qq --no-install-recommends "
            f"{APT_BINDINGS}"
        )
        if done["rc"] != 0:
            raise AnsibleActionFail(
                f"apt-get could not install {APT_BINDINGS} (rc {done['rc']}): "
                f"{(done['stderr'] or done['stdout']).strip()[-2000:]}"
            )
