"""Simulated network devices for the lab and benchmarks: inventory entries, a background server."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from provisioner.adapters import hoststate, vault
from provisioner.adapters.files import atomic_write
from provisioner.errors import ControllerError
from provisioner.fakegear import DeviceSpec, running_gear
from provisioner.fakegear.base import host_key, known_hosts_line


@dataclass(frozen=True)
class GearHost:
    """A simulated device as the inventory knows it."""

    name: str
    device_type: str
    role: str
    wan_interface: str


LAB_GEAR: tuple[GearHost, ...] = (
    GearHost("lab-mikrotik", "mikrotik_routeros", "vpn_concentrator", "ether1"),
    GearHost("lab-ios", "cisco_ios", "edge_nat", "GigabitEthernet0/0"),
    GearHost("lab-fortigate", "fortinet", "edge_nat", "wan1"),
)
"""One device of each vendor, as `provisioner lab up` starts them."""

USERNAME = "provisioner"
PASSWORD_VAR = "vault_netgear_password"
SEED_VAR = "vault_netgear_host_key_seed"
"""The seed the simulators derive their SSH host keys from (kept in the vault with the password,
so a restarted lab offers the same keys and the recorded known_hosts stays valid)."""
KNOWN_HOSTS = "netgear_known_hosts"


def host_vars(host: GearHost, port: int, **extra: Any) -> dict[str, Any]:
    """Inventory variables of a simulated device (the password comes from the vault)."""
    return {
        "ansible_host": "127.0.0.1",
        "ansible_port": port,
        "netgear_device_type": host.device_type,
        "netgear_role": host.role,
        "netgear_wan_interface": host.wan_interface,
        "netgear_username": USERNAME,
        "netgear_password": "{{ " + PASSWORD_VAR + " }}",
        "netgear_linux_gateway_address": "10.89.1.10",
        "netgear_rd_gateway_address": "10.89.1.11",
        **extra,
    }


def write_netgear_vault(
    inventory_dir: Path, password: str, vault_password: str, host_key_seed: str | None = None
) -> Path:
    """``group_vars/network_devices/vault.yml``: the devices' password (and host key seed),
    encrypted."""
    path = inventory_dir / "group_vars" / "network_devices" / "vault.yml"
    values = {PASSWORD_VAR: password}
    if host_key_seed is not None:
        values[SEED_VAR] = host_key_seed
    text = vault.encrypt(yaml.safe_dump(values), vault_password)
    return atomic_write(path, text, mode=0o600)


class GearServer:
    """The lab's simulated devices in a background process that outlives the CLI.

    The device password and the host key seed reach the process on its stdin, never on its
    command line, in its environment or in a file of their own.
    """

    def __init__(self, state_dir: Path) -> None:
        """``state_dir``: the lab directory of one state dir (its pid and log files)."""
        self.home = state_dir.resolve()
        self.pid_file = state_dir / "fakegear.pid"
        self.log_file = state_dir / "fakegear.log"

    def pid(self) -> int | None:
        """The server's pid if it runs."""
        try:
            pid = int(self.pid_file.read_text(encoding="utf-8").strip())
            os.kill(pid, 0)
        except (OSError, ValueError):
            return None
        return pid

    def start(self, ports: dict[str, int], password: str, host_key_seed: str) -> bool:
        """Start the devices unless they run already; True if started."""
        if self.pid() is not None:
            return False
        busy = hoststate.ports_in_use(ports.values())
        if busy:
            # Other labs' device servers name their lab dir (<state dir>/lab) on their command line.
            owners = sorted(
                {str(Path(o).parent) for o in servers().values() if o and o != str(self.home)}
            )
            hint = (
                f" (simulated devices of another lab run here, state dir {', '.join(owners)}: "
                f"stop them with `provisioner --state-dir {owners[0]} lab down`)"
                if owners
                else ""
            )
            raise ControllerError(
                f"127.0.0.1 port(s) {', '.join(map(str, busy))} of the simulated devices are held "
                f"by another process{hint}"
            )
        self.pid_file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        spec = [
            {"name": h.name, "device_type": h.device_type, "port": ports[h.name]} for h in LAB_GEAR
        ]
        seen = self._listening()
        with self.log_file.open("ab") as log:
            proc = subprocess.Popen(
                # The state dir on the command line names whose devices these are (never the
                # password: that comes on stdin).
                [
                    sys.executable,
                    "-m",
                    "provisioner.fakegear.lab",
                    json.dumps(spec),
                    str(self.home),
                ],
                stdin=subprocess.PIPE,
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
            assert proc.stdin is not None
            proc.stdin.write(password.encode() + b"\n" + host_key_seed.encode() + b"\n")
            proc.stdin.close()
        self.pid_file.write_text(f"{proc.pid}\n", encoding="utf-8")
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self._listening() > seen:
                return True
            if proc.poll() is not None:
                break
            time.sleep(0.1)
        raise ControllerError(f"simulated network devices did not start, see {self.log_file}")

    def _listening(self) -> int:
        """How many times a server wrote its ready line to the log."""
        try:
            return self.log_file.read_text(encoding="utf-8", errors="replace").count("listening:")
        except OSError:
            return 0

    def stop(self) -> bool:
        """Stop the devices; True if they were running."""
        pid = self.pid()
        if pid is None:
            return False
        os.kill(pid, signal.SIGTERM)
        self.pid_file.unlink(missing_ok=True)
        return True


def start_lab_gear(
    state_dir: Path, inventory_dir: Path, port_base: int, vault_password: str
) -> dict[str, dict[str, Any]]:
    """Start one simulated device per vendor for the lab; return their ``network_devices`` hosts.

    The devices' password and host key seed are kept in the lab's
    ``group_vars/network_devices/vault.yml`` (generated once); the devices listen on
    ``port_base + 41..43`` of 127.0.0.1. Their host keys are recorded in
    ``<state_dir>/netgear_known_hosts``, which every host's ``netgear_known_hosts_file`` names:
    the role checks each device against it before sending anything.
    """
    ports = {h.name: port_base + 41 + i for i, h in enumerate(LAB_GEAR)}
    path = inventory_dir / "group_vars" / "network_devices" / "vault.yml"
    former = inventory_dir / "group_vars" / "netgear"
    if former.is_dir():
        # The lab's own files from before the group's rename: moved, so the lab loads again.
        if not path.exists() and (former / "vault.yml").exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            (former / "vault.yml").replace(path)
        shutil.rmtree(former)
    stored: dict[str, Any] = {}
    if path.exists():
        plain = vault.decrypt(path.read_text(encoding="utf-8"), vault_password)
        if plain is not None:
            stored = yaml.safe_load(plain) or {}
    password, seed = stored.get(PASSWORD_VAR), stored.get(SEED_VAR)
    server = GearServer(state_dir)
    if password is None or seed is None:
        password = password or secrets.token_urlsafe(18)
        seed = secrets.token_hex(32)
        server.stop()  # running with a password or host keys nobody recorded
        write_netgear_vault(inventory_dir, password, vault_password, seed)
    server.start(ports, password, seed)
    known_hosts = state_dir / KNOWN_HOSTS
    known_hosts.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    known_hosts.write_text(
        "".join(
            known_hosts_line("127.0.0.1", ports[h.name], host_key(bytes.fromhex(seed), h.name))
            + "\n"
            for h in LAB_GEAR
        ),
        encoding="utf-8",
    )
    return {
        h.name: host_vars(h, ports[h.name], netgear_known_hosts_file=str(known_hosts.resolve()))
        for h in LAB_GEAR
    }


def _serve(spec_json: str) -> None:
    password = sys.stdin.readline().rstrip("\n")
    seed = bytes.fromhex(sys.stdin.readline().strip())
    specs = [
        DeviceSpec(
            s["name"], s["device_type"], int(s["port"]), USERNAME, password, host_key_seed=seed
        )
        for s in json.loads(spec_json)
    ]
    stop = False

    def _stop(signum: int, frame: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, _stop)
    with running_gear(specs):
        print("listening: " + ", ".join(f"{s.name}:{s.port}" for s in specs), flush=True)
        while not stop:
            time.sleep(0.5)
    os._exit(0)  # FakeNOS's connection threads are not daemons


def set_simulated_handshake(
    port: int,
    password: str,
    known_hosts: Path,
    public_key: str,
    seconds_ago: int | None,
    username: str = USERNAME,
) -> None:
    """Make a simulated RouterOS on 127.0.0.1:``port`` report a peer's last handshake.

    The simulator carries no WireGuard traffic: a lab test that wants the readiness check to see a
    handshake sets one here (``None``: never). Over SSH with strict host-key checking, like any
    device; the command exists only on the simulator.
    """
    from netmiko import ConnectHandler  # noqa: PLC0415 - heavy import, tests only

    from provisioner.fakegear.routeros import SIMULATOR_ONLY  # noqa: PLC0415

    conn = ConnectHandler(
        device_type="mikrotik_routeros",
        host="127.0.0.1",
        port=port,
        username=username,
        password=password,
        ssh_strict=True,
        system_host_keys=False,
        alt_host_keys=True,
        alt_key_file=str(known_hosts),
    )
    try:
        ago = "never" if seconds_ago is None else str(seconds_ago)
        output = str(
            conn.send_command(f'{SIMULATOR_ONLY}public-key="{public_key}" seconds-ago={ago}')
        )
    finally:
        conn.disconnect()
    if output.strip():
        raise ControllerError(f"simulated RouterOS on port {port} refused: {output.strip()}")


def servers() -> dict[int, str]:
    """Running device servers of every lab on this machine: pid -> the lab dir they belong to."""
    found: dict[int, str] = {}
    for proc_dir in Path("/proc").glob("[0-9]*"):
        try:
            argv = (proc_dir / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"provisioner.fakegear.lab" in argv:
            index = argv.index(b"provisioner.fakegear.lab")
            owner = argv[index + 2].decode(errors="replace") if len(argv) > index + 2 else ""
            found[int(proc_dir.name)] = owner
    return found


def stop_orphans(live: Callable[[str], bool]) -> list[int]:
    """Stop device servers whose lab dir is no longer in use (``live`` says which are)."""
    stopped = []
    for pid, owner in servers().items():
        if not live(owner):
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGTERM)
                stopped.append(pid)
    return stopped


if __name__ == "__main__":
    _serve(sys.argv[1])
