"""Helpdesk against the real lab: reprovision one laptop, rotate its key, enrol a third endpoint,
decommission it; a laptop just switched off is offline at once, its rotation waits for it.

Runs on the converged lab (fixture `converged_lab`); each test leaves the lab converged.
"""

from __future__ import annotations

import json
import re
import time

import pytest
import yaml

from tests.integration.conftest import (
    GATEWAY_TUNNEL,
    LabEnv,
    endpoint_readiness,
    gateway_handshakes,
    host_states,
    readiness,
)

# One xdist group: the lab tests share one lab and run on one worker, in conftest.MODULE_ORDER.
pytestmark = [pytest.mark.lab, pytest.mark.xdist_group("lab")]

GATEWAY = "prov-lab-lab-vpn-gw"
# The lab's hosts holding the endpoints' peers: the Linux gateway and the simulated RouterOS
# concentrator (netgear_role vpn_concentrator).
PEER_HOLDERS = {"lab-vpn-gw", "lab-mikrotik"}
ADMIN_KEYS = "/home/provadmin/.ssh/authorized_keys"


def _peers(lab: LabEnv) -> dict[str, str]:
    """Gateway peers: tunnel address -> public key."""
    out = lab.podman("exec", GATEWAY, "wg", "show", "wg0", "allowed-ips").stdout
    return {
        line.split()[1].split("/")[0]: line.split()[0]
        for line in out.splitlines()
        if len(line.split()) > 1
    }


def _pubkey(lab: LabEnv, laptop: str) -> str:
    return lab.podman(
        "exec", f"prov-lab-{laptop}", "wg", "show", "wg0", "public-key"
    ).stdout.strip()


def _private_key(lab: LabEnv, laptop: str) -> str:
    key = lab.podman("exec", f"prov-lab-{laptop}", "cat", "/etc/wireguard/wg0.key")
    assert key.returncode == 0 and key.stdout.strip(), key.stderr
    return key.stdout.strip()


def _changed_tasks(summary: dict[str, object]) -> list[tuple[str, str]]:
    tasks = summary["tasks"]
    assert isinstance(tasks, list)
    return [(str(t["host"]), str(t["task"])) for t in tasks if t["outcome"] == "changed"]


def test_reprovision_converges_that_laptop_only(converged_lab: LabEnv) -> None:
    lab = converged_lab
    peers = _peers(lab)
    assert lab.podman("exec", "prov-lab-laptop-02", "rm", "-f", ADMIN_KEYS).returncode == 0

    result = lab.run("reprovision", "laptop-02")

    assert result.returncode == 0, result.stdout + result.stderr
    summary = lab.summary(result.stdout)
    assert summary["use_case"] == "reprovision"
    states = host_states(summary)
    # only the laptop and, for its peer, the gateway and the concentrator gear are in the run;
    # neither changed
    assert set(states) == {"laptop-02", *PEER_HOLDERS}
    assert {h: states[h]["changed"] for h in PEER_HOLDERS} == dict.fromkeys(PEER_HOLDERS, 0)
    assert _changed_tasks(summary) == [("laptop-02", "Install the admin's SSH public keys")]
    assert readiness(summary) == endpoint_readiness("laptop-02")
    assert "before / after, per role" in result.stdout
    assert lab.podman("exec", "prov-lab-laptop-02", "test", "-s", ADMIN_KEYS).returncode == 0
    assert _peers(lab) == peers


def test_unknown_host_suggests_names(converged_lab: LabEnv) -> None:
    lab = converged_lab
    result = lab.run("reprovision", "laptop-2")
    assert result.returncode == 2
    assert "did you mean" in result.stderr and "laptop-02 (lab)" in result.stderr


def test_rotate_keys_replaces_only_that_peer_and_the_old_key_is_refused(
    converged_lab: LabEnv,
) -> None:
    lab = converged_lab
    before = _peers(lab)
    old_public = _pubkey(lab, "laptop-01")
    old_private = _private_key(lab, "laptop-01")
    address = next(a for a, k in before.items() if k == old_public)

    since = lab.podman("exec", "prov-lab-laptop-01", "date", "+@%s").stdout.strip()
    result = lab.run("reprovision", "laptop-01", "--rotate-keys")

    assert result.returncode == 0, result.stdout + result.stderr
    summary = lab.summary(result.stdout)
    assert readiness(summary) == endpoint_readiness("laptop-01")
    # The laptop switched on time (the role's 10 s, not within a timer's default minute of
    # accuracy) and made the new key's handshake at once, so the run stalled only that long.
    armed, fired, done = _rekey_timeline(lab, "laptop-01", since)
    assert 9.5 <= fired - armed <= 12, (armed, fired)
    assert done - fired <= 4, (fired, done)
    new_public = _pubkey(lab, "laptop-01")
    assert new_public and new_public != old_public
    after = _peers(lab)
    # the same address, a new key; every other peer exactly as before
    assert after == {**before, address: new_public}
    assert old_public not in after.values()
    # the old key no longer gets a handshake: a tunnel built with it stays silent, while the same
    # throwaway tunnel built with the laptop's new key gets one (the probe can tell the two apart)
    assert _handshake_with_key(lab, "laptop-01", old_private, address) is False
    new_private = _private_key(lab, "laptop-01")
    assert new_private != old_private
    assert _handshake_with_key(lab, "laptop-01", new_private, address) is True
    # and the laptop's own tunnel (new key) still works afterwards
    again = lab.run("reprovision", "laptop-01")
    assert again.returncode == 0, again.stdout + again.stderr
    assert readiness(lab.summary(again.stdout)) == endpoint_readiness("laptop-01")


def _rekey_timeline(lab: LabEnv, laptop: str, since: str) -> tuple[float, float, float]:
    """When the laptop's rekey timer was armed, when it fired, when the switch ended well.

    Read from systemd's own journal entries for the transient timer and service (``[systemd-run]
    ... provisioner-wg-rekey``); the service ends successfully once the new key has a handshake.
    """
    journal = lab.podman(
        "exec", f"prov-lab-{laptop}", "journalctl", "--no-pager", "-o", "json", "_PID=1",
        "--since", since,
    )  # fmt: skip
    assert journal.returncode == 0, journal.stderr
    entries = [json.loads(line) for line in journal.stdout.splitlines() if line.startswith("{")]
    units = {
        str(e.get("UNIT", "")).rsplit(".", 1)[0]
        for e in entries
        if "provisioner-wg-rekey" in str(e.get("MESSAGE", ""))
    }
    assert len(units) == 1, units
    unit = units.pop()

    def when(suffix: str, message: str) -> float:
        stamps = [
            int(e["__REALTIME_TIMESTAMP"]) / 1e6
            for e in entries
            if e.get("UNIT") == unit + suffix and str(e.get("MESSAGE", "")).startswith(message)
        ]
        assert stamps, (unit + suffix, message, journal.stdout[-2000:])
        return stamps[0]

    return (
        when(".timer", "Started"),
        when(".service", "Started"),
        when(".service", f"{unit}.service: Deactivated successfully"),
    )


def _handshake_with_key(lab: LabEnv, laptop: str, private_key: str, address: str) -> bool:
    """Bring up a throwaway tunnel on the laptop with ``private_key``; True if it handshakes.

    The laptop's own tunnel is stopped meanwhile and started again afterwards.
    """
    container = f"prov-lab-{laptop}"
    gateway_key = lab.podman("exec", GATEWAY, "wg", "show", "wg0", "public-key").stdout.strip()
    conf = (
        "[Interface]\n"
        f"PrivateKey = {private_key}\n"
        f"Address = {address}/32\n"
        "[Peer]\n"
        f"PublicKey = {gateway_key}\n"
        "Endpoint = 10.89.2.10:51820\n"
        f"AllowedIPs = {GATEWAY_TUNNEL}/32\n"
        "PersistentKeepalive = 1\n"
    )
    script = (
        "set -e; umask 077; cat > /etc/wireguard/wgold.conf; "
        "systemctl stop wg-quick@wg0; "
        "WG_QUICK_USERSPACE_IMPLEMENTATION=wireguard-go wg-quick up wgold >/dev/null 2>&1; "
        # PersistentKeepalive starts the handshake at once (the lab image has no ping); WireGuard
        # retries an unanswered one after 5 s, so 8 s without a handshake is a refusal.
        "for i in $(seq 1 16); do "
        "wg show wgold latest-handshakes | grep -qv '[[:space:]]0$' && break; sleep 0.5; done; "
        "wg show wgold latest-handshakes"
    )
    try:
        probe = lab.podman("exec", "-i", container, "sh", "-c", script, stdin=conf)
        assert probe.returncode == 0, probe.stderr
        stamps = [int(line.split()[1]) for line in probe.stdout.splitlines() if line.strip()]
        return any(stamp > 0 for stamp in stamps)
    finally:
        lab.podman(
            "exec",
            container,
            "sh",
            "-c",
            "wg-quick down wgold >/dev/null 2>&1; rm -f /etc/wireguard/wgold.conf; "
            "systemctl start wg-quick@wg0",
        )


def test_a_laptop_just_switched_off_is_offline_at_once_and_its_rotation_waits_for_it(
    converged_lab: LabEnv,
) -> None:
    lab = converged_lab
    before = _peers(lab)
    address = yaml.safe_load(
        (lab.inventory_dir / "lab" / "host_vars" / "laptop-02.yml").read_text()
    )["vpn_client_address"]
    old_key = _pubkey(lab, "laptop-02")
    assert lab.podman("stop", "-t", "2", "prov-lab-laptop-02").returncode == 0
    try:
        # Its handshake is seconds old: only its silence through the tunnel tells it is off.
        assert 0 < time.time() - gateway_handshakes(lab).get(address, 0) < 170
        started = time.monotonic()
        result = lab.run("reprovision", "laptop-02", "--rotate-keys")
        took = time.monotonic() - started
        assert result.returncode == 9, result.stdout + result.stderr
        summary = lab.summary(result.stdout)
        assert [o["host"] for o in summary["offline"]] == ["laptop-02"]
        assert summary["offline"][0]["last_seen"] > 0
        assert "laptop-02" not in host_states(summary)
        # No SSH timeouts through the tunnel (minutes): the presence probe's 35 s at most.
        assert took < 90, took
        assert _peers(lab) == before
        pending = lab.run("pending", "--comune", "lab")
        assert "laptop-02" in pending.stdout and "rotate" in pending.stdout, pending.stdout
    finally:
        up = lab.run("lab", "up")
        assert up.returncode == 0, up.stdout + up.stderr
    # Back on, it makes a handshake of its own; the helpdesk's rotation then goes through and
    # settles the waiting work.
    back = time.time()
    deadline = time.monotonic() + 120
    while gateway_handshakes(lab).get(address, 0) < back - 5:
        assert time.monotonic() < deadline, "laptop-02 made no handshake after its start"
        time.sleep(2)
    done = lab.run("reprovision", "laptop-02", "--rotate-keys")
    assert done.returncode == 0, done.stdout + done.stderr
    assert _pubkey(lab, "laptop-02") != old_key
    assert "laptop-02" not in lab.run("pending", "--comune", "lab").stdout


def test_third_endpoint_adds_exactly_one_peer_then_decommission_removes_it(
    converged_lab: LabEnv,
) -> None:
    lab = converged_lab
    before = _peers(lab)
    keys = {laptop: _pubkey(lab, laptop) for laptop in ("laptop-01", "laptop-02")}
    host_vars = {
        laptop: (lab.inventory_dir / "lab" / "host_vars" / f"{laptop}.yml").read_text()
        for laptop in keys
    }
    up = lab.run("lab", "up", "--laptops", "3")
    assert up.returncode == 0, up.stdout + up.stderr
    try:
        result = lab.run("enable", "lab")
        assert result.returncode == 0, result.stdout + result.stderr
        summary = lab.summary(result.stdout)
        changed = {h for h, e in host_states(summary).items() if e["changed"]}
        assert changed == {"laptop-03", *PEER_HOLDERS}
        gateway_tasks = {t for h, t in _changed_tasks(summary) if h == "lab-vpn-gw"}
        assert gateway_tasks <= {
            "Configure the tunnel and its peers",
            "Reload the WireGuard tunnel",
        }
        assert "Configure the tunnel and its peers" in gateway_tasks
        after = _peers(lab)
        added = set(after) - set(before)
        assert len(added) == 1 and {a: after[a] for a in before} == before
        assert after[added.pop()] == _pubkey(lab, "laptop-03")
        assert readiness(summary).items() >= endpoint_readiness("laptop-03").items()
        assert {laptop: _pubkey(lab, laptop) for laptop in keys} == keys
        for laptop, text in host_vars.items():
            path = lab.inventory_dir / "lab" / "host_vars" / f"{laptop}.yml"
            assert path.read_text() == text

        third = yaml.safe_load(
            (lab.inventory_dir / "lab" / "host_vars" / "laptop-03.yml").read_text()
        )["vpn_client_address"]
        gone = lab.run("decommission", "laptop-03")
        assert gone.returncode == 0, gone.stdout + gone.stderr
        assert f"VPN address {third} is free" in gone.stdout
        assert _peers(lab) == before
        hosts = (lab.inventory_dir / "lab" / "hosts.yml").read_text()
        assert "laptop-03" not in hosts
        assert not (lab.inventory_dir / "lab" / "host_vars" / "laptop-03.yml").exists()
        history = lab.run("runs", "list", "--comune", "lab")
        assert re.search(r"decommission", history.stdout), history.stdout
    finally:
        down = lab.run("lab", "up", "--laptops", "2")
        assert down.returncode == 0, down.stdout + down.stderr
