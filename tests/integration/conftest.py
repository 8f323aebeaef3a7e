"""The real lab: podman containers on 127.0.0.1 driven through the real CLI.

One lab per session (fixture ``lab``), converged once (fixture ``converged_lab``: the first
enable of test_enable_lab, or its own when that did not succeed in this session). The lab
modules run in the order of ``MODULE_ORDER``; each leaves the lab converged, but for the
lasting changes that order puts last.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from provisioner.adapters.history import History
from provisioner.config import StateLayout
from tests.fresh_host import host_forwarding_off

ROOT = Path(__file__).resolve().parents[2]
CLI = Path(sys.executable).parent / "provisioner"
GATEWAY = "prov-lab-lab-vpn-gw"
GATEWAY_TUNNEL = "10.77.0.1"
"""The lab gateway's own tunnel address (the first of the lab's pool, comune_vpn_pool)."""
# The lab's managed hosts: six containers and the simulated network devices `lab up` starts.
LAB_HOSTS = {
    "lab-vpn-gw",
    "lab-rd-gw",
    "lab-desk-01",
    "lab-meet",
    "laptop-01",
    "laptop-02",
    "lab-mikrotik",
    "lab-ios",
    "lab-fortigate",
}
# What `enable lab` proves after converging: the meeting platform's Janus answers for the lab's
# room, each laptop's tunnel and meeting platform (a Janus session and the comune's room through
# the tunnel, lab CA trusted), and an RDP session through the gateway to the desktop.
LAB_READINESS = {
    ("lab-meet", "meeting platform"): True,
    ("laptop-01", "vpn"): True,
    ("laptop-02", "vpn"): True,
    ("laptop-01", "meeting"): True,
    ("laptop-02", "meeting"): True,
    ("lab-desk-01", "rdp"): True,
}


# The integration modules in the order they run (pytest would take them alphabetically), and why:
MODULE_ORDER = (
    # no lab: simulated devices of its own (lab/run-suites.sh runs it after the Molecule
    # scenarios, beside the lab modules)
    "test_netgear.py",
    # the first `enable lab` of the session, on the fresh lab: the one converge the others reuse
    "test_enable_lab.py",
    # its first test (0 drift) proves the converged lab it was handed; remediates its own drift
    "test_comply_lab.py",
    # drifts four hosts by hand and converges them again; needs laptop-02 in the office
    "test_accel_parity.py",
    # the devices' passwords broken and restored; a dry run of a copied comune
    "test_devices_lab.py",
    # host keys renewed (`lab up` learns them again), laptop-01's key rotated, runs cancelled
    "test_hardening_lab.py",
    # keys rotated, a laptop stopped and started, laptop-03 added and decommissioned
    "test_helpdesk_lab.py",
    "test_helpdesk_lab_console.py",
    # a personal PC of its own, its bundle revoked at the end
    "test_bundles_lab.py",
    # comply of the lab and three copies through the queue; takes laptop-02 at home or not
    "test_queue_lab.py",
    # sends laptop-02 home and leaves it there: after every module that needs it in the office
    "test_home_lab.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run the integration modules in ``MODULE_ORDER``; other tests keep their places."""
    here = Path(__file__).parent
    slots = [i for i, item in enumerate(items) if item.path.parent == here]
    unknown = sorted({items[i].path.name for i in slots} - set(MODULE_ORDER))
    if unknown:
        raise pytest.UsageError(
            f"{', '.join(unknown)}: add to MODULE_ORDER in {Path(__file__).name} (where it runs "
            "depends on what it needs of the lab and what it leaves behind)"
        )
    ordered = sorted((items[i] for i in slots), key=lambda item: MODULE_ORDER.index(item.path.name))
    for slot, item in zip(slots, ordered, strict=True):
        items[slot] = item


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Stop after the running test when lab/run-suites.sh says so (the browser tests failed
    beside the lab tests): the session's teardown still takes the lab down."""
    stop_file = os.environ.get("PROVISIONER_SUITE_STOP_FILE")
    if stop_file and Path(stop_file).is_file():
        reason = Path(stop_file).read_text(encoding="utf-8").strip()
        item.session.shouldstop = f"lab/run-suites.sh: {reason}"
        pytest.skip(f"not run: {reason}")


def endpoint_readiness(*laptops: str) -> dict[tuple[str, str], bool]:
    """Readiness of a run limited to ``laptops`` (helpdesk): their tunnel and meeting platform."""
    return {(laptop, check): True for laptop in laptops for check in ("vpn", "meeting")}


@dataclass
class LabEnv:
    """Environment of the integration session: its own state/config dirs and canaries."""

    env: dict[str, str]
    state_dir: Path
    config_dir: Path
    inventory_dir: Path
    admin_password: str

    def run(
        self, *args: str, timeout: float = 900, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run the real CLI; output captured as text (``env``: more environment variables)."""
        return subprocess.run(
            [str(CLI), *args],
            env={**self.env, **(env or {})},
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            cwd=ROOT,
        )

    def popen(self, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
        """Start the real CLI in the background, stdout line-buffered."""
        return subprocess.Popen(
            [str(CLI), *args],
            env={**self.env, **(env or {})},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
            cwd=ROOT,
        )

    def podman(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        """Run podman with the project's containers.conf (``stdin`` fed to it)."""
        return subprocess.run(
            ["podman", *args],
            env=self.env,
            input=stdin,
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )

    def summary(self, output: str) -> dict[str, object]:
        """summary.json of the run whose id the CLI printed: ``run <id>  status …`` (enable,
        reprovision) or ``<comune>: run <id>, …`` (comply); the first one printed."""
        found = re.search(r"^(?:\S+: )?run (\d{8}-\d{6}-[0-9a-f]{4})\b", output, re.M)
        assert found, f"no run id in the output:\n{output}"
        run_id = found[1]
        path = self.state_dir / "runs" / "lab" / run_id / "summary.json"
        data: dict[str, object] = json.loads(path.read_text(encoding="utf-8"))
        return data


def tcp_opens(lab: LabEnv, container: str, address: str, port: int) -> bool:
    """Whether ``container`` opens a TCP connection to ``address:port`` within 3 s."""
    probe = f"timeout 3 bash -c 'exec 3<>/dev/tcp/{address}/{port}'"
    return lab.podman("exec", container, "bash", "-c", probe).returncode == 0


def gateway_handshakes(lab: LabEnv) -> dict[str, int]:
    """The lab VPN gateway's peers' latest handshakes: tunnel address -> epoch (0: never)."""
    dump = lab.podman("exec", GATEWAY, "wg", "show", "wg0", "dump").stdout
    return {line.split()[3].split("/")[0]: int(line.split()[4]) for line in dump.splitlines()[1:]}


# WireGuard: a laptop that only sends keepalives makes a new handshake when its session is
# 120 s old (it initiated it) or 180 s old (it answered it), at its next keepalive (25 s); one
# whose handshakes went unanswered (its peer removed, then restored) retries at its next
# keepalive. A gateway that lost its sessions hears from every laptop within this.
REHANDSHAKE = 180 + 25 + 30
LAPTOPS = ("laptop-01", "laptop-02")


def tunnel_address(lab: LabEnv, host: str) -> str:
    """``host``'s tunnel address, from its host_vars."""
    path = lab.inventory_dir / "lab" / "host_vars" / f"{host}.yml"
    match = re.search(r"vpn_client_address: (\S+)", path.read_text(encoding="utf-8"))
    assert match, path
    return match[1]


def on_line(
    lab: LabEnv,
    laptops: tuple[str, ...] = LAPTOPS,
    since: float = 0.0,
    *,
    with_peer_only: bool = False,
) -> None:
    """Wait until every laptop of ``laptops`` has a handshake on the gateway newer than
    ``since`` (default: any, not older than presence's 180 s) and its SSH answers the gateway
    through the tunnel: what the next run's presence reading and connection need.
    ``with_peer_only``: only the laptops the gateway has a peer for (a test may have removed
    one on purpose, as drift the next test remediates).

    The field's laptops come back when they come back; a test that needs them on waits for
    their tunnel as `watch` would, instead of racing it."""
    addresses = {laptop: tunnel_address(lab, laptop) for laptop in laptops}
    deadline = time.monotonic() + REHANDSHAKE
    while True:
        now = time.time()
        seen = gateway_handshakes(lab)
        late = [
            laptop
            for laptop, address in addresses.items()
            # A laptop whose peer is gone (removed on purpose) is not waited for when asked.
            if not (with_peer_only and address not in seen)
            and (
                not seen.get(address)
                or seen[address] < max(since - 5, now - 150)
                or not tcp_opens(lab, GATEWAY, address, 22)
            )
        ]
        if not late:
            return
        assert time.monotonic() < deadline, f"no recent handshake from {late}: {seen}"
        time.sleep(2)


def host_states(summary: dict[str, object]) -> dict[str, dict[str, object]]:
    """Host name → host entry of a summary."""
    hosts = summary["hosts"]
    assert isinstance(hosts, list)
    return {str(h["host"]): h for h in hosts}


def readiness(summary: dict[str, object]) -> dict[tuple[str, str], bool]:
    """(host, check) → ok, from a summary's readiness list."""
    checks = summary["readiness"]
    assert isinstance(checks, list)
    return {(str(c["host"]), str(c["check"])): bool(c["ok"]) for c in checks}


@pytest.fixture(scope="session")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabEnv]:
    """Bring the lab up once per session with a private state dir and a canary password."""
    if shutil.which("podman") is None:
        pytest.fail("podman is missing: run `make setup` (the lab tests cannot be skipped)")
    base = tmp_path_factory.mktemp("lab")
    # A private copy of the lab inventory: the repository's inventory/lab is left alone.
    shutil.copytree(
        ROOT / "inventory" / "lab" / "group_vars",
        base / "inventory" / "lab" / "group_vars",
        ignore=shutil.ignore_patterns(
            "lab_connection.yml",
            "vault.yml",
            "lab_meeting.yml",
            "lab_rdp.yml",
            "meeting_servers.yml",
        ),
    )
    env = {
        **os.environ,
        "CONTAINERS_CONF": str(ROOT / "lab" / "containers.conf"),
        "PROVISIONER_STATE_DIR": str(base / "state"),
        "PROVISIONER_INVENTORY_DIR": str(base / "inventory"),
        "XDG_CONFIG_HOME": str(base / "config"),
        "PROVISIONER_LAB_ADMIN_PASSWORD": "canary-admin-" + secrets.token_hex(8),
        "COLUMNS": "200",
    }
    env.pop("PROVISIONER_VAULT_PASSWORD", None)
    lab_env = LabEnv(
        env,
        base / "state",
        base / "config",
        base / "inventory",
        env["PROVISIONER_LAB_ADMIN_PASSWORD"],
    )
    take_down_leftover_suite_labs(env)
    # As on a freshly booted machine: a container created now gets forwarding 0 unless podman
    # sets it (the VPN gateway must forward, see roles/vpn_gateway/tasks/forwarding.yml).
    with host_forwarding_off():
        up = lab_env.run("lab", "up")
    assert up.returncode == 0, up.stdout + up.stderr
    yield lab_env
    # The simulated devices belong to this state dir: a later lab must find their ports free.
    lab_env.run("lab", "down")


def converged_in_session(lab: LabEnv) -> bool:
    """Whether this session's lab had a successful `enable lab` of every host (no limit, no
    tags, not a check): its history is the session's own (a private state dir)."""
    return any(
        run.use_case == "enable"
        and run.status == "successful"
        and not run.check_mode
        and not run.host_limit
        and not run.tags
        for run in History(StateLayout(lab.state_dir)).list_runs("lab", 500)
    )


@pytest.fixture(scope="session")
def converged_lab(lab: LabEnv) -> LabEnv:
    """The lab, converged once per session: a test that needs a converged lab asks for this.

    The converge is test_enable_lab's first test (what it asserts is the first enable itself);
    when it did not succeed in this session (it failed, or a module runs alone), this fixture
    runs `enable lab`. Every module leaves the lab converged, but for the lasting changes of
    the last modules of ``MODULE_ORDER``.
    """
    if not converged_in_session(lab):
        result = lab.run("enable", "lab", timeout=2400)
        assert result.returncode == 0, result.stdout + result.stderr
    return lab


@pytest.fixture(autouse=True)
def laptops_on_line(request: pytest.FixtureRequest) -> None:
    """A test on the converged lab starts with both laptops on line, as it assumes.

    The test before may have stopped a laptop, rotated its key or cut its tunnel: the laptop
    comes back on its own within a keepalive or two, and a run started before that would find
    it offline (rightly: the field's laptops are left out until they are seen). A laptop whose
    peer a test removed on purpose (drift for the next test) is not waited for.
    """
    if "converged_lab" in request.fixturenames:
        on_line(request.getfixturevalue("converged_lab"), with_peer_only=True)


def take_down_leftover_suite_labs(env: dict[str, str]) -> None:
    """Take down labs an earlier, killed test run left behind (its state dir is a temp dir).

    Another live lab (a technician's demo) is left alone: `lab up` then refuses, naming it.
    """
    listed = subprocess.run(
        ["podman", "ps", "-a", "--filter", "label=provisioner.lab.owner", "--format", "json"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    owners = {
        str(c.get("Labels", {}).get("provisioner.lab.owner", ""))
        for c in json.loads(listed.stdout or "[]")
    }
    temp = Path(tempfile.gettempdir()).resolve()
    for owner in sorted(o for o in owners if o and Path(o).is_relative_to(temp)):
        subprocess.run(
            [str(CLI), "--state-dir", owner, "lab", "down"],
            env=env,
            capture_output=True,
            check=False,
            timeout=300,
        )
