"""Lab sizing: laptops, their ports and addresses never collide; the size is remembered."""

from __future__ import annotations

from pathlib import Path

import pytest

from provisioner.config import Settings
from provisioner.core.lab import LAB_HOSTS, MAX_LAPTOPS, UNMANAGED, Lab, lab_hosts
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
    import yaml  # noqa: PLC0415
    from cryptography import x509  # noqa: PLC0415

    from provisioner.adapters import pki, vault  # noqa: PLC0415
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

    lab._write_inventory("ssh-ed25519 AAAA lab", ca, lab._rd_gateway_pki(ca))

    connection = lab.inventory_dir / "group_vars" / "all" / "lab_connection.yml"
    values = yaml.safe_load(connection.read_text(encoding="utf-8"))
    specs = Path(__file__).resolve().parents[4] / "roles/baseline/meta/argument_specs.yml"
    declared = yaml.safe_load(specs.read_text(encoding="utf-8"))["argument_specs"]["main"]
    role_inputs = {name for name in values if name.startswith("baseline_")}
    assert role_inputs == {"baseline_admin_ssh_keys"}
    assert role_inputs <= set(declared["options"])
    # The admin password reaches the role only as the hash core/admin_password.py makes.
    assert "vault_baseline_admin_password" not in connection.read_text(encoding="utf-8")
