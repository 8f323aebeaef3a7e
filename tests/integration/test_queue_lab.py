"""The job queue on the real lab: a real Redis, two real workers, real ansible-runner streams.

Worker ``host-a`` runs on this machine; worker ``container-b`` runs in a podman container of its
own (Debian 12, like the controller) with its own copy of the venv and of the project under
/opt/provisioner, its own state dir and its own vault password file, and nothing else of the
controller's files but the lab's SSH key and known hosts (what a worker machine is given). It
shares the host's network namespace (``--network host``): the lab's hosts listen on 127.0.0.1
only, which no other network namespace can reach, and Redis listens there too.

Four comuni over the lab's containers: ``lab`` (converged; its laptops are managed through the
terminator's tunnel, laptop-02 may be at home) and three copies with VPN pools of their own.
``comply`` of the four runs through the queue and locally; the results must be the same; one
worker is killed with SIGKILL mid-run and the other finishes its comune. Then Redis is searched
for every secret of the session, and a cancel from the controller stops a playbook on a worker.
"""

from __future__ import annotations

import json
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from redis import Redis
from rq import Worker
from rq.serializers import JSONSerializer

from provisioner.adapters import queue, redis_server
from provisioner.adapters.podman import Podman
from provisioner.adapters.runner import TUNNEL_INVENTORY
from tests.integration.conftest import CLI, ROOT, LabEnv
from tests.redis_dump import everything_in

pytestmark = [pytest.mark.lab, pytest.mark.xdist_group("lab")]

IMAGE = "localhost/provisioner-worker:bookworm"
"""Debian 12, the controller's own release: its Python runs a copy of the controller's venv."""
CONTAINER = "prov-queue-worker-b"
IN_CONTAINER = Path("/opt/provisioner")
COPIES = {"lab-b": "10.77.1.0/24", "lab-c": "10.77.2.0/24", "lab-d": "10.77.3.0/24"}
COMUNI = ["lab", *COPIES]
_LINE = re.compile(r"^(?P<comune>[\w-]+): run (?P<run>\d{8}-\d{6}-[0-9a-f]+),", re.MULTILINE)
_LOST = re.compile(r"run (?P<run>\d{8}-\d{6}-[0-9a-f]+) interrupted")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _copy_comune(lab: LabEnv, slug: str, pool: str) -> None:
    """The lab comune under another slug, with a VPN pool of its own.

    Its endpoints are managed directly (their tunnel addresses and management stay with ``lab``:
    an address outside the copy's pool is refused, and the terminator knows the lab's peers);
    no network device (they belong to ``lab``). Comply only reads, so the copies share the
    lab's containers safely.
    """
    source, target = lab.inventory_dir / "lab", lab.inventory_dir / slug
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(source, target)
    settings_file = target / "group_vars" / "all" / "comune.yml"
    values = yaml.safe_load(settings_file.read_text(encoding="utf-8"))
    values.update(
        comune_slug=slug,
        comune_name=f"Comune di Laboratorio {slug[-1].upper()}",
        comune_istat_code=f"99900{ord(slug[-1]) - ord('a')}",
        comune_vpn_pool=pool,
    )
    settings_file.write_text(yaml.safe_dump(values, sort_keys=False), encoding="utf-8")
    for host_vars in (target / "host_vars").glob("*.yml"):
        data = yaml.safe_load(host_vars.read_text(encoding="utf-8")) or {}
        for key in ("vpn_client_address", "provisioner_management"):
            data.pop(key, None)
        host_vars.write_text(yaml.safe_dump(data), encoding="utf-8")
    hosts_file = target / "hosts.yml"
    hosts = yaml.safe_load(hosts_file.read_text(encoding="utf-8"))
    hosts["all"]["children"].pop("network_devices", None)
    hosts_file.write_text(yaml.safe_dump(hosts, sort_keys=False), encoding="utf-8")


def _worker_copy(base: Path) -> Path:
    """The project and its venv under another root: what a worker machine has installed.

    The venv is hard-linked (read-only in the container); the scripts naming this checkout's
    interpreter and the editable install's path finder are written anew with the new root.
    """
    root = base / "opt-provisioner"
    for part in ("provisioner", "playbooks", "roles", "plugins"):
        shutil.copytree(ROOT / part, root / part, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy2(ROOT / "ansible.cfg", root / "ansible.cfg")
    venv = Path(sys.prefix)
    subprocess.run(["cp", "-al", str(venv), str(root / ".venv")], check=True)
    old, new = str(ROOT).encode(), str(IN_CONTAINER).encode()
    site = root / ".venv" / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}"
    names = [p for p in (root / ".venv" / "bin").iterdir() if p.is_file() and not p.is_symlink()]
    names += list((site / "site-packages").glob("__editable__*"))
    for path in names:
        text = path.read_bytes()
        if old in text:
            path.unlink()  # a new file: the hard link of the controller's venv stays as it is
            path.write_bytes(text.replace(old, new))
            path.chmod(0o755)
    return root


@dataclass
class QueueLab:
    """The lab with Redis and two workers, and how to run the CLI as a controller on it."""

    lab: LabEnv
    redis: redis_server.LocalRedis
    host_worker: subprocess.Popen[bytes]
    host_state: Path
    secrets: list[str]

    @property
    def env(self) -> dict[str, str]:
        """The controller's environment with the queue selected."""
        return {
            **self.lab.env,
            "PROVISIONER_EXECUTOR": "queue",
            "PROVISIONER_REDIS_URL": self.redis.url,
            "PROVISIONER_REDIS_PASSWORD_FILE": str(self.redis.password_file),
        }

    def run(
        self, *args: str, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(CLI), *args],
            env=env or self.env,
            capture_output=True,
            text=True,
            timeout=1800,
            check=False,
            cwd=ROOT,
        )

    def popen(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [str(CLI), *args],
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=ROOT,
        )

    def client(self) -> Redis:
        return self.redis.client()


def _start_container_worker(lab: LabEnv, base: Path, server: redis_server.LocalRedis) -> None:
    podman = Podman(ROOT / "lab" / "containers.conf", base / "image-build.log")
    if not podman.image_exists(IMAGE):
        podman.build_image(IMAGE, base / "image", suite="bookworm")
    copy = _worker_copy(base)
    secrets_dir = base / "worker-b-secrets"
    secrets_dir.mkdir(mode=0o700)
    shutil.copy2(server.password_file, secrets_dir / "redis-password")
    shutil.copy2(lab.config_dir / "provisioner" / "vault-password", secrets_dir / "vault-password")
    lab_dir = lab.state_dir / "lab"
    lab.podman("rm", "-f", CONTAINER)
    started = lab.podman(
        "run", "-d", "--name", CONTAINER, "--network", "host",
        "--label", "provisioner.queue.test=1",
        "-v", f"{copy}:{IN_CONTAINER}:ro",
        "-v", f"{secrets_dir}:/run/provisioner:ro",
        "-v", f"{lab_dir}:{lab_dir}:ro",  # the SSH key and known hosts, where the inventory says
        "-e", "LANG=C.UTF-8",
        "-e", f"PROVISIONER_REDIS_URL={server.url}",
        "-e", "PROVISIONER_REDIS_PASSWORD_FILE=/run/provisioner/redis-password",
        "-e", "PROVISIONER_VAULT_PASSWORD_FILE=/run/provisioner/vault-password",
        "-e", "PROVISIONER_STATE_DIR=/var/lib/provisioner",
        IMAGE, str(IN_CONTAINER / ".venv/bin/provisioner"), "worker", "--name", "container-b",
    )  # fmt: skip
    assert started.returncode == 0, started.stderr


def _wait_for_workers(client: Redis, names: set[str], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if names <= {w.name for w in Worker.all(connection=client, serializer=JSONSerializer)}:
            return
        time.sleep(0.5)
    pytest.fail(f"workers {names} did not register")


@pytest.fixture(scope="module")
def queue_lab(
    converged_lab: LabEnv, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[QueueLab]:
    # Converged: from then on the lab's laptops are managed through the terminator's tunnel.
    lab = converged_lab
    for slug, pool in COPIES.items():
        _copy_comune(lab, slug, pool)
    base = tmp_path_factory.mktemp("queue")
    server = redis_server.start(base / "redis", _free_port())
    host_state = base / "worker-a-state"
    host_worker = subprocess.Popen(
        [str(CLI), "worker", "--name", "host-a"],
        env={
            **{k: v for k, v in lab.env.items() if not k.startswith("PROVISIONER_")},
            "PROVISIONER_STATE_DIR": str(host_state),
            "PROVISIONER_REDIS_URL": server.url,
            "PROVISIONER_REDIS_PASSWORD_FILE": str(server.password_file),
            "PROVISIONER_VAULT_PASSWORD_FILE": str(
                lab.config_dir / "provisioner" / "vault-password"
            ),
        },
        stdout=(base / "worker-a.log").open("wb"),
        stderr=subprocess.STDOUT,
        cwd=ROOT,
    )
    try:
        _start_container_worker(lab, base, server)
        _wait_for_workers(server.client(), {"host-a", "container-b"})
        secrets = [
            lab.admin_password,
            (lab.config_dir / "provisioner" / "vault-password").read_text().strip(),
            server.password_file.read_text().strip(),
        ]
        yield QueueLab(lab, server, host_worker, host_state, secrets)
    finally:
        if host_worker.poll() is None:
            host_worker.kill()
        host_worker.wait()
        logs = lab.podman("logs", CONTAINER)
        (base / "worker-b.log").write_text(logs.stdout + logs.stderr, encoding="utf-8")
        lab.podman("rm", "-f", "-t", "0", CONTAINER)
        server.stop()
        for slug in COPIES:
            shutil.rmtree(lab.inventory_dir / slug, ignore_errors=True)


def _summary(lab: LabEnv, comune: str, run_id: str) -> dict[str, object]:
    path = lab.state_dir / "runs" / comune / run_id / "summary.json"
    data: dict[str, object] = json.loads(path.read_text(encoding="utf-8"))
    return data


def _result(summary: dict[str, object]) -> dict[str, object]:
    """What must be the same whoever ran it: counts per host, every changed/failed task with
    its diff and message, readiness, hosts left offline, status and exit code."""
    hosts, tasks = summary["hosts"], summary["tasks"]
    checks, offline = summary["readiness"], summary["offline"]
    assert isinstance(hosts, list) and isinstance(tasks, list)
    assert isinstance(checks, list) and isinstance(offline, list)
    counters = ("ok", "changed", "failed", "unreachable", "skipped", "rescued", "ignored")
    return {
        "counts": {h["host"]: tuple(h[c] for c in counters) for h in hosts},
        "tasks": sorted(
            (t["host"], t["role"], t["task"], t["outcome"], t["diff"], t["message"]) for t in tasks
        ),
        "readiness": sorted((c["host"], c["check"], c["ok"]) for c in checks),
        "offline": sorted(o["host"] for o in offline),
        "status": summary["status"],
        "exit_code": summary["exit_code"],
        "drift": summary["drift"],
    }


def _runs(output: str) -> dict[str, str]:
    """Comune -> the run id of its verdict line in comply's output."""
    return {m["comune"]: m["run"] for m in _LINE.finditer(output)}


def _current(client: Redis, worker: str) -> str | None:
    """The job a worker runs now."""
    for w in Worker.all(connection=client, serializer=JSONSerializer):
        if w.name == worker:
            return w.get_current_job_id()
    return None


def _busy(client: Redis, worker: str) -> str | None:
    """The comply job a worker runs now, once its playbook is well under way and far from done.

    Not any job: a comune with laptops at home first sends a short ``presence`` job (the
    terminator's handshakes), and killing its worker as that ends kills no comply run (CI
    stop 28 failed so). Not a length of stream either: the first entries are runner's start.
    """
    job = _current(client, worker)
    if not job or not _described(client, job).startswith("comply "):
        return None
    entries = client.xrange(queue.job_key(job, "out"))
    stream = b"".join(fields.get(b"d", b"") for _id, fields in entries)
    if stream.count(b"playbook_on_task_start") >= 10 and b"playbook_on_stats" not in stream:
        return job
    return None


def _described(client: Redis, job: str) -> str:
    """A job's description: ``<use case> <comune>``."""
    value = client.hget(f"rq:job:{job}", "description")
    return value.decode() if isinstance(value, bytes) else ""


def _processes_under(path: Path) -> list[str]:
    """Command lines of the processes started for a worker's jobs (their data dir is there)."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if str(path) in cmdline:
            found.append(cmdline)
    return found


def test_comply_over_four_comuni_on_two_workers_is_what_it_is_locally_even_with_one_killed(
    queue_lab: QueueLab,
) -> None:
    lab = queue_lab.lab
    # Cold fact caches on both sides (a worker runs a comune for the first time).
    shutil.rmtree(lab.state_dir / "facts", ignore_errors=True)
    local = lab.run("comply", *COMUNI, "--parallel", "2", timeout=1800)
    assert local.returncode in {0, 3, 4, 7}, local.stdout + local.stderr
    local_runs = _runs(local.stdout)
    assert sorted(local_runs) == sorted(COMUNI), local.stdout

    queued = queue_lab.popen("comply", *COMUNI)
    client = queue_lab.client()
    deadline = time.monotonic() + 600
    job = None
    while job is None:
        assert time.monotonic() < deadline and queued.poll() is None, "no run got going on host-a"
        job = _busy(client, "host-a")
        time.sleep(0.5)
    killed_comune = _described(client, job).split()[-1]
    queue_lab.host_worker.send_signal(signal.SIGKILL)
    queue_lab.host_worker.wait()
    # The job's processes die with the worker: nothing runs on behind the controller's back.
    time.sleep(3)
    assert _processes_under(queue_lab.host_state / "worker") == []

    # Another controller (its own state dir, so its own file locks) cannot run a comune that
    # waits for container-b now: its lock is in Redis.
    busy_on_b = _described(client, _current(client, "container-b") or "").split()[-1:]
    waiting = sorted(
        key.decode().rsplit(":", 1)[1] for key in client.scan_iter(match="provisioner:lock:*")
    )
    held = next(c for c in waiting if c not in busy_on_b)
    other = {**queue_lab.env, "PROVISIONER_STATE_DIR": str(lab.state_dir.parent / "other-ctl")}
    refused = queue_lab.run("comply", held, env=other)
    assert refused.returncode == 5, refused.stdout + refused.stderr
    assert "a queued run holds its lock" in refused.stdout + refused.stderr

    output, _ = queued.communicate(timeout=1800)
    assert queued.returncode in {0, 3, 4, 7}, output
    queue_runs = _runs(output)
    assert sorted(queue_runs) == sorted(COMUNI), output

    for name in COMUNI:
        mine, theirs = _summary(lab, name, queue_runs[name]), _summary(lab, name, local_runs[name])
        assert _result(mine) == _result(theirs), name
        assert mine["worker"] in {"host-a", "container-b"} and theirs["worker"] == ""
    # The killed worker's run is recorded interrupted; the other worker ran the comune again.
    interrupted = _LOST.findall(output)
    assert len(interrupted) == 1, f"killed on host-a: {killed_comune}\n{output}"
    lost = interrupted[0]
    killed = _summary(lab, killed_comune, queue_runs[killed_comune])
    assert killed["worker"] == "container-b"
    listed = queue_lab.run("runs", "list", "--comune", killed_comune, "--last", "5")
    assert re.search(rf"{lost} .* interrupted", listed.stdout), listed.stdout
    history = queue_lab.run("runs", "list", "--last", "50").stdout
    assert " running " not in history
    # The tunnel path: the lab's laptops were reached through the terminator from the worker.
    lab_run = lab.state_dir / "runs" / "lab" / queue_runs["lab"]
    assert (lab_run / TUNNEL_INVENTORY).is_file()
    command = json.loads((lab_run / "artifacts" / "ansible" / "command").read_text())
    assert command["env"]["ANSIBLE_INVENTORY"].endswith(f"/{TUNNEL_INVENTORY}")
    counts = _result(_summary(lab, "lab", queue_runs["lab"]))["counts"]
    assert isinstance(counts, dict)
    assert counts["laptop-01"][0] > 0 and counts["laptop-01"][3] == 0


def test_no_secret_of_the_session_is_anywhere_in_redis(queue_lab: QueueLab) -> None:
    everything = everything_in(queue_lab.client())

    assert b"enable_remote_work.yml" in everything  # the streams are there, and opened
    for secret in queue_lab.secrets:
        assert secret.encode() not in everything


def test_cancel_on_the_controller_stops_the_playbook_on_the_worker(queue_lab: QueueLab) -> None:
    started = queue_lab.popen("comply", "lab-b")
    assert started.stdout is not None
    seen = []
    for line in started.stdout:
        seen.append(line)
        if "TASK" in line:
            break
    started.send_signal(signal.SIGINT)
    output, _ = started.communicate(timeout=120)

    assert started.returncode == 130, "".join(seen) + output
    assert "exit 130" in output
    # As with the local executor: the worker made the run's cancel file, the strategy let the
    # running task finish and started no other.
    summary = _summary(queue_lab.lab, "lab-b", _runs(output)["lab-b"])
    assert summary["status"] == "canceled", summary
    assert str(summary["error"]).startswith("canceled with Ctrl-C between tasks"), summary
    # The playbook ended before its stream did (the controller waited for that end): nothing of
    # it is left in the worker's container (Ansible's workers included: they leave its group).
    listing = "for p in /proc/[0-9]*; do tr '\\0' ' ' < $p/cmdline; echo; done"
    ps = queue_lab.lab.podman("exec", CONTAINER, "sh", "-c", listing)
    assert ps.returncode == 0 and "provisioner worker" in ps.stdout, ps.stderr
    assert "ansible-playbook" not in ps.stdout
    history = queue_lab.run("runs", "list", "--comune", "lab-b", "--last", "1").stdout
    assert "canceled" in history
