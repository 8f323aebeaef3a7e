"""Use case enable: the request it builds and what it validates first."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from provisioner.config import Settings
from provisioner.core.enable import PLAYBOOK, enable, enable_many
from provisioner.errors import ExitCode, InputError, InventoryError
from tests.unit.fakes import SLUG, ComuneFiles, FakeAnsibleRunner, stats


def test_check_mode_shows_diffs_by_default(
    settings: Settings, comune: ComuneFiles, fake_ansible: FakeAnsibleRunner
) -> None:
    fake_ansible.events = [stats(**{"gw-vpn-01": {"ok": 1}})]

    report = enable(settings, SLUG, check=True, tags=("vpn",), skip_tags=("meeting",))

    kwargs = fake_ansible.kwargs
    assert kwargs["playbook"] == PLAYBOOK == "enable_remote_work.yml"
    assert kwargs["project_dir"] == str(settings.playbooks_dir)
    assert kwargs["inventory"] == str(comune.dir)
    assert kwargs["cmdline"] == "--check --diff"
    assert kwargs["tags"] == "vpn"
    assert kwargs["skip_tags"] == "meeting"
    assert report.check is True
    assert report.use_case == "enable"
    assert report.inventory.comune == SLUG


@pytest.mark.parametrize(
    ("check", "diff", "cmdline"),
    [(False, None, None), (False, True, "--diff"), (True, False, "--check")],
)
def test_diff_flag(
    settings: Settings,
    comune: ComuneFiles,
    fake_ansible: FakeAnsibleRunner,
    check: bool,
    diff: bool | None,
    cmdline: str | None,
) -> None:
    enable(settings, SLUG, check=check, diff=diff)

    assert fake_ansible.kwargs.get("cmdline") == cmdline


def test_broken_inventory_writes_nothing(
    settings: Settings,
    make_comune: Callable[..., ComuneFiles],
    fake_ansible: FakeAnsibleRunner,
) -> None:
    make_comune(settings={"comune_meeting_url": "http://meet.example.it"})

    with pytest.raises(InventoryError):
        enable(settings, SLUG)

    assert not settings.state_dir.exists()
    assert fake_ansible.calls == []


_RDP = {
    "comune_rd_gateway_address": "192.168.10.11",
    "comune_vpn_allowed_services": [
        {"name": "intranet", "address": "192.168.10.30", "port": 80, "proto": "tcp"},
        {"name": "rdp-gateway", "address": "192.168.10.11/32", "port": 3389, "proto": "tcp"},
    ],
    "comune_rdp_desktops": [{"name": "pc-anagrafe-01", "address": "192.168.10.21"}],
    "comune_rdp_users": [{"name": "mrossi", "desktop": "pc-anagrafe-01", "port": 3389}],
}


def test_successful_run_writes_the_users_rdp_files(
    settings: Settings,
    make_comune: Callable[..., ComuneFiles],
    fake_ansible: FakeAnsibleRunner,
) -> None:
    make_comune(settings=_RDP)
    fake_ansible.events = [stats(**{"pc-anagrafe-01": {"ok": 1}})]

    report = enable(settings, SLUG)

    rdp = report.run_dir / "rdp" / "mrossi.rdp"
    assert rdp.read_bytes().startswith(b"full address:s:192.168.10.11:3389\r\n")
    assert report.notes[-1] == f"1 .rdp connection file(s) for the users in {rdp.parent}"


@pytest.mark.parametrize(("check", "status"), [(True, "successful"), (False, "failed")])
def test_no_rdp_files_in_check_mode_or_after_a_failed_run(
    settings: Settings,
    make_comune: Callable[..., ComuneFiles],
    fake_ansible: FakeAnsibleRunner,
    check: bool,
    status: str,
) -> None:
    make_comune(settings=_RDP)
    fake_ansible.status = status
    fake_ansible.rc = 0 if status == "successful" else 2

    report = enable(settings, SLUG, check=check)

    assert not (report.run_dir / "rdp").exists()


def test_the_inventory_the_run_uses_is_read_and_planned_under_the_lock(
    settings: Settings,
    comune: ComuneFiles,
    fake_ansible: FakeAnsibleRunner,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from concurrent.futures import ThreadPoolExecutor  # noqa: PLC0415

    from provisioner.adapters.inventory_files import YamlDirectorySource  # noqa: PLC0415
    from provisioner.core.runs import history  # noqa: PLC0415
    from provisioner.errors import BusyError  # noqa: PLC0415

    def held_elsewhere() -> bool:
        def attempt() -> bool:
            try:
                with history(settings).lock(SLUG):
                    return False
            except BusyError:
                return True

        with ThreadPoolExecutor(1) as pool:
            return pool.submit(attempt).result()

    real_load = YamlDirectorySource.load
    loads: list[bool] = []

    def load(self: YamlDirectorySource, comune_name: str) -> object:
        loads.append(held_elsewhere())
        return real_load(self, comune_name)

    monkeypatch.setattr(YamlDirectorySource, "load", load)

    enable(settings, SLUG)

    # a first read refuses bad input with nothing written; the run uses the one under the lock
    assert loads == [False, True]
    assert len(fake_ansible.calls) == 1


def test_several_comuni_run_side_by_side_each_with_its_result(
    settings: Settings, make_comune: Callable[..., ComuneFiles], fake_ansible: FakeAnsibleRunner
) -> None:
    make_comune("alpha")
    make_comune("beta", settings={"comune_vpn_pool": "10.78.0.0/24", "comune_meeting_url": "x"})
    make_comune("gamma", settings={"comune_vpn_pool": "10.79.0.0/24"})
    fake_ansible.events = [stats(**{"gw-vpn-01": {"ok": 1, "changed": 1}})]
    seen: list[str] = []

    many = enable_many(
        settings, ["alpha", "beta", "gamma"], parallel=2, on_result=lambda r: seen.append(r.comune)
    )

    assert [r.comune for r in many.results] == ["alpha", "beta", "gamma"]
    assert sorted(seen) == ["alpha", "beta", "gamma"]
    assert [r.exit_code for r in many.results] == [ExitCode.OK, ExitCode.BAD_INPUT, ExitCode.OK]
    assert "comune_meeting_url" in many.results[1].error
    assert many.exit_code == ExitCode.BAD_INPUT
    assert len(fake_ansible.calls) == 2


def test_several_comuni_with_an_unknown_one_run_none(
    settings: Settings, comune: ComuneFiles, fake_ansible: FakeAnsibleRunner
) -> None:
    with pytest.raises(InputError, match="no inventory for nowhere"):
        enable_many(settings, [SLUG, "nowhere"])
    assert fake_ansible.calls == []
