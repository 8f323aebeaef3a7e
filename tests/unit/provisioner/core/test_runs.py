"""The life of one run: validate, lock, record, execute, rotate; and the exit code it maps to."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from provisioner.adapters import queue
from provisioner.adapters.history import History
from provisioner.adapters.runner import VAULT_PROMPT
from provisioner.config import Settings
from provisioner.core import runs
from provisioner.core.inventory import load
from provisioner.errors import AnsibleError, BusyError, ControllerError, ExitCode, InputError
from provisioner.models.inventory import Inventory
from provisioner.models.run import HostResult, HostState, PlaybookRequest, RunOutcome, RunStatus
from tests.unit.fakes import (
    SLUG,
    VAULT_DOCUMENT,
    ComuneFiles,
    FakeAnsibleRunner,
    on_failed,
    on_ok,
    play_start,
    stats,
    task_start,
)

SECRET = "Sgr0-Vault-p4ss!"


def _request(**overrides: object) -> PlaybookRequest:
    values: dict[str, object] = {
        "use_case": "enable",
        "comune": SLUG,
        "playbook": "enable_remote_work.yml",
        "inventory": Path("/unused"),
    }
    return PlaybookRequest(**{**values, **overrides})  # type: ignore[arg-type]


@pytest.fixture
def inventory(settings: Settings, comune: ComuneFiles) -> Inventory:
    return load(settings, comune.slug)


def _report(*hosts: HostResult, status: RunStatus, inventory: Inventory) -> runs.RunReport:
    outcome = RunOutcome(status=status, rc=0, hosts=hosts, tasks=(), started=0.0, finished=1.0)
    return runs.RunReport("r", SLUG, "enable", False, Path("/r"), outcome, inventory)


@pytest.mark.parametrize(
    ("hosts", "status", "code"),
    [
        (
            (HostResult("a", ok=3), HostResult("b", ok=1, changed=1)),
            RunStatus.SUCCESSFUL,
            ExitCode.OK,
        ),
        (
            (HostResult("a", ok=3), HostResult("b", failed=1)),
            RunStatus.FAILED,
            ExitCode.HOSTS_FAILED,
        ),
        (
            (HostResult("a", unreachable=1), HostResult("b", failed=1)),
            RunStatus.FAILED,
            ExitCode.HOSTS_FAILED,
        ),
        (
            (HostResult("a", ok=3), HostResult("b", unreachable=1)),
            RunStatus.FAILED,
            ExitCode.HOSTS_UNREACHABLE,
        ),
        ((HostResult("a", failed=1),), RunStatus.CANCELED, ExitCode.CANCELLED),
        ((), RunStatus.FAILED, ExitCode.ANSIBLE_ERROR),
        ((HostResult("a", ok=1),), RunStatus.TIMEOUT, ExitCode.ANSIBLE_ERROR),
        ((HostResult("a", ok=1, ignored=1),), RunStatus.SUCCESSFUL, ExitCode.OK),
    ],
)
def test_exit_code(
    inventory: Inventory, hosts: tuple[HostResult, ...], status: RunStatus, code: ExitCode
) -> None:
    assert _report(*hosts, status=status, inventory=inventory).exit_code == code


def test_run_playbook_records_summarises_and_returns(
    settings: Settings, inventory: Inventory, fake_ansible: FakeAnsibleRunner
) -> None:
    fake_ansible.events = [
        task_start("Write wg0.conf", "vpn_gateway"),
        on_ok("gw-vpn-01", "Write wg0.conf", "vpn_gateway", changed=True),
        on_failed(
            "gw-rd-01", "Enable xrdp", "Could not find the requested service xrdp", "rd_gateway"
        ),
        stats(**{"gw-vpn-01": {"ok": 4, "changed": 1}, "gw-rd-01": {"ok": 1, "failures": 1}}),
    ]
    fake_ansible.status, fake_ansible.rc = "failed", 2

    report = runs.run_playbook(settings, _request(limit="gw-vpn-01,gw-rd-01"), inventory)

    assert report.exit_code == ExitCode.HOSTS_FAILED
    assert report.run_dir == settings.state_dir / "runs" / SLUG / report.run_id
    assert fake_ansible.kwargs["private_data_dir"] == str(report.run_dir)
    assert fake_ansible.kwargs["limit"] == "gw-vpn-01,gw-rd-01"
    assert "passwords" not in fake_ansible.kwargs
    summary = json.loads((report.run_dir / "summary.json").read_text(encoding="utf-8"))
    assert summary["run_id"] == report.run_id
    assert summary["status"] == "failed"
    assert summary["exit_code"] == 3
    assert summary["check_mode"] is False
    assert {h["host"]: h["state"] for h in summary["hosts"]} == {
        "gw-rd-01": "failed",
        "gw-vpn-01": "changed",
    }
    assert [t["outcome"] for t in summary["tasks"]] == ["changed", "failed"]
    detail = runs.show_run(settings, report.run_id[:17])
    assert detail.run.status == "failed"
    assert detail.run.rc == 2
    assert detail.run.host_limit == "gw-vpn-01,gw-rd-01"
    assert [h.host for h in detail.hosts] == ["gw-rd-01", "gw-vpn-01"]
    assert [r.id for r in runs.list_runs(settings, SLUG, 10)] == [report.run_id]


def test_run_playbook_rotates_run_dirs(
    tmp_path: Path, inventory: Inventory, fake_ansible: FakeAnsibleRunner
) -> None:
    settings = Settings(
        inventory_dir=tmp_path / "inventory",
        state_dir=tmp_path / "state",
        config_dir=tmp_path / "config",
        keep_runs=2,
    )
    fake_ansible.events = [stats(**{"gw-vpn-01": {"ok": 1}})]

    for _ in range(3):
        runs.run_playbook(settings, _request(), inventory)

    assert len(list((settings.state_dir / "runs" / SLUG).iterdir())) == 2
    assert len(runs.list_runs(settings, SLUG, 10)) == 3
    assert len(fake_ansible.calls) == 3


def test_busy_comune_refuses_before_running(
    settings: Settings, inventory: Inventory, fake_ansible: FakeAnsibleRunner
) -> None:
    with History(settings.state).lock(SLUG), pytest.raises(BusyError, match="is busy"):
        runs.run_playbook(settings, _request(), inventory)

    assert fake_ansible.calls == []
    assert runs.list_runs(settings, None, 10) == []


def test_bad_limit_writes_nothing(
    settings: Settings, inventory: Inventory, fake_ansible: FakeAnsibleRunner
) -> None:
    with pytest.raises(InputError, match="did you mean gw-vpn-01"):
        runs.run_playbook(settings, _request(limit="gw-vpn-1"), inventory)

    assert not settings.state_dir.exists()
    assert fake_ansible.calls == []


def test_missing_playbook_writes_nothing(
    tmp_path: Path, inventory: Inventory, fake_ansible: FakeAnsibleRunner
) -> None:
    settings = Settings(content_dir=tmp_path / "content", state_dir=tmp_path / "state")

    with pytest.raises(InputError, match=r"enable_remote_work\.yml: playbook not found"):
        runs.run_playbook(settings, _request(), inventory)

    assert not settings.state_dir.exists()
    assert fake_ansible.calls == []


def test_vault_files_without_password_write_nothing(
    settings: Settings, comune: ComuneFiles, fake_ansible: FakeAnsibleRunner
) -> None:
    (comune.settings_file.parent / "vault.yml").write_text(VAULT_DOCUMENT, encoding="utf-8")
    inventory = load(settings, SLUG)

    with pytest.raises(InputError) as info:
        runs.run_playbook(settings, _request(), inventory)

    assert str(info.value).startswith(
        f"inventory/{SLUG}/group_vars/all/vault.yml: is vault-encrypted but no vault password"
    )
    assert not settings.state_dir.exists()
    assert fake_ansible.calls == []


def test_vault_password_from_environment_reaches_the_prompt_only(
    settings: Settings,
    comune: ComuneFiles,
    fake_ansible: FakeAnsibleRunner,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    (comune.settings_file.parent / "vault.yml").write_text(VAULT_DOCUMENT, encoding="utf-8")
    monkeypatch.setenv("PROVISIONER_VAULT_PASSWORD", SECRET)

    report = runs.run_playbook(settings, _request(), load(settings, SLUG))

    kwargs = fake_ansible.kwargs
    assert kwargs["passwords"] == {VAULT_PROMPT: SECRET}
    assert kwargs["cmdline"] == "--ask-vault-pass"
    assert SECRET not in (report.run_dir / "summary.json").read_text(encoding="utf-8")


def test_runner_failure_closes_the_run_as_error(
    settings: Settings, inventory: Inventory, fake_ansible: FakeAnsibleRunner
) -> None:
    fake_ansible.raises = RuntimeError("The private_data_dir is not writable")

    with pytest.raises(AnsibleError):
        runs.run_playbook(settings, _request(), inventory)

    [record] = runs.list_runs(settings, SLUG, 10)
    assert record.status == "error"
    assert record.error == "ansible-runner could not start: The private_data_dir is not writable"
    with History(settings.state).lock(SLUG):  # the lock was released
        pass


def test_interrupt_closes_the_run_as_interrupted(
    settings: Settings, inventory: Inventory, fake_ansible: FakeAnsibleRunner
) -> None:
    fake_ansible.raises = KeyboardInterrupt()

    with pytest.raises(KeyboardInterrupt):
        runs.run_playbook(settings, _request(), inventory)

    [record] = runs.list_runs(settings, SLUG, 10)
    assert record.status == "interrupted"
    assert record.error == "interrupted"


def test_show_run_unknown_id(settings: Settings) -> None:
    with pytest.raises(InputError, match="no such run"):
        runs.show_run(settings, "20990101")


def test_executor_uses_the_settings_paths(settings: Settings) -> None:
    executor = runs.executor(settings)

    assert executor.playbooks_dir == settings.playbooks_dir  # type: ignore[attr-defined]
    assert executor.ansible_cfg == settings.ansible_cfg  # type: ignore[attr-defined]


def test_executor_is_accelerated_by_default_with_a_fact_cache_per_comune(
    settings: Settings,
) -> None:
    executor = runs.executor(settings)

    assert executor.accel == "mitogen"  # type: ignore[attr-defined]
    assert executor.fact_cache_dir == settings.state_dir / "facts"  # type: ignore[attr-defined]


def test_accel_false_in_settings_gives_plain_ansible(settings: Settings) -> None:
    plain = settings.model_copy(update={"accel": False})

    executor = runs.executor(plain)

    assert executor.accel == "plain"  # type: ignore[attr-defined]
    assert executor.base_strategy == "ansible.builtin.linear"  # type: ignore[attr-defined]
    assert runs.acceleration(plain).warning == ""


def test_a_playbook_that_stopped_early_leaves_its_later_plays_unchecked(
    settings: Settings, inventory: Inventory, fake_ansible: FakeAnsibleRunner
) -> None:
    fake_ansible.status, fake_ansible.rc = "failed", 2
    fake_ansible.events = [
        play_start("Baseline on every managed host"),
        play_start("WireGuard on the endpoints, keys created on each endpoint"),
        stats(**{"gw-vpn-01": {"ok": 3}}),
    ]

    report = runs.run_playbook(settings, _request(inventory=settings.comune_dir(SLUG)), inventory)

    assert "Meeting software on the endpoints, then proof that the platform answers" in (
        report.plays_not_run
    )
    assert (
        "Meeting platform, one video room per comune, then proof that Janus answers for each"
        in report.plays_not_run
    )
    assert "Baseline on every managed host" not in report.plays_not_run
    assert report.exit_code == ExitCode.HOSTS_FAILED
    summary = json.loads((report.run_dir / "summary.json").read_text())
    assert summary["exit_code"] == 3 and len(summary["plays_not_run"]) == 8


def test_a_failure_a_task_ignores_for_ansible_still_fails_its_host(
    settings: Settings, inventory: Inventory, fake_ansible: FakeAnsibleRunner
) -> None:
    fake_ansible.events = [
        task_start("Converge the device", "netgear"),
        on_failed(
            "sw-core-01",
            "Converge the device",
            "sw-core-01 at 192.168.10.2:22: authentication failed",
            "netgear",
            ignore_errors=True,
            provisioner_counts_as_failed=True,
        ),
        on_failed("gw-vpn-01", "Optional probe", "not there", ignore_errors=True),
        stats(**{"sw-core-01": {"ok": 1, "ignored": 1}, "gw-vpn-01": {"ok": 5, "ignored": 1}}),
    ]

    report = runs.run_playbook(settings, _request(inventory=settings.comune_dir(SLUG)), inventory)

    states = {h.host: (h.state, h.failed, h.ignored) for h in report.outcome.hosts}
    assert states["sw-core-01"] == (HostState.FAILED, 1, 0)
    assert states["gw-vpn-01"] == (HostState.OK, 0, 1)
    assert [t.task for t in report.outcome.failed_tasks] == ["Converge the device"]
    assert report.exit_code == ExitCode.HOSTS_FAILED


# --- a full disk, a damaged history, who ran it ---------------------------------------------------


def test_a_full_disk_when_recording_a_converged_run_keeps_its_status_and_says_so(
    settings: Settings,
    inventory: Inventory,
    fake_ansible: FakeAnsibleRunner,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import errno  # noqa: PLC0415
    import sqlite3  # noqa: PLC0415

    fake_ansible.events = [stats(**{"gw-vpn-01": {"ok": 3, "changed": 1}})]

    def full(*_args: object, **_kwargs: object) -> None:
        raise sqlite3.OperationalError("database or disk is full")

    def no_space(*_args: object, **_kwargs: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(History, "_insert_details", full)
    monkeypatch.setattr(runs, "atomic_write", no_space)

    report = runs.run_playbook(settings, _request(), inventory)

    assert report.exit_code == ExitCode.OK
    assert any("not recorded (database or disk is full)" in note for note in report.notes)
    assert any("summary.json: not written (No space left on device)" in n for n in report.notes)
    [record] = runs.list_runs(settings, SLUG, 5)
    assert record.status == RunStatus.SUCCESSFUL and record.finished is not None
    assert "not recorded" in record.error
    # the next run does not find it "running" and call it interrupted
    monkeypatch.undo()
    runs.run_playbook(settings, _request(), inventory)
    assert runs.show_run(settings, record.id).run.status == RunStatus.SUCCESSFUL


def test_a_damaged_history_is_a_clear_error_naming_the_file_and_the_way_out(
    settings: Settings, inventory: Inventory, fake_ansible: FakeAnsibleRunner
) -> None:
    from provisioner.errors import StateError  # noqa: PLC0415

    settings.state.history_db.parent.mkdir(parents=True)
    settings.state.history_db.write_bytes(b"this is not a database" * 100)

    with pytest.raises(StateError) as info:
        runs.run_playbook(settings, _request(), inventory)

    message = str(info.value)
    assert message.startswith(f"{settings.state.history_db}: the run history is damaged")
    assert f"mv {settings.state.history_db} " in message
    assert info.value.exit_code == ExitCode.ERROR
    with pytest.raises(StateError, match="damaged"):
        runs.list_runs(settings, None, 5)
    assert fake_ansible.calls == []


def test_each_run_records_who_started_it_from_where_and_the_redacted_command(
    settings: Settings,
    inventory: Inventory,
    fake_ansible: FakeAnsibleRunner,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import sys  # noqa: PLC0415

    from provisioner.core import invocation  # noqa: PLC0415

    monkeypatch.setenv("SSH_CLIENT", "192.0.2.7 50022 22")
    monkeypatch.setattr(
        sys,
        "argv",
        ["/opt/venv/bin/provisioner", "enable", SLUG, "--report-dir", "https://u:pw@x.it/r"],
    )
    fake_ansible.events = [stats(**{"gw-vpn-01": {"ok": 3}})]

    report = runs.run_playbook(settings, _request(), inventory)

    who = runs.show_run(settings, report.run_id).run.invocation
    assert who is not None
    assert who.user == invocation.os_user() and who.user
    assert who.origin == "ssh from 192.0.2.7"
    assert who.command == f"provisioner enable {SLUG} --report-dir https://<redacted>@x.it/r"
    assert who.console_user is None
    assert str(who).endswith(", ssh from 192.0.2.7")


def test_origin_names_the_terminal_or_systemd() -> None:
    from provisioner.core.invocation import origin  # noqa: PLC0415

    assert origin({}, tty="/dev/pts/3") == "tty /dev/pts/3"
    assert origin({"INVOCATION_ID": "abc"}, tty="") == "systemd"
    assert origin({}, tty="") == "no terminal"


# --- an executor that runs on other machines (the job queue) -----------------------------------


class _Spanning:
    """An executor on other machines: it holds comuni there, its outcome is the test's."""

    accel = "plain"

    def __init__(self, *statuses: RunStatus, busy: bool = False) -> None:
        self.statuses = list(statuses) or [RunStatus.SUCCESSFUL]
        self.busy = busy
        self.held: list[str] = []
        self.runs: list[PlaybookRequest] = []

    @contextlib.contextmanager
    def hold(self, comune: str) -> Iterator[None]:
        if self.busy:
            raise BusyError(f"comune {comune!r} is busy: a queued run holds its lock (elsewhere)")
        self.held.append(comune)
        try:
            yield
        finally:
            self.held.remove(comune)

    def run(
        self,
        request: PlaybookRequest,
        run_dir: Path,
        *,
        vault_password: str | None,
        on_event: object = None,
        cancel: object = None,
    ) -> RunOutcome:
        assert self.held == [request.comune]  # held on the other machines for the whole run
        self.runs.append(request)
        status = self.statuses.pop(0)
        hosts = () if status == RunStatus.INTERRUPTED else (HostResult("gw-vpn-01", ok=2),)
        return RunOutcome(status, 0, hosts, (), 1.0, 2.0, worker="w1")


def test_an_executor_on_other_machines_holds_the_comune_there_for_the_run(
    settings: Settings, inventory: Inventory
) -> None:
    spanning = _Spanning()
    report = runs.run_playbook(settings, _request(), inventory, runner=spanning)

    assert len(spanning.runs) == 1 and spanning.held == []
    assert report.outcome.worker == "w1"
    summary = json.loads((report.run_dir / "summary.json").read_text(encoding="utf-8"))
    assert summary["worker"] == "w1"


def test_a_comune_held_on_another_machine_refuses_before_anything_is_recorded(
    settings: Settings, inventory: Inventory
) -> None:
    spanning = _Spanning(busy=True)
    with pytest.raises(BusyError, match="a queued run holds its lock"):
        runs.run_playbook(settings, _request(), inventory, runner=spanning)

    assert spanning.runs == []
    assert runs.list_runs(settings, None, 10) == []


def test_a_run_its_executor_lost_is_recorded_interrupted_and_an_enable_is_not_run_again(
    settings: Settings, inventory: Inventory
) -> None:
    spanning = _Spanning(RunStatus.INTERRUPTED)
    report = runs.run_playbook(settings, _request(), inventory, runner=spanning)

    assert len(spanning.runs) == 1
    assert [r.status for r in runs.list_runs(settings, SLUG, 10)] == ["interrupted"]
    assert report.exit_code == ExitCode.ANSIBLE_ERROR
    (note,) = [n for n in report.notes if "not run again by itself" in n]
    assert "'provisioner enable castelnuovo --check'" in note


def test_fan_out_is_two_here_and_two_per_worker_with_the_queue(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert runs.fan_out(settings, None) == 2
    assert runs.fan_out(settings, 7) == 7
    queued = settings.model_copy(update={"executor": "queue"})
    monkeypatch.setattr(queue, "connect", lambda s: object())
    monkeypatch.setattr(queue, "live_workers", lambda s, r: 3)
    assert runs.fan_out(queued, None) == 6
    monkeypatch.setattr(queue, "live_workers", lambda s, r: 0)
    with pytest.raises(ControllerError, match="no `provisioner worker` listens"):
        runs.fan_out(queued, None)


def test_the_queue_executor_with_redis_unreachable_is_exit_8_before_anything_is_written(
    settings: Settings, inventory: Inventory
) -> None:
    queued = settings.model_copy(update={"executor": "queue", "redis_url": "redis://127.0.0.1:1/0"})
    with pytest.raises(ControllerError, match="cannot be used") as caught:
        runs.run_playbook(queued, _request(), inventory)

    assert caught.value.exit_code == ExitCode.ENVIRONMENT
    assert not settings.state_dir.exists()
