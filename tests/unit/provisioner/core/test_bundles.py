"""Enrolment bundles: the run that adds the peer, the sealed bundle, bad input, revoke, list."""

from __future__ import annotations

import base64
import datetime
import json
import re
import stat
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from provisioner.adapters import sealing
from provisioner.adapters.inventory_files import YamlDirectorySource
from provisioner.config import Settings
from provisioner.core import bundles, comply, rdp_files, reports, vpn
from provisioner.core.runs import history
from provisioner.errors import ExitCode, InputError, InventoryError
from provisioner.models.run import BundleState
from tests.unit.fakes import (
    GROUP_HOSTS,
    SLUG,
    ComuneFiles,
    FakeAnsibleRunner,
    on_ok,
    on_unreachable,
    stats,
    task_start,
)
from tests.unit.provisioner.assets import snapshot
from tests.unit.provisioner.bundles import (
    CA,
    GATEWAY_KEY,
    OTHER_KEY,
    devices,
    key_published,
    rdp_comune,
)

TODAY = datetime.date(2026, 12, 2)


@pytest.fixture
def comune(make_comune: Callable[..., ComuneFiles]) -> ComuneFiles:
    """Castelnuovo with two RDP users, its gateway's CA, and a Linux terminator."""
    return rdp_comune(make_comune)


def _create(settings: Settings, tmp_path: Path, **kwargs: Any) -> Any:
    kwargs.setdefault("output_dir", tmp_path)
    kwargs.setdefault("today", TODAY)
    return bundles.create(settings, SLUG, kwargs.pop("user", "mrossi"), **kwargs)


def _payload(page: Path, phrase: str) -> dict[str, Any]:
    """What the browser gets out of the page with the passphrase."""
    html = page.read_text(encoding="utf-8")
    box = json.loads(re.search(r'id="sigillato">(.*?)</script>', html, re.S)[1])  # type: ignore[index]
    assert box["kdf"] == "PBKDF2-SHA256" and box["iterations"] >= 600_000
    sealed = sealing.SealedBox(box["salt"], box["iv"], box["data"], box["iterations"])
    payload: dict[str, Any] = json.loads(sealing.unseal(sealed, phrase))
    return payload


def _files(payload: dict[str, Any]) -> dict[str, bytes]:
    return {f["name"]: base64.b64decode(f["data"]) for f in payload["files"]}


def test_create_adds_the_peer_in_a_run_then_writes_the_bundle_once(
    settings: Settings, comune: ComuneFiles, fake_ansible: FakeAnsibleRunner, tmp_path: Path
) -> None:
    seen_by_the_run: dict[str, Any] = {}

    def inventory_during_the_run(kwargs: dict[str, Any]) -> None:
        host_vars = comune.dir / "host_vars" / "bundle-mrossi.yml"
        seen_by_the_run.update(yaml.safe_load(host_vars.read_text(encoding="utf-8")))

    fake_ansible.on_call = inventory_during_the_run
    fake_ansible.events = key_published()

    created = _create(settings, tmp_path, expires=datetime.date(2027, 3, 31))

    # The usual run path, limited to the peer holders, touching only their peers.
    kwargs = fake_ansible.kwargs
    assert kwargs["playbook"] == "enable_remote_work.yml"
    # The terminator's peers, and the RD gateway's per-user listeners (the bundle's address).
    assert kwargs["limit"] == "gw-vpn-01,gw-rd-01"
    assert kwargs["extravars"] == {"provisioner_peer_only": ["gw-vpn-01", "gw-rd-01"]}
    assert created.exit_code == ExitCode.OK and created.report.use_case == "bundle"
    # The run saw the device in the inventory: its public key and address, no private key.
    public = seen_by_the_run["bundle_public_key"]
    assert seen_by_the_run["vpn_client_address"] == "10.77.0.2" == created.address
    assert seen_by_the_run["bundle_user"] == "mrossi"
    assert seen_by_the_run["bundle_desktop"] == "pc-anagrafe-01"
    assert seen_by_the_run["bundle_expires"] == "2027-03-31"
    assert set(seen_by_the_run) == {
        "vpn_client_address",
        "bundle_user",
        "bundle_desktop",
        "bundle_public_key",
        "bundle_created",
        "bundle_expires",
    }
    device = YamlDirectorySource(settings.inventory_dir).load(SLUG).hosts["bundle-mrossi"]
    assert device.groups == ("bundles",) and device.issued
    assert device.source == f"inventory/{SLUG}/bundles.yml"

    # Written once, readable by its owner only, with the files a clerk needs.
    assert created.path == tmp_path / f"bundle-{SLUG}-bundle-mrossi.html"
    assert stat.S_IMODE(created.path.stat().st_mode) == 0o600
    assert created.files == (
        "vpn-castelnuovo.conf",
        "vpn-castelnuovo-qr.png",
        "mrossi.rdp",
        f"ca-{SLUG}.crt",
        "istruzioni.html",
    )
    payload = _payload(created.path, created.passphrase)
    files = _files(payload)
    conf = files["vpn-castelnuovo.conf"].decode("ascii")
    private = re.search(r"^PrivateKey = (\S+)$", conf, re.M)[1]  # type: ignore[index]
    derived = X25519PrivateKey.from_private_bytes(base64.b64decode(private)).public_key()
    assert base64.b64encode(derived.public_bytes(Encoding.Raw, PublicFormat.Raw)).decode() == public
    assert conf == (
        "[Interface]\n"
        f"# {SLUG}: bundle-mrossi (mrossi), valid through 2027-03-31\n"
        f"PrivateKey = {private}\n"
        "Address = 10.77.0.2/32\n"
        "DNS = 192.168.10.1\n"
        "\n"
        "[Peer]\n"
        f"PublicKey = {GATEWAY_KEY}\n"
        "Endpoint = vpn.castelnuovo.example.it:51820\n"
        "AllowedIPs = 192.168.10.0/24\n"
        "PersistentKeepalive = 25\n"
    )
    assert files["vpn-castelnuovo-qr.png"].startswith(b"\x89PNG\r\n\x1a\n")
    inventory = YamlDirectorySource(settings.inventory_dir).load(SLUG)
    user = inventory.settings.comune_rdp_users[0]
    assert files["mrossi.rdp"].decode() == rdp_files.render(
        inventory.settings.comune_rd_gateway_address,  # type: ignore[arg-type]
        user,
    )
    assert files[f"ca-{SLUG}.crt"].decode() == CA + "\n"
    sheet = files["istruzioni.html"].decode("utf-8")
    for heading in ("Windows", "macOS", "Android e iPhone/iPad", "Linux", "Riunioni"):
        assert f"<h2>{heading}</h2>" in sheet
    assert "https://meet.castelnuovo.example.it/sala-giunta" in sheet
    assert "192.168.10.11:3389" in sheet and "31/03/2027" in sheet
    assert "data:image/png;base64," in sheet and "Lavorare da remoto" in payload["html"]

    # Canary: the private key is in no file of the inventory or the state dir.
    for root in (settings.inventory_dir, settings.state_dir):
        for name, data in snapshot(root).items():
            assert private.encode() not in data, name
    assert private not in repr(created)
    assert created.passphrase not in repr(created)


def test_the_passphrase_opens_the_page_in_any_case_and_nothing_else_does(
    settings: Settings, comune: ComuneFiles, fake_ansible: FakeAnsibleRunner, tmp_path: Path
) -> None:
    fake_ansible.events = key_published()
    created = _create(settings, tmp_path)

    assert re.fullmatch(r"([0-9a-hjkmnp-tv-z]{5}-){3}[0-9a-hjkmnp-tv-z]{5}", created.passphrase)
    shouted = created.passphrase.upper().replace("-", " ")
    assert _payload(created.path, shouted)["files"]
    with pytest.raises(sealing.SealError):
        _payload(created.path, sealing.passphrase())


def test_second_bundle_of_a_user_gets_the_next_name_and_address(
    settings: Settings, comune: ComuneFiles, fake_ansible: FakeAnsibleRunner, tmp_path: Path
) -> None:
    fake_ansible.events = key_published()
    first = _create(settings, tmp_path)
    second = _create(settings, tmp_path, desktop="pc-anagrafe-01")

    assert (first.name, first.address) == ("bundle-mrossi", "10.77.0.2")
    assert (second.name, second.address) == ("bundle-mrossi-2", "10.77.0.3")


def test_an_endpoint_waiting_for_its_address_keeps_room_for_it(
    settings: Settings, comune: ComuneFiles, fake_ansible: FakeAnsibleRunner, tmp_path: Path
) -> None:
    fake_ansible.events = key_published()
    # laptop-sindaco has no address yet: enable gives it the lowest free one.
    created = _create(settings, tmp_path)
    allocation = vpn.plan(YamlDirectorySource(settings.inventory_dir).load(SLUG))

    assert created.address == "10.77.0.2"
    assert {h: str(a) for h, a in allocation.new.items()} == {"laptop-sindaco": "10.77.0.3"}


BAD_INPUT = [
    pytest.param(
        {"user": "mrosi"}, r"'mrosi' is not a user .*did you mean mrossi", id="unknown-user"
    ),
    pytest.param(
        {"desktop": "pc-tributi-01"},
        r"'pc-tributi-01' is not mapped to user 'mrossi'",
        id="desktop-not-mapped",
    ),
    pytest.param(
        {"expires": TODAY - datetime.timedelta(days=1)},
        r"--expires: 2026-12-01 is in the past",
        id="expired",
    ),
    pytest.param(
        {"name": "laptop-sindaco"}, r"'laptop-sindaco' is a managed host", id="managed-name"
    ),
    pytest.param({"name": "Not A Name"}, r"'Not A Name' is not a valid host name", id="bad-name"),
]


@pytest.mark.parametrize(("kwargs", "message"), BAD_INPUT)
def test_bad_input_is_one_clear_error_and_nothing_is_written_or_run(
    settings: Settings,
    comune: ComuneFiles,
    fake_ansible: FakeAnsibleRunner,
    tmp_path: Path,
    kwargs: dict[str, Any],
    message: str,
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    before = snapshot(settings.inventory_dir)

    with pytest.raises(InputError, match=message):
        _create(settings, out, **kwargs)

    assert fake_ansible.calls == []
    assert snapshot(settings.inventory_dir) == before
    assert not settings.state_dir.exists()
    assert list(out.iterdir()) == []


def test_a_full_pool_is_refused_before_anything(
    settings: Settings,
    make_comune: Callable[..., ComuneFiles],
    fake_ansible: FakeAnsibleRunner,
    tmp_path: Path,
) -> None:
    # A /29: five addresses for peers; four endpoints hold one, one waits for its own.
    endpoints = {f"laptop-{n}": {"vpn_client_address": f"10.77.0.{n + 1}"} for n in range(1, 5)}
    hosts = {**GROUP_HOSTS, "endpoints": {**endpoints, "laptop-new": {}}}
    rdp_comune(make_comune, hosts, comune_vpn_pool="10.77.0.0/29")
    before = snapshot(settings.inventory_dir)

    with pytest.raises(InventoryError) as err:
        _create(settings, tmp_path)

    assert err.value.lines() == [
        f"inventory/{SLUG}/group_vars/all/comune.yml: comune_vpn_pool: VPN pool 10.77.0.0/29 is "
        "full: no free address for bundle-mrossi (4 in use, 1 kept for endpoints not enrolled "
        "yet)"
    ]
    assert fake_ansible.calls == [] and snapshot(settings.inventory_dir) == before
    assert not settings.state_dir.exists() and not list(tmp_path.glob("bundle-*"))


def test_a_revoked_name_is_never_given_again(
    settings: Settings, comune: ComuneFiles, fake_ansible: FakeAnsibleRunner, tmp_path: Path
) -> None:
    fake_ansible.events = key_published()
    _create(settings, tmp_path, name="pc-rossi-casa")
    bundles.revoke(settings, SLUG, "pc-rossi-casa")
    calls, before = len(fake_ansible.calls), snapshot(settings.inventory_dir)

    with pytest.raises(InputError, match=r"'pc-rossi-casa' was revoked or retired"):
        _create(settings, tmp_path / "x", name="pc-rossi-casa")

    assert len(fake_ansible.calls) == calls
    assert snapshot(settings.inventory_dir) == before
    # Without a name, the next free one is chosen.
    (tmp_path / "x").mkdir()
    assert _create(settings, tmp_path / "x").name == "bundle-mrossi"


def test_an_existing_bundle_file_is_never_overwritten(
    settings: Settings, comune: ComuneFiles, fake_ansible: FakeAnsibleRunner, tmp_path: Path
) -> None:
    (tmp_path / f"bundle-{SLUG}-bundle-mrossi.html").write_text("old", encoding="utf-8")

    with pytest.raises(InputError, match="exists; a bundle is written once"):
        _create(settings, tmp_path)

    assert fake_ansible.calls == []


def test_a_failed_run_issues_nothing_and_takes_the_device_out_again(
    settings: Settings, comune: ComuneFiles, fake_ansible: FakeAnsibleRunner, tmp_path: Path
) -> None:
    fake_ansible.events = [
        on_unreachable("gw-vpn-01", "Gathering Facts", "ssh: connect timed out"),
        stats(**{"gw-vpn-01": {"dark": 1}}),
    ]
    before = snapshot(settings.inventory_dir)

    created = _create(settings, tmp_path)

    assert created.path is None and created.passphrase == ""
    assert created.exit_code == ExitCode.HOSTS_UNREACHABLE
    assert any("nothing issued: bundle-mrossi left the inventory again" in n for n in created.notes)
    assert snapshot(settings.inventory_dir) == before
    assert not list(tmp_path.glob("bundle-*"))


def test_a_terminator_that_publishes_no_key_issues_nothing(
    settings: Settings, comune: ComuneFiles, fake_ansible: FakeAnsibleRunner, tmp_path: Path
) -> None:
    fake_ansible.events = [stats(**{"gw-vpn-01": {"ok": 12}})]
    before = snapshot(settings.inventory_dir)

    created = _create(settings, tmp_path)

    assert created.path is None and created.exit_code == ExitCode.ERROR
    assert any("gw-vpn-01 published no WireGuard public key" in n for n in created.notes)
    assert snapshot(settings.inventory_dir) == before


def test_a_routeros_terminator_gives_its_key_and_holders_are_all_updated(
    settings: Settings,
    make_comune: Callable[..., ComuneFiles],
    fake_ansible: FakeAnsibleRunner,
    tmp_path: Path,
) -> None:
    hosts = {
        **GROUP_HOSTS,
        "network_devices": {
            "rb-01": {
                "netgear_device_type": "mikrotik_routeros",
                "netgear_role": "vpn_concentrator",
            }
        },
    }
    rdp_comune(make_comune, hosts, comune_vpn_terminator="rb-01")
    fake_ansible.events = [
        on_ok("rb-01", "Presence: public key", "netgear", "ansible.builtin.debug", msg=OTHER_KEY),
        stats(**{"rb-01": {"ok": 4}}),
    ]

    created = _create(settings, tmp_path)

    assert fake_ansible.kwargs["limit"] == "rb-01,gw-rd-01"
    conf = _files(_payload(created.path, created.passphrase))["vpn-castelnuovo.conf"]
    assert f"PublicKey = {OTHER_KEY}\n".encode() in conf


def test_without_the_gateways_ca_the_technician_is_told(
    settings: Settings,
    make_comune: Callable[..., ComuneFiles],
    fake_ansible: FakeAnsibleRunner,
    tmp_path: Path,
) -> None:
    rdp_comune(make_comune, comune_rd_gateway_ca_certificate="")
    fake_ansible.events = key_published()

    created = _create(settings, tmp_path)

    assert f"ca-{SLUG}.crt" not in created.files
    assert any("cannot be verified by the user's client" in n for n in created.notes)


def test_revoke_removes_the_peer_first_then_the_device_and_frees_its_address(
    settings: Settings, comune: ComuneFiles, fake_ansible: FakeAnsibleRunner, tmp_path: Path
) -> None:
    fake_ansible.events = key_published()
    created = _create(settings, tmp_path)
    fake_ansible.events = [stats(**{"gw-vpn-01": {"ok": 12, "changed": 1}})]

    revoked = bundles.revoke(settings, SLUG, created.name)

    assert fake_ansible.calls[-1]["limit"] == "gw-vpn-01,gw-rd-01"
    assert fake_ansible.calls[-1]["extravars"] == {
        "provisioner_peer_only": ["gw-vpn-01", "gw-rd-01"],
        "provisioner_retired": ["bundle-mrossi"],
    }
    assert revoked.removed and revoked.address == "10.77.0.2"
    inventory = YamlDirectorySource(settings.inventory_dir).load(SLUG)
    assert "bundle-mrossi" not in inventory.hosts
    assert not (comune.dir / "host_vars" / "bundle-mrossi.yml").exists()
    assert str(vpn.free_address(inventory, "next", TODAY)) == "10.77.0.2"
    assert [(r.host, r.vpn_address) for r in history(settings).retired(SLUG)] == [
        ("bundle-mrossi", "10.77.0.2")
    ]


def test_revoke_keeps_everything_when_the_run_fails(
    settings: Settings, comune: ComuneFiles, fake_ansible: FakeAnsibleRunner, tmp_path: Path
) -> None:
    fake_ansible.events = key_published()
    _create(settings, tmp_path)
    fake_ansible.events = [
        on_unreachable("gw-vpn-01", "Gathering Facts", "ssh: connect timed out"),
        stats(**{"gw-vpn-01": {"dark": 1}}),
    ]
    before = snapshot(settings.inventory_dir)

    revoked = bundles.revoke(settings, SLUG, "bundle-mrossi")

    assert not revoked.removed and revoked.exit_code == ExitCode.HOSTS_UNREACHABLE
    assert snapshot(settings.inventory_dir) == before
    assert history(settings).retired(SLUG) == []


def test_revoking_an_imported_device_without_a_bundle_needs_no_run(
    settings: Settings, make_comune: Callable[..., ComuneFiles], fake_ansible: FakeAnsibleRunner
) -> None:
    make_comune(hosts={**GROUP_HOSTS, "bundles": {"pc-casa-rossi": {"asset_os": "Windows 11"}}})

    revoked = bundles.revoke(settings, SLUG, "pc-casa-rossi")

    assert revoked.removed and revoked.report is None and fake_ansible.calls == []
    assert history(settings).retired(SLUG) == []


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("bundle-mrosi", r"'bundle-mrosi' is no bundle's device .*none"),
        ("laptop-sindaco", r"'laptop-sindaco' is a managed host .*decommission"),
    ],
)
def test_revoke_refuses_what_is_no_bundle(
    settings: Settings,
    comune: ComuneFiles,
    fake_ansible: FakeAnsibleRunner,
    name: str,
    message: str,
) -> None:
    with pytest.raises(InputError, match=message):
        bundles.revoke(settings, SLUG, name)
    assert fake_ansible.calls == []


def test_an_imported_device_gets_its_bundle_by_name(
    settings: Settings,
    make_comune: Callable[..., ComuneFiles],
    fake_ansible: FakeAnsibleRunner,
    tmp_path: Path,
) -> None:
    rdp_comune(
        make_comune, {**GROUP_HOSTS, "bundles": {"pc-casa-rossi": {"asset_os": "Windows 11"}}}
    )
    fake_ansible.events = key_published()

    created = _create(settings, tmp_path, name="pc-casa-rossi")

    device = YamlDirectorySource(settings.inventory_dir).load(SLUG).hosts["pc-casa-rossi"]
    assert created.exit_code == ExitCode.OK and device.issued
    assert device.variables == {"asset_os": "Windows 11"}


def _peers_now(now: float) -> list[dict[str, Any]]:
    lines = [
        f"{GATEWAY_KEY} 10.77.0.10/32 {int(now - 30)} 198.51.100.7:41000",
        f"{OTHER_KEY} 10.77.0.11/32 0 (none)",
    ]
    return [
        task_start("Presence: peers", "vpn_presence", "ansible.builtin.shell"),
        on_ok("gw-vpn-01", "Presence: peers", "vpn_presence", stdout_lines=lines),
        stats(**{"gw-vpn-01": {"ok": 1}}),
    ]


def test_list_shows_each_device_its_peer_and_last_handshake(
    settings: Settings, make_comune: Callable[..., ComuneFiles], fake_ansible: FakeAnsibleRunner
) -> None:
    rdp_comune(make_comune, {**GROUP_HOSTS, "bundles": devices(TODAY)})
    now = time.time()
    fake_ansible.by_playbook["presence.yml"] = _peers_now(now)

    listing = bundles.list_bundles(settings, SLUG, today=TODAY)

    assert fake_ansible.kwargs["playbook"] == "presence.yml"
    assert listing.terminator == "gw-vpn-01" and listing.note == ""
    rows = {b.name: b for b in listing.bundles}
    assert {n: b.state for n, b in rows.items()} == {
        "pc-a": BundleState.ACTIVE,
        "pc-b": BundleState.EXPIRED_PEER_LEFT,
        "pc-c": BundleState.PEER_MISSING,
        "pc-d": BundleState.NOT_ISSUED,
    }
    assert rows["pc-a"].last_seen == pytest.approx(int(now - 30))
    assert rows["pc-b"].last_seen is None
    a = rows["pc-a"]
    assert (a.user, a.address, str(a.expires), a.created.isoformat()) == (  # type: ignore[union-attr]
        "mrossi",
        "10.77.0.10",
        "2027-01-01",
        "2026-11-02T09:00:00+00:00",
    )

    # Without asking the terminator: history remembers when pc-a was last seen.
    fake_ansible.calls.clear()
    cached = bundles.list_bundles(settings, SLUG, refresh=False, today=TODAY)
    assert fake_ansible.calls == []
    assert cached.note == "--no-refresh"
    states = {b.name: (b.state, b.last_seen) for b in cached.bundles}
    assert states["pc-a"] == (BundleState.UNKNOWN, pytest.approx(int(now - 30)))
    assert states["pc-b"] == (BundleState.EXPIRED, None)


def test_comply_reports_each_bundles_peer_and_last_handshake(
    settings: Settings, make_comune: Callable[..., ComuneFiles], fake_ansible: FakeAnsibleRunner
) -> None:
    rdp_comune(make_comune, {**GROUP_HOSTS, "bundles": devices()})
    now = time.time()
    fake_ansible.by_playbook["presence.yml"] = _peers_now(now)
    fake_ansible.events = [stats(**{h: {"ok": 3} for h in ("gw-vpn-01", "gw-rd-01")})]

    run = comply.comply(settings, [SLUG])

    report = run.results[0].report
    assert report is not None
    presence_call, check = fake_ansible.calls
    assert presence_call["playbook"] == "presence.yml" and check["cmdline"] == "--check --diff"
    states = {b.name: b.state for b in report.bundles}
    assert states["pc-a"] == BundleState.ACTIVE and states["pc-c"] == BundleState.PEER_MISSING
    summary = json.loads((report.run_dir / "summary.json").read_text(encoding="utf-8"))
    assert {b["name"]: b["state"] for b in summary["bundles"]}["pc-b"] == (
        "expired, peer still present"
    )
    document = json.loads(run.results[0].files.json.read_text(encoding="utf-8"))  # type: ignore[union-attr]
    assert [b["name"] for b in document["bundles"]] == ["pc-a", "pc-b", "pc-c", "pc-d"]
    jsonschema.Draft202012Validator(reports.schema()).validate(document)
    html = run.results[0].files.html.read_text(encoding="utf-8")  # type: ignore[union-attr]
    assert '<table id="bundles">' in html and "peer missing" in html
