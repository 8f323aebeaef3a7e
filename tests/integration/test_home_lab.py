"""Laptops at home on the real lab: reached only through the comune's tunnel, left out while
switched off, their work applied by `watch` when they come back, readiness proven every time.

Runs on the converged lab (fixture `converged_lab`; every laptop is managed through the tunnel
since its first enable) and leaves laptop-02 at home: after every module that needs it in the
office (conftest.MODULE_ORDER).
"""

from __future__ import annotations

import contextlib
import re
import subprocess
import time
from collections.abc import Iterator

import pytest

from tests.integration.conftest import (
    GATEWAY,
    GATEWAY_TUNNEL,
    LAPTOPS,
    LabEnv,
    gateway_handshakes,
    host_states,
    on_line,
    readiness,
    tcp_opens,
    tunnel_address,
)

pytestmark = [
    pytest.mark.lab,
    pytest.mark.xdist_group("lab"),
]

HOME = "laptop-02"
HOME_CONTAINER = f"prov-lab-{HOME}"
TIMER = "apt-daily.timer"
OFFICE_SIDE_OF_GATEWAY = "10.89.1.10"


@contextlib.contextmanager
def _routed(lab: LabEnv, container: str, address: str, via: str = "") -> Iterator[None]:
    """Route ``address`` from ``container`` to the VPN gateway for the block: through the
    container's tunnel (its gateway peer also allowed to carry ``address``), or ``via`` the
    gateway's office address. Restored afterwards."""
    if via:
        add = f"ip route replace {address}/32 via {via}"
        undo = f"ip route del {address}/32 via {via}"
    else:
        key, _, allowed = (
            lab.podman("exec", container, "wg", "show", "wg0", "allowed-ips")
            .stdout.strip()
            .partition("\t")
        )
        original = ",".join(allowed.split())
        assert key and original, f"{container}: no tunnel peer"
        add = (
            f"wg set wg0 peer {key} allowed-ips {original},{address}/32 && "
            f"ip route replace {address}/32 dev wg0"
        )
        undo = f"ip route del {address}/32 dev wg0; wg set wg0 peer {key} allowed-ips {original}"
    routed = lab.podman("exec", container, "sh", "-c", add)
    assert routed.returncode == 0, routed.stderr
    try:
        yield
    finally:
        lab.podman("exec", container, "sh", "-c", undo)


@pytest.fixture(scope="module")
def home(converged_lab: LabEnv) -> Iterator[LabEnv]:
    lab = converged_lab
    since = time.time()
    sent = lab.run("lab", "send-home", HOME)
    assert sent.returncode == 0, sent.stdout + sent.stderr
    # Restarted at home, the laptop's tunnel comes up on its own: wait for its first handshake
    # from there and for its SSH through the tunnel, as the next run would.
    on_line(lab, (HOME,), since)
    yield lab


@pytest.fixture
def settled(home: LabEnv) -> LabEnv:
    """The lab at home with both laptops on line (an earlier test may have cut the tunnel):
    the wait of conftest's autouse ``laptops_on_line``, done once per test."""
    return home


def test_a_laptop_at_home_is_managed_through_the_tunnel_only(settled: LabEnv) -> None:
    home = settled
    key = home.state_dir / "lab" / "id_ed25519"
    direct = subprocess.run(
        ["ssh", "-o", "BatchMode=yes", "-o", "ConnectTimeout=5", "-i", str(key), "-p", "22412",
         "-o", f"UserKnownHostsFile={home.state_dir / 'lab' / 'known_hosts'}",
         "-o", f"HostKeyAlias={HOME}", "root@127.0.0.1", "true"],
        capture_output=True, text=True, check=False, timeout=30,
    )  # fmt: skip
    assert direct.returncode == 255 and "refused" in direct.stderr, direct.stderr
    laptop_01, laptop_02 = tunnel_address(home, "laptop-01"), tunnel_address(home, HOME)
    # Only the management source (the gateway, the jump host) reaches the endpoints' SSH; from
    # home, only the comune's public VPN endpoint (not another laptop on the internet side).
    # Each attempt is routed to the gateway on purpose, as a hostile endpoint or office host
    # would do: the laptops' own tunnels carry only the gateway and the office networks, and a
    # pool address routed by the lab's host would leave the lab instead of testing the gateway.
    opened = {"gateway -> laptop-02": tcp_opens(home, GATEWAY, laptop_02, 22)}
    with _routed(home, "prov-lab-laptop-01", laptop_02):
        opened["laptop-01 -> laptop-02"] = tcp_opens(home, "prov-lab-laptop-01", laptop_02, 22)
    with _routed(home, "prov-lab-lab-desk-01", laptop_02, via=OFFICE_SIDE_OF_GATEWAY):
        opened["desk-01 -> laptop-02"] = tcp_opens(home, "prov-lab-lab-desk-01", laptop_02, 22)
    with _routed(home, HOME_CONTAINER, laptop_01):
        opened["laptop-02 -> laptop-01"] = tcp_opens(home, HOME_CONTAINER, laptop_01, 22)
    opened["laptop-02 -> internet laptop"] = tcp_opens(home, HOME_CONTAINER, "10.89.2.101", 22)
    assert opened == {name: name == "gateway -> laptop-02" for name in opened}

    result = home.run("comply", "lab")

    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 drift items" in result.stdout
    summary = home.summary(result.stdout)
    assert host_states(summary)[HOME]["unreachable"] == 0
    assert readiness(summary)[(HOME, "vpn")] is True

    # A change made by hand at home is drift, and remediation reaches it through the tunnel.
    assert home.podman("exec", HOME_CONTAINER, "systemctl", "stop", TIMER).returncode == 0
    drift = home.run("comply", "lab", "--remediate")
    assert drift.returncode == 0, drift.stdout + drift.stderr
    assert "1 drift items on 1 hosts" in drift.stdout and "Enable the APT timers" in drift.stdout
    assert "remediation run" in drift.stdout and f"on {HOME}:" in drift.stdout
    again = home.run("comply", "lab")
    assert again.returncode == 0 and "0 drift items" in again.stdout, again.stdout
    active = home.podman("exec", HOME_CONTAINER, "systemctl", "is-active", TIMER)
    assert active.stdout.strip() == "active"


def test_a_laptop_switched_off_is_offline_not_failed_and_watch_applies_its_work(
    settled: LabEnv,
) -> None:
    home = settled
    # The lab is converged (the module's earlier test ends on a comply without drift) and the
    # laptop is on, its tunnel up.
    address = tunnel_address(home, HOME)
    assert gateway_handshakes(home)[address] > 0

    assert home.podman("stop", "-t", "5", HOME_CONTAINER).returncode == 0
    try:
        _switched_off_then_back(home, address)
    finally:
        # Whatever failed, the next tests get the laptop on again (a no-op when it is).
        home.podman("start", HOME_CONTAINER)


def _first_task_after(output: str) -> float:
    """Seconds from the CLI's start to the playbook's first task (the CLI prints them)."""
    found = re.search(r"^\s*([0-9.]+)s TASK ", output, re.MULTILINE)
    assert found, output
    return float(found.group(1))


def _switched_off_then_back(home: LabEnv, address: str) -> None:
    # The gateway forgets the laptop's handshake (its peer removed and added again, as after
    # three minutes switched off); provisioner's history does not. laptop-01's session is left
    # alone: a restart of the whole tunnel would make it look off too, for up to 3 minutes.
    dump = home.podman("exec", GATEWAY, "wg", "show", "wg0", "dump").stdout.splitlines()[1:]
    key = next(line.split()[0] for line in dump if line.split()[3] == f"{address}/32")
    forget = f"wg set wg0 peer {key} remove && wg set wg0 peer {key} allowed-ips {address}/32"
    forgot = home.podman("exec", GATEWAY, "sh", "-c", forget)
    assert forgot.returncode == 0, forgot.stderr
    assert gateway_handshakes(home)[address] == 0

    off = home.run("enable", "lab")
    checked = home.run("comply", "lab")

    assert off.returncode == 9, off.stdout + off.stderr
    assert checked.returncode == 9, checked.stdout + checked.stderr
    for result in (off, checked):
        summary = home.summary(result.stdout)
        assert [o["host"] for o in summary["offline"]] == [HOME]
        assert summary["offline"][0]["last_seen"] > 0
        assert HOME not in host_states(summary)
        assert all(h["failed"] == 0 and h["unreachable"] == 0 for h in summary["hosts"])
    assert "offline, not checked" in checked.stdout and "last seen 20" in checked.stdout
    # Nothing waited for the laptop. Before the playbook, presence decided from the gateway's
    # table without knocking (a knock on a silent laptop takes 35 s; the first task comes about
    # 3 s after the start on an idle controller). In the playbook, no task ran on
    # it (above), and none was delegated to it: the desktop's RDP probe, which a dead laptop
    # would have cost a connection timeout and a failed readiness, ran from a laptop that is
    # on (exit 9, not 3).
    assert _first_task_after(off.stdout) < 20, off.stdout
    pending = home.run("pending", "--comune", "lab")
    assert pending.returncode == 0 and HOME in pending.stdout and "enable" in pending.stdout

    # Back on: watch applies the work within two polling intervals of its first handshake.
    interval = 10
    watch = home.popen("watch", "--comune", "lab", "--interval", str(interval), "--rounds", "6")
    try:
        assert home.podman("start", HOME_CONTAINER).returncode == 0
        deadline = time.monotonic() + 120
        while gateway_handshakes(home).get(address, 0) < time.time() - 60:
            assert time.monotonic() < deadline, "the laptop made no handshake after its start"
            time.sleep(1)
        seen = time.monotonic()
        lines: list[str] = []
        assert watch.stdout is not None
        for line in watch.stdout:
            lines.append(line)
            if line.startswith("started") and HOME in line:
                assert time.monotonic() - seen <= 2 * interval + 15, lines
            if line.startswith(("applied", "failed")) and HOME in line:
                break
    finally:
        watch.terminate()
        watch.wait(timeout=60)
    assert any(line.startswith("applied") and HOME in line for line in lines), "".join(lines)
    ledger = home.run("pending", "--comune", "lab", "--all")
    assert "applied" in ledger.stdout and home.run("pending").stdout.count(HOME) == 0


def test_a_stopped_gateway_tunnel_fails_vpn_readiness_with_the_reason(settled: LabEnv) -> None:
    home = settled
    stop = home.podman("exec", GATEWAY, "systemctl", "stop", "wg-quick@wg0")
    assert stop.returncode == 0, stop.stderr
    try:
        checked = home.run("comply", "lab")
        # The dry run of enable, on the hosts the readiness is about (comply covered them all).
        dry = home.run("enable", "lab", "--check", "--limit", f"lab-vpn-gw,laptop-01,{HOME}")
        for result in (checked, dry):
            assert result.returncode == 3, result.stdout + result.stderr
            summary = home.summary(result.stdout)
            failed = {r["host"]: r for r in summary["readiness"] if not r["ok"]}
            assert {"laptop-01", HOME} <= set(failed), summary["readiness"]
            assert "tunnel down" in failed[HOME]["reason"]
        assert "vpn: FAIL (lab-vpn-gw: tunnel down" in checked.stdout + dry.stdout
    finally:
        # The tunnel is the gateway's: converging the gateway alone restarts it.
        fixed = home.run("enable", "lab", "--limit", "lab-vpn-gw")
    assert fixed.returncode in (0, 9), fixed.stdout + fixed.stderr
    # The restarted tunnel has no session: each laptop comes back at its next handshake. An idle
    # laptop makes it only when its own session is due for a rekey (up to about 3 minutes); one
    # whose user is working sends through the tunnel, hears nothing back and starts a handshake
    # after WireGuard's 15 s (keepalive timeout plus rekey timeout). Here the users are working:
    # a connection attempt each, as any use of the tunnel would send (measured: both laptops
    # back 17 s after a restart of the gateway's tunnel, against 123 s idle).
    for laptop in LAPTOPS:
        tcp_opens(home, f"prov-lab-{laptop}", GATEWAY_TUNNEL, 22)
    on_line(home)
    healthy = home.run("comply", "lab")
    assert healthy.returncode == 0, healthy.stdout + healthy.stderr
    assert readiness(home.summary(healthy.stdout))[(HOME, "vpn")] is True


def test_rotating_the_key_of_a_laptop_at_home_keeps_the_run_alive(settled: LabEnv) -> None:
    home = settled
    address = tunnel_address(home, HOME)
    old = home.podman("exec", HOME_CONTAINER, "wg", "show", "wg0", "public-key").stdout.strip()

    result = home.run("reprovision", HOME, "--rotate-keys")

    assert result.returncode == 0, result.stdout + result.stderr
    summary = home.summary(result.stdout)
    assert summary["status"] == "successful" and summary["exit_code"] == 0
    assert readiness(summary)[(HOME, "vpn")] is True
    new = home.podman("exec", HOME_CONTAINER, "wg", "show", "wg0", "public-key").stdout.strip()
    assert new and new != old
    dump = home.podman("exec", GATEWAY, "wg", "show", "wg0", "dump").stdout.splitlines()[1:]
    peers = {line.split()[0]: line.split()[3].split("/")[0] for line in dump}
    assert peers.get(new) == address and old not in peers
    assert gateway_handshakes(home)[address] >= time.time() - 180
    # Recorded as successful in the history, not interrupted by the tunnel's key change.
    shown = home.run("runs", "show", summary["run_id"])
    assert shown.returncode == 0 and "successful" in shown.stdout, shown.stdout
