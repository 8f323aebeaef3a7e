"""Helpdesk use cases: the run a reprovision/decommission asks for, and what they refuse."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from provisioner.config import Settings
from provisioner.core.helpdesk import decommission, locate, reprovision
from provisioner.core.runs import history
from provisioner.errors import ExitCode, InputError
from tests.unit.fakes import (
    GROUP_HOSTS,
    SLUG,
    ComuneFiles,
    FakeAnsibleRunner,
    on_unreachable,
    stats,
)


def test_reprovision_limits_the_run_to_the_host_and_its_gateway_peer(
    settings: Settings, comune: ComuneFiles, fake_ansible: FakeAnsibleRunner
) -> None:
    fake_ansible.events = [stats(**{"laptop-sindaco": {"ok": 3}, "gw-vpn-01": {"ok": 2}})]

    report = reprovision(settings, "laptop-sindaco")

    kwargs = fake_ansible.kwargs
    assert kwargs["limit"] == "laptop-sindaco,gw-vpn-01"
    assert kwargs["extravars"] == {"provisioner_peer_only": ["gw-vpn-01"]}
    assert kwargs["inventory"] == str(comune.dir)
    assert report.use_case == "reprovision"
    assert report.exit_code == ExitCode.OK


def test_rotate_keys_in_check_mode(
    settings: Settings, comune: ComuneFiles, fake_ansible: FakeAnsibleRunner
) -> None:
    report = reprovision(settings, "laptop-sindaco", rotate_keys=True, check=True)

    kwargs = fake_ansible.kwargs
    assert kwargs["extravars"] == {
        "provisioner_peer_only": ["gw-vpn-01"],
        "provisioner_rotate_keys": True,
    }
    # the laptop may have been reinstalled: its cached facts are gathered again
    assert kwargs["cmdline"] == "--check --diff --flush-cache"
    assert any("would get a new VPN key pair" in n for n in report.notes)


def test_a_desktop_is_reprovisioned_alone(
    settings: Settings, comune: ComuneFiles, fake_ansible: FakeAnsibleRunner
) -> None:
    reprovision(settings, "pc-anagrafe-01")

    assert fake_ansible.kwargs["limit"] == "pc-anagrafe-01"
    assert "extravars" not in fake_ansible.kwargs


def test_rotate_keys_on_a_desktop_is_refused_before_anything_is_written(
    settings: Settings, comune: ComuneFiles, fake_ansible: FakeAnsibleRunner, state_dir: Path
) -> None:
    with pytest.raises(InputError, match=r"--rotate-keys: 'pc-anagrafe-01' is no VPN endpoint"):
        reprovision(settings, "pc-anagrafe-01", rotate_keys=True)

    assert fake_ansible.calls == []
    assert not (state_dir / "runs").exists()


def test_unknown_host_suggests_close_names_with_their_comune(
    settings: Settings, make_comune: Callable[..., ComuneFiles], fake_ansible: FakeAnsibleRunner
) -> None:
    make_comune()
    make_comune("bassano", hosts={"endpoints": {"laptop-sindac0": {}}})

    with pytest.raises(InputError) as err:
        reprovision(settings, "laptop-sindac")

    message = str(err.value)
    assert "host 'laptop-sindac' is in no comune" in message
    assert f"laptop-sindaco ({SLUG})" in message
    assert "laptop-sindac0 (bassano)" in message
    assert fake_ansible.calls == []


def test_a_name_in_two_comuni_needs_the_comune(
    settings: Settings, make_comune: Callable[..., ComuneFiles], fake_ansible: FakeAnsibleRunner
) -> None:
    make_comune()
    make_comune(
        "bassano",
        settings={"comune_vpn_pool": "10.78.0.0/24", "comune_vpn_terminator": "gw-b"},
        hosts={"vpn_gateways": {"gw-b": {}}, "endpoints": {"laptop-sindaco": {}}},
    )

    with pytest.raises(InputError, match=r"several comuni .*castelnuovo.*--comune"):
        locate(settings, "laptop-sindaco")
    located = locate(settings, "laptop-sindaco", comune="bassano")

    assert located.inventory.comune == "bassano"


def test_a_new_endpoint_gets_its_address_recorded(
    settings: Settings, comune: ComuneFiles, fake_ansible: FakeAnsibleRunner
) -> None:
    report = reprovision(settings, "laptop-sindaco")

    host_vars = yaml.safe_load((comune.dir / "host_vars" / "laptop-sindaco.yml").read_text())
    assert host_vars == {"vpn_client_address": "10.77.0.2"}
    assert any("VPN address 10.77.0.2 recorded" in n for n in report.notes)


def test_unreachable_host_exits_unreachable(
    settings: Settings, comune: ComuneFiles, fake_ansible: FakeAnsibleRunner
) -> None:
    fake_ansible.events = [
        on_unreachable("laptop-sindaco", "Gathering Facts", "ssh: connect timed out"),
        stats(**{"laptop-sindaco": {"dark": 1}, "gw-vpn-01": {"ok": 3}}),
    ]

    report = reprovision(settings, "laptop-sindaco")

    assert report.exit_code == ExitCode.HOSTS_UNREACHABLE


def test_decommission_keeps_the_inventory_when_the_gateway_run_fails(
    settings: Settings, comune: ComuneFiles, fake_ansible: FakeAnsibleRunner
) -> None:
    comune.dir.joinpath("host_vars").mkdir()
    host_vars = comune.dir / "host_vars" / "laptop-sindaco.yml"
    host_vars.write_text("vpn_client_address: 10.77.0.5\n", encoding="utf-8")
    before = comune.hosts_file.read_text()
    fake_ansible.events = [
        on_unreachable("gw-vpn-01", "Gathering Facts", "ssh: connect timed out"),
        stats(**{"gw-vpn-01": {"dark": 1}}),
    ]

    result = decommission(settings, "laptop-sindaco")

    assert result.exit_code == ExitCode.HOSTS_UNREACHABLE
    kwargs = fake_ansible.kwargs
    assert kwargs["limit"] == "gw-vpn-01"
    assert kwargs["extravars"] == {
        "provisioner_peer_only": ["gw-vpn-01"],
        "provisioner_retired": ["laptop-sindaco"],
    }
    assert comune.hosts_file.read_text() == before
    assert host_vars.is_file()


def test_the_terminator_cannot_be_decommissioned(
    settings: Settings, comune: ComuneFiles, fake_ansible: FakeAnsibleRunner
) -> None:
    with pytest.raises(InputError, match="VPN terminator"):
        decommission(settings, "gw-vpn-01")
    assert fake_ansible.calls == []


def test_decommission_removes_the_peer_then_the_host_and_keeps_history(
    settings: Settings, comune: ComuneFiles, fake_ansible: FakeAnsibleRunner
) -> None:
    comune.dir.joinpath("host_vars").mkdir()
    host_vars = comune.dir / "host_vars" / "laptop-sindaco.yml"
    host_vars.write_text("vpn_client_address: 10.77.0.5\n", encoding="utf-8")
    fake_ansible.events = [stats(**{"gw-vpn-01": {"ok": 5, "changed": 1}})]

    result = decommission(settings, "laptop-sindaco")

    assert result.exit_code == ExitCode.OK
    assert result.address == "10.77.0.5"
    assert result.removed["groups"] == ["endpoints"]
    assert "laptop-sindaco" not in comune.hosts_file.read_text()
    assert not host_vars.exists()
    retired = history(settings).retired(SLUG)
    assert [(r.host, r.vpn_address, r.run_id) for r in retired] == [
        ("laptop-sindaco", "10.77.0.5", result.report.run_id if result.report else None)
    ]
    # the host index no longer finds it
    with pytest.raises(InputError, match="is in no comune"):
        locate(settings, "laptop-sindaco")


def test_decommission_check_writes_nothing(
    settings: Settings, comune: ComuneFiles, fake_ansible: FakeAnsibleRunner
) -> None:
    comune.dir.joinpath("host_vars").mkdir()
    (comune.dir / "host_vars" / "laptop-sindaco.yml").write_text("vpn_client_address: 10.77.0.5\n")
    before = comune.hosts_file.read_text()

    result = decommission(settings, "laptop-sindaco", check=True)

    assert fake_ansible.kwargs["cmdline"] == "--check --diff"
    assert result.removed == {}
    assert comune.hosts_file.read_text() == before
    assert history(settings).retired() == []


def test_concentrator_gear_holds_peers_too(
    settings: Settings, make_comune: Callable[..., ComuneFiles], fake_ansible: FakeAnsibleRunner
) -> None:
    make_comune(
        hosts={
            "vpn_gateways": {"gw-vpn-01": {}},
            "endpoints": {"laptop-sindaco": {}},
            "network_devices": {
                "rb-01": {
                    "netgear_device_type": "mikrotik_routeros",
                    "netgear_role": "vpn_concentrator",
                },
                "fw-01": {"netgear_device_type": "fortinet", "netgear_role": "edge_nat"},
            },
        }
    )

    reprovision(settings, "laptop-sindaco", rotate_keys=True)

    kwargs = fake_ansible.kwargs
    assert kwargs["limit"] == "laptop-sindaco,gw-vpn-01,rb-01"
    assert kwargs["extravars"]["provisioner_peer_only"] == ["gw-vpn-01", "rb-01"]


def _held_elsewhere(settings: Settings) -> bool:
    """True when another thread (another run) cannot take the comune's lock right now."""
    from concurrent.futures import ThreadPoolExecutor  # noqa: PLC0415

    from provisioner.errors import BusyError  # noqa: PLC0415

    def attempt() -> bool:
        try:
            with history(settings).lock(SLUG):
                return False
        except BusyError:
            return True

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(attempt).result()


def test_decommission_edits_the_inventory_before_releasing_the_lock(
    settings: Settings,
    comune: ComuneFiles,
    fake_ansible: FakeAnsibleRunner,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from provisioner.adapters import inventory_writer  # noqa: PLC0415

    comune.dir.joinpath("host_vars").mkdir()
    (comune.dir / "host_vars" / "laptop-sindaco.yml").write_text("vpn_client_address: 10.77.0.5\n")
    fake_ansible.events = [stats(**{"gw-vpn-01": {"ok": 5, "changed": 1}})]
    real_remove = inventory_writer.remove_host
    locked_during_edit: list[bool] = []

    def remove_host(directory: Path, host: str) -> object:
        locked_during_edit.append(_held_elsewhere(settings))
        return real_remove(directory, host)

    monkeypatch.setattr(inventory_writer, "remove_host", remove_host)

    result = decommission(settings, "laptop-sindaco")

    assert result.exit_code == ExitCode.OK
    assert locked_during_edit == [True]  # no other run between the peer's removal and the host's
    assert not _held_elsewhere(settings)


def test_reprovision_reads_and_plans_under_the_lock(
    settings: Settings,
    comune: ComuneFiles,
    fake_ansible: FakeAnsibleRunner,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from provisioner.adapters.inventory_files import YamlDirectorySource  # noqa: PLC0415

    fake_ansible.events = [stats(**{"laptop-sindaco": {"ok": 3}, "gw-vpn-01": {"ok": 2}})]
    real_load = YamlDirectorySource.load
    loads: list[bool] = []

    def load(self: YamlDirectorySource, comune_name: str) -> object:
        loads.append(_held_elsewhere(settings))
        return real_load(self, comune_name)

    monkeypatch.setattr(YamlDirectorySource, "load", load)

    reprovision(settings, "laptop-sindaco")

    # a first read refuses bad input before anything is written; the run uses the second one
    assert loads == [False, True]


@pytest.mark.parametrize(
    ("action", "instead"),
    [(reprovision, "give it a new bundle"), (decommission, "use `provisioner bundle revoke`")],
)
def test_a_bundles_device_is_never_reprovisioned_or_decommissioned(
    settings: Settings,
    make_comune: Callable[..., ComuneFiles],
    fake_ansible: FakeAnsibleRunner,
    action: Callable[..., object],
    instead: str,
) -> None:
    make_comune(hosts={**GROUP_HOSTS, "bundles": {"pc-casa-rossi": {}}})

    with pytest.raises(InputError, match=r"'pc-casa-rossi' is a bundle's device") as err:
        action(settings, "pc-casa-rossi")

    assert instead in str(err.value) and f"{SLUG} pc-casa-rossi" in str(err.value)
    assert fake_ansible.calls == []
