"""Use case comply: drift per host/role/task, history, reports, parallel comuni, remediation."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import jsonschema
import pytest
import xmlschema

from provisioner.config import Settings
from provisioner.core import comply, reports
from provisioner.core.runs import history, list_runs
from provisioner.errors import ExitCode, InputError
from provisioner.models.comply import NO_ROLE, CellState
from provisioner.models.run import HostResult, PlaybookRequest, RunOutcome, RunStatus
from tests.unit.fakes import (
    SLUG,
    ComuneFiles,
    FakeAnsibleRunner,
    on_failed,
    on_ok,
    on_unreachable,
    play_start,
    stats,
    task_start,
)

JUNIT_XSD = Path(__file__).resolve().parents[3] / "data" / "junit.xsd"
SECRET = "s3cr3t-canary"
CONF_DIFF = {
    "before": "[Interface]\nListenPort = 51820\n",
    "after": "[Interface]\nListenPort = 51821\n",
    "before_header": "/etc/wireguard/wg0.conf",
    "after_header": "/etc/wireguard/wg0.conf",
}


def handler(host: str, task: str, role: str) -> dict[str, Any]:
    """A handler that would run in check mode (its task lives under handlers/)."""
    ev = on_ok(host, task, role, "ansible.builtin.systemd_service", changed=True)
    ev["event_data"]["task_path"] = f"/roles/{role}/handlers/main.yml:18"
    return ev


def drift_events() -> list[dict[str, Any]]:
    """A check run: a file drift, a secret drift, a compliant role, a play task, a handler."""
    return [
        play_start(),
        task_start("Configure the tunnel", "vpn_gateway"),
        on_ok("gw-vpn-01", "Configure the tunnel", "vpn_gateway", changed=True, diff=[CONF_DIFF]),
        on_ok("gw-vpn-01", "Create the admin", "baseline", "ansible.builtin.user"),
        on_ok(
            "pc-anagrafe-01",
            "Set the admin password",
            "baseline",
            "ansible.builtin.user",
            changed=True,
            censored="the output has been hidden due to the fact that 'no_log: true' was specified",
            diff={"before": "x", "after": SECRET},
        ),
        on_ok(
            "pc-anagrafe-01",
            "Write the key file",
            "baseline",
            "ansible.builtin.copy",
            changed=True,
            diff={"before": "", "after": f"password = {SECRET}\n"},
        ),
        on_ok("pc-tributi-01", "Say hello", "", "ansible.builtin.debug"),
        handler("gw-vpn-01", "Reload the WireGuard tunnel", "vpn_gateway"),
        stats(
            **{
                "gw-vpn-01": {"ok": 2, "changed": 1},
                "pc-anagrafe-01": {"ok": 2, "changed": 2},
                "pc-tributi-01": {"ok": 1},
            }
        ),
    ]


def test_drift_is_recorded_per_host_role_task_with_secrets_redacted(
    settings: Settings, comune: ComuneFiles, fake_ansible: FakeAnsibleRunner, tmp_path: Path
) -> None:
    fake_ansible.events = drift_events()

    run = comply.comply(settings, [SLUG], report_dir=tmp_path / "reports")

    assert fake_ansible.kwargs["cmdline"] == "--check --diff"
    (result,) = run.results
    assert run.exit_code == result.exit_code == ExitCode.DRIFT
    assert [(d.host, d.role, d.task, d.redacted) for d in result.drift] == [
        ("gw-vpn-01", "vpn_gateway", "Configure the tunnel", False),
        ("pc-anagrafe-01", "baseline", "Set the admin password", True),
        ("pc-anagrafe-01", "baseline", "Write the key file", False),
    ]
    assert "+ListenPort = 51821" in result.drift[0].diff
    assert result.drift[1].diff == ""
    assert result.drift[2].diff.endswith("+password = <redacted>")
    assert result.drifted_hosts == ["gw-vpn-01", "pc-anagrafe-01"]
    # history keeps exactly what the run found, and nothing secret
    view = comply.latest_drift(settings, SLUG)
    assert view.run.use_case == "comply" and view.run.check_mode
    assert view.drift == list(result.drift)
    records = list_runs(settings, SLUG, 10)
    assert records[0].drift == 3
    summary = json.loads((result.report.run_dir / "summary.json").read_text())  # type: ignore[union-attr]
    assert (summary["exit_code"], summary["drift"]) == (int(ExitCode.DRIFT), 3)
    assert SECRET not in (settings.state_dir / "history.sqlite3").read_bytes().decode(
        errors="replace"
    )
    for path in (result.files.html, result.files.json, result.files.junit):  # type: ignore[union-attr]
        assert SECRET not in path.read_text(encoding="utf-8")


def test_a_loop_without_diff_says_which_items_would_change(
    settings: Settings, comune: ComuneFiles, fake_ansible: FakeAnsibleRunner, tmp_path: Path
) -> None:
    fake_ansible.events = [
        on_ok(
            "laptop-01",
            "Enable the APT timers",
            "baseline",
            "ansible.builtin.systemd_service",
            changed=True,
            msg="All items completed",
            results=[
                {"item": "apt-daily.timer", "changed": True, "state": "started"},
                {"item": "apt-daily-upgrade.timer", "changed": False, "state": "started"},
            ],
        ),
        stats(**{"laptop-01": {"ok": 1, "changed": 1}}),
    ]

    (result,) = comply.comply(settings, [SLUG], report_dir=tmp_path).results

    assert [d.message for d in result.drift] == ["changed: apt-daily.timer (state: started)"]


def test_grid_has_every_role_that_ran_per_host(
    settings: Settings, comune: ComuneFiles, fake_ansible: FakeAnsibleRunner, tmp_path: Path
) -> None:
    fake_ansible.events = drift_events()

    (result,) = comply.comply(settings, [SLUG], report_dir=tmp_path).results

    assert [(c.host, c.role, c.state, c.drift) for c in result.cells] == [
        ("gw-vpn-01", "baseline", CellState.COMPLIANT, 0),
        ("gw-vpn-01", "vpn_gateway", CellState.DRIFT, 1),
        ("pc-anagrafe-01", "baseline", CellState.DRIFT, 2),
        ("pc-tributi-01", NO_ROLE, CellState.COMPLIANT, 0),
    ]


def test_reports_validate_against_their_schemas(
    settings: Settings, comune: ComuneFiles, fake_ansible: FakeAnsibleRunner, tmp_path: Path
) -> None:
    fake_ansible.events = [
        *drift_events()[:-1],
        on_failed("gw-rd-01", "Enable xrdp", "Could not find xrdp", "rd_gateway"),
        on_unreachable("laptop-sindaco", "Gather the minimal facts", "ssh: timeout", "baseline"),
        stats(
            **{
                "gw-vpn-01": {"ok": 2, "changed": 1},
                "pc-anagrafe-01": {"ok": 2, "changed": 2},
                "pc-tributi-01": {"ok": 1},
                "gw-rd-01": {"failures": 1},
                "laptop-sindaco": {"dark": 1},
            }
        ),
    ]

    (result,) = comply.comply(settings, [SLUG], report_dir=tmp_path / "r").results

    assert result.exit_code == ExitCode.HOSTS_FAILED
    files = result.files
    assert files is not None
    assert files.directory == tmp_path / "r" / SLUG / result.report.run_id  # type: ignore[union-attr]
    doc = json.loads(files.json.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator(reports.schema()).validate(doc)
    assert doc["totals"] == {
        "hosts": 5,
        "drift": 3,
        "changed": 4,
        "failed": 1,
        "unreachable": 1,
        "offline": 0,
        "not_ready": 0,
    }
    hosts = {h["host"]: h for h in doc["hosts"]}
    assert hosts["gw-rd-01"]["roles"] == {
        "rd_gateway": {"state": "failed", "drift": 0, "failed": 1}
    }
    assert hosts["laptop-sindaco"]["roles"]["baseline"]["state"] == "unreachable"
    xmlschema.XMLSchema(JUNIT_XSD).validate(files.junit)
    junit = files.junit.read_text(encoding="utf-8")
    assert junit.count("<testcase ") == 6
    assert 'name="vpn_gateway" classname="castelnuovo.gw-vpn-01"' in junit
    assert junit.count('type="drift"') == 2 and junit.count('type="failed"') == 1
    assert junit.count('type="unreachable"') == 1
    page = files.html.read_text(encoding="utf-8")
    assert 'id="grid"' in page and page.count('class="drift-row"') == 3
    # self-contained: nothing fetched from anywhere
    assert "http" not in page.replace("http-equiv", "") and "<link" not in page
    assert "<script" not in page


def test_html_escapes_what_comes_from_hosts(
    settings: Settings, comune: ComuneFiles, fake_ansible: FakeAnsibleRunner, tmp_path: Path
) -> None:
    fake_ansible.events = [
        on_ok("gw-vpn-01", "<script>alert(1)</script>", "baseline", changed=True),
        stats(**{"gw-vpn-01": {"ok": 1, "changed": 1}}),
    ]

    (result,) = comply.comply(settings, [SLUG], report_dir=tmp_path).results

    page = result.files.html.read_text(encoding="utf-8")  # type: ignore[union-attr]
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_converged_comune_has_no_drift_and_exit_0(
    settings: Settings, comune: ComuneFiles, fake_ansible: FakeAnsibleRunner, tmp_path: Path
) -> None:
    fake_ansible.events = [on_ok("gw-vpn-01", "Configure", "vpn_gateway"), stats(gw={"ok": 1})]

    run = comply.comply(settings, [SLUG], report_dir=tmp_path)

    assert run.exit_code == ExitCode.OK and run.results[0].drift == ()
    assert run.index is None


def test_one_broken_comune_never_stops_the_others(
    settings: Settings,
    make_comune: Callable[..., ComuneFiles],
    fake_ansible: FakeAnsibleRunner,
    tmp_path: Path,
) -> None:
    make_comune("alpha")
    make_comune("beta", settings={"comune_vpn_pool": "10.78.0.0/24", "comune_meeting_url": "x"})
    make_comune("gamma", settings={"comune_vpn_pool": "10.79.0.0/24"})
    fake_ansible.events = drift_events()

    run = comply.comply(settings, [], all_comuni=True, parallel=2, report_dir=tmp_path)

    by_name = {r.comune: r for r in run.results}
    assert list(by_name) == ["alpha", "beta", "gamma"]
    assert by_name["beta"].exit_code == ExitCode.BAD_INPUT
    assert "comune_meeting_url" in by_name["beta"].error
    assert by_name["alpha"].exit_code == by_name["gamma"].exit_code == ExitCode.DRIFT
    assert len(fake_ansible.calls) == 2
    assert run.exit_code == ExitCode.BAD_INPUT
    assert run.index == tmp_path / "index.html"
    index = run.index.read_text(encoding="utf-8")
    assert "alpha/" in index and "gamma/" in index and "comune_meeting_url" in index


def test_remediate_converges_only_the_drifted_hosts(
    settings: Settings, comune: ComuneFiles, fake_ansible: FakeAnsibleRunner, tmp_path: Path
) -> None:
    fake_ansible.events = drift_events()

    (result,) = comply.comply(settings, [SLUG], remediate=True, report_dir=tmp_path).results

    check, apply = fake_ansible.calls
    assert check["cmdline"] == "--check --diff" and "limit" not in check
    assert apply.get("cmdline") is None
    assert apply["limit"] == "gw-vpn-01,pc-anagrafe-01"
    assert result.remediation is not None and result.remediation.use_case == "remediate"
    assert result.exit_code == ExitCode.OK
    assert [r.use_case for r in list_runs(settings, SLUG, 5)] == ["remediate", "comply"]


def test_names_are_checked_before_anything_runs(
    settings: Settings, comune: ComuneFiles, fake_ansible: FakeAnsibleRunner
) -> None:
    with pytest.raises(InputError, match="no inventory for nowhere"):
        comply.comply(settings, [SLUG, "nowhere"])
    with pytest.raises(InputError, match="not both"):
        comply.comply(settings, [SLUG], all_comuni=True)
    with pytest.raises(InputError, match="at least one"):
        comply.comply(settings, [])
    assert fake_ansible.calls == []
    assert not settings.state_dir.exists()


def test_a_second_scheduled_run_is_skipped_while_the_first_holds_the_lock(
    settings: Settings, comune: ComuneFiles, fake_ansible: FakeAnsibleRunner
) -> None:
    with history(settings).lock(f"schedule-{SLUG}"):
        skipped = comply.comply(settings, [SLUG], skip_if_running=True)
        beside = comply.comply(settings, [SLUG])  # without the flag it runs beside it
    assert skipped.skipped == SLUG and skipped.results == ()
    assert skipped.exit_code == ExitCode.OK
    assert len(fake_ansible.calls) == 1 and beside.results[0].report is not None


# --- webhook against a real HTTP server on 127.0.0.1 -----------------------------------------


class _Hook(BaseHTTPRequestHandler):
    received: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        _Hook.received.append(json.loads(self.rfile.read(length)))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def hook_server() -> Iterator[str]:
    _Hook.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook"
    server.shutdown()
    server.server_close()


def test_webhook_gets_one_post_per_drifted_run(
    settings: Settings, comune: ComuneFiles, fake_ansible: FakeAnsibleRunner, hook_server: str
) -> None:
    hooked = settings.model_copy(update={"notify_webhook_url": hook_server})
    fake_ansible.events = drift_events()

    (result,) = comply.comply(hooked, [SLUG]).results

    assert len(_Hook.received) == 1
    body = _Hook.received[0]
    assert body["event"] == "provisioner.comply"
    assert body["comune"] == SLUG and body["run_id"] == result.report.run_id  # type: ignore[union-attr]
    assert body["exit_code"] == 7 and body["drift"] == 3
    assert body["drifted_hosts"] == ["gw-vpn-01", "pc-anagrafe-01"]
    assert body["report_html"].endswith("report.html")
    assert body["items"][0] == {
        "host": "gw-vpn-01",
        "role": "vpn_gateway",
        "task": "Configure the tunnel",
    }

    fake_ansible.events = [on_ok("gw-vpn-01", "Configure", "vpn_gateway"), stats(gw={"ok": 1})]
    comply.comply(hooked, [SLUG])
    assert len(_Hook.received) == 1  # no drift, no notice


def test_webhook_down_retries_then_warns_and_the_run_is_recorded(
    settings: Settings,
    comune: ComuneFiles,
    fake_ansible: FakeAnsibleRunner,
    caplog: pytest.LogCaptureFixture,
) -> None:
    import socket  # noqa: PLC0415

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    hooked = settings.model_copy(
        update={
            "notify_webhook_url": f"http://127.0.0.1:{port}/hook",
            "notify_webhook_retries": 2,
            "notify_webhook_backoff": 0.01,
            "notify_webhook_timeout": 1.0,
        }
    )
    fake_ansible.events = drift_events()

    with caplog.at_level(logging.INFO, logger="provisioner.adapters.notify"):
        (result,) = comply.comply(hooked, [SLUG]).results

    attempts = [r for r in caplog.records if r.levelno == logging.INFO]
    assert len(attempts) == 2
    warning = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warning) == 1 and "giving up after 3 attempts" in warning[0].getMessage()
    assert result.exit_code == ExitCode.DRIFT
    assert len(comply.latest_drift(hooked, SLUG).drift) == 3


def test_mail_server_down_is_a_warning_not_a_failure(
    settings: Settings,
    comune: ComuneFiles,
    fake_ansible: FakeAnsibleRunner,
    caplog: pytest.LogCaptureFixture,
) -> None:
    import socket  # noqa: PLC0415

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    mailing = settings.model_copy(
        update={
            "notify_email_to": ["ops@example.invalid"],
            "notify_smtp_host": "127.0.0.1",
            "notify_smtp_port": port,
            "notify_webhook_timeout": 1.0,
        }
    )
    fake_ansible.events = drift_events()

    with caplog.at_level(logging.WARNING, logger="provisioner.adapters.notify"):
        (result,) = comply.comply(mailing, [SLUG]).results

    assert result.exit_code == ExitCode.DRIFT
    assert [r.getMessage().split(" failed")[0] for r in caplog.records] == [
        f"mail via 127.0.0.1:{port}"
    ]


def test_a_webhook_retrying_with_back_off_never_holds_up_the_next_comune(
    settings: Settings,
    make_comune: Callable[..., ComuneFiles],
    fake_ansible: FakeAnsibleRunner,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import time  # noqa: PLC0415

    from provisioner.adapters import notify as transport  # noqa: PLC0415

    make_comune("alpha")
    make_comune("beta", settings={"comune_vpn_pool": "10.78.0.0/24"})
    fake_ansible.events = drift_events()
    started: list[float] = []
    fake_ansible.on_call = lambda _kwargs: started.append(time.monotonic())
    delivered: list[tuple[str, float, float]] = []

    def slow_post(url: str, payload: dict[str, Any], **_kw: Any) -> bool:
        begun = time.monotonic()
        time.sleep(1.5)  # a server answering 500 through three back-off retries
        delivered.append((payload["comune"], begun, time.monotonic()))
        return False

    monkeypatch.setattr(transport, "post_json", slow_post)
    hooked = settings.model_copy(update={"notify_webhook_url": "https://hooks.example.it/x"})

    run = comply.comply(hooked, ["alpha", "beta"], parallel=1)

    assert [r.exit_code for r in run.results] == [ExitCode.DRIFT, ExitCode.DRIFT]
    alpha_notice = next(d for d in delivered if d[0] == "alpha")
    # beta's run started while alpha's notification was still retrying
    assert started[1] < alpha_notice[2]
    # and comply returned only once every notification was done
    assert len(delivered) == 2


def test_one_comunes_unexpected_exception_never_stops_the_others(
    settings: Settings,
    make_comune: Callable[..., ComuneFiles],
    fake_ansible: FakeAnsibleRunner,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    make_comune("alpha")
    make_comune("beta", settings={"comune_vpn_pool": "10.78.0.0/24"})
    fake_ansible.events = drift_events()
    real_enable = comply.enable_core.enable

    def buggy_on_alpha(settings: Settings, comune: str, **kwargs: Any) -> Any:
        if comune == "alpha":
            raise KeyError(f"password={SECRET}")  # a bug, with a secret in its text
        return real_enable(settings, comune, **kwargs)

    monkeypatch.setattr(comply.enable_core, "enable", buggy_on_alpha)

    run = comply.comply(settings, ["alpha", "beta"], parallel=1)

    alpha, beta = run.results
    assert alpha.exit_code == ExitCode.ERROR
    assert alpha.error.startswith("unexpected error (KeyError: ")
    assert SECRET not in alpha.error
    log = Path(alpha.error.rsplit("details in ", 1)[1])
    assert log.parent == settings.state.logs and log.stat().st_mode & 0o777 == 0o600
    text = log.read_text(encoding="utf-8")
    assert "Traceback" in text and "comply alpha" in text and SECRET not in text
    assert beta.exit_code == ExitCode.DRIFT
    assert run.exit_code == ExitCode.ERROR


class _LosesRuns:
    """An executor whose first ``lost`` runs lose their worker (recorded interrupted)."""

    accel = "plain"

    def __init__(self, lost: int) -> None:
        self.lost = lost
        self.runs = 0

    def run(
        self,
        request: PlaybookRequest,
        run_dir: Path,
        *,
        vault_password: str | None,
        on_event: object = None,
        cancel: object = None,
    ) -> RunOutcome:
        self.runs += 1
        if self.runs <= self.lost:
            return RunOutcome(
                RunStatus.INTERRUPTED, -1, (), (), 1.0, 2.0, error="worker w1 stopped beating"
            )
        return RunOutcome(RunStatus.SUCCESSFUL, 0, (HostResult("gw-vpn-01", ok=3),), (), 1.0, 2.0)


def test_a_comply_run_whose_worker_was_lost_runs_once_more_and_history_has_both(
    settings: Settings, comune: ComuneFiles, tmp_path: Path
) -> None:
    executor = _LosesRuns(lost=1)

    (result,) = comply.comply(settings, [SLUG], report_dir=tmp_path, runner=executor).results

    assert executor.runs == 2
    assert result.exit_code == ExitCode.OK and result.report is not None
    recorded = {r.id: r.status for r in list_runs(settings, SLUG, 10)}
    assert recorded == {result.lost[0]: "interrupted", result.report.run_id: "successful"}


def test_a_comply_run_lost_twice_is_not_run_a_third_time(
    settings: Settings, comune: ComuneFiles, tmp_path: Path
) -> None:
    executor = _LosesRuns(lost=5)

    (result,) = comply.comply(settings, [SLUG], report_dir=tmp_path, runner=executor).results

    assert executor.runs == 2 and len(result.lost) == 1
    assert result.exit_code == ExitCode.ANSIBLE_ERROR
    assert [r.status for r in list_runs(settings, SLUG, 10)] == ["interrupted", "interrupted"]
