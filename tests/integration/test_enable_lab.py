"""`provisioner enable lab` against the real lab: converge, idempotence, check mode, lost hosts.

The first module of the lab session (conftest.MODULE_ORDER): its first test is the first enable
of the fresh lab, the converge `converged_lab` hands to every later module. It leaves the lab
converged (test_comply_lab's first test checks it: 0 drift).
"""

from __future__ import annotations

import re
import signal
import subprocess
import time

import pytest

from tests.integration.conftest import (
    LAB_HOSTS,
    LAB_READINESS,
    LabEnv,
    host_states,
    readiness,
    tcp_opens,
)

# One xdist group: the lab tests share one lab and run on one worker, in conftest.MODULE_ORDER.
pytestmark = [pytest.mark.lab, pytest.mark.xdist_group("lab")]

ADMIN_KEYS = "/home/provadmin/.ssh/authorized_keys"


def test_enable_converges_every_lab_host(lab: LabEnv) -> None:
    result = lab.run("enable", "lab", timeout=2400)
    assert result.returncode == 0, result.stdout + result.stderr
    states = host_states(lab.summary(result.stdout))
    assert set(states) == LAB_HOSTS
    for host, entry in states.items():
        assert entry["failed"] == 0 and entry["unreachable"] == 0, host
        assert entry["state"] in {"ok", "changed"}, host
    summary = lab.summary(result.stdout)
    assert readiness(summary) == LAB_READINESS
    assert "vpn: ok" in result.stdout
    assert "meeting: ok" in result.stdout and "rdp: ok" in result.stdout
    # one ready .rdp file per mapped user: the gateway's listener of that user, nothing else
    rdp_dir = lab.state_dir / "runs" / "lab" / str(summary["run_id"]) / "rdp"
    files = {p.name: p.read_text(encoding="utf-8") for p in rdp_dir.glob("*.rdp")}
    assert set(files) == {"mrossi.rdp", "lbianchi.rdp"}
    assert "full address:s:10.89.1.11:3389" in files["mrossi.rdp"]
    assert "full address:s:10.89.1.11:3390" in files["lbianchi.rdp"]
    # the laptops trust the lab CA and open the comune's room on lab-meet (role meeting_server)
    # by name through the tunnel
    fetch = (
        "import urllib.request as u; "
        "print(u.urlopen('https://meet.lab.provisioner.test/riunioni/lab/').read())"
    )
    page = lab.podman("exec", "prov-lab-laptop-01", "python3", "-c", fetch)
    assert page.returncode == 0, page.stderr
    assert "Riunioni" in page.stdout and "meeting.js" in page.stdout
    # Each user's RD listener answers that user's laptop only: the VPN gateway masquerades the
    # pool, so its forward chain (not the RD gateway) tells the users apart.
    reaches = {
        (laptop, port): tcp_opens(lab, f"prov-lab-{laptop}", "10.89.1.11", port)
        for laptop in ("laptop-01", "laptop-02")
        for port in (3389, 3390)
    }
    assert reaches == {
        ("laptop-01", 3389): True,
        ("laptop-01", 3390): False,
        ("laptop-02", 3389): False,
        ("laptop-02", 3390): True,
    }


def _vpn_identity(lab: LabEnv) -> dict[str, tuple[str, str]]:
    """Per laptop: the tunnel address recorded in the inventory and the public key in use."""
    identity = {}
    for laptop in ("laptop-01", "laptop-02"):
        host_vars = (lab.inventory_dir / "lab" / "host_vars" / f"{laptop}.yml").read_text()
        key = lab.podman("exec", f"prov-lab-{laptop}", "wg", "show", "wg0", "public-key")
        identity[laptop] = (host_vars, key.stdout.strip())
    return identity


def test_second_enable_changes_nothing(converged_lab: LabEnv) -> None:
    lab = converged_lab
    before = _vpn_identity(lab)
    result = lab.run("enable", "lab")
    assert result.returncode == 0, result.stdout + result.stderr
    summary = lab.summary(result.stdout)
    states = host_states(summary)
    assert set(states) == LAB_HOSTS
    assert {h: e["changed"] for h, e in states.items()} == dict.fromkeys(LAB_HOSTS, 0)
    assert summary["tasks"] == []
    assert re.search(rf"{len(LAB_HOSTS)} hosts, 0 changed", result.stdout)
    # re-enrolment keeps every address and key; the gateway still knows both peers
    assert _vpn_identity(lab) == before
    assert all(key for _, key in before.values())
    peers = lab.podman("exec", "prov-lab-lab-vpn-gw", "wg", "show", "wg0", "peers").stdout.split()
    assert sorted(peers) == sorted(key for _, key in before.values())
    assert readiness(summary) == LAB_READINESS


def test_check_reports_exactly_the_host_changed_by_hand(converged_lab: LabEnv) -> None:
    lab = converged_lab
    removed = lab.podman("exec", "prov-lab-laptop-02", "rm", "-f", ADMIN_KEYS)
    assert removed.returncode == 0, removed.stderr

    result = lab.run("enable", "lab", "--check")

    assert result.returncode == 0, result.stdout + result.stderr
    summary = lab.summary(result.stdout)
    assert summary["check_mode"] is True
    changed = {h for h, e in host_states(summary).items() if e["changed"]}
    assert changed == {"laptop-02"}
    tasks = summary["tasks"]
    assert isinstance(tasks, list)
    assert [(t["host"], t["task"]) for t in tasks] == [
        ("laptop-02", "Install the admin's SSH public keys")
    ]
    assert "ssh-ed25519" in tasks[0]["diff"]
    # check mode changed nothing on the host
    still_gone = lab.podman("exec", "prov-lab-laptop-02", "test", "-e", ADMIN_KEYS)
    assert still_gone.returncode == 1

    fixed = lab.run("enable", "lab", "--limit", "laptop-02")
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert set(host_states(lab.summary(fixed.stdout))) == {"laptop-02"}
    assert lab.podman("exec", "prov-lab-laptop-02", "test", "-s", ADMIN_KEYS).returncode == 0


def test_host_lost_mid_run_is_unreachable_and_others_finish(converged_lab: LabEnv) -> None:
    lab = converged_lab
    since = int(time.time())
    proc = lab.popen("enable", "lab")
    assert proc.stdout is not None
    try:
        seen = []
        for line in proc.stdout:
            seen.append(line)
            if "TASK baseline" in line:
                # the play has started on every host: pull the plug on one laptop
                lab.podman("kill", "prov-lab-laptop-01")
                break
        output = "".join(seen) + proc.stdout.read()
        rc = proc.wait(timeout=600)
    finally:
        if proc.poll() is None:
            proc.kill()
    try:
        summary = lab.summary(output)
        states = host_states(summary)
        assert states["laptop-01"]["state"] == "unreachable"
        for host in LAB_HOSTS - {"laptop-01"}:
            assert states[host]["state"] == "ok", (host, states[host])
        assert "unreachable" in output
        # laptop-01 was the desktop's RDP probe (its user comes first). Lost in an earlier
        # play, it is not tried again (a second connection timeout): the probe runs from the
        # next user's laptop, and the desktop's own xrdp saw that laptop's session.
        raw = summary["readiness"]
        assert isinstance(raw, list)
        checks = {(c["host"], c["check"]): c for c in raw}
        assert checks[("lab-desk-01", "rdp")]["ok"], checks[("lab-desk-01", "rdp")]
        xrdp = lab.podman(
            "exec",
            "prov-lab-lab-desk-01",
            "journalctl",
            "--no-pager",
            "-o",
            "cat",
            "-u",
            "xrdp",
            "--since",
            f"@{since}",
        ).stdout
        assert "client computer name: laptop-02" in xrdp, xrdp[-2000:]
        assert "client computer name: laptop-01" not in xrdp
        assert checks[("laptop-02", "vpn")]["ok"] and checks[("laptop-02", "meeting")]["ok"]
        assert rc == 4, output
    finally:
        up = lab.run("lab", "up")
        assert up.returncode == 0, up.stdout + up.stderr


def test_no_secret_in_state_dir_after_runs(converged_lab: LabEnv) -> None:
    lab = converged_lab
    vault_password = (lab.config_dir / "provisioner" / "vault-password").read_text().strip()
    private_keys = [
        lab.podman("exec", f"prov-lab-{laptop}", "cat", "/etc/wireguard/wg0.key").stdout.strip()
        for laptop in ("laptop-01", "laptop-02")
    ]
    assert all(private_keys)
    canaries = [lab.admin_password, vault_password, *private_keys]
    hits = subprocess.run(
        ["grep", "-rlF", *[f"-e{c}" for c in canaries], str(lab.state_dir), str(lab.inventory_dir)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert hits.returncode == 1, f"secrets found in: {hits.stdout}"
    # the runs really happened, and their directories keep no Ansible event or output
    runs = list((lab.state_dir / "runs" / "lab").glob("*/summary.json"))
    assert len(runs) >= 3
    assert not list((lab.state_dir / "runs" / "lab").glob("*/artifacts/ansible/job_events/*"))
    assert not list((lab.state_dir / "runs" / "lab").glob("*/artifacts/ansible/stdout"))


def test_runs_history_lists_the_runs(converged_lab: LabEnv) -> None:
    lab = converged_lab
    listed = lab.run("runs", "list", "--comune", "lab")
    assert listed.returncode == 0
    ids = re.findall(r"\d{8}-\d{6}-[0-9a-f]{4}", listed.stdout)
    assert len(ids) >= 4
    shown = lab.run("runs", "show", ids[0][:18])
    assert shown.returncode == 0, shown.stderr
    assert "laptop-01" in shown.stdout


def test_ctrl_c_cancels_the_run_and_records_it(converged_lab: LabEnv) -> None:
    lab = converged_lab
    proc = lab.popen("enable", "lab")
    assert proc.stdout is not None
    seen = []
    for line in proc.stdout:
        seen.append(line)
        if "TASK baseline" in line:
            proc.send_signal(signal.SIGINT)
            break
    output = "".join(seen) + proc.stdout.read()
    rc = proc.wait(timeout=120)
    assert rc == 130, output
    assert "status canceled" in output
    run_id = re.findall(r"run (\d{8}-\d{6}-[0-9a-f]{4})", output)[-1]
    shown = lab.run("runs", "show", run_id)
    assert "status canceled" in shown.stdout
    # the lock was released: the next run goes through
    again = lab.run("enable", "lab", "--check")
    assert again.returncode == 0, again.stdout + again.stderr
