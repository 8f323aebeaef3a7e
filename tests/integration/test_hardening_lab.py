"""Hardening on the real lab: no secret in any file or command line, host keys checked, Ctrl-C.

Runs on the converged lab (fixture `converged_lab`) and leaves it converged. The canary test
reuses that state: a plain-Ansible enable of the roles that handle secrets (baseline's admin
password, the RDP probe's password), a comply that notifies a webhook answering 500, a key
rotation and a run killed with SIGKILL; meanwhile a thread reads every process's command line
every 50 ms.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
import yaml

from provisioner.adapters import vault
from tests.integration.conftest import LabEnv, host_states

# One xdist group: the lab tests share one lab and run on one worker, in conftest.MODULE_ORDER.
pytestmark = [pytest.mark.lab, pytest.mark.xdist_group("lab")]

_RUN_ID = re.compile(r"(?:^|: )run (\d{8}-\d{6}-[0-9a-f]+)\b", re.MULTILINE)
TOKEN = "canary-hook-token-5e1f07"
HOOK_SECRET = "canary-hook-secret-9a2d"


def _summary(lab: LabEnv, output: str) -> dict[str, Any]:
    match = _RUN_ID.search(output)
    assert match, output
    path = lab.state_dir / "runs" / "lab" / match[1] / "summary.json"
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


# --- what watches --------------------------------------------------------------------------------


@dataclass
class CommandLines:
    """Every distinct command line of every process, sampled every ``interval`` seconds."""

    interval: float = 0.05
    seen: set[str] = field(default_factory=set)
    samples: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def _sample(self) -> None:
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            try:
                raw = Path(f"/proc/{entry.name}/cmdline").read_bytes()
            except OSError:
                continue  # gone meanwhile
            if raw:
                self.seen.add(raw.replace(b"\0", b" ").decode(errors="replace").strip())
        self.samples += 1

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._sample()
            self._stop.wait(self.interval)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def containing(self, text: str) -> list[str]:
        return sorted(line for line in self.seen if text in line)


@pytest.fixture
def command_lines() -> Iterator[CommandLines]:
    watcher = CommandLines()
    watcher.start()
    yield watcher
    watcher.stop()


class _Hook(BaseHTTPRequestHandler):
    """A chat service that is down: every POST gets 500."""

    posts: ClassVar[list[dict[str, str]]] = []

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        _Hook.posts.append(dict(self.headers))
        self.send_response(500)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def hook() -> Iterator[str]:
    _Hook.posts = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/services/{TOKEN}?token={TOKEN}"
    server.shutdown()
    server.server_close()


def _private_key(lab: LabEnv, laptop: str) -> str:
    key = lab.podman("exec", f"prov-lab-{laptop}", "cat", "/etc/wireguard/wg0.key").stdout.strip()
    assert key, laptop
    return key


def _kill_orphans(lab: LabEnv) -> None:
    """End the ansible-playbook a SIGKILLed CLI leaves behind (found by its run directory)."""
    marker = str(lab.state_dir / "runs").encode()
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            environ = Path(f"/proc/{entry.name}/environ").read_bytes()
        except OSError:
            continue
        if marker in environ:
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(entry.name), signal.SIGKILL)


def test_no_secret_in_the_state_dir_or_any_command_line(
    converged_lab: LabEnv, command_lines: CommandLines, hook: str
) -> None:
    lab = converged_lab
    timings: dict[str, float] = {}
    vault_password = (lab.config_dir / "provisioner" / "vault-password").read_text().strip()
    netgear_vault = lab.inventory_dir / "lab" / "group_vars" / "network_devices" / "vault.yml"
    device_password = yaml.safe_load(
        vault.decrypt(netgear_vault.read_text(encoding="utf-8"), vault_password) or ""
    )["vault_netgear_password"]
    probe = lab.podman("exec", "prov-lab-lab-desk-01", "cat", "/root/.provisioner-rdp-readiness")
    rdp_password = probe.stdout.strip()
    keys = [_private_key(lab, laptop) for laptop in ("laptop-01", "laptop-02")]
    (lab.config_dir / "provisioner" / "config.toml").write_text(
        "notify_webhook_retries = 1\nnotify_webhook_backoff = 0.2\nnotify_webhook_timeout = 5\n",
        encoding="utf-8",
    )
    notify = {
        "PROVISIONER_NOTIFY_WEBHOOK_URL": hook,
        "PROVISIONER_NOTIFY_WEBHOOK_SECRET": HOOK_SECRET,
    }
    try:
        # Plain Ansible (the RDP probe's password reached ssh's and sh's command lines there),
        # the roles that carry secrets: the admin password, the probe's password.
        started = time.monotonic()
        enabled = lab.run("enable", "lab", "--no-accel", "--tags", "baseline,rdp", env=notify)
        timings["enable --no-accel --tags baseline,rdp"] = time.monotonic() - started
        assert enabled.returncode == 0, enabled.stdout + enabled.stderr
        assert "rdp: ok" in enabled.stdout

        # Drift, so that comply notifies the webhook (which answers 500, then is retried).
        stopped = lab.podman("exec", "prov-lab-laptop-02", "systemctl", "stop", "apt-daily.timer")
        assert stopped.returncode == 0
        started = time.monotonic()
        complied = lab.run("comply", "lab", env=notify)
        timings["comply"] = time.monotonic() - started
        assert complied.returncode == 7, complied.stdout + complied.stderr
        assert len(_Hook.posts) == 2  # first attempt and one retry
        assert all(p.get("X-Provisioner-Signature", "").startswith("sha256=") for p in _Hook.posts)

        started = time.monotonic()
        rotated = lab.run("reprovision", "laptop-01", "--rotate-keys", env=notify)
        timings["reprovision --rotate-keys"] = time.monotonic() - started
        assert rotated.returncode == 0, rotated.stdout + rotated.stderr
        keys.append(_private_key(lab, "laptop-01"))
        assert keys[-1] != keys[0]

        # SIGKILL mid-play: whatever the run had written stays as it is.
        started = time.monotonic()
        killed = lab.popen("enable", "lab", "--tags", "baseline", env=notify)
        assert killed.stdout is not None
        tasks = 0
        for line in killed.stdout:
            tasks += " TASK " in line
            if tasks == 6:
                killed.send_signal(signal.SIGKILL)
                break
        killed.wait(timeout=60)
        _kill_orphans(lab)
        timings["enable killed after 6 tasks"] = time.monotonic() - started
        assert killed.returncode == -signal.SIGKILL
    finally:
        (lab.config_dir / "provisioner" / "config.toml").unlink(missing_ok=True)
        lab.podman("exec", "prov-lab-laptop-02", "systemctl", "start", "apt-daily.timer")

    canaries = {
        "vault password": vault_password,
        "admin password": lab.admin_password,
        "device password": device_password,
        "RDP probe password": rdp_password,
        "webhook token": TOKEN,
        "webhook secret": HOOK_SECRET,
        **{f"WireGuard private key {i}": key for i, key in enumerate(keys)},
    }
    assert all(len(value) >= 12 for value in canaries.values()), canaries.keys()
    command_lines.stop()  # before grep, whose own command line names every canary
    hits = subprocess.run(
        [
            "grep",
            "-rlF",
            *[f"-e{c}" for c in canaries.values()],
            str(lab.state_dir),
            str(lab.inventory_dir),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert hits.returncode == 1, f"secrets found in: {hits.stdout}"
    leaks = {name: command_lines.containing(value) for name, value in canaries.items()}
    assert {name: lines for name, lines in leaks.items() if lines} == {}
    # the runs really happened under the watcher: ssh to the hosts, the RDP client on a laptop
    assert command_lines.containing("ssh ") and command_lines.containing(
        "xfreerdp3 /args-from:stdin"
    )
    print(f"\ncommand-line samples: {command_lines.samples}, distinct: {len(command_lines.seen)}")
    print("timings: " + ", ".join(f"{k} {v:.0f}s" for k, v in timings.items()))


def _renew_host_keys(lab: LabEnv, host: str) -> None:
    """New host keys on a lab host, sshd restarted, every open SSH session (and with it any
    ControlMaster connection of an earlier run) ended."""
    script = (
        "rm -f /etc/ssh/ssh_host_* && ssh-keygen -A >/dev/null && systemctl restart ssh && "
        "(pkill -KILL -x sshd-session || true)"
    )
    done = lab.podman("exec", f"prov-lab-{host}", "sh", "-c", script)
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("mode", ["--no-accel", "mitogen"])
def test_a_host_whose_key_changed_is_refused(converged_lab: LabEnv, mode: str) -> None:
    lab = converged_lab
    _renew_host_keys(lab, "lab-rd-gw")
    try:
        args = ["enable", "lab", "--limit", "lab-rd-gw", "--tags", "baseline"]
        result = lab.run(*args, *([mode] if mode.startswith("--") else []))

        assert result.returncode == 4, result.stdout + result.stderr
        summary = _summary(lab, result.stdout)
        assert host_states(summary)["lab-rd-gw"]["state"] == "unreachable"
        [task] = [t for t in summary["tasks"] if t["host"] == "lab-rd-gw"]
        assert task["outcome"] == "unreachable"
        assert "host key" in task["message"].lower(), task["message"]
        if mode == "--no-accel":
            assert "REMOTE HOST IDENTIFICATION HAS CHANGED" in task["message"]
    finally:
        # The lab's known_hosts learns the new keys again (`lab up` records each host's keys).
        up = lab.run("lab", "up")
        assert up.returncode == 0, up.stdout + up.stderr
    again = lab.run("enable", "lab", "--limit", "lab-rd-gw", "--tags", "baseline", "--check")
    assert again.returncode == 0, again.stdout + again.stderr


def test_first_ctrl_c_finishes_the_running_task_and_starts_no_other(
    converged_lab: LabEnv,
) -> None:
    lab = converged_lab
    proc = lab.popen("enable", "lab", "--tags", "baseline")
    assert proc.stdout is not None
    before: list[str] = []
    for line in proc.stdout:
        before.append(line)
        if " TASK baseline" in line and sum(" TASK " in seen for seen in before) >= 4:
            proc.send_signal(signal.SIGINT)
            break
    pressed = time.monotonic()
    after = proc.stdout.read()
    rc = proc.wait(timeout=300)
    output = "".join(before) + after

    assert rc == 130, output
    assert "status canceled" in output
    summary = _summary(lab, output)
    assert summary["status"] == "canceled"
    note = summary["error"]
    # The collector's account, from Ansible's own events: the task that was running when the
    # strategy saw the request finished on every host that had started it, and no task (but
    # the handlers it notified) started afterwards.
    assert re.fullmatch(
        r"canceled with Ctrl-C between tasks: the running task '.+' finished on \d+ host\(s\); "
        r"no task started after it",
        note,
    ), note
    # every host stayed reachable and nothing failed: the task was finished, not cut
    assert all(h["failed"] == 0 and h["unreachable"] == 0 for h in summary["hosts"]), summary
    shown = lab.run("runs", "show", summary["run_id"])
    assert "status canceled" in shown.stdout
    print(f"\nCtrl-C to exit: {time.monotonic() - pressed:.1f}s")


def test_second_ctrl_c_aborts_at_once(converged_lab: LabEnv) -> None:
    lab = converged_lab
    proc = lab.popen("enable", "lab", "--tags", "baseline")
    assert proc.stdout is not None
    for line in proc.stdout:
        if " TASK baseline" in line:
            proc.send_signal(signal.SIGINT)
            time.sleep(0.5)
            proc.send_signal(signal.SIGINT)
            break
    pressed = time.monotonic()
    output = proc.stdout.read()
    rc = proc.wait(timeout=120)

    assert rc == 130, output
    assert time.monotonic() - pressed < 15
    assert "aborted with a second Ctrl-C" in _summary(lab, output)["error"]
    # the lock was released and the lab is as it was
    again = lab.run("enable", "lab", "--tags", "baseline", "--check")
    assert again.returncode == 0, again.stdout + again.stderr
