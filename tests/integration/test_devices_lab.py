"""Network devices in the real lab: a device that fails fails only itself; a router as the
comune's VPN terminator gives the endpoints its key and its own view of their handshakes.

Runs on the converged lab (fixture `converged_lab`); leaves it as it found it.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from provisioner.adapters import vault
from provisioner.fakegear.lab import set_simulated_handshake
from tests.integration.conftest import LabEnv, host_states, readiness

pytestmark = [pytest.mark.lab, pytest.mark.xdist_group("lab")]

DEVICES = ("lab-mikrotik", "lab-ios", "lab-fortigate")


def test_failing_devices_fail_alone_and_the_rest_of_the_comune_converges(
    converged_lab: LabEnv,
) -> None:
    host_vars = converged_lab.inventory_dir / "lab" / "host_vars"
    vault_file = converged_lab.config_dir / "provisioner" / "vault-password"
    vault_password = vault_file.read_text().strip()
    written = []
    for device in DEVICES:
        path = host_vars / f"{device}.yml"
        assert not path.exists()
        # Every device refuses the password; one of them does not even answer.
        values: dict[str, object] = {"netgear_password": "not-the-device-password"}
        if device == "lab-fortigate":
            values["netgear_port"] = 9  # nothing listens there
        # Sealed like every device password (the inventory check refuses one in clear).
        path.write_text(vault.encrypt(yaml.safe_dump(values), vault_password), encoding="utf-8")
        written.append(path)
    # A change by hand the rest of the run must still fix: the run goes past the device play.
    converged_lab.podman("exec", "prov-lab-laptop-01", "systemctl", "stop", "apt-daily.timer")
    try:
        result = converged_lab.run("enable", "lab")
        checked = converged_lab.run("comply", "lab")
    finally:
        for path in written:
            path.unlink()

    assert result.returncode == 3, result.stdout + result.stderr
    summary = converged_lab.summary(result.stdout)
    states = host_states(summary)
    assert {d: states[d]["state"] for d in DEVICES} == dict.fromkeys(DEVICES, "failed")
    failed = {t["host"]: t["message"] for t in summary["tasks"] if t["outcome"] == "failed"}
    assert set(failed) == set(DEVICES)
    assert all(failed[d].startswith(d) for d in DEVICES), failed
    assert summary["plays_not_run"] == []
    for host in ("lab-vpn-gw", "lab-rd-gw", "lab-desk-01", "laptop-01", "laptop-02"):
        assert states[host]["failed"] == 0 and states[host]["unreachable"] == 0, host
    assert all(readiness(summary).values()), summary["readiness"]
    timer = converged_lab.podman(
        "exec", "prov-lab-laptop-01", "systemctl", "is-active", "apt-daily.timer"
    )
    assert timer.stdout.strip() == "active"
    # comply on the same comune: the devices are failed, never "0 drift, compliant".
    assert checked.returncode == 3, checked.stdout + checked.stderr
    assert "failed/unreachable: lab-fortigate, lab-ios, lab-mikrotik" in checked.stdout

    again = converged_lab.run("enable", "lab", "--limit", "network_devices")
    assert again.returncode == 0, again.stdout + again.stderr


def test_a_router_terminating_the_vpn_gives_its_key_and_its_view_of_handshakes(
    converged_lab: LabEnv, tmp_path: Path
) -> None:
    # The same lab as a comune whose terminator is the simulated RouterOS. The simulator
    # carries no traffic: the endpoints keep their tunnel to the Linux gateway (the run is a dry
    # run) and the router's handshake with laptop-01's key is set on the simulated device. The
    # run's presence reads the router's peer table, and readiness the router's view too.
    inventory = tmp_path / "inventory"
    shutil.copytree(converged_lab.inventory_dir / "lab", inventory / "lab")
    settings = inventory / "lab" / "group_vars" / "all" / "comune.yml"
    data = yaml.safe_load(settings.read_text(encoding="utf-8"))
    data["comune_vpn_terminator"] = "lab-mikrotik"
    # A router cannot be an SSH jump host: the endpoints are managed through an office host.
    data["comune_management_host"] = "lab-vpn-gw"
    settings.write_text(yaml.safe_dump(data), encoding="utf-8")
    env = {**converged_lab.env, "PROVISIONER_INVENTORY_DIR": str(inventory)}
    key = converged_lab.podman("exec", "prov-lab-laptop-01", "wg", "show", "wg0", "public-key")
    hosts = yaml.safe_load((inventory / "lab" / "hosts.yml").read_text(encoding="utf-8"))
    mikrotik = hosts["all"]["children"]["network_devices"]["hosts"]["lab-mikrotik"]
    vault_password = (
        (converged_lab.config_dir / "provisioner" / "vault-password").read_text().strip()
    )
    sealed = (inventory / "lab" / "group_vars" / "network_devices" / "vault.yml").read_text()
    opened = vault.decrypt(sealed, vault_password)
    assert opened is not None

    def router_saw_laptop_01(seconds_ago: int | None) -> None:
        set_simulated_handshake(
            int(mikrotik["ansible_port"]),
            yaml.safe_load(opened)["vault_netgear_password"],
            Path(mikrotik["netgear_known_hosts_file"]),
            key.stdout.strip(),
            seconds_ago=seconds_ago,
        )

    def check_run() -> tuple[str, dict[str, Any]]:
        run = converged_lab.run(
            "enable", "lab", "--check", "--limit", "laptop-01,network_devices", env=env
        )
        assert run.returncode in (0, 3, 9), run.stdout + run.stderr
        return run.stdout + run.stderr, converged_lab.summary(run.stdout)

    # Presence comes from the router's peer table: no handshake there, laptop-01 is offline
    # (not attempted) although its real tunnel to the Linux gateway is up.
    router_saw_laptop_01(None)
    output, summary = check_run()
    assert "presence not read" not in output, output
    assert [o["host"] for o in summary["offline"]] == ["laptop-01"], summary["offline"]
    assert "laptop-01" not in host_states(summary), summary["hosts"]

    router_saw_laptop_01(20)
    output, summary = check_run()
    assert "presence not read" not in output, output
    assert summary["offline"] == [], summary["offline"]
    configure = [
        t
        for t in summary["tasks"]
        if t["host"] == "laptop-01" and t["task"] == "Configure the tunnel"
    ]
    # The endpoint would take the router's public key, read from the device.
    assert configure and "PublicKey" in configure[0]["diff"], summary["tasks"]
    vpn = next(r for r in summary["readiness"] if r["host"] == "laptop-01" and r["check"] == "vpn")
    assert vpn["ok"] is True, vpn
