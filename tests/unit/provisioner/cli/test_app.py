"""The `provisioner` command through typer's CliRunner, with only ansible_runner.run faked."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import Result

from provisioner.adapters.history import History
from provisioner.config import StateLayout
from tests.unit.fakes import (
    ALL_HOSTS,
    GROUP_HOSTS,
    SLUG,
    VAULT_DOCUMENT,
    ComuneFiles,
    FakeAnsibleRunner,
    event,
    on_failed,
    on_ok,
    on_unreachable,
    play_start,
    stats,
    task_start,
)

Cli = Callable[..., Result]
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def _plain(text: str) -> str:
    return _ANSI.sub("", text)


def _state_is_empty(state_dir: Path) -> bool:
    return not state_dir.exists() or not any(state_dir.iterdir())


def _all_ok_events() -> list[dict[str, Any]]:
    return [
        event("playbook_on_start"),
        play_start("VPN gateways"),
        task_start("Write wg0.conf", "vpn_gateway"),
        on_ok(
            "gw-vpn-01",
            "Write wg0.conf",
            "vpn_gateway",
            changed=True,
            diff={
                "before": "ListenPort = 51820\n",
                "after": "ListenPort = 51821\n",
                "before_header": "/etc/wireguard/wg0.conf",
                "after_header": "/etc/wireguard/wg0.conf",
            },
        ),
        stats(**{h: {"ok": 3, "changed": 1 if h == "gw-vpn-01" else 0} for h in ALL_HOSTS}),
    ]


def _failed_events() -> list[dict[str, Any]]:
    return [
        task_start("Enable xrdp", "rd_gateway"),
        on_failed(
            "gw-rd-01", "Enable xrdp", "Could not find the requested service xrdp", "rd_gateway"
        ),
        on_unreachable("laptop-sindaco", "Gathering Facts", "ssh: connect to host: timed out"),
        stats(
            **{
                "gw-rd-01": {"ok": 1, "failures": 1},
                "laptop-sindaco": {"dark": 1},
                "gw-vpn-01": {"ok": 3},
            }
        ),
    ]


def _unreachable_events() -> list[dict[str, Any]]:
    return [
        task_start("Gathering Facts", action="ansible.builtin.gather_facts"),
        on_unreachable("laptop-sindaco", "Gathering Facts", "ssh: connect to host: timed out"),
        on_ok("gw-vpn-01", "Gathering Facts"),
        stats(**{"laptop-sindaco": {"dark": 1}, "gw-vpn-01": {"ok": 3}}),
    ]


# --- inventory ---------------------------------------------------------------------------------


def test_inventory_validate_ok(cli: Cli, comune: ComuneFiles, state_dir: Path) -> None:
    result = cli("inventory", "validate", SLUG)

    assert result.exit_code == 0, result.output
    assert f"ok Comune di Castelnuovo ({SLUG}): {len(ALL_HOSTS)} hosts valid" in _plain(
        result.stdout
    )
    assert _state_is_empty(state_dir)


def test_inventory_validate_broken_names_file_and_field(
    cli: Cli, make_comune: Callable[..., ComuneFiles], state_dir: Path
) -> None:
    hosts = {**GROUP_HOSTS, "rd_gateways": {"gw-rd-01": {"ansible_host": "10.0.0.300"}}}
    make_comune(hosts=hosts, settings={"comune_vpn_public_endpoint": "vpn.example.it"})

    result = cli("inventory", "validate", SLUG)

    assert result.exit_code == 2
    errors = _plain(result.stderr).splitlines()
    assert any(
        line.startswith(f"error: inventory/{SLUG}/hosts.yml: host gw-rd-01: ansible_host: ")
        and "10.0.0.300" in line
        for line in errors
    ), errors
    assert any(
        line.startswith(
            f"error: inventory/{SLUG}/group_vars/all/comune.yml: comune_vpn_public_endpoint: "
        )
        for line in errors
    ), errors
    assert result.stdout == ""
    assert _state_is_empty(state_dir)


def test_inventory_validate_yaml_error_shows_line(
    cli: Cli, comune: ComuneFiles, state_dir: Path
) -> None:
    comune.hosts_file.write_text("all:\n  children:\n    endpoints: [\n", encoding="utf-8")

    result = cli("inventory", "validate", SLUG)

    assert result.exit_code == 2
    assert f"inventory/{SLUG}/hosts.yml: YAML syntax error: line 4" in _plain(result.stderr)
    assert _state_is_empty(state_dir)


def test_inventory_validate_unknown_comune(cli: Cli, comune: ComuneFiles) -> None:
    result = cli("inventory", "validate", "castelnuov")

    assert result.exit_code == 2
    assert f"did you mean {SLUG}?" in _plain(result.stderr)


def test_inventory_show_renders_hosts(cli: Cli, comune: ComuneFiles) -> None:
    result = cli("inventory", "show", SLUG)

    assert result.exit_code == 0, result.output
    out = _plain(result.stdout)
    for name in ALL_HOSTS:
        assert name in out
    assert "Comune di Castelnuovo (castelnuovo)" in out
    assert "024058  province VI" in out
    assert "vpn.castelnuovo.example.it:51820 (terminated on gw-vpn-01)" in out
    assert "laptop-sindaco.castelnuovo.example.it" in out
    assert f"{len(ALL_HOSTS)} hosts" in out


def test_inventory_list(cli: Cli, make_comune: Callable[..., ComuneFiles]) -> None:
    make_comune()
    make_comune("montebello")

    result = cli("inventory", "list")

    assert result.exit_code == 0
    assert result.stdout.split() == [SLUG, "montebello"]


# --- enable ------------------------------------------------------------------------------------


def test_enable_broken_inventory_writes_nothing(
    cli: Cli,
    make_comune: Callable[..., ComuneFiles],
    state_dir: Path,
    fake_ansible: FakeAnsibleRunner,
) -> None:
    make_comune(settings={"comune_office_networks": ["10.77.0.0/16"]})

    result = cli("enable", SLUG)

    assert result.exit_code == 2
    assert (
        f"error: inventory/{SLUG}/group_vars/all/comune.yml: comune_office_networks: "
        "office network 10.77.0.0/16 overlaps the VPN pool 10.77.0.0/24"
    ) in _plain(result.stderr)
    assert _state_is_empty(state_dir)
    assert fake_ansible.calls == []


def test_enable_bad_limit_writes_nothing(
    cli: Cli, comune: ComuneFiles, state_dir: Path, fake_ansible: FakeAnsibleRunner
) -> None:
    result = cli("enable", SLUG, "--limit", "pc-anagrafe-1")

    assert result.exit_code == 2
    assert "did you mean pc-anagrafe-01" in _plain(result.stderr)
    assert _state_is_empty(state_dir)
    assert fake_ansible.calls == []


def test_enable_vault_without_password_writes_nothing(
    cli: Cli, comune: ComuneFiles, state_dir: Path, fake_ansible: FakeAnsibleRunner
) -> None:
    (comune.settings_file.parent / "vault.yml").write_text(VAULT_DOCUMENT, encoding="utf-8")

    result = cli("enable", SLUG)

    assert result.exit_code == 2
    assert "vault.yml: is vault-encrypted but no vault password" in _plain(result.stderr)
    assert _state_is_empty(state_dir)
    assert fake_ansible.calls == []


@pytest.mark.parametrize(
    ("events", "status", "rc", "exit_code"),
    [
        (_all_ok_events(), "successful", 0, 0),
        (_failed_events(), "failed", 2, 3),
        (_unreachable_events(), "failed", 4, 4),
        (_all_ok_events()[:-1], "canceled", None, 130),
        ([event("error", stdout="ERROR! the role 'vpn_gatway' was not found")], "failed", 1, 6),
    ],
    ids=["all-ok", "host-failed", "host-unreachable", "canceled", "no-stats"],
)
def test_enable_exit_codes(
    cli: Cli,
    comune: ComuneFiles,
    state_dir: Path,
    fake_ansible: FakeAnsibleRunner,
    events: list[dict[str, Any]],
    status: str,
    rc: int | None,
    exit_code: int,
) -> None:
    fake_ansible.events = events
    fake_ansible.status = status
    fake_ansible.rc = rc

    result = cli("enable", SLUG)

    assert result.exit_code == exit_code, result.output
    out = _plain(result.stdout)
    assert f"status {status}" in out
    assert f"exit {exit_code}" in out
    [record] = History(StateLayout(state_dir)).list_runs()
    assert record.status == status
    assert f"run {record.id}" in out
    assert fake_ansible.kwargs["private_data_dir"] == record.run_dir
    assert fake_ansible.kwargs["inventory"] == str(comune.dir)
    assert "cmdline" not in fake_ansible.kwargs


def test_enable_report_lists_hosts_and_failures(
    cli: Cli, comune: ComuneFiles, fake_ansible: FakeAnsibleRunner
) -> None:
    fake_ansible.events = _failed_events()
    fake_ansible.status, fake_ansible.rc = "failed", 2

    result = cli("enable", SLUG)

    out = _plain(result.stdout)
    assert re.search(r"gw-rd-01\s+│\s+rd_gateways\s+│\s+failed\s+│\s+1\s+│\s+0\s+│\s+1", out), out
    assert re.search(r"laptop-sindaco\s+│\s+endpoints\s+│\s+unreachable", out), out
    assert "Could not find the requested service xrdp" in out
    assert "TASK rd_gateway : Enable xrdp" in out
    assert "FAILED gw-rd-01: Enable xrdp" in out


def test_enable_no_stats_shows_ansible_error(
    cli: Cli, comune: ComuneFiles, fake_ansible: FakeAnsibleRunner
) -> None:
    fake_ansible.events = [event("error", stdout="ERROR! the role 'vpn_gatway' was not found")]
    fake_ansible.status, fake_ansible.rc = "failed", 1

    result = cli("enable", SLUG)

    assert result.exit_code == 6
    assert "error: ERROR! the role 'vpn_gatway' was not found" in _plain(result.stderr)


def test_enable_check_passes_check_and_diff(
    cli: Cli, comune: ComuneFiles, fake_ansible: FakeAnsibleRunner
) -> None:
    fake_ansible.events = _all_ok_events()

    result = cli("enable", SLUG, "--check", "--limit", "vpn_gateways", "-t", "vpn,rdp", "-t", "x")

    assert result.exit_code == 0, result.output
    kwargs = fake_ansible.kwargs
    assert kwargs["cmdline"] == "--check --diff"
    assert kwargs["limit"] == "vpn_gateways"
    assert kwargs["tags"] == "vpn,rdp,x"
    out = _plain(result.stdout)
    assert "enable castelnuovo: check (dry run)" in out
    assert re.search(r"gw-vpn-01\s+│\s+vpn_gateways\s+│\s+would change", out), out
    assert "-ListenPort = 51820" in out
    assert "+ListenPort = 51821" in out


def test_enable_busy_comune(
    cli: Cli, comune: ComuneFiles, state_dir: Path, fake_ansible: FakeAnsibleRunner
) -> None:
    with History(StateLayout(state_dir)).lock(SLUG):
        result = cli("enable", SLUG)

    assert result.exit_code == 5
    assert f"comune '{SLUG}' is busy" in _plain(result.stderr)
    assert fake_ansible.calls == []
    assert History(StateLayout(state_dir)).list_runs() == []


# --- runs --------------------------------------------------------------------------------------


def test_runs_list_and_show_after_enable(
    cli: Cli, comune: ComuneFiles, fake_ansible: FakeAnsibleRunner
) -> None:
    fake_ansible.events = _failed_events()
    fake_ansible.status, fake_ansible.rc = "failed", 2
    cli("enable", SLUG, "--limit", "gw-rd-01,gw-vpn-01,laptop-sindaco")

    listed = cli("runs", "list")

    assert listed.exit_code == 0
    [row] = [line for line in _plain(listed.stdout).splitlines() if SLUG in line]
    run_id = re.search(r"\d{8}-\d{6}-[0-9a-f]{4}", row)
    assert run_id is not None
    assert "enable" in row
    assert "apply" in row
    assert "failed" in row

    shown = cli("runs", "show", run_id.group()[:-2])

    assert shown.exit_code == 0, shown.output
    out = _plain(shown.stdout)
    assert (
        f"run {run_id.group()}: enable {SLUG} (apply), limit gw-rd-01,gw-vpn-01,laptop-sindaco"
        in out
    )
    assert re.search(r"gw-rd-01\s+│\s+failed\s+│\s+1\s+│\s+0\s+│\s+1\s+│\s+0", out), out
    assert re.search(r"gw-vpn-01\s+│\s+ok\s+│\s+3", out), out
    assert re.search(r"laptop-sindaco\s+│\s+unreachable", out), out
    assert "Could not find the requested service xrdp" in out


def test_runs_list_filters_by_comune(
    cli: Cli, make_comune: Callable[..., ComuneFiles], fake_ansible: FakeAnsibleRunner
) -> None:
    make_comune()
    make_comune("montebello", settings={"comune_vpn_pool": "10.78.0.0/24"})
    fake_ansible.events = _unreachable_events()
    cli("enable", SLUG)
    cli("enable", "montebello")

    out = _plain(cli("runs", "list", "--comune", "montebello").stdout)

    assert "montebello" in out
    assert SLUG not in out


def test_runs_show_unknown(cli: Cli) -> None:
    result = cli("runs", "show", "20990101")

    assert result.exit_code == 2
    assert "no such run" in _plain(result.stderr)


def test_runs_list_empty(cli: Cli, state_dir: Path) -> None:
    result = cli("runs", "list")

    assert result.exit_code == 0
    assert _state_is_empty(state_dir)


# --- settings ----------------------------------------------------------------------------------


def test_invalid_setting_is_exit_2_naming_its_origin(
    cli: Cli, comune: ComuneFiles, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROVISIONER_KEEP_RUNS", "0")

    result = cli("inventory", "validate", SLUG)

    assert result.exit_code == 2
    assert "error: environment PROVISIONER_KEEP_RUNS: keep_runs:" in _plain(result.stderr)


def test_flags_win_over_environment(
    cli: Cli, comune: ComuneFiles, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROVISIONER_INVENTORY_DIR", str(tmp_path / "nowhere"))

    result = cli("inventory", "validate", SLUG)

    assert result.exit_code == 0, result.output


# --- acceleration ------------------------------------------------------------------------------


def _summary(state_dir: Path) -> dict[str, Any]:
    import json  # noqa: PLC0415

    [path] = list((state_dir / "runs" / SLUG).glob("*/summary.json"))
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def test_enable_runs_with_mitogen_by_default(
    cli: Cli, comune: ComuneFiles, fake_ansible: FakeAnsibleRunner, state_dir: Path
) -> None:
    fake_ansible.events = _all_ok_events()

    result = cli("enable", SLUG)

    assert result.exit_code == 0, result.output
    env = fake_ansible.kwargs["envvars"]
    assert env["ANSIBLE_STRATEGY"] == "provisioner_linear"
    assert env["PROVISIONER_STRATEGY_BASE"] == "mitogen_linear"
    plugin_dirs = env["ANSIBLE_STRATEGY_PLUGINS"].split(":")
    assert Path(plugin_dirs[0], "provisioner_linear.py").is_file()
    assert Path(plugin_dirs[1], "mitogen_linear.py").is_file()
    assert env["ANSIBLE_CACHE_PLUGIN_CONNECTION"] == str(state_dir / "facts" / SLUG)
    assert _summary(state_dir)["accel"] == "mitogen"
    assert "warning" not in result.output


def test_no_accel_runs_plain_ansible(
    cli: Cli, comune: ComuneFiles, fake_ansible: FakeAnsibleRunner, state_dir: Path
) -> None:
    fake_ansible.events = _all_ok_events()

    result = cli("enable", SLUG, "--no-accel")

    assert result.exit_code == 0, result.output
    assert fake_ansible.kwargs["envvars"]["PROVISIONER_STRATEGY_BASE"] == "ansible.builtin.linear"
    assert _summary(state_dir)["accel"] == "plain"


def test_unusable_mitogen_warns_once_and_the_run_succeeds_plain(
    cli: Cli,
    comune: ComuneFiles,
    fake_ansible: FakeAnsibleRunner,
    state_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from provisioner.adapters.accel import Acceleration  # noqa: PLC0415
    from provisioner.core import runs  # noqa: PLC0415

    warning = "warning: mitogen is not installed; running plain Ansible (slower)"
    monkeypatch.setattr(runs, "_detect", lambda wanted: Acceleration("plain", warning=warning))
    fake_ansible.events = _all_ok_events()

    result = cli("enable", SLUG)

    assert result.exit_code == 0, result.output
    assert _plain(result.output).count("warning:") == 1
    assert warning in _plain(result.output)
    assert fake_ansible.kwargs["envvars"]["PROVISIONER_STRATEGY_BASE"] == "ansible.builtin.linear"
    assert _summary(state_dir)["accel"] == "plain"


# --- errors that never leave a mess ------------------------------------------------------------


def test_an_unexpected_error_is_one_line_and_a_log_not_a_traceback(
    cli: Cli, comune: ComuneFiles, monkeypatch: pytest.MonkeyPatch, state_dir: Path
) -> None:
    from provisioner.core import enable as enable_core  # noqa: PLC0415

    def bug(*_args: object, **_kwargs: object) -> None:
        raise ZeroDivisionError("password=hunter2 went wrong")

    monkeypatch.setattr(enable_core, "enable", bug)

    result = cli("enable", SLUG)

    assert result.exit_code == 1
    err = _plain(result.stderr)
    assert "Traceback" not in result.output + err
    [line] = err.strip().splitlines()
    assert line.startswith("error: unexpected error (ZeroDivisionError: password=<redacted>")
    log = Path(line.rsplit("details in ", 1)[1])
    assert log.parent == state_dir / "logs"
    text = log.read_text(encoding="utf-8")
    assert "Traceback" in text and "ZeroDivisionError" in text and "hunter2" not in text
    assert "\ncontext: " in text


def test_a_damaged_history_names_the_file_and_how_to_recover(
    cli: Cli, comune: ComuneFiles, state_dir: Path, fake_ansible: FakeAnsibleRunner
) -> None:
    state_dir.mkdir()
    (state_dir / "history.sqlite3").write_bytes(b"\x00garbage" * 512)

    for args in (("runs", "list"), ("enable", SLUG)):
        result = cli(*args)
        assert result.exit_code == 1, result.output
        err = _plain(result.stderr)
        assert f"{state_dir / 'history.sqlite3'}: the run history is damaged" in err
        assert f"mv {state_dir / 'history.sqlite3'} " in err and "Traceback" not in err
    assert fake_ansible.calls == []


def test_runs_show_says_who_started_the_run(
    cli: Cli,
    comune: ComuneFiles,
    fake_ansible: FakeAnsibleRunner,
    monkeypatch: pytest.MonkeyPatch,
    state_dir: Path,
) -> None:
    monkeypatch.setenv("SSH_CLIENT", "198.51.100.4 40000 22")
    fake_ansible.events = _all_ok_events()
    cli("enable", SLUG)
    [record] = History(StateLayout(state_dir)).list_runs()

    out = _plain(cli("runs", "show", record.id).stdout)

    assert re.search(r"started by \S+ on \S+, ssh from 198\.51\.100\.4", out), out
    assert "command: " in out
