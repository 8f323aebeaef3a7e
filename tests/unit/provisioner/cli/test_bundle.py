"""`provisioner bundle create|list|revoke`: what the technician sees, exit codes."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from provisioner.errors import ExitCode
from provisioner.models.run import format_seen
from tests.unit.fakes import GROUP_HOSTS, SLUG, ComuneFiles, FakeAnsibleRunner, on_ok, stats
from tests.unit.provisioner.bundles import GATEWAY_KEY, devices, key_published, rdp_comune
from tests.unit.provisioner.cli.conftest import Cli


@pytest.fixture
def comune(make_comune: Callable[..., ComuneFiles]) -> ComuneFiles:
    return rdp_comune(make_comune)


def test_create_shows_the_passphrase_once_and_where_the_bundle_is(
    cli: Cli, comune: ComuneFiles, fake_ansible: FakeAnsibleRunner, tmp_path: Path
) -> None:
    fake_ansible.events = key_published()

    result = cli(
        "bundle", "create", SLUG, "--user", "mrossi", "--expires", "2099-01-31",
        "--output", str(tmp_path),
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    out = result.stdout
    page = tmp_path / f"bundle-{SLUG}-bundle-mrossi.html"
    assert f"bundle {page} for mrossi (bundle-mrossi, VPN address 10.77.0.2)" in out
    phrases = re.findall(r"one-time passphrase: (\S+)", out)
    assert len(phrases) == 1 and out.count(phrases[0]) == 1
    assert "another channel (phone, SMS)" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--user", "nobody"), "'nobody' is not a user of comune"),
        (("--user", "mrossi", "--desktop", "pc-tributi-01"), "is not mapped to user 'mrossi'"),
        (("--user", "mrossi", "--expires", "31/12/2026"), "is not a date (YYYY-MM-DD)"),
    ],
)
def test_bad_input_exits_2_with_one_line(
    cli: Cli,
    comune: ComuneFiles,
    fake_ansible: FakeAnsibleRunner,
    tmp_path: Path,
    args: tuple[str, ...],
    message: str,
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    result = cli("bundle", "create", SLUG, *args, "--output", str(out))

    assert result.exit_code == ExitCode.BAD_INPUT
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0]
    assert fake_ansible.calls == [] and list(out.iterdir()) == []


def test_list_and_revoke(
    cli: Cli, make_comune: Callable[..., ComuneFiles], fake_ansible: FakeAnsibleRunner
) -> None:
    rdp_comune(make_comune, {**GROUP_HOSTS, "bundles": devices()})

    listed = cli("bundle", "list", SLUG, "--no-refresh")

    assert listed.exit_code == 0, listed.output
    rows = {line.split("│")[1].strip(): line for line in listed.stdout.splitlines() if "│" in line}
    expires = devices()["pc-a"]["bundle_expires"]
    assert all(text in rows["pc-a"] for text in ("mrossi", "10.77.0.10", expires))
    assert "not issued" in rows["pc-d"]
    assert "last seen as remembered" in listed.stdout

    fake_ansible.events = [stats(**{"gw-vpn-01": {"ok": 12, "changed": 1}})]
    revoked = cli("bundle", "revoke", SLUG, "pc-a")

    assert revoked.exit_code == 0, revoked.output
    assert "pc-a revoked in comune castelnuovo, VPN address 10.77.0.10 is free" in revoked.stdout
    again = cli("bundle", "revoke", SLUG, "pc-a")
    assert again.exit_code == ExitCode.BAD_INPUT and "no bundle's device" in again.stderr


def test_comply_prints_each_bundles_peer_and_last_handshake(
    cli: Cli, make_comune: Callable[..., ComuneFiles], fake_ansible: FakeAnsibleRunner
) -> None:
    rdp_comune(make_comune, {**GROUP_HOSTS, "bundles": devices()})
    now = time.time()
    fake_ansible.by_playbook["presence.yml"] = [
        on_ok(
            "gw-vpn-01",
            "Presence: peers",
            "vpn_presence",
            stdout_lines=[f"{GATEWAY_KEY} 10.77.0.10/32 {int(now - 30)} 198.51.100.7:41000"],
        ),
        stats(**{"gw-vpn-01": {"ok": 1}}),
    ]
    fake_ansible.events = [stats(**{"gw-vpn-01": {"ok": 3}})]

    result = cli("comply", SLUG)

    assert result.exit_code == 0, result.output
    lines = {line.split()[1]: line for line in result.stdout.splitlines() if "bundle " in line}
    seen, expires = format_seen(int(now - 30)), devices()["pc-a"]["bundle_expires"]
    assert lines["pc-a"] == (
        f"  bundle pc-a (mrossi, 10.77.0.10): active, last seen {seen}, expires {expires}"
    )
    assert lines["pc-c"].endswith("(mrossi, 10.77.0.12): peer missing, last seen never")
    assert "pc-d (-, no address): not issued" in lines["pc-d"]
