"""The chokepoint to Ansible: exact ansible_runner.run arguments, events, secrets, diffs."""

from __future__ import annotations

import json
import os
import re
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from provisioner.adapters.runner import (
    CANCEL_MARKER,
    RUNNER_SETTINGS,
    VAULT_PROMPT,
    LocalRunner,
    child_environment,
    host_key_checking,
    redact,
    render_diff,
)
from provisioner.errors import AnsibleError, ExitCode
from provisioner.models.run import (
    Cancel,
    HostResult,
    PlaybookRequest,
    ProgressEvent,
    RunStatus,
    TaskOutcome,
)
from tests.unit.fakes import (
    FakeAnsibleRunner,
    event,
    on_failed,
    on_ok,
    on_unreachable,
    play_start,
    stats,
    task_start,
)

SECRET = "Sgr0-Vault-p4ss!"
PLAYBOOKS = Path("/opt/provisioner/playbooks")
ANSIBLE_CFG = Path("/opt/provisioner/ansible.cfg")
INVENTORY = Path("/srv/inventory/castelnuovo")
_NO_LOG_TEXT = (
    "the output has been hidden due to the fact that 'no_log: true' was specified for this result"
)


@pytest.fixture(autouse=True)
def fixed_path(monkeypatch: pytest.MonkeyPatch) -> str:
    """A known PATH, and no inherited variable to empty, so the envvars given to runner are
    exact."""
    monkeypatch.setenv("PATH", f"/usr/local/bin:{Path(sys.executable).parent}:/usr/bin")
    for name in child_environment(os.environ):
        monkeypatch.delenv(name)
    return f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin"


def _env(run_dir: Path, path: str, **extra: str) -> dict[str, str]:
    """The envvars every run gets (plain Ansible, no fact cache), plus ``extra``."""
    return {
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_CONFIG": str(ANSIBLE_CFG),
        "ANSIBLE_HOST_KEY_CHECKING": "True",
        "PATH": path,
        "ANSIBLE_CALLBACK_PLUGINS": "/opt/provisioner/plugins/callback",
        "ANSIBLE_STRATEGY_PLUGINS": "/opt/provisioner/plugins/strategy",
        "ANSIBLE_STRATEGY": "provisioner_linear",
        "PROVISIONER_STRATEGY_BASE": "ansible.builtin.linear",
        "PROVISIONER_CANCEL_FILE": str(run_dir / "cancel"),
        **extra,
    }


def _request(**overrides: Any) -> PlaybookRequest:
    values: dict[str, Any] = {
        "use_case": "enable",
        "comune": "castelnuovo",
        "playbook": "enable_remote_work.yml",
        "inventory": INVENTORY,
    }
    return PlaybookRequest(**{**values, **overrides})


def _runner(**envvars: str) -> LocalRunner:
    return LocalRunner(PLAYBOOKS, ANSIBLE_CFG, envvars or None)


# --- build_kwargs ------------------------------------------------------------------------------


def test_build_kwargs_minimal_is_exact(tmp_path: Path, fixed_path: str) -> None:
    kwargs = _runner().build_kwargs(_request(), tmp_path / "run", None)

    assert kwargs == {
        "private_data_dir": str(tmp_path / "run"),
        "project_dir": str(PLAYBOOKS),
        "playbook": "enable_remote_work.yml",
        "inventory": str(INVENTORY),
        "ident": "ansible",
        "envvars": _env(tmp_path / "run", fixed_path),
        "suppress_env_files": True,
        "quiet": True,
        "rotate_artifacts": 0,
        "fact_cache_type": "provisioner",
    }


def test_build_kwargs_check_and_options_are_exact(tmp_path: Path, fixed_path: str) -> None:
    request = _request(
        check=True,
        diff=True,
        forks=10,
        limit="vpn_gateways,pc-anagrafe-01",
        tags=("vpn", "rdp"),
        skip_tags=("meeting",),
        extravars={"provisioner_run_id": "20260115-093000-ab12"},
    )

    kwargs = _runner(ANSIBLE_STDOUT_CALLBACK="default").build_kwargs(request, tmp_path, None)

    assert kwargs == {
        "private_data_dir": str(tmp_path),
        "project_dir": str(PLAYBOOKS),
        "playbook": "enable_remote_work.yml",
        "inventory": str(INVENTORY),
        "ident": "ansible",
        "envvars": _env(tmp_path, fixed_path, ANSIBLE_STDOUT_CALLBACK="default"),
        "suppress_env_files": True,
        "quiet": True,
        "rotate_artifacts": 0,
        "fact_cache_type": "provisioner",
        "limit": "vpn_gateways,pc-anagrafe-01",
        "tags": "vpn,rdp",
        "skip_tags": "meeting",
        "extravars": {"provisioner_run_id": "20260115-093000-ab12"},
        "cmdline": "--check --diff --forks=10",
    }


def test_build_kwargs_check_without_diff(tmp_path: Path) -> None:
    assert _runner().build_kwargs(_request(check=True), tmp_path, None)["cmdline"] == "--check"


def test_vault_password_only_answers_the_prompt(tmp_path: Path) -> None:
    request = _request(check=True, diff=True, extravars={"x": 1})

    kwargs = _runner().build_kwargs(request, tmp_path, SECRET)

    assert kwargs["cmdline"] == "--check --diff --ask-vault-pass"
    assert kwargs["passwords"] == {VAULT_PROMPT: SECRET}
    assert re.search(VAULT_PROMPT, "Vault password: ", re.MULTILINE)
    assert kwargs["suppress_env_files"] is True
    assert kwargs["quiet"] is True
    elsewhere = {k: v for k, v in kwargs.items() if k != "passwords"}
    assert SECRET not in json.dumps(elsewhere)
    assert SECRET not in json.dumps(kwargs["envvars"])
    assert SECRET not in kwargs["cmdline"]
    assert kwargs["extravars"] == {"x": 1}


def test_build_kwargs_does_not_share_the_request_extravars(tmp_path: Path) -> None:
    request = _request(extravars={"x": 1})

    _runner().build_kwargs(request, tmp_path, None)["extravars"]["x"] = 2

    assert request.extravars == {"x": 1}


# --- run ---------------------------------------------------------------------------------------


def test_run_passes_exactly_the_built_kwargs(
    tmp_path: Path, fake_ansible: FakeAnsibleRunner
) -> None:
    runner = _runner()
    request = _request(check=True, diff=True, limit="vpn_gateways")
    run_dir = tmp_path / "runs" / "castelnuovo" / "r1"

    runner.run(request, run_dir, vault_password=SECRET)

    kwargs = dict(fake_ansible.kwargs)
    callbacks = {k: kwargs.pop(k) for k in ("event_handler", "status_handler", "cancel_callback")}
    assert kwargs == runner.build_kwargs(request, run_dir, SECRET)
    assert kwargs["private_data_dir"] == str(run_dir)
    assert kwargs["playbook"] == "enable_remote_work.yml"
    assert kwargs["inventory"] == str(INVENTORY)
    assert kwargs["cmdline"] == "--check --diff --ask-vault-pass"
    assert kwargs["passwords"] == {VAULT_PROMPT: SECRET}
    assert callable(callbacks["event_handler"])
    assert callable(callbacks["status_handler"])
    assert callbacks["cancel_callback"] is None
    assert run_dir.is_dir()


def test_first_ctrl_c_asks_the_strategy_to_stop_the_second_kills(
    tmp_path: Path, fake_ansible: FakeAnsibleRunner
) -> None:
    cancel = Cancel()

    _runner().run(_request(), tmp_path, vault_password=None, cancel=cancel)

    callback = fake_ansible.kwargs["cancel_callback"]
    assert callback() is False
    assert not (tmp_path / "cancel").exists()
    cancel.set()
    # runner keeps Ansible running; the strategy sees the file before its next task
    assert callback() is False
    assert (tmp_path / "cancel").read_bytes() == b""
    assert fake_ansible.kwargs["envvars"]["PROVISIONER_CANCEL_FILE"] == str(tmp_path / "cancel")
    cancel.abort.set()
    assert callback() is True  # runner's SIGKILL to the process group


def test_a_plain_event_only_ever_asks_for_a_graceful_stop(
    tmp_path: Path, fake_ansible: FakeAnsibleRunner
) -> None:
    cancel = threading.Event()
    _runner().run(_request(), tmp_path, vault_password=None, cancel=cancel)
    cancel.set()

    assert fake_ansible.kwargs["cancel_callback"]() is False
    assert (tmp_path / "cancel").exists()


def test_runner_writes_no_event_and_no_output_file(
    tmp_path: Path, fake_ansible: FakeAnsibleRunner
) -> None:
    seen: list[bool] = []
    fake_ansible.on_call = lambda kw: seen.append(kw["event_handler"](task_start("x")))

    _runner().run(_request(), tmp_path, vault_password=None)

    assert seen == [False]  # runner writes job_events/<n>-<uuid>.json only for True
    settings = json.loads((tmp_path / "env" / "settings").read_text(encoding="utf-8"))
    assert settings == RUNNER_SETTINGS and settings["suppress_output_file"] is True
    assert (tmp_path / "env" / "settings").stat().st_mode & 0o777 == 0o600


def _realistic_events() -> list[dict[str, Any]]:
    return [
        event("playbook_on_start"),
        play_start("VPN gateways"),
        task_start("Gathering Facts", action="ansible.builtin.gather_facts"),
        event("runner_on_start", host="gw-vpn-01", task="Gathering Facts", role=""),
        on_ok("gw-vpn-01", "Gathering Facts", action="ansible.builtin.gather_facts"),
        on_unreachable(
            "laptop-sindaco",
            "Gathering Facts",
            "Failed to connect to the host via ssh: ssh: connect to host 10.0.0.5 port 22: "
            "Connection timed out",
        ),
        task_start("Write wg0.conf", role="vpn_gateway"),
        on_ok(
            "gw-vpn-01",
            "Write wg0.conf",
            "vpn_gateway",
            changed=True,
            diff={
                "before": "[Interface]\nListenPort = 51820\n",
                "after": "[Interface]\nListenPort = 51821\n",
                "before_header": "/etc/wireguard/wg0.conf",
                "after_header": "/etc/wireguard/wg0.conf",
            },
        ),
        on_ok("pc-anagrafe-01", "Write wg0.conf", "vpn_gateway", changed=False),
        task_start("Enable xrdp", role="rd_gateway", action="ansible.builtin.systemd_service"),
        on_failed(
            "gw-rd-01",
            "Enable xrdp",
            "Could not find the requested service xrdp: host",
            "rd_gateway",
            "ansible.builtin.systemd_service",
        ),
        on_failed("pc-anagrafe-01", "Probe", "ignored", "rd_gateway", ignore_errors=True),
        event("runner_on_skipped", host="pc-tributi-01", task="Enable xrdp", role="rd_gateway"),
        task_start("Set admin password", role="baseline", action="ansible.builtin.user"),
        on_failed(
            "pc-tributi-01",
            "Set admin password",
            "",
            "baseline",
            "ansible.builtin.user",
            censored=_NO_LOG_TEXT,
            diff={"before": "old", "after": SECRET},
        ),
        stats(
            **{
                "gw-vpn-01": {"ok": 5, "changed": 1},
                "gw-rd-01": {"ok": 2, "failures": 1},
                "laptop-sindaco": {"dark": 1},
                "pc-anagrafe-01": {"ok": 3, "ignored": 1, "rescued": 1},
                "pc-tributi-01": {"ok": 1, "failures": 1, "skipped": 2},
            }
        ),
        event("playbook_on_stats_done"),
    ]


def test_run_turns_events_into_the_outcome(tmp_path: Path, fake_ansible: FakeAnsibleRunner) -> None:
    fake_ansible.events = _realistic_events()
    fake_ansible.status = "failed"
    fake_ansible.rc = 2

    outcome = _runner().run(_request(), tmp_path, vault_password=None)

    assert outcome.status == RunStatus.FAILED
    assert outcome.rc == 2
    assert outcome.error == ""
    assert outcome.started <= outcome.finished
    assert outcome.hosts == (
        HostResult("gw-rd-01", ok=2, failed=1),
        HostResult("gw-vpn-01", ok=5, changed=1),
        HostResult("laptop-sindaco", unreachable=1),
        HostResult("pc-anagrafe-01", ok=3, rescued=1, ignored=1),
        HostResult("pc-tributi-01", ok=1, failed=1, skipped=2),
    )
    assert [(t.host, t.task, t.outcome) for t in outcome.tasks] == [
        ("laptop-sindaco", "Gathering Facts", "unreachable"),
        ("gw-vpn-01", "Write wg0.conf", "changed"),
        ("gw-rd-01", "Enable xrdp", "failed"),
        ("pc-tributi-01", "Set admin password", "failed"),
    ]
    unreachable, changed, failed, censored = outcome.tasks
    assert unreachable.message.startswith("Failed to connect to the host via ssh")
    assert changed == TaskOutcome(
        host="gw-vpn-01",
        task="Write wg0.conf",
        role="vpn_gateway",
        action="ansible.builtin.template",
        outcome="changed",
        message="",
        diff="--- /etc/wireguard/wg0.conf\n+++ /etc/wireguard/wg0.conf\n@@ -1,2 +1,2 @@\n"
        " [Interface]\n-ListenPort = 51820\n+ListenPort = 51821",
    )
    assert failed.message == "Could not find the requested service xrdp: host"
    assert failed.action == "ansible.builtin.systemd_service"
    assert censored.message == (
        "the output has been hidden due to the fact that 'no_log: true' was specified"
    )
    assert censored.diff == ""
    assert censored.redacted is True and changed.redacted is False
    assert SECRET not in repr(outcome)
    assert outcome.changed_tasks == [changed]
    assert outcome.failed_tasks == [unreachable, failed, censored]


def test_run_reports_progress_events(tmp_path: Path, fake_ansible: FakeAnsibleRunner) -> None:
    fake_ansible.events = _realistic_events()
    seen: list[ProgressEvent] = []

    _runner().run(_request(), tmp_path, vault_password=None, on_event=seen.append)

    statuses = [e.task for e in seen if e.kind == "status"]
    seen = [e for e in seen if e.kind != "status"]
    assert statuses[0] == "starting"
    assert seen[:6] == [
        ProgressEvent("play", play="VPN gateways"),
        ProgressEvent("task", task="Gathering Facts"),
        ProgressEvent("host_start", host="gw-vpn-01", task="Gathering Facts"),
        ProgressEvent("ok", host="gw-vpn-01", task="Gathering Facts"),
        ProgressEvent("unreachable", host="laptop-sindaco", task="Gathering Facts"),
        ProgressEvent("task", task="Write wg0.conf", role="vpn_gateway"),
    ]
    kinds = [e.kind for e in seen]
    assert kinds.count("changed") == 1
    assert kinds.count("failed") == 3  # ignored failures are still shown while running
    assert kinds.count("skipped") == 1
    assert kinds[-1] == "stats"


@pytest.mark.parametrize(
    ("status", "rc", "expected_status", "expected_rc"),
    [
        ("successful", 0, RunStatus.SUCCESSFUL, 0),
        ("timeout", 254, RunStatus.TIMEOUT, 254),
        ("canceled", None, RunStatus.CANCELED, -1),
        ("something-new", 1, RunStatus.ERROR, 1),
    ],
)
def test_run_status_and_rc(
    tmp_path: Path,
    fake_ansible: FakeAnsibleRunner,
    status: str,
    rc: int | None,
    expected_status: RunStatus,
    expected_rc: int,
) -> None:
    fake_ansible.events = [stats(**{"gw-vpn-01": {"ok": 1}})]
    fake_ansible.status = status
    fake_ansible.rc = rc

    outcome = _runner().run(_request(), tmp_path, vault_password=None)

    assert outcome.status == expected_status
    assert outcome.rc == expected_rc


def test_run_without_stats_collects_error_events(
    tmp_path: Path, fake_ansible: FakeAnsibleRunner
) -> None:
    fake_ansible.events = [
        event("verbose", stdout="ERROR! the role 'vpn_gatway' was not found in /opt/roles"),
        event("verbose", stdout="just noise"),
        event("error", stdout="ERROR! Attempting to decrypt but no vault secrets found\n"),
    ]
    fake_ansible.status = "failed"
    fake_ansible.rc = 1

    outcome = _runner().run(_request(), tmp_path, vault_password=None)

    assert outcome.hosts == ()
    assert outcome.error == (
        "ERROR! the role 'vpn_gatway' was not found in /opt/roles\n"
        "ERROR! Attempting to decrypt but no vault secrets found"
    )


def test_run_without_stats_falls_back_to_the_last_output_lines_redacted(
    tmp_path: Path, fake_ansible: FakeAnsibleRunner
) -> None:
    fake_ansible.events = [event("verbose", stdout=f"line {i}") for i in range(1, 8)]
    fake_ansible.events.append(event("verbose", stdout=f"line 8 password={SECRET}\n\n"))
    fake_ansible.status = "failed"

    outcome = _runner().run(_request(), tmp_path, vault_password=None)

    assert outcome.error == "line 4\nline 5\nline 6\nline 7\nline 8 password=<redacted>"


def test_the_strategy_stop_is_a_canceled_run_with_what_happened(
    tmp_path: Path, fake_ansible: FakeAnsibleRunner
) -> None:
    fake_ansible.events = [
        task_start("Install packages", role="baseline"),
        event("runner_on_start", host="gw-vpn-01", task="Install packages", role="baseline"),
        event("runner_on_start", host="gw-rd-01", task="Install packages", role="baseline"),
        on_ok("gw-vpn-01", "Install packages", "baseline", changed=True),
        on_ok("gw-rd-01", "Install packages", "baseline"),
        event("verbose", stdout=f"{CANCEL_MARKER}: no new task starts"),
        stats(**{"gw-vpn-01": {"ok": 3, "changed": 1}, "gw-rd-01": {"ok": 3}}),
    ]
    fake_ansible.status = "failed"  # ansible-playbook's rc 2 after the playbook broke off
    fake_ansible.rc = 2

    outcome = _runner().run(_request(), tmp_path, vault_password=None, cancel=Cancel())

    assert outcome.status == RunStatus.CANCELED
    assert outcome.error == (
        "canceled with Ctrl-C between tasks: the running task 'Install packages' finished on "
        "2 host(s); no task started after it"
    )


def test_a_second_ctrl_c_says_ansible_was_killed(
    tmp_path: Path, fake_ansible: FakeAnsibleRunner
) -> None:
    cancel = Cancel()
    cancel.set()
    cancel.abort.set()
    fake_ansible.status = "canceled"
    fake_ansible.rc = 254

    outcome = _runner().run(_request(), tmp_path, vault_password=None, cancel=cancel)

    assert outcome.status == RunStatus.CANCELED
    assert outcome.error == "aborted with a second Ctrl-C: Ansible was killed"


def test_cancelled_run_has_no_error(tmp_path: Path, fake_ansible: FakeAnsibleRunner) -> None:
    fake_ansible.events = [event("error", stdout="ERROR! interrupted")]
    fake_ansible.status = "canceled"

    outcome = _runner().run(_request(), tmp_path, vault_password=None)

    assert outcome.status == RunStatus.CANCELED
    assert outcome.error == ""


def test_runner_that_cannot_start_is_an_ansible_error(
    tmp_path: Path, fake_ansible: FakeAnsibleRunner
) -> None:
    fake_ansible.raises = ValueError("private_data_dir is not writable")

    with pytest.raises(
        AnsibleError, match="could not start: private_data_dir is not writable"
    ) as info:
        _runner().run(_request(), tmp_path, vault_password=None)

    assert info.value.exit_code == ExitCode.ANSIBLE_ERROR


def test_inherited_secrets_never_reach_ansibles_environment(
    tmp_path: Path, fake_ansible: FakeAnsibleRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROVISIONER_VAULT_PASSWORD", SECRET)
    monkeypatch.setenv("PROVISIONER_NOTIFY_WEBHOOK_URL", "https://hooks.example.it/T0/B0/x")
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_0123456789")
    monkeypatch.setenv("SOME_TOOL_OPTS", f"--user admin --secret={SECRET}")
    monkeypatch.setenv("MIRROR", "https://mirror:s3cr3t-9@apt.example.it/debian")
    monkeypatch.setenv("LANG", "it_IT.UTF-8")
    monkeypatch.setenv("SSH_AUTH_SOCK", "/run/user/0/ssh-agent.sock")

    _runner().run(_request(), tmp_path, vault_password=SECRET)

    env = fake_ansible.kwargs["envvars"]
    for name in (
        "PROVISIONER_VAULT_PASSWORD",
        "PROVISIONER_NOTIFY_WEBHOOK_URL",
        "GITHUB_TOKEN",
        "SOME_TOOL_OPTS",
        "MIRROR",
    ):
        assert env[name] == "", name  # runner's os.environ copy is overridden with nothing
    assert "LANG" not in env and "SSH_AUTH_SOCK" not in env  # inherited as they are
    sent = {k: v for k, v in fake_ansible.kwargs.items() if k != "passwords" and not callable(v)}
    assert SECRET not in json.dumps(sent)


def test_host_key_checking_comes_from_the_projects_ansible_cfg(tmp_path: Path) -> None:
    off = tmp_path / "off.cfg"
    off.write_text("[defaults]\nhost_key_checking = False  # a comment\n", encoding="utf-8")
    empty = tmp_path / "empty.cfg"
    empty.write_text("[defaults]\nforks = 5\n", encoding="utf-8")
    project = Path(__file__).resolve().parents[4] / "ansible.cfg"

    assert host_key_checking(project) == "True"
    assert host_key_checking(off) == "False"
    assert host_key_checking(empty) == "True"  # Ansible's default
    assert host_key_checking(tmp_path / "missing.cfg") == "True"
    env = LocalRunner(PLAYBOOKS, off).build_kwargs(_request(), tmp_path, None)["envvars"]
    # runner only sets False when the variable is absent: it is always there
    assert env["ANSIBLE_HOST_KEY_CHECKING"] == "False"


# --- render_diff -------------------------------------------------------------------------------


def test_render_diff_template_strings() -> None:
    diff = {
        "before": "[Interface]\nAddress = 10.77.0.1/24\nListenPort = 51820\n",
        "after": "[Interface]\nAddress = 10.77.0.1/24\nListenPort = 51821\n",
        "before_header": "/etc/wireguard/wg0.conf",
        "after_header": "/home/ops/.ansible/tmp/ansible-local-1/wg0.conf.j2",
    }

    assert render_diff(diff) == (
        "--- /etc/wireguard/wg0.conf\n"
        "+++ template wg0.conf.j2\n"
        "@@ -1,3 +1,3 @@\n"
        " [Interface]\n"
        " Address = 10.77.0.1/24\n"
        "-ListenPort = 51820\n"
        "+ListenPort = 51821"
    )


def test_render_diff_names_the_template_not_the_random_controller_path() -> None:
    def rendered(after_header: str) -> str:
        return render_diff(
            {
                "before": "a\n",
                "after": "b\n",
                "before_header": "/etc/x",
                "after_header": after_header,
            }
        )

    first = rendered(
        "/root/.ansible/tmp/ansible-local-13521rk85ttpp/tmpk7cknxz2/52provisioner-uu.j2"
    )
    second = rendered(
        "/root/.ansible/tmp/ansible-local-79146e13l5q1/tmpgald1eea/52provisioner-uu.j2"
    )

    assert first == second
    assert "+++ template 52provisioner-uu.j2\n" in first
    assert "+++ /srv/wanted.conf\n" in rendered("/srv/wanted.conf")


def test_render_diff_lineinfile_list_skips_unchanged_attributes() -> None:
    diff = [
        {
            "before": "PermitRootLogin yes\nPasswordAuthentication yes\n",
            "after": "PermitRootLogin no\nPasswordAuthentication yes\n",
            "before_header": "/etc/ssh/sshd_config (content)",
            "after_header": "/etc/ssh/sshd_config (content)",
        },
        {
            "before_header": "/etc/ssh/sshd_config (file attributes)",
            "after_header": "/etc/ssh/sshd_config (file attributes)",
        },
    ]

    assert render_diff(diff) == (
        "--- /etc/ssh/sshd_config (content)\n"
        "+++ /etc/ssh/sshd_config (content)\n"
        "@@ -1,2 +1,2 @@\n"
        "-PermitRootLogin yes\n"
        "+PermitRootLogin no\n"
        " PasswordAuthentication yes"
    )


def test_render_diff_file_module_dicts() -> None:
    diff = {
        "before": {"path": "/etc/wireguard", "state": "absent"},
        "after": {"mode": "0700", "path": "/etc/wireguard", "state": "directory"},
    }

    rendered = render_diff(diff)

    assert rendered.startswith("--- before\n+++ after\n@@ ")
    assert '+  "mode": "0700",' in rendered
    assert '-  "state": "absent"' in rendered
    assert '+  "state": "directory"' in rendered


def test_render_diff_prepared_text() -> None:
    prepared = (
        "The following NEW packages will be installed:\n  wireguard-tools\n"
        "0 upgraded, 1 newly installed, 0 to remove and 0 not upgraded.\n"
    )

    assert render_diff({"prepared": prepared}) == prepared.rstrip("\n")


def test_render_diff_new_file_and_mixed_list() -> None:
    diff = [
        {"before": "", "after": "nameserver 192.168.10.1\n", "after_header": "/etc/resolv.conf"},
        "not a mapping",
        {"prepared": "+ user: ops"},
        {"before": "same\n", "after": "same\n"},
    ]

    assert render_diff(diff) == (
        "--- before\n+++ /etc/resolv.conf\n@@ -0,0 +1 @@\n+nameserver 192.168.10.1\n+ user: ops"
    )


@pytest.mark.parametrize("diff", [None, {}, [], {"before": "x", "after": "x"}])
def test_render_diff_nothing_to_show(diff: Any) -> None:
    assert render_diff(diff) == ""


def test_render_diff_without_trailing_newline() -> None:
    rendered = render_diff({"before": "hostname: old-pc", "after": "hostname: pc-anagrafe-01"})

    assert "-hostname: old-pc\n+hostname: pc-anagrafe-01" in rendered


def test_looped_task_diff_is_kept(tmp_path: Path, fake_ansible: FakeAnsibleRunner) -> None:
    item_diff = {
        "before": "a\n",
        "after": "b\n",
        "before_header": "/etc/a",
        "after_header": "/etc/a",
    }
    fake_ansible.events = [
        on_ok(
            "gw-vpn-01",
            "Write peers",
            "vpn_gateway",
            changed=True,
            results=[{"item": "peer1", "changed": True, "diff": item_diff}],
            msg="All items completed",
        ),
        stats(**{"gw-vpn-01": {"ok": 1, "changed": 1}}),
    ]

    outcome = _runner().run(_request(check=True, diff=True), tmp_path, vault_password=None)

    assert "-a\n+b" in outcome.tasks[0].diff


def test_unreachable_delegate_with_ignore_unreachable_is_no_host_problem(
    tmp_path: Path, fake_ansible: FakeAnsibleRunner
) -> None:
    # The desktop's RDP probe is delegated to a laptop that went offline: Ansible keeps the
    # desktop in the play (ignored, not dark); the laptop itself stays unreachable.
    fake_ansible.events = [
        on_unreachable("laptop-01", "Gathering Facts", "Connection timed out"),
        on_unreachable("desk-01", "Connect from the endpoint", "Connection timed out"),
        stats(**{"laptop-01": {"dark": 1}, "desk-01": {"ok": 5, "ignored": 1}}),
    ]

    outcome = _runner().run(_request(), tmp_path, vault_password=None)

    assert [(t.host, t.outcome) for t in outcome.tasks] == [("laptop-01", "unreachable")]
    assert {h.host: h.state.value for h in outcome.hosts} == {
        "desk-01": "ok",
        "laptop-01": "unreachable",
    }


def test_failed_loop_message_comes_from_the_failed_item(
    tmp_path: Path, fake_ansible: FakeAnsibleRunner
) -> None:
    fake_ansible.events = [
        on_failed(
            "pc-anagrafe-01",
            "Install packages",
            "",
            "office_desktop",
            results=[
                {"item": "remmina", "failed": False},
                {"item": "zoom", "failed": True, "msg": "No package matching 'zoom' is available"},
            ],
        ),
        on_failed(
            "pc-tributi-01",
            "Run script",
            "",
            stderr="/bin/sh: 1: enroll: not found\nsecond line",
        ),
        stats(**{"pc-anagrafe-01": {"failures": 1}, "pc-tributi-01": {"failures": 1}}),
    ]

    outcome = _runner().run(_request(), tmp_path, vault_password=None)

    assert [t.message for t in outcome.tasks] == [
        "No package matching 'zoom' is available",
        "/bin/sh: 1: enroll: not found",
    ]


# --- what comply relies on: roles per host, handlers, redaction ---------------------------------


def test_run_records_every_host_role_pair_and_flags_handlers(
    tmp_path: Path, fake_ansible: FakeAnsibleRunner
) -> None:
    reload = on_ok("gw-vpn-01", "Reload the tunnel", "vpn_gateway", changed=True)
    reload["event_data"]["task_path"] = "/roles/vpn_gateway/handlers/main.yml:18"
    fake_ansible.events = [*_realistic_events()[:-1], reload, _realistic_events()[-1]]

    outcome = _runner().run(_request(), tmp_path, vault_password=None)

    assert outcome.host_roles == (
        ("gw-vpn-01", ""),
        ("laptop-sindaco", ""),
        ("gw-vpn-01", "vpn_gateway"),
        ("pc-anagrafe-01", "vpn_gateway"),
        ("gw-rd-01", "rd_gateway"),
        ("pc-anagrafe-01", "rd_gateway"),
        ("pc-tributi-01", "rd_gateway"),
        ("pc-tributi-01", "baseline"),
    )
    assert [(t.task, t.handler) for t in outcome.changed_tasks] == [
        ("Write wg0.conf", False),
        ("Reload the tunnel", True),
    ]


def test_secret_values_never_leave_the_chokepoint(
    tmp_path: Path, fake_ansible: FakeAnsibleRunner
) -> None:
    fake_ansible.events = [
        on_ok(
            "gw-vpn-01",
            "Write the config",
            "vpn_gateway",
            changed=True,
            diff={"before": "", "after": f"PrivateKey = {SECRET}\nListenPort = 51820\n"},
        ),
        on_failed("gw-vpn-01", "Set password", f"bad hash $6$salt$abcdef for password: {SECRET}"),
        stats(**{"gw-vpn-01": {"ok": 1, "changed": 1, "failures": 1}}),
    ]

    outcome = _runner().run(_request(), tmp_path, vault_password=None)

    assert SECRET not in repr(outcome)
    assert "+PrivateKey = <redacted>" in outcome.tasks[0].diff
    assert "+ListenPort = 51820" in outcome.tasks[0].diff
    assert outcome.tasks[1].message == "bad hash <redacted> for password: <redacted>"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('password: "hunter2"', 'password: "<redacted>"'),
        ("PresharedKey = abc=", "PresharedKey = <redacted>"),
        ("api_token=xyz, next", "api_token=<redacted>, next"),
        ("ListenPort = 51820", "ListenPort = 51820"),
        ("PublicKey = AAAA", "PublicKey = AAAA"),
        # values with spaces, quoted or to the end of the line
        ('smtp_password: "correct horse battery"', 'smtp_password: "<redacted>"'),
        ("passphrase = correct horse battery", "passphrase = <redacted>"),
        ("{'password': 'a b c', 'user': 'ops'}", "{'password': '<redacted>', 'user': 'ops'}"),
        # api keys
        ("api_key: 0123abcd", "api_key: <redacted>"),
        ('"X-Api-Key": "k-123 456"', '"X-Api-Key": "<redacted>"'),
        # Cisco IOS
        (
            " username admin privilege 15 secret 9 $9$abc$def",
            " username admin privilege 15 secret 9 <redacted>",
        ),
        ("enable secret 5 $1$mERr$hx5rVt7rPNoS4wqbXKX7m0", "enable secret 5 <redacted>"),
        (" password 7 0822455D0A16", " password 7 <redacted>"),
        ("username ops password 0 Sup3r", "username ops password 0 <redacted>"),
        ("username ops password Sup3r", "username ops password <redacted>"),
        ("snmp-server community Publ1c RO", "snmp-server community <redacted> RO"),
        # FortiOS
        (
            "    set password ENC SH2nlSm9QL9tapcHPXIqAXvX7vBJuuqu22hpa0JX0sBuKIo",
            "    set password ENC <redacted>",
        ),
        ("    set psksecret ENC b3BlbnNlc2FtZQ==", "    set psksecret ENC <redacted>"),
        ("    set psksecret cleartext-psk", "    set psksecret <redacted>"),
        # HTTP
        ("Authorization: Bearer eyJhbGciOi.J9x", "Authorization: <redacted>"),
        ("sent Bearer eyJhbGciOiJIUzI1NiJ9.e30 to the API", "sent Bearer <redacted> to the API"),
        ("Token validation failed", "Token validation failed"),
        ("https://ops:s3cr3t@hooks.example.it/x", "https://<redacted>@hooks.example.it/x"),
        ("https://ghp_abc@github.com/o/r.git", "https://<redacted>@github.com/o/r.git"),
        (
            "https://chat.example.it/hook?token=abc123&room=7",
            "https://chat.example.it/hook?token=<redacted>&room=7",
        ),
        (
            "GET /api?api_key=k1&sig=zz HTTP/1.1",
            "GET /api?api_key=<redacted>&sig=<redacted> HTTP/1.1",
        ),
        # crypt hashes
        ("hash $6$salt$abcdef", "hash <redacted>"),
    ],
)
def test_redact(text: str, expected: str) -> None:
    assert redact(text) == expected


def test_redact_masks_pem_bodies_whole_and_truncated() -> None:
    key = (
        "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\nBKcwggSjAgEAAoIBAQC7\n"
        "-----END PRIVATE KEY-----"
    )
    added = key.replace("\n", "\n+")
    diff = f"--- /etc/xrdp/key.pem\n+++ /etc/xrdp/key.pem\n@@ -0,0 +1,4 @@\n+{added}"
    truncated = "msg: -----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAE"

    masked = redact(diff)

    assert "MIIEvQ" not in masked and "BKcwgg" not in masked
    assert "-----BEGIN PRIVATE KEY-----\n<redacted>\n-----END PRIVATE KEY-----" in masked
    assert masked.startswith("--- /etc/xrdp/key.pem\n+++ /etc/xrdp/key.pem\n")
    assert redact(truncated) == "msg: -----BEGIN OPENSSH PRIVATE KEY-----\n<redacted>"


def test_redact_leaves_ordinary_text_alone() -> None:
    text = (
        "--- /etc/apt/apt.conf.d/52provisioner-unattended-upgrades\n"
        '+Unattended-Upgrade::Automatic-Reboot "false";\n'
        "changed: apt-daily.timer (state: started)\n"
        "PasswordAuthentication no\n"
        "https://meet.lab.provisioner.test/sala?room=giunta\n"
        "The running wg0 lacks laptop-02 and has 0 peer(s) not configured: reloading it."
    )

    assert redact(text) == text


# --- fact cache and acceleration --------------------------------------------------------------


def test_fact_cache_is_one_jsonfile_directory_per_comune(tmp_path: Path, fixed_path: str) -> None:
    runner = LocalRunner(PLAYBOOKS, ANSIBLE_CFG, fact_cache_dir=tmp_path / "facts")

    kwargs = runner.build_kwargs(_request(), tmp_path / "run", None)

    assert kwargs["envvars"] == _env(
        tmp_path / "run",
        fixed_path,
        ANSIBLE_CACHE_PLUGIN="ansible.builtin.jsonfile",
        ANSIBLE_CACHE_PLUGIN_CONNECTION=str(tmp_path / "facts" / "castelnuovo"),
        ANSIBLE_CACHE_PLUGIN_TIMEOUT="21600",
    )
    # runner's own type would point Ansible at artifacts/ansible/fact_cache in the run dir
    assert kwargs["fact_cache_type"] != "jsonfile"


def test_flush_cache_forgets_the_run_hosts_facts(tmp_path: Path) -> None:
    kwargs = _runner().build_kwargs(_request(flush_cache=True), tmp_path, None)

    assert kwargs["cmdline"] == "--flush-cache"


def test_mitogen_strategy_reaches_the_run_and_names_the_mode(tmp_path: Path) -> None:
    strategy = {"ANSIBLE_STRATEGY_PLUGINS": "/x/strategy", "ANSIBLE_STRATEGY": "mitogen_linear"}
    runner = LocalRunner(PLAYBOOKS, ANSIBLE_CFG, strategy)

    env = runner.build_kwargs(_request(), tmp_path, None)["envvars"]

    assert runner.accel == "mitogen"
    assert env["ANSIBLE_STRATEGY"] == "provisioner_linear"
    assert env["PROVISIONER_STRATEGY_BASE"] == "mitogen_linear"
    assert env["ANSIBLE_STRATEGY_PLUGINS"] == "/opt/provisioner/plugins/strategy:/x/strategy"
    assert _runner().accel == "plain"


def test_presence_tasks_give_their_stdout_lines_or_a_debug_message(
    tmp_path: Path, fake_ansible: FakeAnsibleRunner
) -> None:
    key = "xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg="
    fake_ansible.events = [
        on_ok("gw-vpn-01", "Presence: peers", "vpn_presence", stdout_lines=["k 10.77.0.2/32 0 x"]),
        on_ok("gw-vpn-01", "Presence: public key", "vpn_gateway", "ansible.builtin.debug", msg=key),
        on_failed("rb-01", "Presence: peers", "non-zero return code", stderr="tunnel down"),
        stats(**{"gw-vpn-01": {"ok": 2}, "rb-01": {"failures": 1}}),
    ]

    outcome = _runner().run(_request(), tmp_path, vault_password=None)

    assert [(p.host, p.check, p.ok, p.lines, p.message) for p in outcome.probes] == [
        ("gw-vpn-01", "peers", True, ("k 10.77.0.2/32 0 x",), ""),
        ("gw-vpn-01", "public key", True, (key,), ""),
        ("rb-01", "peers", False, (), "tunnel down"),
    ]
