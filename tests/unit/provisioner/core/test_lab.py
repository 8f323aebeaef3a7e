"""The lab: sizing, images, the meeting platform on Debian 12, certificates and the vault."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from provisioner.adapters import hoststate, pki, vault
from provisioner.adapters.podman import ContainerState
from provisioner.config import Settings
from provisioner.core.lab import (
    HOME_LABEL,
    IMAGE,
    IMAGE_BOOKWORM,
    LAB_HOSTS,
    MAX_LAPTOPS,
    MEETING,
    MEETING_NAME,
    UNMANAGED,
    VAULT_SECRETS,
    Lab,
    _outdated,
    inotify_instances_needed,
    lab_hosts,
)
from provisioner.errors import InputError
from provisioner.fakegear.lab import LAB_GEAR


def test_default_lab_has_two_laptops() -> None:
    assert [h.name for h in LAB_HOSTS if h.group == "endpoints"] == ["laptop-01", "laptop-02"]


def test_ports_and_addresses_are_unique_up_to_the_maximum() -> None:
    hosts = (*lab_hosts(MAX_LAPTOPS), *UNMANAGED)
    # The simulated devices listen on port base + 41, 42, 43.
    offsets = [h.port_offset for h in hosts] + [41 + i for i in range(len(LAB_GEAR))]
    addresses = [a for h in hosts for a in h.networks.values()]
    assert len(set(offsets)) == len(offsets)
    assert len(set(addresses)) == len(addresses)
    assert lab_hosts(3)[-1].port_offset == 13


def test_size_is_validated_and_remembered(settings: Settings) -> None:
    with pytest.raises(InputError, match="--laptops: 0 is not between 1"):
        Lab(settings, 0)
    assert Lab(settings).laptops == 2
    lab = Lab(settings, 3)
    lab.dir.mkdir(parents=True)
    lab.size_file.write_text("3\n")
    assert [h.name for h in Lab(settings).hosts][-1] == "laptop-03"


def test_the_rd_gateway_gets_a_certificate_of_the_lab_ca_and_the_laptops_its_ca(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cryptography import x509  # noqa: PLC0415

    from provisioner.models.inventory import ComuneSettings  # noqa: PLC0415

    monkeypatch.setenv("PROVISIONER_VAULT_PASSWORD", "lab-vault-pw")
    lab = Lab(settings)
    ca = pki.make_ca("Provisioner lab CA")
    lab.meeting_dir.mkdir(parents=True)
    issued = lab._rd_gateway_pki(ca)
    assert lab._rd_gateway_pki(ca) == issued  # made once, kept across `lab up`
    assert lab._rd_gateway_pki(pki.make_ca("A new lab CA")) != issued  # a new CA: issued anew
    all_dir = lab.inventory_dir / "group_vars" / "all"

    lab._write_rd_gateway(all_dir / "lab_rdp.yml", ca, issued)

    values = yaml.safe_load((all_dir / "lab_rdp.yml").read_text(encoding="utf-8"))
    assert values["comune_rd_gateway_ca_certificate"] == ca.cert_pem
    cert_file = lab.inventory_dir / values["comune_rd_gateway_certificate"]
    key_file = lab.inventory_dir / values["comune_rd_gateway_private_key"]
    cert = x509.load_pem_x509_certificate(cert_file.read_bytes())
    cert.verify_directly_issued_by(x509.load_pem_x509_certificate(ca.cert_pem.encode()))
    key_text = key_file.read_text(encoding="utf-8")
    assert "PRIVATE KEY" not in key_text  # vault-encrypted at rest; Ansible's copy decrypts it
    assert vault.decrypt(key_text, "lab-vault-pw") == issued.key_pem
    assert key_file.stat().st_mode & 0o777 == 0o600
    ComuneSettings.model_validate(
        {
            "comune_name": "Lab",
            "comune_slug": "lab",
            "comune_istat_code": "999001",
            "comune_vpn_pool": "10.77.0.0/24",
            "comune_vpn_public_endpoint": "10.89.2.10:51820",
            "comune_vpn_terminator": "lab-vpn-gw",
            "comune_office_networks": ["10.89.1.0/24"],
            "comune_meeting_url": "https://meet.lab.provisioner.test",
            **values,
        }
    )


def test_the_connection_file_sets_only_inputs_the_baseline_role_declares(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    import yaml  # noqa: PLC0415

    from provisioner.adapters import pki  # noqa: PLC0415
    from provisioner.core import lab as lab_module  # noqa: PLC0415

    monkeypatch.setenv("PROVISIONER_VAULT_PASSWORD", "lab-vault-pw")
    monkeypatch.setattr(lab_module, "start_lab_gear", lambda *_args: {})
    lab = Lab(settings)
    ca = pki.make_ca("Provisioner lab CA")
    lab.meeting_dir.mkdir(parents=True)
    _, platform = lab._meeting_pki()

    lab._write_inventory("ssh-ed25519 AAAA lab", ca, platform, lab._rd_gateway_pki(ca))

    connection = lab.inventory_dir / "group_vars" / "all" / "lab_connection.yml"
    values = yaml.safe_load(connection.read_text(encoding="utf-8"))
    specs = Path(__file__).resolve().parents[4] / "roles/baseline/meta/argument_specs.yml"
    declared = yaml.safe_load(specs.read_text(encoding="utf-8"))["argument_specs"]["main"]
    role_inputs = {name for name in values if name.startswith("baseline_")}
    assert role_inputs == {"baseline_admin_ssh_keys"}
    assert role_inputs <= set(declared["options"])
    # The admin password reaches the role only as the hash core/admin_password.py makes.
    assert "vault_baseline_admin_password" not in connection.read_text(encoding="utf-8")


class _Images:
    """The image half of ``adapters.podman.Podman``: which images exist, which were built."""

    def __init__(self, present: set[str]) -> None:
        self.present = present
        self.built: list[tuple[str, Path, str]] = []

    def image_exists(self, image: str) -> bool:
        return image in self.present

    def build_image(self, image: str, work_dir: Path, suite: str = "trixie") -> None:
        self.built.append((image, work_dir, suite))
        self.present.add(image)


def test_the_meeting_platform_is_a_managed_debian_12_host() -> None:
    assert MEETING in LAB_HOSTS and MEETING not in UNMANAGED
    assert (MEETING.name, MEETING.group, MEETING.image) == (
        "lab-meet",
        "meeting_servers",
        IMAGE_BOOKWORM,
    )
    assert {h.image for h in LAB_HOSTS if h is not MEETING} == {IMAGE}
    assert [h.name for h in UNMANAGED] == ["lab-intranet"]


def test_laptops_find_the_platform_by_name(settings: Settings) -> None:
    lab = Lab(settings)
    laptop = next(h for h in lab.hosts if h.group == "endpoints")

    assert lab._spec(laptop).extra_hosts == {MEETING_NAME: "10.89.1.40"}
    assert lab._spec(MEETING).extra_hosts == {}
    assert lab._spec(MEETING).ssh_port == 22440


def test_lab_image_builds_the_missing_debian_12_image_only(settings: Settings) -> None:
    lab = Lab(settings)
    images = _Images({IMAGE})
    lab.podman = images  # type: ignore[assignment]

    assert lab.ensure_images() == {IMAGE: False, IMAGE_BOOKWORM: True}
    assert images.built == [(IMAGE_BOOKWORM, lab.dir / "build", "bookworm")]
    assert lab.ensure_images() == {IMAGE: False, IMAGE_BOOKWORM: False}
    assert len(images.built) == 1


def test_lab_image_builds_both_suites_on_a_fresh_machine(settings: Settings) -> None:
    lab = Lab(settings)
    images = _Images(set())
    lab.podman = images  # type: ignore[assignment]

    assert lab.missing_images() == [IMAGE, IMAGE_BOOKWORM]
    lab.ensure_images()

    assert [(image, suite) for image, _, suite in images.built] == [
        (IMAGE, "trixie"),
        (IMAGE_BOOKWORM, "bookworm"),
    ]


@pytest.mark.parametrize(
    ("image", "labels", "outdated"),
    [
        (IMAGE_BOOKWORM, {}, False),
        (IMAGE, {}, True),  # the Debian 13 stand-in of an older lab
        ("", {}, False),  # podman said nothing: left alone
        ("localhost/provisioner-lab-home:lab-meet", {HOME_LABEL: "1"}, False),
    ],
)
def test_a_container_of_another_image_is_created_again(
    image: str, labels: dict[str, str], outdated: bool
) -> None:
    state = ContainerState("prov-lab-lab-meet", "running", "", labels, {}, image)

    assert _outdated(MEETING, state) is outdated


def test_a_router_without_forwarding_is_created_again() -> None:
    gateway = next(h for h in LAB_HOSTS if h.forwards)

    assert _outdated(gateway, ContainerState("gw", "running", "", {}, {}, IMAGE))
    assert not _outdated(gateway, ContainerState("gw", "running", "", {}, gateway.sysctls, IMAGE))


def _vault(path: Path) -> dict[str, str]:
    plaintext = vault.decrypt(path.read_text(encoding="utf-8"), "lab-vault-pw")
    assert plaintext is not None
    values = yaml.safe_load(plaintext)
    assert isinstance(values, dict)
    return values


# What roles/meeting_server/meta/argument_specs.yml lets each secret carry.
_ROLE_PATTERNS = {
    "vault_meeting_server_admin_key": r"[A-Za-z0-9._~+/=-]{16,128}",
    "vault_meeting_server_turn_secret": r"[A-Za-z0-9._~+/=-]{16,128}",
    "vault_meeting_room_pin": r"[A-Za-z0-9._-]{6,64}",
}


def test_the_vault_holds_the_platform_secrets_made_once(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROVISIONER_VAULT_PASSWORD", "lab-vault-pw")
    path = Lab(settings).inventory_dir / "group_vars" / "all" / "vault.yml"
    path.parent.mkdir(parents=True)

    Lab(settings)._write_vault(path)
    first = _vault(path)
    Lab(settings)._write_vault(path)

    assert set(first) == set(VAULT_SECRETS)
    assert _vault(path) == first  # kept across `lab up`
    for key, pattern in _ROLE_PATTERNS.items():
        assert re.fullmatch(pattern, first[key]), key
    assert path.stat().st_mode & 0o777 == 0o600
    assert "vault_meeting" not in path.read_text(encoding="utf-8")  # encrypted at rest


def test_an_older_vault_gets_the_missing_secrets_and_keeps_its_password(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROVISIONER_VAULT_PASSWORD", "lab-vault-pw")
    path = Lab(settings).inventory_dir / "group_vars" / "all" / "vault.yml"
    path.parent.mkdir(parents=True)
    older = yaml.safe_dump({"vault_baseline_admin_password": "kept-admin-pw"})
    path.write_text(vault.encrypt(older, "lab-vault-pw"), encoding="utf-8")

    Lab(settings)._write_vault(path)
    values = _vault(path)
    monkeypatch.setenv("PROVISIONER_LAB_ADMIN_PASSWORD", "chosen-admin-pw")
    Lab(settings)._write_vault(path)

    assert values["vault_baseline_admin_password"] == "kept-admin-pw"
    assert set(values) == set(VAULT_SECRETS)
    assert _vault(path) == {**values, "vault_baseline_admin_password": "chosen-admin-pw"}


def test_the_meeting_server_gets_the_lab_certificate_and_the_vault_secrets(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cryptography import x509  # noqa: PLC0415

    monkeypatch.setenv("PROVISIONER_VAULT_PASSWORD", "lab-vault-pw")
    lab = Lab(settings)
    lab.meeting_dir.mkdir(parents=True)
    ca, platform = lab._meeting_pki()
    path = lab.inventory_dir / "group_vars" / "meeting_servers.yml"

    lab._write_meeting_server(path, platform)

    text = path.read_text(encoding="utf-8")
    values = yaml.safe_load(text)
    assert values == {
        "meeting_server_name": MEETING_NAME,
        "meeting_server_certificate_src": "{{ inventory_dir }}/files/meeting-server.crt",
        "meeting_server_private_key_src": "{{ inventory_dir }}/files/meeting-server.key",
        "meeting_server_admin_key": "{{ vault_meeting_server_admin_key }}",
        "meeting_server_turn_secret": "{{ vault_meeting_server_turn_secret }}",
        "meeting_server_rooms": [
            {
                "id": "{{ comune_meeting_room }}",
                "name": "{{ comune_name }}",
                "pin": "{{ vault_meeting_room_pin }}",
            }
        ],
    }
    assert "PRIVATE KEY" not in text
    cert = x509.load_pem_x509_certificate(
        (lab.inventory_dir / "files/meeting-server.crt").read_bytes()
    )
    cert.verify_directly_issued_by(x509.load_pem_x509_certificate(ca.cert_pem.encode()))
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert MEETING_NAME in names.get_values_for_type(x509.DNSName)
    key_text = (lab.inventory_dir / "files/meeting-server.key").read_text(encoding="utf-8")
    assert "PRIVATE KEY" not in key_text  # vault-encrypted at rest; Ansible decrypts it
    assert vault.decrypt(key_text, "lab-vault-pw") == platform.key_pem
    assert lab._meeting_pki() == (ca, platform)  # the state's lab/meeting/ files, reused


class _NoContainers:
    """A podman that has no lab containers and no lab networks yet."""

    def network_interface(self, _name: str) -> None:
        return None

    def state(self, _name: str) -> None:
        return None


@pytest.mark.parametrize(("laptops", "needed"), [(2, 81), (20, 207)])
def test_preflight_names_the_inotify_instances_a_lab_of_that_size_needs(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, laptops: int, needed: int
) -> None:
    # 7 per container (systemd, dbus, wireguard-go) for the managed hosts and the intranet,
    # plus 32 for the host: bench/fleet raises the limit by the same function.
    monkeypatch.setattr(hoststate, "missing_commands", lambda _names: [])
    monkeypatch.setattr(hoststate, "is_char_device", lambda _path: True)
    monkeypatch.setattr(hoststate, "hard_limit", lambda _kind: -1)
    monkeypatch.setattr(hoststate, "routed_networks", list)
    monkeypatch.setattr(hoststate, "ports_in_use", lambda _ports: [])
    lab = Lab(settings, laptops)
    lab.podman = _NoContainers()  # type: ignore[assignment]
    assert inotify_instances_needed(len(lab.hosts)) == needed
    monkeypatch.setattr(hoststate, "sysctl", lambda _name: str(needed - 1))
    assert lab.preflight() == [
        f"fs.inotify.max_user_instances is {needed - 1}; {laptops + 4} lab containers with "
        f"systemd need about {needed}: sysctl -w fs.inotify.max_user_instances={needed}"
    ]
    monkeypatch.setattr(hoststate, "sysctl", lambda _name: str(needed))
    assert lab.preflight() == []
