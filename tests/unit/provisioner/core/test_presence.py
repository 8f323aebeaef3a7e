"""Presence: tunnel-managed endpoints without a recent handshake are left out and their work
waits in the ledger until a run reaches them."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import jsonschema
import pytest

from provisioner.adapters.runner import TUNNEL_INVENTORY
from provisioner.config import Settings
from provisioner.core import comply, enable, presence, reports
from provisioner.core.runs import history
from provisioner.errors import ExitCode
from provisioner.models.pending import WorkKind, WorkState
from tests.unit.fakes import (
    GROUP_HOSTS,
    SLUG,
    ComuneFiles,
    FakeAnsibleRunner,
    on_failed,
    on_ok,
    stats,
    task_start,
)

KEY_A = "xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg="
KEY_B = "TrMvSoP4jYQlY6RIzBgbssQqY3vxI2Pi+y71lOWWXX0="


def _hosts() -> dict[str, dict[str, dict[str, Any]]]:
    tunnel = {"provisioner_management": "tunnel"}
    return {
        **GROUP_HOSTS,
        "endpoints": {
            "laptop-a": {"ansible_host": "10.0.0.1", "vpn_client_address": "10.77.0.2", **tunnel},
            "laptop-b": {"ansible_host": "10.0.0.2", "vpn_client_address": "10.77.0.3", **tunnel},
            "laptop-c": {"ansible_host": "10.0.0.3"},  # not enrolled yet: reached directly
        },
    }


def _peers(seen_a: float, seen_b: float) -> list[dict[str, Any]]:
    lines = [
        f"{KEY_A} 10.77.0.2/32 {int(seen_a)} 198.51.100.7:41000",
        f"{KEY_B} 10.77.0.3/32 {int(seen_b)} (none)",
    ]
    return [
        task_start("Presence: peers", "vpn_presence", "ansible.builtin.shell"),
        on_ok("gw-vpn-01", "Presence: peers", "vpn_presence", stdout_lines=lines),
        stats(**{"gw-vpn-01": {"ok": 1}}),
    ]


DOWN = "tunnel down: interface wg0 is not up"


def _tunnel_down() -> list[dict[str, Any]]:
    """The terminator's presence play when its tunnel is down."""
    return [
        on_failed("gw-vpn-01", "Presence: peers", "non-zero return code", stderr=DOWN),
        stats(**{"gw-vpn-01": {"failures": 1}}),
    ]


@pytest.fixture
def tunnel_comune(make_comune: Callable[..., ComuneFiles]) -> ComuneFiles:
    return make_comune(hosts=_hosts())


def test_peer_lines_map_addresses_to_handshakes() -> None:
    seen = presence.parse_peers(
        [f"{KEY_A} 10.77.0.2/32,fd00::2/128 1796170000 1.2.3.4:5", f"{KEY_B} (none) 0 (none)"]
    )
    assert {str(a): s for a, s in seen.items()} == {"10.77.0.2": 1796170000.0}


def test_an_offline_laptop_is_left_out_and_its_work_waits_until_a_run_reaches_it(
    settings: Settings, tunnel_comune: ComuneFiles, fake_ansible: FakeAnsibleRunner
) -> None:
    now = time.time()
    fake_ansible.by_playbook["presence.yml"] = _peers(now - 20, now - 3600)
    fake_ansible.events = [stats(**{h: {"ok": 5} for h in ("gw-vpn-01", "laptop-a", "laptop-c")})]

    report = enable.enable(settings, SLUG)

    presence_call, run = fake_ansible.calls
    assert presence_call["playbook"] == "presence.yml" and presence_call["limit"] == "gw-vpn-01"
    assert run["limit"] == "all:!laptop-b"
    comune_dir, overlay = run["inventory"]
    assert comune_dir == str(settings.comune_dir(SLUG))
    # Every tunnel host, the offline one too (a task may be delegated to it); the plugin
    # (plugins/inventory/provisioner_tunnel.py) gives them their connection variables.
    tunnel = json.loads((report.run_dir / TUNNEL_INVENTORY).read_text())
    assert overlay.endswith(TUNNEL_INVENTORY)
    assert tunnel == {"plugin": "provisioner_tunnel", "hosts": ["laptop-a", "laptop-b"]}
    assert [(o.host, int(o.last_seen or 0)) for o in report.offline] == [
        ("laptop-b", int(now - 3600))
    ]
    assert report.exit_code == ExitCode.HOSTS_OFFLINE
    summary = json.loads((report.run_dir / "summary.json").read_text())
    assert summary["exit_code"] == 9 and summary["offline"][0]["host"] == "laptop-b"
    assert report.files is not None
    doc = json.loads(report.files.json.read_text())
    jsonschema.Draft202012Validator(reports.schema()).validate(doc)
    assert doc["offline"] == [{"host": "laptop-b", "last_seen": int(now - 3600)}]
    assert doc["exit_code"] == 9 and doc["totals"]["offline"] == 1
    junit = report.files.junit.read_text()
    assert 'classname="castelnuovo.laptop-b"' in junit and "offline, not checked" in junit
    assert (
        "laptop-b" in report.files.html.read_text()
        and "offline-row" in report.files.html.read_text()
    )
    store = history(settings)
    assert store.offline_of(report.run_id)[0].host == "laptop-b"
    [work] = store.pending(SLUG, open_only=True)
    assert (work.host, work.kind, work.state) == ("laptop-b", WorkKind.ENABLE, WorkState.PENDING)
    assert work.revision and work.expires > now

    # laptop-b comes back: the next run reaches it through the tunnel and settles its work.
    fake_ansible.by_playbook["presence.yml"] = _peers(now - 20, now - 10)
    fake_ansible.events = [stats(**{h: {"ok": 5} for h in ("gw-vpn-01", "laptop-a", "laptop-b")})]
    again = enable.enable(settings, SLUG)

    assert again.offline == () and again.exit_code == ExitCode.OK
    assert "limit" not in fake_ansible.calls[-1]
    assert store.pending(SLUG, open_only=True) == []
    [done] = store.pending(SLUG)
    assert (done.state, done.run_id) == (WorkState.APPLIED, again.run_id)


def test_a_run_for_an_offline_laptop_only_runs_nothing_and_records_the_work(
    settings: Settings, tunnel_comune: ComuneFiles, fake_ansible: FakeAnsibleRunner
) -> None:
    now = time.time()
    fake_ansible.by_playbook["presence.yml"] = _peers(now - 20, 0)

    from provisioner.core import helpdesk  # noqa: PLC0415

    report = helpdesk.reprovision(settings, "laptop-b", rotate_keys=True)

    assert [c["playbook"] for c in fake_ansible.calls] == ["presence.yml"]
    assert report.offline[0].last_seen is None and report.exit_code == ExitCode.HOSTS_OFFLINE
    [work] = history(settings).pending(SLUG, open_only=True)
    assert (work.host, work.kind) == ("laptop-b", WorkKind.ROTATE_KEYS)


def test_answers_lines_map_addresses_to_what_answered() -> None:
    lines = ["10.77.0.2 open", "10.77.0.3 silent", "10.77.0.4 refused", "garbage", "1.2.3.4 maybe"]
    assert presence.parse_answers(lines) == {
        "10.77.0.2": "open",
        "10.77.0.3": "silent",
        "10.77.0.4": "refused",
    }


def test_a_laptop_switched_off_a_minute_ago_is_offline_when_it_does_not_answer(
    settings: Settings, tunnel_comune: ComuneFiles, fake_ansible: FakeAnsibleRunner
) -> None:
    now = time.time()
    # Both handshakes are recent; laptop-b's SSH stays silent through the tunnel, laptop-a's
    # refuses (it is on: a run will say what is wrong there).
    answers = ["10.77.0.2 refused", "10.77.0.3 silent"]
    fake_ansible.by_playbook["presence.yml"] = [
        *_peers(now - 20, now - 30)[:2],
        task_start("Presence: answers", "vpn_presence", "ansible.builtin.shell"),
        on_ok("gw-vpn-01", "Presence: answers", "vpn_presence", stdout_lines=answers),
        stats(**{"gw-vpn-01": {"ok": 2}}),
    ]
    fake_ansible.events = [stats(**{h: {"ok": 5} for h in ("gw-vpn-01", "laptop-a", "laptop-c")})]

    report = enable.enable(settings, SLUG)

    presence_call, run = fake_ansible.calls
    # Only the endpoints managed through the tunnel are asked (laptop-c is reached directly).
    assert presence_call["extravars"]["vpn_presence_probe_addresses"] == ["10.77.0.2", "10.77.0.3"]
    assert presence_call["extravars"]["vpn_presence_recent"] == 180
    assert run["limit"] == "all:!laptop-b"
    # Offline with its real last handshake, not "never".
    assert [(o.host, int(o.last_seen or 0)) for o in report.offline] == [
        ("laptop-b", int(now - 30))
    ]
    assert report.exit_code == ExitCode.HOSTS_OFFLINE


def test_an_unreadable_terminator_means_nobody_is_taken_for_offline(
    settings: Settings, tunnel_comune: ComuneFiles, fake_ansible: FakeAnsibleRunner
) -> None:
    fake_ansible.by_playbook["presence.yml"] = [stats(**{"gw-vpn-01": {"dark": 1}})]
    fake_ansible.events = [stats(**{"gw-vpn-01": {"ok": 1}})]

    report = enable.enable(settings, SLUG)

    assert report.offline == () and "limit" not in fake_ansible.calls[-1]
    assert any("presence not read" in n for n in report.notes)


def test_watch_applies_the_work_when_the_laptop_comes_back(
    settings: Settings, tunnel_comune: ComuneFiles, fake_ansible: FakeAnsibleRunner
) -> None:
    from provisioner.core import helpdesk, watch  # noqa: PLC0415

    now = time.time()
    fake_ansible.by_playbook["presence.yml"] = _peers(now - 20, now - 7200)
    helpdesk.reprovision(settings, "laptop-b", rotate_keys=True)
    quiet = watch.round_once(settings)
    assert [(e.kind, e.host) for e in quiet] == [("skipped", "laptop-b")]

    fake_ansible.by_playbook["presence.yml"] = _peers(now - 20, now - 5)
    fake_ansible.events = [stats(**{"laptop-b": {"ok": 9, "changed": 2}, "gw-vpn-01": {"ok": 3}})]
    events = watch.round_once(settings)

    assert [(e.kind, e.host) for e in events] == [("started", "laptop-b"), ("applied", "laptop-b")]
    run = fake_ansible.calls[-1]
    assert run["extravars"]["provisioner_rotate_keys"] is True
    assert run["limit"] == "laptop-b,gw-vpn-01"
    [item] = history(settings).pending(SLUG)
    assert (item.state, item.attempts, item.kind) == (
        WorkState.APPLIED,
        1,
        WorkKind.ROTATE_KEYS,
    )
    assert history(settings).list_runs(SLUG, 1)[0].use_case == "watch"


def test_expired_work_is_closed_and_named(settings: Settings, tunnel_comune: ComuneFiles) -> None:
    from provisioner.core import watch  # noqa: PLC0415

    store = history(settings)
    store.want(SLUG, "laptop-b", WorkKind.ENABLE, last_seen=None, revision="r", expires=1.0)

    events = watch.round_once(settings)

    assert [(e.kind, e.host) for e in events] == [("expired", "laptop-b")]
    assert store.pending(SLUG)[0].state == WorkState.EXPIRED


def test_a_terminator_whose_tunnel_is_down_fails_vpn_readiness_of_tunnel_endpoints(
    settings: Settings, tunnel_comune: ComuneFiles, fake_ansible: FakeAnsibleRunner
) -> None:
    fake_ansible.by_playbook["presence.yml"] = _tunnel_down()
    fake_ansible.events = [stats(**{"gw-vpn-01": {"ok": 5}, "laptop-c": {"ok": 5}})]

    report = comply.comply(settings, [SLUG]).results[0].report
    assert report is not None

    assert fake_ansible.calls[-1]["limit"] == "all:!laptop-a:!laptop-b"
    assert [(r.host, r.check, r.ok, r.reason) for r in report.outcome.readiness] == [
        ("laptop-a", "vpn", False, f"gw-vpn-01: {DOWN}"),
        ("laptop-b", "vpn", False, f"gw-vpn-01: {DOWN}"),
    ]
    assert report.exit_code == ExitCode.HOSTS_FAILED


def test_an_enable_that_brings_the_tunnel_up_again_leaves_its_endpoints_offline_not_failed(
    settings: Settings, tunnel_comune: ComuneFiles, fake_ansible: FakeAnsibleRunner
) -> None:
    now = time.time()
    fake_ansible.by_playbook["presence.yml"] = _peers(now - 20, now - 60)
    fake_ansible.events = [stats(**{"gw-vpn-01": {"ok": 1}})]
    assert enable.enable(settings, SLUG).offline == ()
    fake_ansible.by_playbook["presence.yml"] = _tunnel_down()

    def tunnel_started(call: dict[str, Any]) -> None:  # the run starts the gateway's tunnel
        if call["playbook"] != "presence.yml":
            fake_ansible.by_playbook["presence.yml"] = _peers(0, 0)

    fake_ansible.on_call = tunnel_started
    report = enable.enable(settings, SLUG)

    run = next(c for c in fake_ansible.calls[::-1] if c["playbook"] != "presence.yml")
    assert run["extravars"]["provisioner_offline"] == ["laptop-a", "laptop-b"]
    assert [(o.host, int(o.last_seen or 0)) for o in report.offline] == [
        ("laptop-a", int(now - 20)),  # remembered by the history, the terminator said nothing
        ("laptop-b", int(now - 60)),
    ]
    assert not [r for r in report.outcome.readiness if not r.ok]
    assert any("tunnel is up again" in note for note in report.notes)
    assert report.exit_code == ExitCode.HOSTS_OFFLINE


def test_an_enable_that_leaves_the_tunnel_down_fails_vpn_readiness(
    settings: Settings, tunnel_comune: ComuneFiles, fake_ansible: FakeAnsibleRunner
) -> None:
    fake_ansible.by_playbook["presence.yml"] = _tunnel_down()
    fake_ansible.events = [stats(**{"gw-vpn-01": {"ok": 5}, "laptop-c": {"ok": 5}})]

    report = enable.enable(settings, SLUG)

    assert [(r.host, r.ok) for r in report.outcome.readiness] == [
        ("laptop-a", False),
        ("laptop-b", False),
    ]
    assert [c["playbook"] for c in fake_ansible.calls].count("presence.yml") == 2
    assert report.exit_code == ExitCode.HOSTS_FAILED


def test_last_seen_is_remembered_when_the_terminator_forgets_its_handshakes(
    settings: Settings, tunnel_comune: ComuneFiles, fake_ansible: FakeAnsibleRunner
) -> None:
    now = time.time()
    fake_ansible.by_playbook["presence.yml"] = _peers(now - 20, now - 60)
    fake_ansible.events = [stats(**{"gw-vpn-01": {"ok": 1}})]
    assert enable.enable(settings, SLUG).offline == ()

    fake_ansible.by_playbook["presence.yml"] = _peers(now - 5, 0)  # the gateway restarted
    report = enable.enable(settings, SLUG)

    assert [(o.host, int(o.last_seen or 0)) for o in report.offline] == [
        ("laptop-b", int(now - 60))
    ]
