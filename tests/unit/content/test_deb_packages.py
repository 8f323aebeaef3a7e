"""plugins/action/deb_packages.py: one package query, install the missing, truthful check mode."""

from __future__ import annotations

from typing import Any
from unittest.mock import MagicMock

import pytest
from ansible.errors import AnsibleActionFail

from tests.unit.content.plugins import load_plugin

deb = load_plugin("action", "deb_packages")

DPKG_FRESH = "python3-apt not-installed\nnftables installed\n"


def test_the_query_asks_for_the_apt_bindings_first_and_each_package_once() -> None:
    wanted = deb.wanted_packages(["wireguard-tools", "python3-apt", "wireguard-tools"])
    assert wanted == ["python3-apt", "wireguard-tools"]
    assert deb.query_command(wanted) == (
        "LC_ALL=C dpkg-query --show --showformat='${Package} ${db:Status-Status}\\n' "
        "python3-apt wireguard-tools"
    )


def test_installed_packages_are_those_dpkg_calls_installed() -> None:
    output = (
        "python3-apt installed\nxrdp config-files\nopenssl installed\n"
        "dpkg-query: no packages found matching xterm\n"
    )
    assert deb.installed_of(output) == {"python3-apt", "openssl"}
    assert deb.plan(["python3-apt", "xrdp", "openssl", "xterm"], deb.installed_of(output)) == (
        ["xrdp", "xterm"],
        ["python3-apt", "openssl"],
    )


def test_names_a_shell_would_interpret_are_refused() -> None:
    assert deb.bad_names(["nftables", "freerdp3-x11", "g++", "x; rm -rf /", "Caps", ""]) == [
        "x; rm -rf /",
        "Caps",
        "",
    ]


def _action(args: dict[str, Any], *, check_mode: bool, dpkg: str, rc: int = 0) -> Any:
    task = MagicMock()
    task.args = args
    task.check_mode = check_mode
    task.async_val = 0
    action = deb.ActionModule(
        task=task,
        connection=MagicMock(),
        play_context=MagicMock(),
        loader=MagicMock(),
        templar=MagicMock(),
        shared_loader_obj=MagicMock(),
    )
    action._low_level_execute_command = MagicMock(
        return_value={"rc": rc, "stdout": dpkg, "stderr": ""}
    )
    action._execute_module = MagicMock(return_value={"changed": True})
    return action


def test_a_converged_host_reports_no_change_and_installs_nothing() -> None:
    dpkg = "python3-apt installed\nnftables installed\n"
    for check_mode in (False, True):
        action = _action({"name": ["nftables"]}, check_mode=check_mode, dpkg=dpkg)
        result = action.run(task_vars={})
        assert result["changed"] is False
        assert result["missing"] == [] and result["present"] == ["python3-apt", "nftables"]
        action._execute_module.assert_not_called()
        assert action._low_level_execute_command.call_count == 1


def test_check_mode_on_a_fresh_host_reports_what_would_be_installed() -> None:
    action = _action(
        {"name": ["nftables", "wireguard-tools"]}, check_mode=True, dpkg=DPKG_FRESH, rc=1
    )
    result = action.run(task_vars={})
    assert result["changed"] is True
    assert result["msg"] == "Would install python3-apt, wireguard-tools"
    assert result["missing"] == ["python3-apt", "wireguard-tools"]
    action._execute_module.assert_not_called()
    assert action._low_level_execute_command.call_count == 1


def test_a_real_run_installs_the_bindings_by_apt_get_then_the_rest_by_the_apt_module() -> None:
    action = _action(
        {
            "name": ["nftables", "wireguard-tools"],
            "install_recommends": False,
            "cache_valid_time": 60,
        },
        check_mode=False,
        dpkg=DPKG_FRESH,
        rc=1,
    )
    action._low_level_execute_command.side_effect = [
        {"rc": 1, "stdout": DPKG_FRESH, "stderr": ""},
        {"rc": 0, "stdout": "", "stderr": ""},
    ]
    result = action.run(task_vars={"x": 1})
    assert result["changed"] is True and result["msg"] == "Installed python3-apt, wireguard-tools"
    bindings = action._low_level_execute_command.call_args_list[1].args[0]
    assert "apt-get install -y -qq --no-install-recommends python3-apt" in bindings
    action._execute_module.assert_called_once_with(
        module_name="ansible.legacy.apt",
        module_args={
            "name": ["wireguard-tools"],
            "state": "present",
            "update_cache": True,
            "cache_valid_time": 60,
            "install_recommends": False,
        },
        task_vars={"x": 1},
    )


def test_apt_keeps_its_own_recommends_setting_unless_told() -> None:
    dpkg = "python3-apt installed\n"
    action = _action({"name": ["chromium"]}, check_mode=False, dpkg=dpkg, rc=1)
    action.run(task_vars={})
    assert "install_recommends" not in action._execute_module.call_args.kwargs["module_args"]


def test_an_apt_failure_is_the_tasks_failure() -> None:
    action = _action(
        {"name": ["nosuchpkg"]}, check_mode=False, dpkg="python3-apt installed\n", rc=1
    )
    action._execute_module.return_value = {"failed": True, "msg": "No package matching 'nosuchpkg'"}
    result = action.run(task_vars={})
    assert result["failed"] is True and result["missing"] == ["nosuchpkg"]


def test_a_host_without_dpkg_fails_with_a_clear_message() -> None:
    action = _action({"name": ["nftables"]}, check_mode=True, dpkg="", rc=127)
    with pytest.raises(AnsibleActionFail, match="needs a Debian host"):
        action.run(task_vars={})


def test_bad_package_names_fail_before_anything_runs() -> None:
    action = _action({"name": ["ok-name", "$(reboot)"]}, check_mode=False, dpkg="")
    with pytest.raises(AnsibleActionFail, match=r"not Debian package names: \$\(reboot\)"):
        action.run(task_vars={})
    action._low_level_execute_command.assert_not_called()
